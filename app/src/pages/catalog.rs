//! The catalog page: every tool, prompt, resource and resource template the signed-in user
//! may use across the tenant's upstreams, searchable, with the upstreams not answering.

use leptos::prelude::*;
use uuid::Uuid;

use super::ProblemBanner;
use super::tenant_picker::TenantPage;
use crate::api::{ApiClient, CATALOG_KINDS, CatalogEntry, CatalogQuery, sendable};

#[component]
pub fn CatalogPage() -> impl IntoView {
    view! {
        <TenantPage
            title="Catalog"
            path="/catalog"
            loading="Loading the catalog…"
            body=|tenant| view! { <TenantCatalog tenant/> }
        />
    }
}

#[component]
fn TenantCatalog(tenant: Uuid) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let catalog = Resource::new(
        || (),
        move |_| {
            let api = api.clone();
            sendable(async move { api.catalog(tenant, &CatalogQuery::default()).await })
        },
    );
    let search = RwSignal::new(String::new());
    let kind = RwSignal::new(String::new());
    let shown = move |items: &[CatalogEntry]| -> Vec<CatalogEntry> {
        let needle = search.get().trim().to_lowercase();
        let kind = kind.get();
        items
            .iter()
            .filter(|e| kind.is_empty() || e.kind == kind)
            .filter(|e| needle.is_empty() || e.mentions(&needle))
            .cloned()
            .collect()
    };
    view! {
        <div class="form-row card">
            <label>"Search the catalog" <input type="search" placeholder="name, upstream or description" bind:value=search/></label>
            <label>"Kind"
                <select bind:value=kind>
                    <option value="">"everything"</option>
                    {CATALOG_KINDS.map(|k| view! { <option value=k>{k}</option> }).collect_view()}
                </select>
            </label>
        </div>
        <Transition fallback=|| view! { <p class="loading">"Loading the catalog…"</p> }>
            {move || {
                catalog.get().map(|result| match result {
                    Ok(list) => {
                        let unavailable = list
                            .unavailable
                            .iter()
                            .map(|u| format!("{} ({})", u.upstream, u.error))
                            .collect::<Vec<_>>()
                            .join(", ");
                        let items = shown(&list.items);
                        let count = format!("{} of {}", items.len(), list.items.len());
                        view! {
                            {(!unavailable.is_empty()).then(|| view! { <p class="problem">"Not answering: " {unavailable}</p> })}
                            <p class="hint" data-testid="catalog-count">{count}</p>
                            <table class="table" aria-label="Catalog">
                                <thead><tr><th>"Kind"</th><th>"Name"</th><th>"Upstream"</th><th>"Description"</th></tr></thead>
                                <tbody>
                                    {items.into_iter().map(|e| view! {
                                        <tr data-kind=e.kind.clone()>
                                            <td>{e.kind.clone()}</td><td><code>{e.name}</code></td><td>{e.upstream}</td><td>{e.description}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }
                        .into_any()
                    }
                    Err(problem) => view! { <ProblemBanner problem=Some(problem)/> }.into_any(),
                })
            }}
        </Transition>
    }
}
