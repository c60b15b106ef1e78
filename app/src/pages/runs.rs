//! The runs page: the tenant's workflow runs by status, and one run's live trace — its graph
//! with the next step's nodes highlighted, the timeline of checkpoints with the state and
//! outputs at each, the approvals it waits for, and cancel and fork. An open run's trace
//! follows its event stream ([`run_live`](super::run_live)); the list is read every second.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use uuid::Uuid;

use super::run_live::{self, EventLog, Live};
use super::tenant_picker::TenantPage;
use super::workflow_graph::GraphView;
use super::{ProblemBanner, short_time};
use crate::api::workflow::Definition;
use crate::api::workflow::definition::{KeyType, NodeKind};
use crate::api::workflow::state::Template;
use crate::api::{
    ApiClient, Checkpoint, Decision, Fork, Problem, Run, RunQuery, RunStatus, sendable,
};

#[component]
pub fn RunsPage() -> impl IntoView {
    view! {
        <TenantPage
            title="Runs"
            path="/runs"
            loading="Loading runs…"
            body=|tenant| view! { <TenantRuns tenant/> }
        />
    }
}

/// Bumps the returned signal every second while `live` holds (browser only).
fn ticking(live: Signal<bool>) -> RwSignal<u32> {
    let tick = RwSignal::new(0u32);
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        if live.get()
            && let Ok(handle) = set_interval_with_handle(
                move || tick.update(|n| *n += 1),
                std::time::Duration::from_secs(1),
            )
        {
            on_cleanup(move || handle.clear());
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (live, tick);
    });
    tick
}

#[component]
fn TenantRuns(tenant: Uuid) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let query = use_query_map();
    let selected = RwSignal::new(
        query.with_untracked(|q| q.get("run").and_then(|r| Uuid::parse_str(&r).ok())),
    );
    let status = RwSignal::new(String::new());
    let tick = ticking(Signal::derive(|| true));
    let runs = Resource::new(
        move || (status.get(), tick.get()),
        move |(status, _)| {
            let api = api.clone();
            let query = RunQuery {
                status: (!status.is_empty()).then_some(status),
                ..Default::default()
            };
            sendable(async move { api.list_runs(tenant, &query).await })
        },
    );
    view! {
        <label class="inline">"Status "
            <select name="status" on:change=move |ev| status.set(event_target_value(&ev))>
                <option value="">"all"</option>
                {RunStatus::ALL.iter().map(|s| view! { <option value=s.as_str()>{s.as_str()}</option> }).collect_view()}
            </select>
        </label>
        <Transition fallback=|| view! { <p class="loading">"Loading runs…"</p> }>
            {move || runs.get().map(|result| match result {
                Ok(list) if list.items.is_empty() => view! { <p class="empty">"No runs."</p> }.into_any(),
                Ok(list) => view! {
                    <table class="table" aria-label="Runs">
                        <thead><tr><th>"Run"</th><th>"Status"</th><th>"Step"</th><th>"Started"</th><th></th></tr></thead>
                        <tbody>
                            {list.items.into_iter().map(|run| {
                                let id = run.id;
                                view! {
                                    <tr data-run=id.to_string() data-status=run.status.as_str()>
                                        <td><code>{id.to_string()[..8].to_owned()}</code></td>
                                        <td>{run.status.as_str()}</td>
                                        <td>{run.step}</td>
                                        <td>{short_time(&run.created_at)}</td>
                                        <td><button type="button" on:click=move |_| selected.set(Some(id))>"Open"</button></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
                Err(problem) => view! { <ProblemBanner problem=Some(problem)/> }.into_any(),
            })}
        </Transition>
        {move || selected.get().map(|run| view! { <RunTrace tenant run/> })}
    }
}

/// How many of a run's last checkpoints the trace shows.
const CHECKPOINTS: i64 = 200;

#[component]
fn RunTrace(tenant: Uuid, run: Uuid) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let live = Live::new();
    run_live::follow(tenant, run, live);
    let reload = RwSignal::new(0u32);
    // The checkpoint the user opened; `None`: the latest. Kept here, not in `Trace`, which
    // is drawn again each time the run moves: an opened checkpoint stays open.
    let chosen = RwSignal::new(None::<i64>);
    let details = Resource::new(move || (live.moved.get(), reload.get()), {
        let api = api.clone();
        move |_| {
            let api = api.clone();
            sendable(async move {
                let run = api.get_run(tenant, run).await?;
                // The latest checkpoints: a long run's first steps are a page away.
                let after = (run.step > CHECKPOINTS).then(|| run.step - CHECKPOINTS);
                let checkpoints = (api.run_checkpoints(tenant, run.id, after, 1000).await?).items;
                let definition = api
                    .workflow_version(tenant, run.workflow_id, run.version)
                    .await?;
                Ok::<_, Problem>((run, checkpoints, definition))
            })
        }
    });
    view! {
        <section class="card" aria-label="Run trace" data-testid="run-trace">
            <Transition fallback=|| view! { <p class="loading">"Loading the run…"</p> }>
                {move || details.get().map(|result| match result {
                    Ok((run, checkpoints, definition)) => {
                        let running = live.running.into();
                        view! { <Trace run checkpoints definition reload running chosen/> }.into_any()
                    }
                    Err(problem) => view! { <ProblemBanner problem=Some(problem)/> }.into_any(),
                })}
            </Transition>
            <EventLog live/>
        </section>
    }
}

#[component]
fn Trace(
    run: Run,
    checkpoints: Vec<Checkpoint>,
    definition: Definition,
    reload: RwSignal<u32>,
    /// The nodes running now, as the run's events tell.
    running: Signal<Vec<String>>,
    /// The checkpoint opened; `None`: the latest.
    chosen: RwSignal<Option<i64>>,
) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let problem = RwSignal::new(None::<Problem>);
    let (tenant, id) = (run.tenant_id, run.id);
    let cancel = Action::new(move |_: &()| {
        let api = api.clone();
        sendable(async move { api.cancel_run(tenant, id).await })
    });
    Effect::new(move |_| match cancel.value().get() {
        Some(Ok(_)) => reload.update(|n| *n += 1),
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    let latest = checkpoints.last().map(|c| c.step);
    let shown = move || chosen.get().or(latest);
    // The nodes running now; between steps, those of the next one.
    let next = if run.status.is_final() {
        Vec::new()
    } else {
        run.next.clone()
    };
    let active = Signal::derive(move || {
        let now = running.get();
        if now.is_empty() { next.clone() } else { now }
    });
    let approvals = run
        .waiting_on
        .iter()
        .map(|node| view! { <ApprovalForm run=run.clone() node=node.clone() definition=definition.clone() reload/> })
        .collect_view();
    let timeline = checkpoints
        .iter()
        .map(|c| {
            let step = c.step;
            let ran = if c.ran.is_empty() { "start".to_owned() } else { c.ran.join(", ") };
            let class = move || if shown() == Some(step) { "chosen" } else { "" };
            view! {
                <li class=class data-step=step>
                    <button type="button" on:click=move |_| chosen.set(Some(step))>{format!("step {step}: {ran}")}</button>
                    <span class="hint">{c.created_at.format(" %H:%M:%S%.3f").to_string()}</span>
                </li>
            }
        })
        .collect_view();
    let at_step = move || {
        let step = shown()?;
        let c = checkpoints.iter().find(|c| c.step == step)?.clone();
        Some(view! { <CheckpointView run=id tenant checkpoint=c/> })
    };
    let open = !run.status.is_final();
    // Parts erased to `AnyView`: one nested view type this deep overflows the compiler's
    // query depth in the server build.
    let head = view! {
        <h2>"Run "<code>{id.to_string()}</code></h2>
        <p data-testid="run-status">"Status: "<strong>{run.status.as_str()}</strong>{format!(" · step {} · version {}", run.step, run.version)}</p>
        {run.error.clone().map(|e| view! { <p class="problem" role="alert">{e}</p> })}
    }
    .into_any();
    let actions = view! {
        <Show when=move || open>
            <button type="button" class="danger" on:click=move |_| { cancel.dispatch(()); }>"Cancel run"</button>
        </Show>
        <ProblemBanner problem/>
    }
    .into_any();
    let trace = view! {
        <div class="trace">
            <ol class="timeline" aria-label="Checkpoints">{timeline}</ol>
            <div class="checkpoint">{at_step}</div>
        </div>
    }
    .into_any();
    view! {
        {head}
        <GraphView definition active/>
        {approvals.into_any()}
        {actions}
        {trace}
    }
}

#[component]
fn CheckpointView(tenant: Uuid, run: Uuid, checkpoint: Checkpoint) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let edits = RwSignal::new("{}".to_owned());
    let problem = RwSignal::new(None::<Problem>);
    let forked = RwSignal::new(None::<Uuid>);
    let step = checkpoint.step;
    let fork = Action::new(move |body: &Fork| {
        let (api, body) = (api.clone(), body.clone());
        sendable(async move { api.fork_run(tenant, run, &body).await })
    });
    Effect::new(move |_| match fork.value().get() {
        Some(Ok(run)) => forked.set(Some(run.id)),
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    let submit = move |_| match serde_json::from_str(&edits.get()) {
        Ok(serde_json::Value::Object(state)) => {
            fork.dispatch(Fork { step, state });
        }
        _ => problem.set(Some(Problem::client(
            "the edits are a JSON object of state keys",
        ))),
    };
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    view! {
        <h3>{format!("State after step {step}")}</h3>
        <pre class="code" data-testid="checkpoint-state">{pretty(&checkpoint.state)}</pre>
        <h3>"Outputs"</h3>
        <pre class="code">{pretty(&checkpoint.outputs)}</pre>
        <Show when={let empty = checkpoint.next.is_empty(); move || !empty}>
            <label class="wide">"Fork from here, replacing state keys (JSON)"
                <textarea name="fork-state" rows="3" class="code" bind:value=edits></textarea>
            </label>
            <button type="button" on:click=submit>{format!("Fork from step {step}")}</button>
        </Show>
        {move || forked.get().map(|id| view! {
            <p class="hint ok">"Forked as "<a href=format!("/runs?tenant={tenant}&run={id}")>{id.to_string()}</a></p>
        })}
        <ProblemBanner problem/>
    }
}

/// The decision on one approval the run waits for: its prompt (rendered from the state as
/// the engine would), its form's fields, approve or reject.
#[component]
pub(super) fn ApprovalForm(
    run: Run,
    node: String,
    definition: Definition,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let spec = definition.nodes.get(&node).cloned();
    if let Some(other) = spec.as_ref().filter(|s| s.kind != NodeKind::Approval) {
        // A subgraph node: its child run waits for a person, and this run with it.
        let what = format!(
            "`{node}` waits for its {} run to finish.",
            kind_label(other.kind)
        );
        return view! { <p class="hint" data-waiting=node>{what}</p> }.into_any();
    }
    let prompt = spec
        .as_ref()
        .and_then(|s| s.prompt.clone())
        .map(|p| {
            Template::parse(&serde_json::Value::String(p.clone()))
                .ok()
                .and_then(|t| t.render(&run.state).ok())
                .map_or(p, |v| v.as_str().unwrap_or_default().to_owned())
        })
        .unwrap_or_else(|| format!("Approve `{node}`?"));
    let fields: Vec<(String, KeyType, String, RwSignal<String>)> = spec
        .map(|s| s.form)
        .unwrap_or_default()
        .into_iter()
        .map(|f| {
            let label = if f.label.is_empty() {
                f.name.clone()
            } else {
                f.label.clone()
            };
            (f.name, f.kind, label, RwSignal::new(String::new()))
        })
        .collect();
    let comment = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<Problem>);
    let (tenant, id) = (run.tenant_id, run.id);
    let decide = Action::new(move |body: &Decision| {
        let (api, body) = (api.clone(), body.clone());
        sendable(async move { api.decide(tenant, id, &body).await })
    });
    Effect::new(move |_| match decide.value().get() {
        Some(Ok(_)) => reload.update(|n| *n += 1),
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    let inputs = fields
        .iter()
        .map(|(name, kind, label, value)| {
            let kind = match kind {
                KeyType::Number | KeyType::Integer => "number",
                KeyType::Boolean => "checkbox",
                _ => "text",
            };
            let value = *value;
            view! { <label>{label.clone()}<input name=name.clone() type=kind bind:value=value/></label> }
        })
        .collect_view();
    let send = move |approve: bool| {
        let mut form = serde_json::Map::new();
        for (name, kind, _, value) in &fields {
            let text = value.get();
            if text.is_empty() {
                continue;
            }
            let v = match kind {
                KeyType::Number | KeyType::Integer => text
                    .parse::<f64>()
                    .ok()
                    .and_then(|n| {
                        if n.fract() == 0.0 {
                            Some(serde_json::Value::from(n as i64))
                        } else {
                            serde_json::Number::from_f64(n).map(Into::into)
                        }
                    })
                    .unwrap_or(serde_json::Value::String(text)),
                KeyType::Boolean => serde_json::Value::Bool(text == "on" || text == "true"),
                _ => serde_json::Value::String(text),
            };
            form.insert(name.clone(), v);
        }
        decide.dispatch(Decision {
            node: node.clone(),
            approve,
            form,
            comment: comment.get(),
        });
    };
    let send_no = send.clone();
    view! {
        <div class="card approval" data-approval=run.waiting_on.join(",")>
            <p><strong>{prompt}</strong></p>
            {inputs}
            <label>"Comment" <input name="comment" bind:value=comment/></label>
            <div class="actions">
                <button type="button" on:click=move |_| send(true)>"Approve"</button>
                <button type="button" class="danger" on:click=move |_| send_no(false)>"Reject"</button>
            </div>
            <ProblemBanner problem/>
        </div>
    }
    .into_any()
}

fn kind_label(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Subgraph => "subgraph",
        _ => "node's",
    }
}
