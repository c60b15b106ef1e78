//! The chat's server-sent events (issue #5 point 5): a turn's own stream, answered to the
//! request that started it, and a conversation followed from anywhere (`GET …/events`).
//! Events come through `kv` pub/sub, so a stream on one replica hears a turn on another.

use std::convert::Infallible;
use std::time::Duration;

use app::api::{ChatEvent, ChatMessage, ConversationStatus};
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::error::ApiError;
use crate::AppState;
use crate::tenancy::TenantScope;

pub(super) fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

pub(super) async fn subscribe(
    state: &AppState,
    id: Uuid,
) -> Result<crate::kv::Subscription, ApiError> {
    (state.kv)
        .subscribe(&crate::chat::channel(id))
        .await
        .map_err(|e| ApiError::Unavailable(format!("the chat cannot be followed now: {e}")))
}

/// The conversation's events as server-sent events: `first`, the status when the stream
/// is not a turn's, then what is heard. A turn's stream (`turn`) ends when the status is
/// no longer `answering`. When nothing is heard for a while, the stream reads the status
/// itself, so a lost publication never leaves a client waiting for an end that came.
pub(super) fn stream(
    state: &AppState,
    scope: TenantScope,
    id: Uuid,
    mut live: crate::kv::Subscription,
    first: Option<ChatMessage>,
    turn: bool,
) -> Response {
    let (tx, rx) = mpsc::channel::<ChatEvent>(64);
    let store = state.store.clone();
    let quiet = Duration::from_secs(state.settings.engine.events_poll_secs.max(1));
    let shutdown = state.mcp.shutdown.clone();
    tokio::spawn(async move {
        let owner_status = |store: crate::store::Store| async move {
            // The stream's owner was checked at its start; the status is all it reads.
            store.conversation_status(&scope, id).await.ok()
        };
        if let Some(message) = first
            && tx
                .send(ChatEvent::Message {
                    message: Box::new(message),
                })
                .await
                .is_err()
        {
            return;
        }
        let mut last = None;
        if !turn {
            last = owner_status(store.clone()).await;
            if let Some(status) = last
                && tx.send(ChatEvent::Status { status }).await.is_err()
            {
                return;
            }
        }
        loop {
            let heard = tokio::select! {
                heard = live.next() => heard,
                () = tokio::time::sleep(quiet) => {
                    let now = owner_status(store.clone()).await;
                    let changed = now.is_some() && now != last;
                    if let Some(status) = now.filter(|_| changed) {
                        last = Some(status);
                        let ended = turn && status != ConversationStatus::Answering;
                        if tx.send(ChatEvent::Status { status }).await.is_err() || ended {
                            return;
                        }
                    }
                    continue;
                }
                () = tx.closed() => return,
                () = shutdown.cancelled() => return,
            };
            let Some(bytes) = heard else { return };
            let Ok(event) = serde_json::from_slice::<ChatEvent>(&bytes) else {
                continue;
            };
            let ended = match &event {
                ChatEvent::Status { status } => {
                    last = Some(*status);
                    turn && *status != ConversationStatus::Answering
                }
                _ => false,
            };
            if tx.send(event).await.is_err() || ended {
                return;
            }
        }
    });
    let events = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|event| (event, rx))
    });
    Sse::new(sse(events))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn sse(events: impl Stream<Item = ChatEvent>) -> impl Stream<Item = Result<Event, Infallible>> {
    use futures::StreamExt;
    events.map(|event| {
        Ok(Event::default()
            .event(event.name())
            .json_data(&event)
            .unwrap_or_else(|_| Event::default().comment("unserialisable event")))
    })
}
