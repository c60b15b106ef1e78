//! A run followed live (issue #5 point 3): the browser opens the run's event stream
//! (`GET …/runs/{run_id}/events`, server-sent events) and the trace shows each event as it
//! comes — nodes starting and finishing, tool calls with their duration, a model's text as it
//! streams — while the graph highlights the nodes running now.

use leptos::prelude::*;
use uuid::Uuid;

use crate::api::{RunEvent, RunEventKind};

/// What the trace shows of a run's events.
#[derive(Clone, Copy)]
pub(super) struct Live {
    /// The events heard, a model's streamed text merged into one line per node and step.
    pub events: RwSignal<Vec<RunEvent>>,
    /// The nodes running now.
    pub running: RwSignal<Vec<String>>,
    /// Bumped when a step commits or the run moves: the trace reads the run again.
    pub moved: RwSignal<u32>,
}

impl Live {
    pub(super) fn new() -> Self {
        Self {
            events: RwSignal::new(Vec::new()),
            running: RwSignal::new(Vec::new()),
            moved: RwSignal::new(0),
        }
    }

    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn hear(self, event: RunEvent) {
        match &event.kind {
            RunEventKind::NodeStarted { node, .. } => self.running.update(|r| {
                if !r.contains(node) {
                    r.push(node.clone());
                }
            }),
            RunEventKind::NodeFinished { node, .. } => {
                self.running.update(|r| r.retain(|n| n != node))
            }
            RunEventKind::Step { .. } | RunEventKind::RunStatus { .. } => {
                self.moved.update(|n| *n += 1);
            }
            _ => {}
        }
        if event.kind.is_final() {
            self.running.set(Vec::new());
        }
        self.events.update(|all| {
            if let RunEventKind::Tokens { step, node, text } = &event.kind
                && let Some(RunEvent {
                    kind:
                        RunEventKind::Tokens {
                            step: s,
                            node: n,
                            text: so_far,
                        },
                    ..
                }) = all.last_mut()
                && s == step
                && n == node
            {
                so_far.push_str(text);
                return;
            }
            // A resumed stream may repeat an event; each is shown once.
            if event.seq.is_some() && all.iter().any(|e| e.seq == event.seq) {
                return;
            }
            all.push(event);
        });
    }
}

/// Opens the run's event stream in the browser, for as long as the calling view lives; the
/// stream is closed when the run ends. Nothing on the server.
pub(super) fn follow(tenant: Uuid, run: Uuid, live: Live) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        use wasm_bindgen::closure::Closure;
        let url = format!("/api/v1/tenants/{tenant}/runs/{run}/events");
        let Ok(source) = web_sys::EventSource::new(&url) else {
            return;
        };
        let own = source.clone();
        let handler =
            Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |m: web_sys::MessageEvent| {
                let Some(text) = m.data().as_string() else {
                    return;
                };
                let Ok(event) = serde_json::from_str::<RunEvent>(&text) else {
                    return;
                };
                // The server ends the stream after the last event; closing keeps the browser from
                // opening it again.
                if event.kind.is_final() {
                    own.close();
                }
                live.hear(event);
            });
        for name in [
            "run_status",
            "node_started",
            "node_finished",
            "tool_call",
            "tokens",
            "step",
        ] {
            let _ = source.add_event_listener_with_callback(name, handler.as_ref().unchecked_ref());
        }
        let held = send_wrapper::SendWrapper::new((source, handler));
        on_cleanup(move || held.0.close());
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (tenant, run, live);
}

/// The events heard, newest last.
#[component]
pub(super) fn EventLog(live: Live) -> impl IntoView {
    view! {
        <details class="events" open>
            <summary>{move || format!("Live events ({})", live.events.with(Vec::len))}</summary>
            <ol aria-label="Events">
                <For
                    each=move || live.events.get().into_iter().enumerate()
                    key=|(i, e)| (*i, e.seq, tokens_len(e))
                    children=|(_, event)| view! {
                        <li data-type=event.kind.name()>
                            <span class="hint">{event.at.format("%H:%M:%S%.3f ").to_string()}</span>
                            {describe(&event.kind)}
                        </li>
                    }
                />
            </ol>
        </details>
    }
}

fn tokens_len(event: &RunEvent) -> usize {
    match &event.kind {
        RunEventKind::Tokens { text, .. } => text.len(),
        _ => 0,
    }
}

fn describe(kind: &RunEventKind) -> String {
    match kind {
        RunEventKind::RunStatus {
            status,
            step,
            error,
            waiting_on,
        } => {
            let mut text = format!("run {} at step {step}", status.as_str());
            if !waiting_on.is_empty() {
                text.push_str(&format!(", waiting on {}", waiting_on.join(", ")));
            }
            if let Some(error) = error {
                text.push_str(&format!(": {error}"));
            }
            text
        }
        RunEventKind::NodeStarted { node, kind, .. } => format!("{node} started ({kind})"),
        RunEventKind::NodeFinished {
            node,
            outcome,
            ms,
            error,
            ..
        } => match error {
            Some(error) => format!("{node} {outcome} after {ms} ms: {error}"),
            None => format!("{node} {outcome} in {ms} ms"),
        },
        RunEventKind::ToolCall {
            node,
            tool,
            ms,
            ok,
            error,
            ..
        } => match (ok, error) {
            (true, _) => format!("{node} called {tool}: ok in {ms} ms"),
            (false, e) => format!(
                "{node} called {tool}: failed in {ms} ms ({})",
                e.as_deref().unwrap_or("")
            ),
        },
        RunEventKind::Tokens { node, text, .. } => format!("{node} says: {text}"),
        RunEventKind::Step {
            step, ran, delta, ..
        } => {
            let keys: Vec<&str> = delta.keys().map(String::as_str).collect();
            let changed = if keys.is_empty() {
                "no state changed".to_owned()
            } else {
                format!("changed {}", keys.join(", "))
            };
            format!("step {step} committed ({}): {changed}", ran.join(", "))
        }
    }
}
