//! `/api/v1/tenants/{tenant_id}/conversations`: the end-user chat (issue #5 point 5), for the
//! console's chat page and for mobile apps. A user sees only their own conversations; the
//! chat needs `tools:call`, as the agent calls tools as the user.
//!
//! Sending a message (or deciding a tool call) starts a turn that runs on its own. With
//! `Accept: text/event-stream` the same request streams the turn as server-sent events until
//! it ends; `GET …/events` follows a conversation from anywhere (another device, another
//! replica); the messages are the record, read back with `GET …/messages`.

use std::convert::Infallible;
use std::time::Duration;

use app::api::{
    ChatApproval, ChatEvent, ChatMessage, ChatMessageList, Conversation, ConversationInput,
    ConversationList, ConversationStatus, FieldError, MAX_MESSAGE_CHARS, NewChatMessage, Problem,
};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::Stream;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::authn::authorize;
use super::check_fields;
use super::error::ApiError;
use super::extract::{Json, Path, Query, RequestContext};
use super::workflows::audited;
use crate::AppState;
use crate::access::Permission;
use crate::chat::ChatError;
use crate::identity::Principal;
use crate::store::{ConversationRecord, ConversationRow};
use crate::tenancy::TenantScope;

pub fn router() -> Router<AppState> {
    let one = "/api/v1/tenants/{tenant_id}/conversations/{id}";
    Router::new()
        .route(
            "/api/v1/tenants/{tenant_id}/conversations",
            get(list).post(create),
        )
        .route(one, get(read).patch(update).delete(remove))
        .route(&format!("{one}/messages"), get(messages).post(send))
        .route(&format!("{one}/approvals"), post(approve))
        .route(&format!("{one}/events"), get(events))
        .route(&format!("{one}/stop"), post(stop))
}

impl From<ChatError> for ApiError {
    fn from(error: ChatError) -> Self {
        match error {
            ChatError::Busy(detail) => ApiError::Rejected {
                status: StatusCode::CONFLICT,
                detail,
            },
            ChatError::Refused(detail) => ApiError::Rejected {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                detail,
            },
            ChatError::Unavailable(detail) => ApiError::Unavailable(detail),
            ChatError::Store(e) => e.into(),
        }
    }
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChatQuery {
    /// Messages after this seq (default 0: from the first).
    pub after: Option<i64>,
    /// At most this many (1–500, default 100).
    pub limit: Option<i64>,
}

async fn scope_of(
    state: &AppState,
    principal: &Principal,
    ctx: &RequestContext,
    tenant_id: Uuid,
) -> Result<TenantScope, ApiError> {
    authorize(state, principal, ctx, tenant_id, Permission::ToolsCall).await
}

/// The caller's conversations, the most recently active first.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/conversations", tag = "chat",
    params(("tenant_id" = Uuid, Path), ChatQuery),
    responses(
        (status = 200, body = ConversationList),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
    Query(query): Query<ChatQuery>,
) -> Result<Json<ConversationList>, ApiError> {
    let limit = page_size(query.limit)?;
    let scope = scope_of(&state, &principal, &ctx, tenant_id).await?;
    let rows = (state.store)
        .list_conversations(&scope, principal.user_id, limit)
        .await?;
    Ok(Json(ConversationList {
        items: rows.iter().map(ConversationRow::to_api).collect(),
    }))
}

fn page_size(limit: Option<i64>) -> Result<i64, ApiError> {
    match limit {
        None => Ok(100),
        Some(n @ 1..=500) => Ok(n),
        Some(n) => Err(ApiError::BadRequest(format!(
            "limit must be 1 to 500, not {n}"
        ))),
    }
}

/// A conversation's settings once a request's are applied over what it had.
struct Settings {
    title: String,
    provider: Option<String>,
    instructions: Option<String>,
    workflow_id: Option<Uuid>,
}

impl Settings {
    /// `input` over `kept` (a new conversation: over nothing): an absent field keeps its
    /// value, `""` (the nil UUID for the workflow) clears it.
    fn merge(input: &ConversationInput, kept: Option<&ConversationRow>) -> Self {
        let pick = |given: &Option<String>, kept: Option<&String>| match given.as_deref() {
            None => kept.cloned(),
            Some("") => None,
            Some(text) => Some(text.to_owned()),
        };
        Self {
            title: input.title.as_deref().map(str::trim).map_or_else(
                || kept.map_or(crate::chat::DEFAULT_TITLE.to_owned(), |k| k.title.clone()),
                str::to_owned,
            ),
            provider: pick(&input.provider, kept.and_then(|k| k.provider.as_ref())),
            instructions: pick(
                &input.instructions,
                kept.and_then(|k| k.instructions.as_ref()),
            ),
            workflow_id: match input.workflow_id {
                None => kept.and_then(|k| k.workflow_id),
                Some(id) if id.is_nil() => None,
                Some(id) => Some(id),
            },
        }
    }

    fn record(&self) -> ConversationRecord<'_> {
        ConversationRecord {
            title: &self.title,
            provider: self.provider.as_deref(),
            instructions: self.instructions.as_deref(),
            workflow_id: self.workflow_id,
        }
    }
}

/// Checks a conversation's settings, every problem at once. A workflow that answers needs
/// the caller's `workflows:run`, as each message starts a run of it.
async fn check(
    state: &AppState,
    scope: &TenantScope,
    principal: &Principal,
    ctx: &RequestContext,
    input: &ConversationInput,
    settings: &Settings,
) -> Result<(), ApiError> {
    let providers = match input.provider.as_deref().filter(|p| !p.is_empty()) {
        Some(_) => state.store.list_llm_providers(scope).await?,
        None => Vec::new(),
    };
    let workflow = match input.workflow_id.filter(|id| !id.is_nil()) {
        Some(id) => {
            let tenant = scope.tenant_id();
            authorize(state, principal, ctx, tenant, Permission::WorkflowsRun).await?;
            Some(crate::chat::agent_workflow(&state.store, scope, id).await?)
        }
        None => None,
    };
    check_fields([
        match input.title.as_deref().map(str::trim) {
            Some(t) if t.is_empty() || t.chars().count() > 200 => {
                Err(FieldError::new("title", "must be 1–200 characters"))
            }
            _ => Ok(()),
        },
        match input.provider.as_deref().filter(|p| !p.is_empty()) {
            Some(name) if !providers.iter().any(|p| p.name == name) => Err(FieldError::new(
                "provider",
                format!("the tenant has no LLM provider named `{name}`"),
            )),
            _ => Ok(()),
        },
        match &input.instructions {
            Some(text) if text.chars().count() > 8_000 => Err(FieldError::new(
                "instructions",
                "must be at most 8,000 characters",
            )),
            _ => Ok(()),
        },
        match workflow {
            Some(Err(problem)) => Err(FieldError::new("workflow_id", problem)),
            _ if settings.workflow_id.is_some()
                && (settings.provider.is_some() || settings.instructions.is_some()) =>
            {
                Err(FieldError::new(
                    "workflow_id",
                    "a workflow answers with its own models and prompts: `provider` and \
                     `instructions` are the built-in agent's; clear them to use one",
                ))
            }
            _ => Ok(()),
        },
    ])
}

/// Start a conversation.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/conversations", tag = "chat",
    params(("tenant_id" = Uuid, Path)), request_body = ConversationInput,
    responses(
        (status = 201, body = Conversation),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path(tenant_id): Path<Uuid>,
    Json(input): Json<ConversationInput>,
) -> Result<impl IntoResponse, ApiError> {
    let scope = scope_of(&state, &principal, &ctx, tenant_id).await?;
    let settings = Settings::merge(&input, None);
    check(&state, &scope, &principal, &ctx, &input, &settings).await?;
    let row = (state.store)
        .create_conversation(&scope, principal.user_id, &settings.record())
        .await?;
    let location = format!("/api/v1/tenants/{tenant_id}/conversations/{}", row.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(row.to_api()),
    ))
}

async fn owned(
    state: &AppState,
    principal: &Principal,
    ctx: &RequestContext,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<(TenantScope, ConversationRow), ApiError> {
    let scope = scope_of(state, principal, ctx, tenant_id).await?;
    let row = state
        .store
        .conversation(&scope, principal.user_id, id)
        .await?;
    Ok((scope, row))
}

/// Read one of the caller's conversations.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/conversations/{id}", tag = "chat",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 200, body = Conversation),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn read(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
) -> Result<Json<Conversation>, ApiError> {
    let (_, row) = owned(&state, &principal, &ctx, tenant_id, id).await?;
    Ok(Json(row.to_api()))
}

/// Change a conversation's title, provider, instructions or workflow; `""` clears the
/// provider or the instructions, the nil UUID the workflow.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant_id}/conversations/{id}", tag = "chat",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)), request_body = ConversationInput,
    responses(
        (status = 200, body = Conversation),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn update(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
    Json(input): Json<ConversationInput>,
) -> Result<Json<Conversation>, ApiError> {
    let (scope, row) = owned(&state, &principal, &ctx, tenant_id, id).await?;
    let settings = Settings::merge(&input, Some(&row));
    check(&state, &scope, &principal, &ctx, &input, &settings).await?;
    let row = (state.store)
        .update_conversation(&scope, principal.user_id, id, &settings.record())
        .await?;
    Ok(Json(row.to_api()))
}

/// Delete a conversation and its messages; refused while it is answering.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant_id}/conversations/{id}", tag = "chat",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 204),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
    ))]
async fn remove(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let (scope, row) = owned(&state, &principal, &ctx, tenant_id, id).await?;
    if row.status() == ConversationStatus::Answering {
        return Err(
            ChatError::Busy("the conversation is answering; delete it after".into()).into(),
        );
    }
    (state.store)
        .delete_conversation(&scope, principal.user_id, id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A conversation's messages in order, a page at a time: the user's, the assistant's, and
/// each tool call's card.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/conversations/{id}/messages", tag = "chat",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path), ChatQuery),
    responses(
        (status = 200, body = ChatMessageList),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn messages(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
    Query(query): Query<ChatQuery>,
) -> Result<Json<ChatMessageList>, ApiError> {
    let limit = page_size(query.limit)?;
    let (scope, _) = owned(&state, &principal, &ctx, tenant_id, id).await?;
    let after = query.after.unwrap_or(0);
    let rows = state.store.chat_messages(&scope, id, after, limit).await?;
    Ok(Json(ChatMessageList {
        items: rows.into_iter().map(|m| m.message).collect(),
    }))
}

/// Send a message: the agent answers in a turn of its own. Answers `202` with the stored
/// message, or with `Accept: text/event-stream` streams the turn (`ChatEvent`s) to its end.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/conversations/{id}/messages", tag = "chat",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)), request_body = NewChatMessage,
    responses(
        (status = 202, body = ChatMessage, description = "Stored; the answer follows on the conversation's events"),
        (status = 200, body = ChatEvent, description = "The turn's events (text/event-stream)"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A turn runs, or tool calls wait for approval", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn send(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    headers: HeaderMap,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
    Json(body): Json<NewChatMessage>,
) -> Result<Response, ApiError> {
    let (scope, row) = owned(&state, &principal, &ctx, tenant_id, id).await?;
    let chars = body.content.chars().count();
    check_fields([
        if body.content.trim().is_empty() || chars > MAX_MESSAGE_CHARS {
            Err(FieldError::new(
                "content",
                format!("must be 1–{MAX_MESSAGE_CHARS} characters, not blank"),
            ))
        } else {
            Ok(())
        },
        match &body.tool {
            Some(tool) if !may_call(&state, &scope, &principal, &ctx, tool).await? => Err(
                FieldError::new("tool", format!("you have no tool named `{tool}`")),
            ),
            _ => Ok(()),
        },
    ])?;
    let streamed = wants_stream(&headers);
    // Subscribed before the turn starts, so the stream hears all of it.
    let live = if streamed {
        Some(subscribe(&state, id).await?)
    } else {
        None
    };
    let message = state.chat.send(&scope, &principal, &row, &body).await?;
    match live {
        Some(live) => Ok(stream(&state, scope, id, live, None, true)),
        None => Ok((StatusCode::ACCEPTED, Json(message)).into_response()),
    }
}

/// Whether `tool` is in the caller's catalog.
async fn may_call(
    state: &AppState,
    scope: &TenantScope,
    principal: &Principal,
    ctx: &RequestContext,
    tool: &str,
) -> Result<bool, ApiError> {
    let origin = ctx.origin();
    let caller = crate::gateway::Caller::rest(scope, principal, &origin);
    let catalog = state.gateway.catalog(&caller).await?;
    Ok(catalog.tools.iter().any(|t| t.name == tool))
}

/// Approve or decline a tool call that waits for the caller. The last decision starts the
/// turn that runs the approved calls; streamed like a message with `Accept: text/event-stream`.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/conversations/{id}/approvals", tag = "chat",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)), request_body = ChatApproval,
    responses(
        (status = 200, body = ChatMessage, description = "The decided card (JSON), or the turn's events (text/event-stream)"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The call was decided already", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No such tool call in the conversation", body = Problem, content_type = "application/problem+json"),
    ))]
async fn approve(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    headers: HeaderMap,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
    Json(body): Json<ChatApproval>,
) -> Result<Response, ApiError> {
    let (scope, row) = owned(&state, &principal, &ctx, tenant_id, id).await?;
    let live = if wants_stream(&headers) {
        Some(subscribe(&state, id).await?)
    } else {
        None
    };
    let card = state.chat.decide(&scope, &principal, &row, &body).await?;
    let tool = card
        .card
        .as_ref()
        .map(|c| c.tool.clone())
        .unwrap_or_default();
    let detail = json!({ "conversation": id, "tool": tool, "approved": body.approve });
    let target = format!("chat-message:{}", body.message_id);
    audited(
        &state,
        &ctx,
        &principal,
        &scope,
        "chat.decide",
        target,
        detail,
    )
    .await?;
    match live {
        // The stream opens with the card: the turn may have ended already, or not begun.
        Some(live) => Ok(stream(&state, scope, id, live, Some(card), true)),
        None => Ok(Json(card).into_response()),
    }
}

/// Follow a conversation: its status first, then what happens, live, until the client
/// leaves. Messages stored meanwhile are read back with `GET …/messages`.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant_id}/conversations/{id}/events", tag = "chat",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 200, body = ChatEvent, description = "text/event-stream of `ChatEvent`s"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn events(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
) -> Result<Response, ApiError> {
    let scope = scope_of(&state, &principal, &ctx, tenant_id).await?;
    let live = subscribe(&state, id).await?;
    // Read after subscribing: a change in between is heard.
    state
        .store
        .conversation(&scope, principal.user_id, id)
        .await?;
    Ok(stream(&state, scope, id, live, None, false))
}

/// Stop the answer being written: the turn ends, saying so, with what it stored kept.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant_id}/conversations/{id}/stop", tag = "chat",
    params(("tenant_id" = Uuid, Path), ("id" = Uuid, Path)),
    responses(
        (status = 202, description = "The turn was asked to stop; its end comes on the events"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The conversation is not answering", body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ))]
async fn stop(
    State(state): State<AppState>,
    ctx: RequestContext,
    principal: Principal,
    Path((tenant_id, id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    let (_, row) = owned(&state, &principal, &ctx, tenant_id, id).await?;
    state.chat.stop(&row).await?;
    Ok(StatusCode::ACCEPTED)
}

fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"))
}

async fn subscribe(state: &AppState, id: Uuid) -> Result<crate::kv::Subscription, ApiError> {
    (state.kv)
        .subscribe(&crate::chat::channel(id))
        .await
        .map_err(|e| ApiError::Unavailable(format!("the chat cannot be followed now: {e}")))
}

/// The conversation's events as server-sent events: `first`, the status when the stream
/// is not a turn's, then what is heard. A turn's stream (`turn`) ends when the status is
/// no longer `answering`. When nothing is heard for a while, the stream reads the status
/// itself, so a lost publication never leaves a client waiting for an end that came.
fn stream(
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
