//! Catalog changes, heard once per tenant per replica and fanned out to that replica's MCP
//! sessions, so a thousand sessions cost one Redis subscription, not a thousand. A change is
//! announced on the tenant's kv channel by whichever replica saw it (an upstream's
//! `list_changed`, a registry or policy edit).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;
use uuid::Uuid;

use crate::gateway::upstream::catalog_channel;
use crate::kv::Kv;

/// What changed: `tools`, `resources`, `prompts`, or `all`.
pub type Change = String;

#[derive(Clone)]
pub struct CatalogWatch {
    kv: Kv,
    tenants: Arc<Mutex<HashMap<Uuid, broadcast::Sender<Change>>>>,
}

/// One session's view of its tenant's changes.
pub struct Changes {
    receiver: broadcast::Receiver<Change>,
}

impl Changes {
    /// The next change; a session that fell behind is told "all" once.
    pub async fn next(&mut self) -> Option<Change> {
        match self.receiver.recv().await {
            Ok(change) => Some(change),
            Err(broadcast::error::RecvError::Lagged(_)) => Some("all".into()),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

impl CatalogWatch {
    pub fn new(kv: Kv) -> Self {
        Self {
            kv,
            tenants: Arc::default(),
        }
    }

    /// Subscribes to `tenant`'s changes, starting the tenant's listener if this replica has
    /// none. The listener stops when the tenant's last session has gone.
    pub async fn watch(&self, tenant: Uuid) -> Changes {
        let existing = self
            .tenants
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&tenant)
            .map(broadcast::Sender::subscribe);
        if let Some(receiver) = existing {
            return Changes { receiver };
        }
        let (sender, receiver) = broadcast::channel(16);
        let subscription = self.kv.subscribe(&catalog_channel(tenant)).await;
        let mut subscription = match subscription {
            Ok(subscription) => subscription,
            Err(error) => {
                // Sessions then learn of changes only by listing again; say so once.
                tracing::warn!(%error, %tenant, "catalog changes not watched");
                return Changes { receiver };
            }
        };
        {
            let mut tenants = self.tenants.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(raced) = tenants.get(&tenant) {
                return Changes {
                    receiver: raced.subscribe(),
                };
            }
            tenants.insert(tenant, sender.clone());
        }
        let tenants = Arc::clone(&self.tenants);
        tokio::spawn(async move {
            while let Some(message) = subscription.next().await {
                let change = String::from_utf8_lossy(&message).into_owned();
                if sender.send(change).is_err() {
                    break;
                }
            }
            tenants
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&tenant);
        });
        Changes { receiver }
    }

    /// Tells every replica's sessions of `tenant` that its catalog may have changed.
    pub async fn announce(&self, tenant: Uuid, what: &str) {
        if let Err(error) = self
            .kv
            .publish(&catalog_channel(tenant), what.as_bytes())
            .await
        {
            tracing::warn!(%error, %tenant, "catalog change not announced");
        }
    }
}
