//! The workflows page: the tenant's workflows, an editor whose definition is checked as it
//! is typed (the server's own checker, compiled to wasm) with the graph drawn beside it, and
//! starting a run.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use uuid::Uuid;

use super::tenant_picker::TenantPage;
use super::workflow_graph::GraphView;
use super::{ProblemBanner, short_time};
use crate::api::workflow::{Definition, compile};
use crate::api::{ApiClient, FieldError, Problem, RunInput, Workflow, WorkflowInput, sendable};

#[component]
pub fn WorkflowsPage() -> impl IntoView {
    view! {
        <TenantPage
            title="Workflows"
            path="/workflows"
            loading="Loading workflows…"
            body=|tenant| view! { <TenantWorkflows tenant/> }
        />
    }
}

/// A starting point for a new workflow.
const EXAMPLE: &str = r#"{
  "state": {
    "count": { "type": "integer", "reducer": "sum" },
    "decision": { "type": "object" }
  },
  "start": "inc",
  "nodes": {
    "inc": { "kind": "transform", "set": { "count": "1" }, "next": "check" },
    "check": {
      "kind": "condition",
      "routes": [{ "when": "state.count >= 3", "to": "approve" }],
      "otherwise": "inc"
    },
    "approve": {
      "kind": "approval", "prompt": "Counted to {{ state.count }}. Accept?",
      "output": "decision"
    }
  }
}"#;

/// The definition text checked: the parsed definition, or every problem found (a JSON
/// syntax error is one problem naming its line and column).
pub fn check(text: &str) -> Result<Definition, Vec<FieldError>> {
    let definition: Definition = serde_json::from_str(text).map_err(|e| {
        vec![FieldError::new(
            "definition",
            format!("line {}, column {}: {e}", e.line(), e.column()),
        )]
    })?;
    compile(&definition)?;
    Ok(definition)
}

#[component]
fn TenantWorkflows(tenant: Uuid) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let reload = RwSignal::new(0u32);
    let workflows = Resource::new(
        move || reload.get(),
        move |_| {
            let api = api.clone();
            sendable(async move { api.list_workflows(tenant).await })
        },
    );
    let editing = RwSignal::new(None::<Workflow>);
    view! {
        <WorkflowForm tenant editing reload/>
        <Transition fallback=|| view! { <p class="loading">"Loading workflows…"</p> }>
            {move || workflows.get().map(|result| match result {
                Ok(list) if list.items.is_empty() => {
                    view! { <p class="empty">"No workflows yet."</p> }.into_any()
                }
                Ok(list) => view! {
                    <table class="table" aria-label="Workflows">
                        <thead><tr><th>"Name"</th><th>"Version"</th><th>"Nodes"</th><th>"Saved"</th><th></th></tr></thead>
                        <tbody>
                            {list.items.into_iter().map(|w| view! { <WorkflowRow workflow=w editing reload/> }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
                Err(problem) => view! { <ProblemBanner problem=Some(problem)/> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn WorkflowRow(
    workflow: Workflow,
    editing: RwSignal<Option<Workflow>>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let problem = RwSignal::new(None::<Problem>);
    let (tenant, id) = (workflow.tenant_id, workflow.id);
    let input = RwSignal::new(String::from("{}"));
    let remove = Action::new({
        let api = api.clone();
        move |_: &()| {
            let api = api.clone();
            sendable(async move { api.delete_workflow(tenant, id).await })
        }
    });
    Effect::new(move |_| match remove.value().get() {
        Some(Ok(())) => reload.update(|n| *n += 1),
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    let start = Action::new(move |body: &RunInput| {
        let (api, body) = (api.clone(), body.clone());
        sendable(async move { api.start_run(tenant, id, &body).await })
    });
    let navigate = use_navigate();
    Effect::new(move |_| match start.value().get() {
        Some(Ok(run)) => navigate(
            &format!("/runs?tenant={tenant}&run={}", run.id),
            Default::default(),
        ),
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    let run = move |_| match serde_json::from_str(&input.get()) {
        Ok(serde_json::Value::Object(input)) => {
            start.dispatch(RunInput {
                input,
                version: None,
            });
        }
        _ => problem.set(Some(Problem::client(
            "the run's input is a JSON object of state keys",
        ))),
    };
    let (name, tag) = (workflow.name.clone(), workflow.name.clone());
    let nodes = workflow.definition.nodes.len();
    view! {
        <tr data-workflow=tag>
            <td>{name}</td>
            <td>{workflow.version}</td>
            <td>{nodes}</td>
            <td>{short_time(&workflow.updated_at)}</td>
            <td class="actions">
                <input name="run-input" aria-label="Run input (JSON)" bind:value=input/>
                <button type="button" on:click=run>"Run"</button>
                <button type="button" on:click=move |_| editing.set(Some(workflow.clone()))>"Edit"</button>
                <button type="button" class="danger" on:click=move |_| { remove.dispatch(()); }>"Delete"</button>
                <ProblemBanner problem/>
            </td>
        </tr>
    }
}

#[component]
fn WorkflowForm(
    tenant: Uuid,
    editing: RwSignal<Option<Workflow>>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let name = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let text = RwSignal::new(EXAMPLE.to_owned());
    let problem = RwSignal::new(None::<Problem>);
    Effect::new(move |_| {
        if let Some(w) = editing.get() {
            name.set(w.name.clone());
            description.set(w.description.clone());
            text.set(serde_json::to_string_pretty(&w.definition).unwrap_or_default());
        }
    });
    let checked = Memo::new(move |_| text.with(|t| check(t)));
    let save = Action::new(move |input: &(Option<Uuid>, WorkflowInput)| {
        let (api, (id, input)) = (api.clone(), input.clone());
        sendable(async move { api.save_workflow(tenant, id, &input).await })
    });
    Effect::new(move |_| match save.value().get() {
        Some(Ok(_)) => {
            problem.set(None);
            editing.set(None);
            name.set(String::new());
            description.set(String::new());
            text.set(EXAMPLE.to_owned());
            reload.update(|n| *n += 1);
        }
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        // Saved even when the local check fails: the server's answer lists the same problems.
        let Ok(definition) = serde_json::from_str::<Definition>(&text.get()) else {
            problem.set(Some(Problem::client("the definition is not valid JSON")));
            return;
        };
        let input = WorkflowInput {
            name: name.get().trim().to_owned(),
            description: description.get(),
            definition,
        };
        save.dispatch((editing.with_untracked(|e| e.as_ref().map(|w| w.id)), input));
    };
    let heading = move || {
        editing.with(|e| match e {
            Some(w) => format!("Edit {} (saves version {})", w.name, w.version + 1),
            None => "New workflow".to_owned(),
        })
    };
    view! {
        <form class="card form-grid" aria-label="Workflow" on:submit=submit>
            <h2>{heading}</h2>
            <label>"Name" <input name="name" required placeholder="triage" bind:value=name/></label>
            <label>"Description" <input name="description" bind:value=description/></label>
            <label class="wide">"Definition (JSON)"
                <textarea name="definition" rows="18" spellcheck="false" class="code" bind:value=text></textarea>
            </label>
            <div class="wide" data-testid="definition-check">
                {move || match checked.get() {
                    Ok(definition) => view! {
                        <p class="hint ok">"The definition checks."</p>
                        <GraphView definition/>
                    }.into_any(),
                    Err(problems) => view! {
                        <ul class="problems" aria-label="Definition problems">
                            {problems.into_iter().map(|p| view! { <li><code>{p.field}</code>": "{p.message}</li> }).collect_view()}
                        </ul>
                    }.into_any(),
                }}
            </div>
            <div class="actions">
                <button type="submit">"Save workflow"</button>
                <button type="button" on:click=move |_| { editing.set(None); text.set(EXAMPLE.to_owned()); name.set(String::new()); }>"Clear"</button>
            </div>
            <ProblemBanner problem/>
        </form>
    }
}
