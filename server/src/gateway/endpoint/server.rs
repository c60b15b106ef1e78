//! The MCP server the gateway presents to clients: one catalog of every upstream's tools,
//! resources and prompts, in gateway names, each request governed by [`Gateway`] for the
//! caller the HTTP layer authenticated. Answers follow MCP 2025-11-25 server/tools §Error
//! Handling: an unknown tool or prompt is `-32602`, an unknown resource `-32002`, an upstream
//! that failed or timed out an internal error naming it, a tool's own failure its result.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rmcp::ErrorData as McpError;
use rmcp::ServerHandler;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelledNotificationParam,
    CompleteRequestParams, CompleteResult, ContentBlock, ErrorCode, GetPromptRequestParams,
    GetPromptResponse, Implementation, ListPromptsResult, ListResourceTemplatesResult,
    ListResourcesResult, ListToolsResult, PaginatedRequestParams, ProtocolVersion,
    ReadResourceRequestParams, ReadResourceResponse, ResourceUpdatedNotificationParam,
    ServerCapabilities, ServerConfig, SubscribeRequestParams, UnsubscribeRequestParams,
};
#[allow(deprecated)] // logging: deprecated by SEP-2577, still in the session-era revisions
use rmcp::model::{LoggingLevel, SetLevelRequestParams};
use rmcp::service::{NotificationContext, RequestContext, RoleServer};
use serde_json::json;
use uuid::Uuid;

use super::cancels::{Cancels, Tracked};
use super::sessions::Sessions;
use super::watch::CatalogWatch;
use super::{Answers, McpCaller, Replica};
use crate::gateway::asks::Asked;
use crate::gateway::relay::{self, Control, Downstream};
use crate::gateway::rounds::{self, Answer, Resend, Rounds};
use crate::gateway::upstream::parse_resource_updated;
use crate::gateway::{CallError, Caller, Catalog, Gateway, GatewayError};

/// One per MCP session (or per stateless request); cheap to make.
pub struct McpServer {
    gateway: Gateway,
    watch: CatalogWatch,
    /// Requests in flight, cancellable from any replica.
    cancels: Cancels,
    /// Answers to this replica's asks that reach another replica.
    answers: Answers,
    /// The session records, with the log level the client set.
    sessions: Sessions,
    /// Forwards catalog changes to this session's client; ends with the session.
    forwarder: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The resources this session subscribed to: (upstream, its URI) → the URI the client
    /// used. Kept on the replica that took the subscription.
    subscriptions: Subscriptions,
}

type Subscriptions = Arc<Mutex<HashMap<(Uuid, String), String>>>;

impl McpServer {
    pub fn new(gateway: Gateway, replica: Replica) -> Self {
        let Replica {
            watch,
            cancels,
            answers,
            sessions,
            events: _,
        } = replica;
        Self {
            gateway,
            watch,
            cancels,
            answers,
            sessions,
            forwarder: Mutex::new(None),
            subscriptions: Subscriptions::default(),
        }
    }
}

impl Drop for McpServer {
    fn drop(&mut self) {
        if let Some(task) = self
            .forwarder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            task.abort();
        }
        // A session that ends unsubscribes from whatever it still watched.
        let pool = self.gateway.pool();
        for ((upstream, uri), _) in self
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
        {
            pool.unsubscribe(upstream, &uri);
        }
    }
}

/// The caller the HTTP layer put on the request; its absence is a wiring fault.
fn caller_of(extensions: &rmcp::model::Extensions) -> Result<Arc<McpCaller>, McpError> {
    extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Arc<McpCaller>>())
        .cloned()
        .ok_or_else(|| {
            McpError::internal_error("request reached the gateway unauthenticated", None)
        })
}

fn governed_error(error: GatewayError) -> McpError {
    match error {
        GatewayError::Unknown("resource", uri) => McpError::resource_not_found(
            format!("Resource not found: {uri}"),
            Some(json!({ "uri": uri })),
        ),
        GatewayError::Unknown(noun, name) => {
            McpError::invalid_params(format!("Unknown {noun}: {name}"), None)
        }
        GatewayError::Unconfirmed(tool, rule) => McpError::invalid_request(
            format!(
                "`{tool}` is allowed only once the user confirms the call (rule `{rule}`): \
                 the user did not confirm it, or this client cannot be asked (it needs \
                 elicitation, on a session-era revision)"
            ),
            Some(json!({ "tool": tool, "rule": rule })),
        ),
        GatewayError::Call(CallError::Refused(upstream, e)) => McpError::new(
            e.code,
            format!("upstream `{upstream}`: {}", e.message),
            e.data,
        ),
        GatewayError::Call(CallError::Cancelled) => {
            McpError::new(ErrorCode(-32800), "request cancelled", None)
        }
        GatewayError::Call(e) => McpError::internal_error(e.to_string(), None),
        GatewayError::Rounds(e) => rounds::rpc_error(&e),
        other => {
            tracing::error!(error = %other, "gateway request failed");
            McpError::internal_error("the gateway could not serve this request", None)
        }
    }
}

/// The session a request or notification came in, if it came in one.
fn session_of(extensions: &rmcp::model::Extensions) -> Option<&str> {
    extensions
        .get::<http::request::Parts>()?
        .headers
        .get("mcp-session-id")?
        .to_str()
        .ok()
}

impl McpServer {
    /// Keeps `context`'s request cancellable from other replicas while it runs.
    fn track(&self, context: &RequestContext<RoleServer>) -> Tracked {
        let session = session_of(&context.extensions);
        self.cancels.track(session, &context.id, context.ct.clone())
    }

    /// The control and caller's side of `context`'s request; answers to its asks may come
    /// through another replica.
    fn control(&self, context: &RequestContext<RoleServer>) -> (Control, Downstream) {
        let (control, downstream) = relay::control(context);
        let session = session_of(&context.extensions);
        (control, downstream.answered_via(&self.answers, session))
    }

    /// The control of a request an upstream may answer with questions (SEP-2322): a
    /// 2026-07-28 caller gets them with what it echoed back; a session-era one is asked.
    fn control_echoing(
        &self,
        context: &RequestContext<RoleServer>,
        echo: Resend,
    ) -> (Control, Downstream) {
        let (mut control, downstream) = self.control(context);
        if context
            .protocol_version()
            .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28)
        {
            control.rounds = Rounds::Repeated {
                capabilities: context.client_capabilities().unwrap_or_default(),
                echo,
            };
        }
        (control, downstream)
    }

    /// The log level `context`'s session set, read when an upstream first logs during the
    /// request (another replica may have taken the `logging/setLevel`).
    #[allow(deprecated)]
    fn level(
        &self,
        context: &RequestContext<RoleServer>,
    ) -> impl Future<Output = Option<LoggingLevel>> + use<> {
        let session = session_of(&context.extensions).map(str::to_owned);
        let sessions = self.sessions.clone();
        async move {
            let session = session?;
            sessions.level(&session).await.unwrap_or_else(|error| {
                tracing::warn!(%error, "session log level unreadable; passing every message");
                None
            })
        }
    }

    /// Audits the asks relayed during one request; a failed record is logged, the answer
    /// already given stands.
    async fn record_asks(&self, caller: &McpCaller, noun: &str, name: &str, asked: Vec<Asked>) {
        if asked.is_empty() {
            return;
        }
        let target = format!("{noun}:{name}");
        if let Err(error) = self
            .gateway
            .record_asks(&caller.as_caller(), &target, asked)
            .await
        {
            tracing::error!(%error, "relayed asks not audited");
        }
    }

    async fn catalog(&self, context: &RequestContext<RoleServer>) -> Result<Catalog, McpError> {
        let caller = caller_of(&context.extensions)?;
        self.gateway
            .catalog(&caller.as_caller())
            .await
            .map_err(governed_error)
    }
}

impl ServerHandler for McpServer {
    #[allow(deprecated)] // logging, for the session-era revisions
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .enable_resources()
            .enable_resources_list_changed()
            .enable_resources_subscribe()
            .enable_prompts()
            .enable_prompts_list_changed()
            .enable_completions()
            .enable_logging()
            .build();
        let mut info = ServerConfig::new(capabilities);
        info.server_info = Implementation::new("switchyard", env!("CARGO_PKG_VERSION"));
        info.instructions = Some(
            "Switchyard gateway: the tools, resources and prompts of this tenant's upstream \
             MCP servers that you may use. Tools and prompts are named `upstream.name` (a \
             virtual server may offer them under the upstreams' own names)."
                .into(),
        );
        info
    }

    /// rmcp has already cancelled the request if this replica's session task holds it; a
    /// request another replica holds is cancelled there (`cancels`).
    async fn on_cancelled(
        &self,
        notification: CancelledNotificationParam,
        context: NotificationContext<RoleServer>,
    ) {
        if let (Some(session), Some(id)) =
            (session_of(&context.extensions), &notification.request_id)
        {
            self.cancels.cancel(session, id).await;
        }
    }

    /// `logging/setLevel` (MCP 2025-11-25 server/utilities/logging): upstream log messages
    /// below `level` are not passed to this session. Upstreams are not told: their sessions
    /// are shared, so the gateway filters per client.
    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let Some(session) = session_of(&context.extensions) else {
            return Err(McpError::invalid_request(
                "logging/setLevel needs a session (MCP 2025-11-25 and earlier)",
                None,
            ));
        };
        self.sessions
            .set_level(session, request.level)
            .await
            .map_err(|error| {
                tracing::error!(%error, "log level not stored");
                McpError::internal_error("the gateway could not store the log level", None)
            })
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let Ok(caller) = caller_of(&context.extensions) else {
            return;
        };
        let mut changes = self.watch.watch(caller.scope.tenant_id()).await;
        let peer = context.peer.clone();
        let subscriptions = Arc::clone(&self.subscriptions);
        let task = tokio::spawn(async move {
            while let Some(what) = changes.next().await {
                if let Some((upstream, uri)) = parse_resource_updated(&what) {
                    let offered = subscriptions
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(&(upstream, uri.to_owned()))
                        .cloned();
                    if let Some(offered) = offered
                        && peer
                            .notify_resource_updated(ResourceUpdatedNotificationParam::new(offered))
                            .await
                            .is_err()
                    {
                        break;
                    }
                    continue;
                }
                let sent = match what.as_str() {
                    "resources" => peer.notify_resource_list_changed().await,
                    "prompts" => peer.notify_prompt_list_changed().await,
                    "tools" => peer.notify_tool_list_changed().await,
                    // A registry or policy change may alter any list.
                    _ => {
                        let _ = peer.notify_resource_list_changed().await;
                        let _ = peer.notify_prompt_list_changed().await;
                        peer.notify_tool_list_changed().await
                    }
                };
                if sent.is_err() {
                    break;
                }
            }
        });
        if let Some(old) = self
            .forwarder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(task)
        {
            old.abort();
        }
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(
            self.catalog(&context).await?.tools,
        ))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let resources = self.catalog(&context).await?.resources;
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        let templates = self.catalog(&context).await?.templates;
        Ok(ListResourceTemplatesResult::with_all_items(templates))
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let prompts = self.catalog(&context).await?.prompts;
        Ok(ListPromptsResult::with_all_items(prompts))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let caller = caller_of(&context.extensions)?;
        let _tracked = self.track(&context);
        let span = tracing::info_span!("mcp.tools_call", tool = %request.name);
        continue_trace(&span, &context, &request);
        let echo = Resend {
            responses: request.input_responses,
            state: request.request_state,
        };
        let (mut control, downstream) = self.control_echoing(&context, echo);
        let arguments = request.arguments.unwrap_or_default();
        let as_caller = caller.as_caller();
        let asking = super::confirm::can_ask(&context.peer, &control);
        let (gateway, name) = (&self.gateway, &request.name);
        let call = async move {
            // A rule that wants the user's confirmation: asked before the call, on its stream.
            if asking {
                super::confirm::ask_user(gateway, &as_caller, name, &arguments, &mut control).await;
            }
            gateway.call(&as_caller, name, arguments, control).await
        };
        let call = tracing::Instrument::instrument(call, span);
        let (called, asked) = downstream.serve(self.level(&context), Box::pin(call)).await;
        self.record_asks(&caller, "tool", &request.name, asked)
            .await;
        match called {
            Ok(called) => Ok(match called.result {
                Answer::Complete(result) => CallToolResponse::Complete(result),
                Answer::InputRequired(asked) => CallToolResponse::InputRequired(asked),
            }),
            // Over the rate is a result the model can read and act on, not a fault.
            Err(GatewayError::RateLimited(tool, retry)) => {
                Ok(CallToolResponse::Complete(CallToolResult::error(vec![
                    ContentBlock::text(format!("too many calls to `{tool}`; retry in {retry} s")),
                ])))
            }
            Err(e) => Err(governed_error(e)),
        }
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let caller = caller_of(&context.extensions)?;
        let _tracked = self.track(&context);
        let span = tracing::info_span!("mcp.resources_read", uri = %request.uri);
        continue_trace(&span, &context, &request);
        let echo = Resend {
            responses: request.input_responses,
            state: request.request_state,
        };
        let (control, downstream) = self.control_echoing(&context, echo);
        let as_caller = caller.as_caller();
        let read = self
            .gateway
            .read_resource(&as_caller, &request.uri, control);
        let read = tracing::Instrument::instrument(read, span);
        let (read, asked) = downstream.serve(self.level(&context), Box::pin(read)).await;
        self.record_asks(&caller, "resource", &request.uri, asked)
            .await;
        match read.map_err(governed_error)? {
            Answer::Complete(result) => Ok(ReadResourceResponse::Complete(result)),
            Answer::InputRequired(asked) => Ok(ReadResourceResponse::InputRequired(asked)),
        }
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let caller = caller_of(&context.extensions)?;
        let _tracked = self.track(&context);
        let (control, downstream) = self.control(&context);
        let as_caller = caller.as_caller();
        let complete = self.gateway.complete(&as_caller, request, control);
        let (completed, asked) = downstream
            .serve(self.level(&context), Box::pin(complete))
            .await;
        self.record_asks(&caller, "completion", "", asked).await;
        completed.map_err(governed_error)
    }

    /// `resources/subscribe` (MCP 2025-11-25 server/resources §Subscriptions): the upstream's
    /// `notifications/resources/updated` then reach this session under the URI it used.
    /// A session-era request; 2026-07-28's `subscriptions/listen` is not offered yet.
    #[allow(deprecated)]
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let caller = caller_of(&context.extensions)?;
        let (control, downstream) = self.control(&context);
        let as_caller = caller.as_caller();
        let subscribe = self.gateway.subscribe(&as_caller, &request.uri, control);
        let (subscribed, asked) = downstream
            .serve(self.level(&context), Box::pin(subscribe))
            .await;
        self.record_asks(&caller, "resource", &request.uri, asked)
            .await;
        let key = subscribed.map_err(governed_error)?;
        let replaced = self
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone(), request.uri);
        if replaced.is_some() {
            // Subscribing twice is one subscription.
            self.gateway.pool().unsubscribe(key.0, &key.1);
        }
        Ok(())
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let mut subscriptions = self.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
        let keys: Vec<(Uuid, String)> = subscriptions
            .iter()
            .filter(|(_, offered)| **offered == request.uri)
            .map(|(key, _)| key.clone())
            .collect();
        for key in keys {
            subscriptions.remove(&key);
            self.gateway.pool().unsubscribe(key.0, &key.1);
        }
        Ok(())
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let caller = caller_of(&context.extensions)?;
        let _tracked = self.track(&context);
        let span = tracing::info_span!("mcp.prompts_get", prompt = %request.name);
        continue_trace(&span, &context, &request);
        let echo = Resend {
            responses: request.input_responses,
            state: request.request_state,
        };
        let (control, downstream) = self.control_echoing(&context, echo);
        let arguments = request.arguments.unwrap_or_default();
        let as_caller = caller.as_caller();
        let get = self
            .gateway
            .get_prompt(&as_caller, &request.name, arguments, control);
        let get = tracing::Instrument::instrument(get, span);
        let (got, asked) = downstream.serve(self.level(&context), Box::pin(get)).await;
        self.record_asks(&caller, "prompt", &request.name, asked)
            .await;
        match got.map_err(governed_error)? {
            Answer::Complete(result) => Ok(GetPromptResponse::Complete(result)),
            Answer::InputRequired(asked) => Ok(GetPromptResponse::InputRequired(asked)),
        }
    }
}

/// Makes `span` continue the client's trace, when its request carries one (SEP-414
/// `_meta.traceparent`, `_meta.tracestate`). rmcp moves the request's `_meta` into the
/// context; the parameters are read too, should it stay there.
fn continue_trace(
    span: &tracing::Span,
    context: &RequestContext<RoleServer>,
    params: &impl rmcp::model::RequestParamsMeta,
) {
    let meta = &context.meta;
    if let Some(parent) = meta.get_traceparent().or_else(|| params.traceparent()) {
        let state = meta.get_tracestate().or_else(|| params.tracestate());
        crate::telemetry::otel::continue_trace(span, parent, state);
    }
}

impl McpCaller {
    fn as_caller(&self) -> Caller<'_> {
        Caller {
            scope: &self.scope,
            principal: &self.principal,
            origin: &self.origin,
            config_version: Some(self.config_version),
            server: self.server.as_deref(),
        }
    }
}
