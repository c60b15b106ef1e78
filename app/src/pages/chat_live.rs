//! A conversation followed live: the browser opens `GET …/conversations/{id}/events`
//! (server-sent `ChatEvent`s) for as long as the conversation is on screen, shows the
//! model's text as it streams, and reads the messages again when one is stored. Also the
//! tool-call card, with the user's Approve and Decline for a call that waits for them.

use leptos::prelude::*;
use uuid::Uuid;

use crate::api::{
    ApiClient, ChatApproval, ChatEvent, ConversationStatus, Problem, ToolCard, sendable,
};

/// What the conversation shows of its events.
#[derive(Clone, Copy)]
pub(super) struct Live {
    pub status: RwSignal<Option<ConversationStatus>>,
    /// The answer as the model writes it, until it is stored.
    pub draft: RwSignal<String>,
    pub error: RwSignal<Option<String>>,
    /// Bumped when a message is stored or the status moves: the messages are read again.
    pub moved: RwSignal<u32>,
}

impl Live {
    pub(super) fn new() -> Self {
        Self {
            status: RwSignal::new(None),
            draft: RwSignal::new(String::new()),
            error: RwSignal::new(None),
            moved: RwSignal::new(0),
        }
    }

    /// The user sent a message: it is stored, and a turn begins. The status comes from the
    /// events only: a short turn's end can be heard before the send's answer arrives.
    pub(super) fn sent(self) {
        self.error.set(None);
        self.moved.update(|n| *n += 1);
    }

    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn hear(self, event: ChatEvent) {
        match event {
            ChatEvent::Status { status } => {
                if status != ConversationStatus::Answering {
                    self.draft.set(String::new());
                }
                if self.status.get_untracked() != Some(status) {
                    self.status.set(Some(status));
                    self.moved.update(|n| *n += 1);
                }
            }
            ChatEvent::Text { text } => self.draft.update(|d| d.push_str(&text)),
            ChatEvent::Message { message } => {
                // The stored answer replaces its draft.
                if message.role == "assistant" {
                    self.draft.set(String::new());
                }
                self.moved.update(|n| *n += 1);
            }
            ChatEvent::Error { message } => self.error.set(Some(message)),
        }
    }
}

/// Opens the conversation's event stream in the browser, closed when the calling view goes.
/// Nothing on the server.
pub(super) fn follow(tenant: Uuid, conversation: Uuid, live: Live) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        use wasm_bindgen::closure::Closure;
        let url = format!("/api/v1/tenants/{tenant}/conversations/{conversation}/events");
        let Ok(source) = web_sys::EventSource::new(&url) else {
            return;
        };
        let handler =
            Closure::<dyn Fn(web_sys::MessageEvent)>::new(move |m: web_sys::MessageEvent| {
                let Some(text) = m.data().as_string() else {
                    return;
                };
                if let Ok(event) = serde_json::from_str::<ChatEvent>(&text) {
                    live.hear(event);
                }
            });
        for name in ["status", "text", "message", "error"] {
            let _ = source.add_event_listener_with_callback(name, handler.as_ref().unchecked_ref());
        }
        let held = send_wrapper::SendWrapper::new((source, handler));
        on_cleanup(move || held.0.close());
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (tenant, conversation, live);
}

/// A tool call: what was asked, how it went, and, while it waits, the user's decision.
#[component]
pub(super) fn ToolCardView(
    tenant: Uuid,
    conversation: Uuid,
    message_id: Uuid,
    card: ToolCard,
    live: Live,
    problem: RwSignal<Option<Problem>>,
) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let decide = Action::new(move |approve: &bool| {
        let api = api.clone();
        let body = ChatApproval {
            message_id,
            approve: *approve,
        };
        sendable(async move { api.decide_chat_call(tenant, conversation, &body).await })
    });
    Effect::new(move |_| match decide.value().get() {
        Some(Ok(_)) => {
            problem.set(None);
            live.moved.update(|n| *n += 1);
        }
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    let arguments = serde_json::to_string_pretty(&card.arguments).unwrap_or_default();
    let waits = card.status == "pending_approval";
    let label = status_label(&card.status).to_owned();
    let took = card.ms.map(|ms| format!(" · {ms} ms")).unwrap_or_default();
    view! {
        <div class="tool-card" data-tool=card.tool.clone() data-status=card.status.clone()>
            <p>
                <strong>{card.tool.clone()}</strong>
                <span class="badge">{label}</span>
                <span class="hint">{took}</span>
            </p>
            {card.approval_reason.clone().map(|r| view! { <p class="hint">{r}</p> })}
            // A workflow's call shows no arguments: its run's trace has them.
            {(!card.arguments.is_null()).then(|| view! {
                <details open=waits>
                    <summary>"Arguments"</summary>
                    <pre class="code">{arguments}</pre>
                </details>
            })}
            {card.result.clone().map(|r| view! {
                <details open>
                    <summary>"Result"</summary>
                    <pre class="code">{r}</pre>
                </details>
            })}
            {card.error.clone().map(|e| view! { <p class="problem">{e}</p> })}
            {waits.then(|| view! {
                <div class="actions">
                    <button disabled=move || decide.pending().get() on:click=move |_| { decide.dispatch(true); }>"Approve"</button>
                    <button type="button" disabled=move || decide.pending().get() on:click=move |_| { decide.dispatch(false); }>"Decline"</button>
                </div>
            })}
        </div>
    }
}

fn status_label(status: &str) -> &str {
    match status {
        "pending_approval" => "needs your approval",
        "running" => "running",
        "done" => "done",
        "error" => "failed",
        "declined" => "declined",
        other => other,
    }
}
