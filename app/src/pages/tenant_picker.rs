//! Choosing the tenant a page works on: `?tenant=<id>` in the URL, else the first tenant.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use uuid::Uuid;

use super::ProblemBanner;
use crate::api::{ApiClient, MAX_PAGE_SIZE, Problem, TenantList, TenantQuery, sendable};

/// The tenants to choose from and the one named in the URL. The tenant shown is worked out
/// where the list is read (inside a `<Transition>`), never in a memo that reads the resource:
/// such a memo can rerun after the page is gone during streaming SSR.
#[derive(Clone, Copy)]
pub struct TenantChoice {
    pub tenants: Resource<Result<TenantList, Problem>>,
    chosen: Signal<Option<Uuid>>,
}

impl TenantChoice {
    /// The tenant shown: the one in the URL, else the first one. `try_get`: during streaming
    /// SSR a Transition can render once more after the page's owner (and this memo) is
    /// disposed; that late render is discarded, so it must not panic.
    fn pick(&self, page: &TenantList) -> Option<Uuid> {
        self.chosen
            .try_get()
            .flatten()
            .or_else(|| page.items.first().map(|t| t.id))
    }
}

pub fn use_tenant_choice() -> TenantChoice {
    let api = expect_context::<ApiClient>();
    let query = use_query_map();
    let parse = |q: &leptos_router::params::ParamsMap| {
        q.get("tenant").and_then(|t| Uuid::parse_str(&t).ok())
    };
    // While rendering on the server the URL never changes, so the choice is read once, now,
    // while the router's query memo is alive: reading that memo later, from a Transition that
    // renders once more during teardown, panicked inside reactive_graph and the page never
    // finished streaming. In the browser the choice follows navigation.
    let chosen: Signal<Option<Uuid>> = if cfg!(feature = "ssr") {
        Signal::stored(query.with_untracked(parse))
    } else {
        Memo::new(move |_| query.with(parse)).into()
    };
    let tenants = Resource::new(
        || (),
        move |_| {
            let api = api.clone();
            let query = TenantQuery {
                limit: Some(MAX_PAGE_SIZE),
                ..Default::default()
            };
            sendable(async move { api.list_tenants(&query).await })
        },
    );
    TenantChoice { tenants, chosen }
}

/// A select of tenants; choosing one navigates to `path?tenant=<id>`.
#[component]
pub fn TenantSelect(choice: TenantChoice, path: &'static str) -> impl IntoView {
    let navigate = use_navigate();
    view! {
        <Transition fallback=|| view! { <span class="loading">"Loading tenants…"</span> }>
            {
                let navigate = navigate.clone();
                move || {
                    let navigate = navigate.clone();
                    choice
                        .tenants
                        .get()
                        .map(move |result| match result {
                            Ok(page) => {
                                let shown = choice.pick(&page);
                                view! {
                                    <select
                                        aria-label="Tenant"
                                        on:change=move |ev| {
                                            navigate(
                                                &format!("{path}?tenant={}", event_target_value(&ev)),
                                                Default::default(),
                                            );
                                        }
                                    >
                                        {page
                                            .items
                                            .into_iter()
                                            .map(|t| {
                                                let selected = shown == Some(t.id);
                                                view! {
                                                    <option value=t.id.to_string() selected=selected>
                                                        {t.name}
                                                    </option>
                                                }
                                            })
                                            .collect_view()}
                                    </select>
                                }
                                    .into_any()
                            }
                            Err(problem) => view! { <ProblemBanner problem=Some(problem)/> }.into_any(),
                        })
                }
            }
        </Transition>
    }
}

/// A page about one tenant: a heading with the tenant picker, then `body` for the chosen one.
#[component]
pub fn TenantPage<F, V>(
    title: &'static str,
    path: &'static str,
    loading: &'static str,
    body: F,
) -> impl IntoView
where
    F: Fn(Uuid) -> V + Copy + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let choice = use_tenant_choice();
    view! {
        <section class="page">
            <div class="page-head">
                <h1>{title}</h1>
                <TenantSelect choice path/>
            </div>
            <Transition fallback=move || view! { <p class="loading">{loading}</p> }>
                {move || {
                    choice
                        .tenants
                        .get()
                        .map(|result| match result.ok().and_then(|page| choice.pick(&page)) {
                            Some(id) => body(id).into_any(),
                            None => view! { <p class="empty">"Create a tenant first."</p> }.into_any(),
                        })
                }}
            </Transition>
        </section>
    }
}
