//! `/api/v1/tenants/{tenant_id}/conversations`: the end-user chat (issue #5 point 5), for the
//! console's chat page and for mobile apps. A user sees only their own conversations; the
//! chat needs `tools:call`, as the agent calls tools as the user.
//!
//! Sending a message (or deciding a tool call) starts a turn that runs on its own. With
//! `Accept: text/event-stream` the same request streams the turn as server-sent events until
//! it ends; `GET …/events` follows a conversation from anywhere (another device, another
//! replica); the messages are the record, read back with `GET …/messages`.

use app::api::{
    ChatApproval, ChatEvent, ChatMessage, ChatMessageList, Conversation, ConversationInput,
    ConversationList, ConversationStatus, FieldError, MAX_MESSAGE_CHARS, NewChatMessage, Problem,
};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::authn::authorize;
use super::chat_settings::{Settings, check};
use super::chat_stream::{stream, subscribe, wants_stream};
use super::check_fields;
use super::error::ApiError;
use super::extract::{Json, Path, Query, RequestContext};
use super::workflows::audited;
use crate::AppState;
use crate::access::Permission;
use crate::chat::ChatError;
use crate::identity::Principal;
use crate::store::ConversationRow;
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
    /// The latest `limit` messages before this seq, in order (paging back from the end).
    pub before: Option<i64>,
    /// The latest `limit` messages, in order (as `before` the end).
    pub latest: Option<bool>,
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
/// each tool call's card. `after` pages forward from the start; `latest` gives the newest
/// page and `before` the page before a seq, to read back from the end.
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
    let tail = match (query.after, query.before, query.latest) {
        (Some(_), Some(_), _) | (Some(_), _, Some(true)) => {
            return Err(ApiError::BadRequest(
                "`after` reads forward, `before` and `latest` read back from the end: give one"
                    .into(),
            ));
        }
        (None, Some(before), _) => Some(before),
        (None, None, Some(true)) => Some(i64::MAX),
        _ => None,
    };
    let rows = match tail {
        Some(before) => {
            (state.store)
                .chat_messages_before(&scope, id, before, limit)
                .await?
        }
        None => {
            let after = query.after.unwrap_or(0);
            state.store.chat_messages(&scope, id, after, limit).await?
        }
    };
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
