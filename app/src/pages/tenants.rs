//! The tenants page: list with search and paging, create, rename.

use leptos::prelude::*;
use uuid::Uuid;

use super::pager::{Pager, PagerControls};
use super::{ProblemBanner, short_time};
use crate::api::{ApiClient, NewTenant, Problem, Tenant, TenantPatch, TenantQuery, sendable};

const PAGE_SIZE: u32 = 20;

#[component]
pub fn TenantsPage() -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let search = RwSignal::new(String::new());
    let pager = Pager::new();
    let reload = RwSignal::new(0u32);

    let tenants = Resource::new(move || (search.get(), pager.cursor.get(), reload.get()), {
        let api = api.clone();
        move |(q, cursor, _): (String, Option<Uuid>, u32)| {
            let api = api.clone();
            let query = TenantQuery {
                limit: Some(PAGE_SIZE),
                cursor,
                q: (!q.trim().is_empty()).then(|| q.trim().to_string()),
            };
            sendable(async move { api.list_tenants(&query).await })
        }
    });

    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Tenants"</h1>
                <input
                    class="search"
                    type="search"
                    placeholder="Search tenants"
                    aria-label="Search tenants"
                    prop:value=move || search.get()
                    on:input=move |ev| {
                        search.set(event_target_value(&ev));
                        pager.reset();
                    }
                />
            </div>
            <CreateTenant on_created=move || reload.update(|n| *n += 1)/>
            <Transition fallback=|| view! { <p class="loading">"Loading tenants…"</p> }>
                {move || {
                    tenants
                        .get()
                        .map(|result| match result {
                            Ok(page) => {
                                let next = page.next_cursor;
                                view! {
                                    <TenantTable tenants=page.items reload/>
                                    <PagerControls pager next/>
                                }
                                    .into_any()
                            }
                            Err(problem) => {
                                view! { <ProblemBanner problem=Some(problem)/> }.into_any()
                            }
                        })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn CreateTenant(on_created: impl Fn() + Clone + Send + Sync + 'static) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let slug = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<Problem>);
    let create = Action::new(move |input: &NewTenant| {
        let api = api.clone();
        let input = input.clone();
        sendable(async move { api.create_tenant(&input).await })
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(_)) => {
            slug.set(String::new());
            name.set(String::new());
            problem.set(None);
            on_created();
        }
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });

    view! {
        <form
            class="card form-row"
            aria-label="New tenant"
            on:submit=move |ev| {
                ev.prevent_default();
                create.dispatch(NewTenant { slug: slug.get(), name: name.get() });
            }
        >
            <label>
                "Slug" <input name="slug" required placeholder="acme" bind:value=slug/>
            </label>
            <label>
                "Name" <input name="name" required placeholder="Acme Corp" bind:value=name/>
            </label>
            <button type="submit" disabled=move || create.pending().get()>
                "Create tenant"
            </button>
            <ProblemBanner problem=problem/>
        </form>
    }
}

#[component]
fn TenantTable(tenants: Vec<Tenant>, reload: RwSignal<u32>) -> impl IntoView {
    if tenants.is_empty() {
        return view! { <p class="empty">"No tenants match."</p> }.into_any();
    }
    view! {
        <table class="table">
            <thead>
                <tr>
                    <th>"Name"</th>
                    <th>"Slug"</th>
                    <th class="hide-narrow">"Created"</th>
                    <th></th>
                </tr>
            </thead>
            <tbody>
                {tenants
                    .into_iter()
                    .map(|tenant| view! { <TenantRow tenant reload/> })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn TenantRow(tenant: Tenant, reload: RwSignal<u32>) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let editing = RwSignal::new(false);
    let name = RwSignal::new(tenant.name.clone());
    let slug = RwSignal::new(tenant.slug.clone());
    let problem = RwSignal::new(None::<Problem>);
    let id: Uuid = tenant.id;
    let save = Action::new(move |patch: &TenantPatch| {
        let api = api.clone();
        let patch = patch.clone();
        sendable(async move { api.update_tenant(id, &patch).await })
    });
    Effect::new(move |_| match save.value().get() {
        Some(Ok(_)) => {
            editing.set(false);
            reload.update(|n| *n += 1);
        }
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    let users_href = format!("/users?tenant={id}");
    let created = short_time(&tenant.created_at);

    view! {
        <tr data-tenant=tenant.slug.clone()>
            <Show
                when=move || editing.get()
                fallback=move || {
                    view! {
                        <td>{move || name.get()}</td>
                        <td><code>{move || slug.get()}</code></td>
                    }
                }
            >
                <td><input aria-label="Tenant name" bind:value=name/></td>
                <td><input aria-label="Tenant slug" bind:value=slug/></td>
            </Show>
            <td class="hide-narrow">{created.clone()}</td>
            <td class="actions-cell">
                <div class="actions">
                <Show
                    when=move || editing.get()
                    fallback=move || {
                        view! {
                            <a href=users_href.clone()>"Users"</a>
                            <button type="button" on:click=move |_| editing.set(true)>"Edit"</button>
                        }
                    }
                >
                    <button
                        type="button"
                        on:click=move |_| {
                            save.dispatch(TenantPatch { name: Some(name.get()), slug: Some(slug.get()) });
                        }
                    >
                        "Save"
                    </button>
                    <button type="button" on:click=move |_| editing.set(false)>"Cancel"</button>
                </Show>
                <ProblemBanner problem=problem/>
            </div>
            </td>
        </tr>
    }
}
