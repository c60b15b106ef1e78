//! What the gateway asks of an upstream: its lists (cached until a `list_changed` or the
//! TTL), a tool call, a resource read, a prompt and a completion, each sent through [`relay::send`] so
//! progress comes back and an abandoned request is withdrawn.

use std::sync::Arc;
use std::time::Instant;

use app::api::Upstream;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, ClientRequest, CompleteRequest,
    CompleteRequestParams, CompleteResult, GetPromptRequest, GetPromptRequestParams,
    GetPromptResult, ReadResourceRequest, ReadResourceRequestParams, ReadResourceResult,
    ServerResult,
};
use rmcp::service::ServiceError;
use serde_json::{Map, Value};

use super::{CallError, Pool, Session};
use crate::gateway::catalog::Lists;
use crate::gateway::relay::{self, Control};
use crate::gateway::rounds::{Answer, Resend};
use crate::tenancy::TenantScope;

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

    /// Calls `tool` (the upstream's own name) with `arguments`, and with `resend` when it is
    /// a repeat for an upstream that asked for input (SEP-2322).
    pub async fn call_tool(
        &self,
        scope: &TenantScope,
        upstream: &Upstream,
        tool: &str,
        arguments: Map<String, Value>,
        resend: Resend,
        control: Control,
    ) -> Result<Answer<CallToolResult>, CallError> {
        let mut params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments);
        params.input_responses = resend.responses;
        params.request_state = resend.state;
        control.mark(&mut params);
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        let routes = Arc::clone(&self.progress);
        self.with_session(scope, upstream, |s| async move {
            match relay::send(&s, routes, &s.service().asks, request, control).await? {
                ServerResult::CallToolResult(result) => Ok(Answer::Complete(result)),
                ServerResult::InputRequiredResult(asked) => Ok(Answer::InputRequired(asked)),
                _ => Err(ServiceError::UnexpectedResponse),
            }
        })
        .await
    }

    /// Reads `uri` (the upstream's own URI); `resend` as for [`Pool::call_tool`].
    pub async fn read_resource(
        &self,
        scope: &TenantScope,
        upstream: &Upstream,
        uri: &str,
        resend: Resend,
        control: Control,
    ) -> Result<Answer<ReadResourceResult>, CallError> {
        let mut params = ReadResourceRequestParams::new(uri.to_owned());
        params.input_responses = resend.responses;
        params.request_state = resend.state;
        control.mark(&mut params);
        let request = ClientRequest::ReadResourceRequest(ReadResourceRequest::new(params));
        let routes = Arc::clone(&self.progress);
        self.with_session(scope, upstream, |s| async move {
            match relay::send(&s, routes, &s.service().asks, request, control).await? {
                ServerResult::ReadResourceResult(result) => Ok(Answer::Complete(result)),
                ServerResult::InputRequiredResult(asked) => Ok(Answer::InputRequired(asked)),
                _ => Err(ServiceError::UnexpectedResponse),
            }
        })
        .await
    }

    /// Gets prompt `name` (the upstream's own name) with `arguments`; `resend` as for
    /// [`Pool::call_tool`].
    pub async fn get_prompt(
        &self,
        scope: &TenantScope,
        upstream: &Upstream,
        name: &str,
        arguments: Map<String, Value>,
        resend: Resend,
        control: Control,
    ) -> Result<Answer<GetPromptResult>, CallError> {
        let mut params = GetPromptRequestParams::new(name.to_owned());
        if !arguments.is_empty() {
            params = params.with_arguments(arguments);
        }
        params.input_responses = resend.responses;
        params.request_state = resend.state;
        control.mark(&mut params);
        let request = ClientRequest::GetPromptRequest(GetPromptRequest::new(params));
        let routes = Arc::clone(&self.progress);
        self.with_session(scope, upstream, |s| async move {
            match relay::send(&s, routes, &s.service().asks, request, control).await? {
                ServerResult::GetPromptResult(result) => Ok(Answer::Complete(result)),
                ServerResult::InputRequiredResult(asked) => Ok(Answer::InputRequired(asked)),
                _ => Err(ServiceError::UnexpectedResponse),
            }
        })
        .await
    }

    /// Asks the upstream to complete an argument of one of its prompts or resource templates
    /// (`params` already names it as the upstream does). An upstream that declared no
    /// completions answers with no values, as MCP 2025-11-25 server/utilities/completion
    /// lets a server without the capability be treated.
    pub async fn complete(
        &self,
        scope: &TenantScope,
        upstream: &Upstream,
        params: CompleteRequestParams,
        control: Control,
    ) -> Result<CompleteResult, CallError> {
        let request = ClientRequest::CompleteRequest(CompleteRequest::new(params));
        let routes = Arc::clone(&self.progress);
        self.with_session(scope, upstream, |s| async move {
            let declared = s
                .peer_info()
                .is_some_and(|info| info.capabilities.completions.is_some());
            if !declared {
                return Ok(CompleteResult::default());
            }
            match relay::send(&s, routes, &s.service().asks, request, control).await? {
                ServerResult::CompleteResult(result) => Ok(result),
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
