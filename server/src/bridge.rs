//! `switchyard connect <url>`: a desktop MCP client (Claude Desktop, Cursor) that can only
//! start a stdio server speaks stdio to this process, which speaks Streamable HTTP to the
//! gateway with an API key. It holds one gateway session (the `initialize` era, so
//! `list_changed` notifications arrive) and passes everything through: lists, calls, reads
//! and prompts; progress back under the desktop client's own token; cancellation on; the
//! upstreams' sampling and elicitation requests and log messages, and list changes, down. Nothing is decided here: the gateway governs every request.

use std::sync::{Arc, OnceLock};

#[allow(deprecated)]
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, ClientConfig, ClientRequest,
    CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult,
    GetPromptRequest, GetPromptRequestParams, GetPromptResponse, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
    LoggingMessageNotificationParam, PaginatedRequestParams, ProgressNotificationParam,
    ProtocolVersion, ReadResourceRequest, ReadResourceRequestParams, ReadResourceResponse,
    ResultType, ServerConfig, ServerResult, SetLevelRequestParams,
};
use rmcp::service::{NotificationContext, Peer, RequestContext, RoleClient, RoleServer};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, ErrorData as McpError, ServerHandler, ServiceError, ServiceExt};

use uuid::Uuid;

use crate::gateway::asks::{self, AskRoutes};
use crate::gateway::relay::{self, ProgressRoutes};

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("cannot open a session with {0}: {1}")]
    Gateway(String, String),
    #[error("cannot serve MCP on stdio: {0}")]
    Stdio(String),
}

/// The desktop client's side, once it has said `initialized`.
type Downstream = Arc<OnceLock<Peer<RoleServer>>>;

/// The gateway session's handler: progress and asks to the request they belong to, list
/// changes down.
#[derive(Clone)]
struct GatewaySide {
    progress: ProgressRoutes,
    asks: AskRoutes,
    downstream: Downstream,
}

impl ClientHandler for GatewaySide {
    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        info.protocol_version = ProtocolVersion::LATEST_WITH_INITIALIZE;
        info.client_info.name = "switchyard-connect".into();
        info.client_info.version = env!("CARGO_PKG_VERSION").into();
        info.capabilities = asks::capabilities();
        info
    }

    #[allow(deprecated)] // sampling: deprecated by SEP-2577, still in the session-era revisions
    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, McpError> {
        asks::create_message(&self.asks, Uuid::nil(), params, &context).await
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, McpError> {
        asks::create_elicitation(&self.asks, Uuid::nil(), params, &context).await
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        relay::route(&self.progress, params);
    }

    /// The gateway's log messages go down as they are: it already filtered them by the
    /// level the desktop client set.
    #[allow(deprecated)] // logging: deprecated by SEP-2577, still in the session-era revisions
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Some(peer) = self.downstream.get() {
            let _ = peer.notify_logging_message(params).await;
        }
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        if let Some(peer) = self.downstream.get() {
            let _ = peer.notify_tool_list_changed().await;
        }
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        if let Some(peer) = self.downstream.get() {
            let _ = peer.notify_resource_list_changed().await;
        }
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        if let Some(peer) = self.downstream.get() {
            let _ = peer.notify_prompt_list_changed().await;
        }
    }
}

/// The stdio server the desktop client sees: the gateway's own description and catalog.
struct Bridge {
    gateway: Peer<RoleClient>,
    info: ServerConfig,
    progress: ProgressRoutes,
    asks: AskRoutes,
    downstream: Downstream,
}

fn passed(error: ServiceError) -> McpError {
    match error {
        ServiceError::McpError(e) => e,
        other => McpError::internal_error(format!("the gateway did not answer: {other}"), None),
    }
}

impl Bridge {
    /// Sends `request` to the gateway for the desktop client's request `context`.
    async fn forward(
        &self,
        request: ClientRequest,
        context: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, McpError> {
        let (control, downstream) = relay::control(context);
        let progress = Arc::clone(&self.progress);
        let send = relay::send(&self.gateway, progress, &self.asks, request, control);
        let (answer, _asked) = downstream
            .serve(std::future::ready(None), Box::pin(send))
            .await;
        answer.map_err(passed)
    }
}

fn unexpected() -> McpError {
    McpError::internal_error("the gateway sent an answer of the wrong kind", None)
}

impl ServerHandler for Bridge {
    fn get_info(&self) -> ServerConfig {
        self.info.clone()
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let _ = self.downstream.set(context.peer);
    }

    #[allow(deprecated)]
    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        self.gateway.set_level(request).await.map_err(passed)
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        self.gateway.list_tools(request).await.map_err(passed)
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        self.gateway.list_resources(request).await.map_err(passed)
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        let listed = self.gateway.list_resource_templates(request).await;
        listed.map_err(passed)
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        self.gateway.list_prompts(request).await.map_err(passed)
    }

    async fn call_tool(
        &self,
        mut request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        // The desktop client's progress token is its own; the gateway session assigns one.
        request.meta = None;
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(request));
        match self.forward(request, &context).await? {
            ServerResult::CallToolResult(mut result) => {
                result.result_type.get_or_insert(ResultType::COMPLETE);
                Ok(CallToolResponse::Complete(result))
            }
            _ => Err(unexpected()),
        }
    }

    async fn read_resource(
        &self,
        mut request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        request.meta = None;
        let request = ClientRequest::ReadResourceRequest(ReadResourceRequest::new(request));
        match self.forward(request, &context).await? {
            ServerResult::ReadResourceResult(mut result) => {
                result.result_type.get_or_insert(ResultType::COMPLETE);
                Ok(ReadResourceResponse::Complete(result))
            }
            _ => Err(unexpected()),
        }
    }

    async fn get_prompt(
        &self,
        mut request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        request.meta = None;
        let request = ClientRequest::GetPromptRequest(GetPromptRequest::new(request));
        match self.forward(request, &context).await? {
            ServerResult::GetPromptResult(mut result) => {
                result.result_type.get_or_insert(ResultType::COMPLETE);
                Ok(GetPromptResponse::Complete(result))
            }
            _ => Err(unexpected()),
        }
    }
}

/// Bridges stdin/stdout to the gateway endpoint `url`, authenticated with `api_key`, until
/// the desktop client closes stdin.
pub async fn connect(url: &str, api_key: &str) -> Result<(), BridgeError> {
    let progress = ProgressRoutes::default();
    let asks = AskRoutes::default();
    let downstream = Downstream::default();
    let side = GatewaySide {
        progress: Arc::clone(&progress),
        asks: asks.clone(),
        downstream: Arc::clone(&downstream),
    };
    let config = StreamableHttpClientTransportConfig::with_uri(url).auth_header(api_key);
    let transport = StreamableHttpClientTransport::from_config(config);
    let gateway = side
        .serve(transport)
        .await
        .map_err(|e| BridgeError::Gateway(url.to_owned(), e.to_string()))?;
    let peer_info = gateway
        .peer_info()
        .ok_or_else(|| BridgeError::Gateway(url.to_owned(), "no initialize result".into()))?;
    let mut info = ServerConfig::new(peer_info.capabilities.clone());
    if let Some(server_info) = &peer_info.server_info {
        info.server_info = server_info.clone();
    }
    info.instructions = peer_info.instructions.clone();
    let bridge = Bridge {
        gateway: gateway.peer().clone(),
        info,
        progress,
        asks,
        downstream,
    };
    let served = bridge
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| BridgeError::Stdio(e.to_string()))?;
    let _ = served.waiting().await;
    // Ends the gateway session (DELETE) rather than leaving it to expire.
    let _ = gateway.cancel().await;
    Ok(())
}
