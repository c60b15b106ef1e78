//! Choosing the tenant a page works on: `?tenant=<id>` in the URL, else the first tenant.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use uuid::Uuid;

use super::ProblemBanner;
use crate::api::{ApiClient, MAX_PAGE_SIZE, Problem, TenantList, TenantQuery, sendable};

/// The tenants to choose from and the one chosen.
#[derive(Clone, Copy)]
pub struct TenantChoice {
    pub tenants: Resource<Result<TenantList, Problem>>,
    pub tenant: Memo<Option<Uuid>>,
}

pub fn use_tenant_choice() -> TenantChoice {
    let api = expect_context::<ApiClient>();
    let query = use_query_map();
    let chosen = Memo::new(move |_| {
        query
            .read()
            .get("tenant")
            .and_then(|t| Uuid::parse_str(&t).ok())
    });
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
    let tenant = Memo::new(move |_| {
        chosen.get().or_else(|| {
            tenants
                .get()
                .and_then(|r| r.ok())
                .and_then(|page| page.items.first().map(|t| t.id))
        })
    });
    TenantChoice { tenants, tenant }
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
                                                let selected = choice.tenant.get_untracked() == Some(t.id);
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
                        .map(|_| match choice.tenant.get() {
                            Some(id) => body(id).into_any(),
                            None => view! { <p class="empty">"Create a tenant first."</p> }.into_any(),
                        })
                }}
            </Transition>
        </section>
    }
}
