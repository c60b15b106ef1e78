//! The vector indexes page: the built-in vectors server's indexes in the tenant, with their
//! size and how much of each the approximate (HNSW) index covers on this replica. Records are
//! written and searched through the server's MCP tools; here an administrator makes and
//! deletes indexes.

use leptos::prelude::*;
use uuid::Uuid;

use super::ProblemBanner;
use super::tenant_picker::TenantPage;
use crate::api::{
    ApiClient, PineconeConnection, Problem, VectorBackend, VectorIndex, VectorIndexInput,
    VectorMetric, sendable,
};

#[component]
pub fn VectorIndexesPage() -> impl IntoView {
    view! {
        <TenantPage
            title="Vector indexes"
            path="/vectors"
            loading="Loading vector indexes…"
            body=|tenant| view! { <TenantIndexes tenant/> }
        />
    }
}

#[component]
fn TenantIndexes(tenant: Uuid) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let reload = RwSignal::new(0u32);
    let indexes = Resource::new(
        move || reload.get(),
        move |_| {
            let api = api.clone();
            sendable(async move { api.list_vector_indexes(tenant).await })
        },
    );
    view! {
        <NewIndex tenant reload/>
        <div class="actions">
            <button type="button" on:click=move |_| reload.update(|n| *n += 1)>"Refresh"</button>
        </div>
        <Transition fallback=|| view! { <p class="loading">"Loading vector indexes…"</p> }>
            {move || indexes.get().map(|result| match result {
                Ok(list) if list.items.is_empty() => view! {
                    <p class="empty">"No vector indexes yet. Make one here, or with the vectors server's create_index tool."</p>
                }.into_any(),
                Ok(list) => view! {
                    <table class="table" aria-label="Vector indexes">
                        <thead>
                            <tr><th>"Name"</th><th>"Dimension"</th><th>"Metric"</th><th>"Records"</th>
                                <th>"Approximate index"</th><th>"Updated"</th><th></th></tr>
                        </thead>
                        <tbody>
                            {list.items.into_iter().map(|index| view! { <IndexRow tenant index reload/> }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
                Err(problem) => view! { <ProblemBanner problem=Some(problem)/> }.into_any(),
            })}
        </Transition>
    }
}

/// What the approximate index covers, in words.
fn coverage(index: &VectorIndex) -> String {
    if let Some(host) = &index.remote_host {
        format!("at Pinecone ({host})")
    } else if index.vector_count < index.ann_threshold {
        format!("exact search (graph from {} records)", index.ann_threshold)
    } else if index.ann_linked == 0 {
        "not loaded on this replica".to_owned()
    } else {
        format!("{} records linked", index.ann_linked)
    }
}

#[component]
fn IndexRow(tenant: Uuid, index: VectorIndex, reload: RwSignal<u32>) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let problem = RwSignal::new(None::<Problem>);
    let confirming = RwSignal::new(false);
    let name = index.name.clone();
    let remove = Action::new(move |name: &String| {
        let (api, name) = (api.clone(), name.clone());
        sendable(async move { api.delete_vector_index(tenant, &name).await })
    });
    Effect::new(move |_| match remove.value().get() {
        Some(Ok(())) => reload.update(|n| *n += 1),
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    let records = index.vector_count;
    let coverage = coverage(&index);
    let updated = index.updated_at.format("%Y-%m-%d %H:%M").to_string();
    let (label, shown, description) = (name.clone(), name.clone(), index.description.clone());
    view! {
        <tr data-vector-index=label>
            <td><strong>{shown}</strong><br/><span class="hint">{description}</span></td>
            <td>{index.dimension}</td>
            <td>{index.metric.as_str()}</td>
            <td data-testid="vector-count">{records}</td>
            <td>{coverage}</td>
            <td>{updated}</td>
            <td class="actions">
                <Show
                    when=move || confirming.get()
                    fallback=move || view! {
                        <button type="button" class="danger" on:click=move |_| confirming.set(true)>"Delete"</button>
                    }
                >
                    {
                        let name = name.clone();
                        view! {
                            <button type="button" class="danger" on:click=move |_| { remove.dispatch(name.clone()); }>
                                {format!("Delete {records} records for good")}
                            </button>
                            <button type="button" on:click=move |_| confirming.set(false)>"Keep"</button>
                        }
                    }
                </Show>
                <ProblemBanner problem/>
            </td>
        </tr>
    }
}

/// Makes an index. Reads no resource of the page, so it needs no `Suspense` of its own.
#[component]
fn NewIndex(tenant: Uuid, reload: RwSignal<u32>) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let name = RwSignal::new(String::new());
    let dimension = RwSignal::new("384".to_string());
    let metric = RwSignal::new(VectorMetric::Cosine.as_str().to_string());
    let description = RwSignal::new(String::new());
    let backend = RwSignal::new(VectorBackend::Embedded);
    let host = RwSignal::new(String::new());
    let api_key = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<Problem>);
    let create = Action::new(move |input: &VectorIndexInput| {
        let (api, input) = (api.clone(), input.clone());
        sendable(async move { api.create_vector_index(tenant, &input).await })
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(_)) => {
            name.set(String::new());
            description.set(String::new());
            api_key.set(String::new());
            problem.set(None);
            reload.update(|n| *n += 1);
        }
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let input = VectorIndexInput {
            name: name.get().trim().to_owned(),
            // An unreadable number reaches the API as 0, which it refuses by field.
            dimension: dimension.get().trim().parse().unwrap_or(0),
            metric: VectorMetric::parse(&metric.get()).unwrap_or_default(),
            description: description.get(),
            backend: backend.get(),
            pinecone: (backend.get() == VectorBackend::Pinecone).then(|| PineconeConnection {
                host: host.get().trim().to_owned(),
                api_key: api_key.get(),
            }),
        };
        create.dispatch(input);
    };
    view! {
        <form class="card form-grid" aria-label="New vector index" on:submit=submit>
            <h2>"New vector index"</h2>
            <label>"Name" <input name="name" required placeholder="docs" bind:value=name/></label>
            <label>"Dimension" <input name="dimension" inputmode="numeric" bind:value=dimension/></label>
            <label>
                "Metric"
                <select name="metric" on:change=move |ev| metric.set(event_target_value(&ev))>
                    {VectorMetric::ALL.into_iter().map(|m| view! { <option value=m.as_str()>{m.as_str()}</option> }).collect_view()}
                </select>
            </label>
            <label>"Description" <input name="description" bind:value=description/></label>
            <label>
                "Records live"
                <select name="backend" on:change=move |ev| backend.set(
                    if event_target_value(&ev) == "pinecone" { VectorBackend::Pinecone } else { VectorBackend::Embedded })>
                    <option value="embedded">"in Switchyard (embedded)"</option>
                    <option value="pinecone">"in an existing Pinecone index"</option>
                </select>
            </label>
            <Show when=move || backend.get() == VectorBackend::Pinecone>
                <label>"Pinecone index host" <input name="pinecone_host" placeholder="docs-abc123.svc.aped-4627-b74a.pinecone.io" bind:value=host/></label>
                <label>"Pinecone API key" <input name="pinecone_api_key" type="password" autocomplete="off" bind:value=api_key/></label>
            </Show>
            <div class="actions">
                <button type="submit" disabled=move || create.pending().get()>"Create index"</button>
            </div>
            <p class="hint">"The dimension is your embedding model's output length (384 for all-MiniLM-L6-v2) and cannot change later."</p>
            <ProblemBanner problem/>
        </form>
    }
}
