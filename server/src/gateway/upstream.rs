//! The gateway's side of an upstream session: what it does with the upstream's notifications.
//! `notifications/*/list_changed` drops the upstream's cached lists and tells every replica
//! (so their MCP sessions can tell their clients); `notifications/progress` for a call in
//! flight is handed to whoever made the call (MCP 2025-11-25, basic/utilities/progress), and
//! so are its sampling and elicitation requests ([`super::asks`]).

use std::sync::{Arc, Mutex};

use rmcp::ClientHandler;
use rmcp::ErrorData as McpError;
#[allow(deprecated)]
use rmcp::model::{
    ClientConfig, CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams,
    ElicitResult, LoggingMessageNotificationParam, ProgressNotificationParam,
    ResourceUpdatedNotificationParam,
};
use rmcp::service::{NotificationContext, RequestContext, RoleClient};
use uuid::Uuid;

use super::asks::{self, AskRoutes};
use super::catalog::Lists;
use super::relay::{self, ProgressRoutes};
use crate::kv::Kv;

/// The kv channel on which every replica hears that a tenant's catalog changed.
pub fn catalog_channel(tenant_id: Uuid) -> String {
    format!("t:{tenant_id}:catalog")
}

/// The catalog-channel message saying the upstream's resource `uri` changed.
pub fn resource_updated(upstream: Uuid, uri: &str) -> String {
    format!("updated {upstream} {uri}")
}

/// The upstream and URI of a [`resource_updated`] message.
pub fn parse_resource_updated(message: &str) -> Option<(Uuid, &str)> {
    let rest = message.strip_prefix("updated ")?;
    let (id, uri) = rest.split_once(' ')?;
    Some((id.parse().ok()?, uri))
}

/// A cached copy of an upstream's lists, shared by its slot and its session's handler.
pub type ListCache = Arc<Mutex<Option<Arc<Lists>>>>;

/// The client handler of one upstream session.
#[derive(Clone)]
pub struct UpstreamClient {
    pub tenant_id: Uuid,
    /// The upstream's id, naming it in resource updates.
    pub upstream: Uuid,
    pub lists: ListCache,
    pub progress: ProgressRoutes,
    /// This session's requests in flight, for its asks.
    pub asks: AskRoutes,
    pub kv: Kv,
}

impl UpstreamClient {
    /// Forgets the cached lists and announces the change; a lost announcement only delays
    /// other replicas until their cache expires.
    async fn changed(&self, what: &'static str) {
        self.lists.lock().unwrap_or_else(|e| e.into_inner()).take();
        let channel = catalog_channel(self.tenant_id);
        if let Err(error) = self.kv.publish(&channel, what.as_bytes()).await {
            tracing::warn!(%error, tenant = %self.tenant_id, "catalog change not announced");
        }
    }
}

impl ClientHandler for UpstreamClient {
    fn get_info(&self) -> ClientConfig {
        let mut info = ClientConfig::default();
        info.client_info.name = "switchyard-gateway".into();
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
        asks::create_message(&self.asks, self.upstream, params, &context).await
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, McpError> {
        asks::create_elicitation(&self.asks, self.upstream, params, &context).await
    }

    #[allow(deprecated)] // logging: deprecated by SEP-2577, still in the session-era revisions
    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.asks.log(params).await;
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        relay::route(&self.progress, params);
    }

    /// A subscribed resource changed: every replica's sessions hear it, and those that
    /// subscribed tell their clients.
    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let channel = catalog_channel(self.tenant_id);
        let message = resource_updated(self.upstream, &params.uri);
        if let Err(error) = self.kv.publish(&channel, message.as_bytes()).await {
            tracing::warn!(%error, tenant = %self.tenant_id, "resource update not announced");
        }
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changed("tools").await;
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changed("resources").await;
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changed("prompts").await;
    }
}
