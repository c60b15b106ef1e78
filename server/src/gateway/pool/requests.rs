//! What the gateway asks of an upstream: its lists (cached until a `list_changed` or the
//! TTL), a tool call (with progress passed back and cancellation passed on), a resource
//! read and a prompt. A request abandoned for any reason (the caller cancelled, the
//! timeout fired, the client went away) is withdrawn at the upstream with
//! `notifications/cancelled` (MCP 2025-11-25, basic/utilities/cancellation).

use std::sync::Arc;
use std::time::Instant;

use app::api::Upstream;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, CancelledNotificationParam,
    ClientRequest, GetPromptRequest, GetPromptRequestParams, GetPromptResult, ProgressToken,
    ReadResourceRequest, ReadResourceRequestParams, ReadResourceResult, RequestId, ServerResult,
};
use rmcp::service::{Peer, PeerRequestOptions, RoleClient, ServiceError};
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{CallError, Pool, Session};
use crate::gateway::catalog::Lists;
use crate::gateway::upstream::{Progress, ProgressRoutes};
use crate::tenancy::TenantScope;

/// How a caller steers its call: where progress goes, and a token it cancels to withdraw.
#[derive(Default)]
pub struct Control {
    pub progress: Option<mpsc::UnboundedSender<Progress>>,
    pub cancel: CancellationToken,
}

/// A request sent to an upstream and not yet answered. Dropped before [`InFlight::done`],
/// it tells the upstream to stop; it always stops routing the request's progress.
struct InFlight {
    peer: Peer<RoleClient>,
    id: Option<RequestId>,
    token: ProgressToken,
    routes: ProgressRoutes,
}

impl InFlight {
    fn done(mut self) {
        self.id = None;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.token);
        if let Some(id) = self.id.take() {
            let peer = self.peer.clone();
            tokio::spawn(async move {
                let reason = "the gateway's caller withdrew the request".to_owned();
                let note = CancelledNotificationParam::new(Some(id), Some(reason));
                let _ = peer.notify_cancelled(note).await;
            });
        }
    }
}

/// Sends `request`, routes its progress to `control.progress`, and waits for the answer or
/// for `control.cancel`.
async fn send(
    session: Arc<Session>,
    routes: ProgressRoutes,
    request: ClientRequest,
    control: Control,
) -> Result<ServerResult, ServiceError> {
    let handle = session
        .send_cancellable_request(request, PeerRequestOptions::no_options())
        .await?;
    let flight = InFlight {
        peer: handle.peer.clone(),
        id: Some(handle.id.clone()),
        token: handle.progress_token.clone(),
        routes: Arc::clone(&routes),
    };
    if let Some(progress) = control.progress {
        routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(handle.progress_token.clone(), progress);
    }
    tokio::select! {
        answer = handle.await_response() => {
            flight.done();
            answer
        }
        () = control.cancel.cancelled() => {
            drop(flight);
            Err(ServiceError::Cancelled { reason: Some("cancelled by the caller".into()) })
        }
    }
}

impl Pool {
    /// Everything the upstream offers, from the cache while it is fresh.
    pub async fn lists(
        &self,
        scope: &TenantScope,
        upstream: &Upstream,
    ) -> Result<Arc<Lists>, CallError> {
        let slot = self.slot(upstream);
        let cached = slot.lists.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(lists) = cached
            && lists.fresh(Instant::now())
        {
            return Ok(lists);
        }
        let fetched = self
            .with_session(scope, upstream, |s| async move { fetch(&s).await })
            .await?;
        let lists = Arc::new(fetched);
        *slot.lists.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&lists));
        Ok(lists)
    }

    /// Calls `tool` (the upstream's own name) with `arguments`.
    pub async fn call_tool(
        &self,
        scope: &TenantScope,
        upstream: &Upstream,
        tool: &str,
        arguments: Map<String, Value>,
        control: Control,
    ) -> Result<CallToolResult, CallError> {
        let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        let routes = Arc::clone(&self.progress);
        self.with_session(scope, upstream, |s| async move {
            match send(s, routes, request, control).await? {
                ServerResult::CallToolResult(result) => Ok(result),
                _ => Err(ServiceError::UnexpectedResponse),
            }
        })
        .await
    }

    /// Reads `uri` (the upstream's own URI).
    pub async fn read_resource(
        &self,
        scope: &TenantScope,
        upstream: &Upstream,
        uri: &str,
        control: Control,
    ) -> Result<ReadResourceResult, CallError> {
        let params = ReadResourceRequestParams::new(uri.to_owned());
        let request = ClientRequest::ReadResourceRequest(ReadResourceRequest::new(params));
        let routes = Arc::clone(&self.progress);
        self.with_session(scope, upstream, |s| async move {
            match send(s, routes, request, control).await? {
                ServerResult::ReadResourceResult(result) => Ok(result),
                _ => Err(ServiceError::UnexpectedResponse),
            }
        })
        .await
    }

    /// Gets prompt `name` (the upstream's own name) with `arguments`.
    pub async fn get_prompt(
        &self,
        scope: &TenantScope,
        upstream: &Upstream,
        name: &str,
        arguments: Map<String, Value>,
        control: Control,
    ) -> Result<GetPromptResult, CallError> {
        let mut params = GetPromptRequestParams::new(name.to_owned());
        if !arguments.is_empty() {
            params = params.with_arguments(arguments);
        }
        let request = ClientRequest::GetPromptRequest(GetPromptRequest::new(params));
        let routes = Arc::clone(&self.progress);
        self.with_session(scope, upstream, |s| async move {
            match send(s, routes, request, control).await? {
                ServerResult::GetPromptResult(result) => Ok(result),
                _ => Err(ServiceError::UnexpectedResponse),
            }
        })
        .await
    }
}

/// Lists what the upstream declared it offers.
async fn fetch(session: &Session) -> Result<Lists, ServiceError> {
    let caps = session
        .peer_info()
        .map(|info| info.capabilities.clone())
        .unwrap_or_default();
    let mut lists = Lists {
        tools: Vec::new(),
        resources: Vec::new(),
        templates: Vec::new(),
        prompts: Vec::new(),
        fetched: Instant::now(),
    };
    if caps.tools.is_some() {
        lists.tools = session.list_all_tools().await?;
    }
    if caps.resources.is_some() {
        lists.resources = session.list_all_resources().await?;
        lists.templates = session.list_all_resource_templates().await?;
    }
    if caps.prompts.is_some() {
        lists.prompts = session.list_all_prompts().await?;
    }
    Ok(lists)
}
