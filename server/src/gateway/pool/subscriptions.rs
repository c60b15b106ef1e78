//! Resource subscriptions relayed to upstreams (MCP 2025-11-25 server/resources
//! §Subscriptions): each upstream is subscribed once per resource however many client
//! sessions want it, unsubscribed when the last goes, and subscribed again on a new session.
//! `resources/subscribe` is the session-era mechanism (rmcp marks it deprecated in favour of
//! 2026-07-28's `subscriptions/listen`), which is what an upstream session that was opened
//! with `initialize` speaks.
#![allow(deprecated)]

use std::sync::Arc;

use app::api::Upstream;
use rmcp::model::{
    ClientRequest, SubscribeRequest, SubscribeRequestParams, UnsubscribeRequest,
    UnsubscribeRequestParams,
};
use rmcp::service::ServiceError;

use super::{CallError, Pool, Session, Slot};
use crate::gateway::relay::{self, Control};
use crate::tenancy::TenantScope;

impl Pool {
    /// Subscribes a client session to the upstream's resource `uri` (MCP 2025-11-25
    /// server/resources §Subscriptions). The upstream is asked once however many sessions
    /// want it; one that does not declare subscriptions refuses.
    pub async fn subscribe(
        &self,
        scope: &TenantScope,
        upstream: &Upstream,
        uri: &str,
        control: Control,
    ) -> Result<(), CallError> {
        let slot = self.slot(upstream);
        let first = {
            let mut subscribed = slot.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
            let count = subscribed.entry(uri.to_owned()).or_default();
            *count += 1;
            *count == 1
        };
        if !first {
            return Ok(());
        }
        let request = ClientRequest::SubscribeRequest(SubscribeRequest::new(
            SubscribeRequestParams::new(uri),
        ));
        let routes = Arc::clone(&self.progress);
        let asked = self
            .with_session(scope, upstream, |s| async move {
                let declared = s.peer_info().is_some_and(|info| {
                    info.capabilities
                        .resources
                        .as_ref()
                        .is_some_and(|r| r.subscribe == Some(true))
                });
                if !declared {
                    return Err(ServiceError::McpError(rmcp::ErrorData::method_not_found::<
                        rmcp::model::SubscribeRequestMethod,
                    >()));
                }
                relay::send(&s, routes, &s.service().asks, request, control)
                    .await
                    .map(|_| ())
            })
            .await;
        if asked.is_err() {
            self.release(&slot, uri);
        }
        asked
    }

    /// A client session no longer wants `uri`; the last one unsubscribes at the upstream.
    pub fn unsubscribe(&self, upstream_id: uuid::Uuid, uri: &str) {
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&upstream_id)
            .cloned();
        if let Some(slot) = slot {
            self.release(&slot, uri);
        }
    }

    fn release(&self, slot: &Arc<Slot>, uri: &str) {
        let last = {
            let mut subscribed = slot.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
            match subscribed.get_mut(uri) {
                Some(count) if *count > 1 => {
                    *count -= 1;
                    false
                }
                Some(_) => {
                    subscribed.remove(uri);
                    true
                }
                None => false,
            }
        };
        let open = slot.session.try_lock().ok().and_then(|s| s.clone());
        if let (true, Some(session)) = (last, open) {
            let request = UnsubscribeRequest::new(UnsubscribeRequestParams::new(uri));
            tokio::spawn(async move {
                let _ = session
                    .send_request(ClientRequest::UnsubscribeRequest(request))
                    .await;
            });
        }
    }
}

/// A new session knows none of the old one's subscriptions: make them again, in the
/// background (a failure only means fewer updates, and the next subscriber tries again).
pub(super) fn resubscribe(slot: &Slot, session: &Arc<Session>) {
    let uris: Vec<String> = slot
        .subscriptions
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .keys()
        .cloned()
        .collect();
    if uris.is_empty() {
        return;
    }
    let session = Arc::clone(session);
    tokio::spawn(async move {
        for uri in uris {
            let request = SubscribeRequest::new(SubscribeRequestParams::new(uri));
            if let Err(error) = session
                .send_request(ClientRequest::SubscribeRequest(request))
                .await
            {
                tracing::warn!(%error, "resubscribing after reconnect failed");
            }
        }
    });
}
