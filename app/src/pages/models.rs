//! The models page: the tenant's LLM providers (add, edit, test, delete; keys are write-only)
//! and this month's tokens by provider and model against the tenant's monthly budget.

use leptos::prelude::*;
use uuid::Uuid;

use super::ProblemBanner;
use super::tenant_picker::TenantPage;
use crate::api::{
    ApiClient, LlmBudget, LlmFlavor, LlmProvider, LlmProviderInput, LlmUsage, Problem, sendable,
};

#[component]
pub fn ModelsPage() -> impl IntoView {
    view! {
        <TenantPage
            title="Models"
            path="/models"
            loading="Loading model providers…"
            body=|tenant| view! { <TenantModels tenant/> }
        />
    }
}

#[component]
fn TenantModels(tenant: Uuid) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let reload = RwSignal::new(0u32);
    let providers = Resource::new(move || reload.get(), {
        let api = api.clone();
        move |_| {
            let api = api.clone();
            sendable(async move { api.list_llm_providers(tenant).await })
        }
    });
    // A test counts tokens but changes no provider: it reloads the usage alone, so the
    // row keeps showing the answer.
    let spent = RwSignal::new(0u32);
    let usage = Resource::new(
        move || (reload.get(), spent.get()),
        move |_| {
            let api = api.clone();
            sendable(async move { api.llm_usage(tenant).await })
        },
    );
    let editing = RwSignal::new(None::<LlmProvider>);
    view! {
        <ProviderForm tenant editing reload/>
        <Transition fallback=|| view! { <p class="loading">"Loading providers…"</p> }>
            {move || providers.get().map(|result| match result {
                Ok(list) if list.items.is_empty() => view! {
                    <p class="empty">"No model providers yet. Add an OpenAI-compatible endpoint above."</p>
                }.into_any(),
                Ok(list) => view! {
                    <table class="table" aria-label="Model providers">
                        <thead>
                            <tr><th>"Name"</th><th>"Endpoint"</th><th>"Model"</th><th>"Key"</th><th>"Status"</th><th></th></tr>
                        </thead>
                        <tbody>
                            {list.items.into_iter().map(|provider| view! { <ProviderRow provider editing reload spent/> }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
                Err(problem) => view! { <ProblemBanner problem=Some(problem)/> }.into_any(),
            })}
        </Transition>
        <Transition fallback=|| view! { <p class="loading">"Loading usage…"</p> }>
            {move || usage.get().map(|result| match result {
                Ok(usage) => view! { <Usage tenant usage reload/> }.into_any(),
                Err(problem) => view! { <ProblemBanner problem=Some(problem)/> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn ProviderRow(
    provider: LlmProvider,
    editing: RwSignal<Option<LlmProvider>>,
    reload: RwSignal<u32>,
    spent: RwSignal<u32>,
) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let problem = RwSignal::new(None::<Problem>);
    let tested = RwSignal::new(None::<String>);
    let (tenant, id) = (provider.tenant_id, provider.id);
    let remove = Action::new({
        let api = api.clone();
        move |_: &()| {
            let api = api.clone();
            sendable(async move { api.delete_llm_provider(tenant, id).await })
        }
    });
    Effect::new(move |_| match remove.value().get() {
        Some(Ok(())) => reload.update(|n| *n += 1),
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    let test = Action::new(move |_: &()| {
        let api = api.clone();
        sendable(async move { api.test_llm_provider(tenant, id).await })
    });
    Effect::new(move |_| match test.value().get() {
        Some(Ok(probe)) => {
            problem.set(None);
            tested.set(Some(format!(
                "{} answered “{}” in {} ms ({} tokens)",
                probe.model,
                probe.reply.trim(),
                probe.latency_ms,
                probe.usage.total()
            )));
            spent.update(|n| *n += 1);
        }
        Some(Err(p)) => {
            tested.set(None);
            problem.set(Some(p));
        }
        None => {}
    });
    let key = if provider.has_api_key { "set" } else { "none" };
    let status = if provider.enabled {
        "enabled"
    } else {
        "disabled"
    };
    let flavor = match provider.flavor {
        LlmFlavor::Openai => "",
        LlmFlavor::Azure => " (Azure)",
    };
    let label = provider.name.clone();
    let endpoint = format!("{}{flavor}", provider.base_url);
    let (name, model) = (provider.name.clone(), provider.model.clone());
    view! {
        <tr data-provider=label>
            <td>{name}</td>
            <td><code>{endpoint}</code></td>
            <td>{model}</td>
            <td>{key}</td>
            <td>{status}</td>
            <td class="actions">
                <button type="button" on:click=move |_| { test.dispatch(()); } disabled=move || test.pending().get()>
                    {move || if test.pending().get() { "Testing…" } else { "Test" }}
                </button>
                <button type="button" on:click=move |_| editing.set(Some(provider.clone()))>"Edit"</button>
                <button type="button" class="danger" on:click=move |_| { remove.dispatch(()); }>"Delete"</button>
                <p class="hint" data-testid="provider-test">{move || tested.get()}</p>
                <ProblemBanner problem/>
            </td>
        </tr>
    }
}

/// Create or edit (when `editing` holds a provider). The key field is empty on edit: left
/// empty it keeps the stored key.
#[component]
fn ProviderForm(
    tenant: Uuid,
    editing: RwSignal<Option<LlmProvider>>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let name = RwSignal::new(String::new());
    let azure = RwSignal::new(false);
    let base_url = RwSignal::new(String::new());
    let model = RwSignal::new(String::new());
    let embedding_model = RwSignal::new(String::new());
    let api_version = RwSignal::new(String::new());
    let api_key = RwSignal::new(String::new());
    let timeout = RwSignal::new("120".to_owned());
    let enabled = RwSignal::new(true);
    let problem = RwSignal::new(None::<Problem>);
    let clear = move || {
        for field in [name, base_url, model, embedding_model, api_version, api_key] {
            field.set(String::new());
        }
        timeout.set("120".into());
        azure.set(false);
        enabled.set(true);
        problem.set(None);
    };
    Effect::new(move |_| {
        if let Some(p) = editing.get() {
            name.set(p.name.clone());
            azure.set(p.flavor == LlmFlavor::Azure);
            base_url.set(p.base_url.clone());
            model.set(p.model.clone());
            embedding_model.set(p.embedding_model.clone().unwrap_or_default());
            api_version.set(p.api_version.clone().unwrap_or_default());
            api_key.set(String::new());
            timeout.set(p.timeout_secs.to_string());
            enabled.set(p.enabled);
        }
    });
    let save = Action::new(move |input: &(Option<Uuid>, LlmProviderInput)| {
        let (api, (id, input)) = (api.clone(), input.clone());
        sendable(async move {
            match id {
                Some(id) => api.replace_llm_provider(tenant, id, &input).await,
                None => api.create_llm_provider(tenant, &input).await,
            }
        })
    });
    Effect::new(move |_| match save.value().get() {
        Some(Ok(_)) => {
            clear();
            editing.set(None);
            reload.update(|n| *n += 1);
        }
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    let optional = |s: String| {
        let s = s.trim().to_owned();
        (!s.is_empty()).then_some(s)
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let editing_id = editing.with_untracked(|e| e.as_ref().map(|p| p.id));
        let key = api_key.get();
        let input = LlmProviderInput {
            name: name.get().trim().to_owned(),
            flavor: if azure.get() {
                LlmFlavor::Azure
            } else {
                LlmFlavor::Openai
            },
            base_url: base_url.get().trim().to_owned(),
            model: model.get().trim().to_owned(),
            embedding_model: optional(embedding_model.get()),
            api_version: optional(api_version.get()),
            // On edit an empty field keeps the stored key; on create it means none.
            api_key: (!key.is_empty()).then_some(key),
            timeout_secs: timeout.get().trim().parse().unwrap_or(0),
            enabled: enabled.get(),
        };
        save.dispatch((editing_id, input));
    };
    let heading = move || {
        editing.with(|e| match e {
            Some(p) => format!("Edit {}", p.name),
            None => "New model provider".to_owned(),
        })
    };
    let key_hint = move || {
        editing.with(|e| match e {
            Some(p) if p.has_api_key => "API key (stored; leave empty to keep it)",
            _ => "API key (optional; stored encrypted, never shown again)",
        })
    };
    view! {
        <form class="card form-grid" aria-label="Model provider" on:submit=submit>
            <h2>{heading}</h2>
            <label>"Name" <input name="name" required placeholder="openai" bind:value=name/></label>
            <label>"Base URL" <input name="base_url" required placeholder="https://api.openai.com/v1" bind:value=base_url/></label>
            <label>"Chat model (Azure: deployment)" <input name="model" required placeholder="gpt-4o-mini" bind:value=model/></label>
            <label>"Embedding model" <input name="embedding_model" placeholder="text-embedding-3-small" bind:value=embedding_model/></label>
            <label>{key_hint} <input name="api_key" type="password" autocomplete="off" bind:value=api_key/></label>
            <label>"Timeout (s)" <input name="timeout_secs" inputmode="numeric" bind:value=timeout/></label>
            <label class="check"><input type="checkbox" name="azure" bind:checked=azure/>"Azure OpenAI"</label>
            <Show when=move || azure.get()>
                <label>"API version" <input name="api_version" placeholder="2024-10-21" bind:value=api_version/></label>
            </Show>
            <label class="check"><input type="checkbox" name="enabled" bind:checked=enabled/>"Enabled"</label>
            <div class="actions">
                <button type="submit">"Save provider"</button>
                <button type="button" on:click=move |_| { clear(); editing.set(None); }>"Clear"</button>
            </div>
            <ProblemBanner problem/>
        </form>
    }
}

/// This month's tokens by provider and model, and the budget's editor.
#[component]
fn Usage(tenant: Uuid, usage: LlmUsage, reload: RwSignal<u32>) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let budget = RwSignal::new(
        usage
            .monthly_tokens
            .map(|n| n.to_string())
            .unwrap_or_default(),
    );
    let problem = RwSignal::new(None::<Problem>);
    let save = Action::new(move |monthly_tokens: &Option<u64>| {
        let api = api.clone();
        let body = LlmBudget {
            monthly_tokens: *monthly_tokens,
        };
        sendable(async move { api.set_llm_budget(tenant, &body).await })
    });
    Effect::new(move |_| match save.value().get() {
        Some(Ok(_)) => reload.update(|n| *n += 1),
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let text = budget.get();
        let text = text.trim().replace([',', '_', ' '], "");
        if text.is_empty() {
            save.dispatch(None);
        } else if let Ok(n) = text.parse::<u64>() {
            save.dispatch(Some(n));
        } else {
            problem.set(Some(Problem::client(
                "the budget is a whole number of tokens, or empty for none",
            )));
        }
    };
    let total = usage.used.total();
    let summary = match usage.monthly_tokens {
        Some(limit) => format!("{total} of {limit} tokens used this month"),
        None => format!("{total} tokens used this month (no budget)"),
    };
    view! {
        <section class="card" aria-label="Token usage">
            <h2>"Token usage"</h2>
            <p data-testid="llm-usage">{summary}</p>
            <table class="table" aria-label="Usage by model">
                <thead><tr><th>"Provider"</th><th>"Model"</th><th>"Requests"</th><th>"Prompt"</th><th>"Completion"</th></tr></thead>
                <tbody>
                    {usage.by_model.into_iter().map(|m| {
                        // Counts the provider did not report are ours: say how many.
                        let requests = match m.estimated_requests {
                            0 => m.requests.to_string(),
                            n => format!("{} ({n} estimated)", m.requests),
                        };
                        view! {
                            <tr>
                                <td>{m.provider}</td><td>{m.model}</td>
                                <td title="Requests; estimated: tokens counted by Switchyard because the provider reported none">{requests}</td>
                                <td>{m.tokens.prompt_tokens}</td><td>{m.tokens.completion_tokens}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            <form class="form-grid" aria-label="Monthly budget" on:submit=submit>
                <label>"Monthly budget (tokens; empty for none)" <input name="monthly_tokens" inputmode="numeric" bind:value=budget/></label>
                <button type="submit">"Save budget"</button>
            </form>
            <ProblemBanner problem/>
        </section>
    }
}
