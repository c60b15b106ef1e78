//! Each tenant's gateway configuration — its upstreams with their tool filters, its compiled
//! tool policies and its virtual servers — cached in this replica, so a governed request
//! costs no registry, policy or virtual server query.
//!
//! The cache is exact, not time-bounded: every write to `upstreams`, `tool_policies` or
//! `virtual_servers` bumps the tenant's `config_version` in the writing transaction (database
//! triggers, PostgreSQL migrations 0010–0011, SQLite 0008–0009), and every request reads that
//! version with its tenant. A cached entry is used only at the version it was loaded at, so a
//! revoked policy or a disabled upstream takes effect on every replica from the next request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use app::api::Upstream;
use uuid::Uuid;

use super::GatewayError;
use super::registry::Registry;
use super::views::{Filter, View};
use crate::access::{self, Rule};
use crate::store::Store;
use crate::tenancy::TenantScope;

/// One tenant's configuration at one version.
pub struct TenantConfig {
    pub version: i64,
    pub upstreams: Vec<Upstream>,
    /// Each upstream's tool filter, by upstream id.
    filters: HashMap<Uuid, Filter>,
    pub rules: Vec<Rule>,
    views: Vec<View>,
    /// Keep calls' arguments in the audit trail (redacted), not only their digest.
    pub store_arguments: bool,
}

impl TenantConfig {
    /// The enabled upstream called `name`.
    pub fn enabled(&self, name: &str) -> Option<&Upstream> {
        self.upstreams.iter().find(|u| u.name == name && u.enabled)
    }

    /// Whether `upstream`'s filter offers its tool `tool`. An upstream whose stored filter
    /// does not compile offers nothing (fail closed).
    pub fn offers(&self, upstream: &Upstream, tool: &str) -> bool {
        self.filters
            .get(&upstream.id)
            .is_some_and(|filter| filter.offers(tool))
    }

    /// The enabled virtual server called `name`.
    pub fn view(&self, name: &str) -> Option<&View> {
        self.views
            .iter()
            .find(|v| v.server.name == name && v.server.enabled)
    }
}

/// The per-replica cache; cheap to clone.
#[derive(Clone)]
pub struct Configs {
    store: Store,
    registry: Registry,
    cached: Arc<RwLock<HashMap<Uuid, Arc<TenantConfig>>>>,
}

impl Configs {
    pub fn new(store: Store, registry: Registry) -> Self {
        Self {
            store,
            registry,
            cached: Arc::default(),
        }
    }

    /// The tenant's configuration at `version` (read with the tenant this request), or at
    /// the version read now when the caller has none.
    pub async fn get(
        &self,
        scope: &TenantScope,
        version: Option<i64>,
    ) -> Result<Arc<TenantConfig>, GatewayError> {
        let version = match version {
            Some(version) => version,
            None => self.store.tenant_config_version(scope).await?,
        };
        let tenant = scope.tenant_id();
        if let Some(config) = self.read(tenant).filter(|c| c.version == version) {
            return Ok(config);
        }
        // Loaded after `version` was read: at worst newer than it, never older, so an entry
        // is never used past a change.
        let upstreams = self.registry.list(scope).await?;
        let rules = access::load_rules(&self.store, scope).await?;
        let servers = self.store.list_virtual_servers(scope).await?;
        let store_arguments = self.store.store_arguments(scope).await?;
        let mut filters = HashMap::new();
        for upstream in &upstreams {
            match Filter::compile(&upstream.tool_filter) {
                Some(filter) => {
                    filters.insert(upstream.id, filter);
                }
                None => {
                    tracing::error!(upstream = %upstream.id, "unreadable tool filter: offering none of its tools")
                }
            }
        }
        let views = servers
            .into_iter()
            .filter_map(|server| {
                let id = server.id;
                let view = View::compile(server);
                if view.is_none() {
                    tracing::error!(virtual_server = %id, "skipping an unreadable virtual server");
                }
                view
            })
            .collect();
        let config = Arc::new(TenantConfig {
            version,
            upstreams,
            filters,
            rules,
            views,
            store_arguments,
        });
        let mut cached = self.cached.write().unwrap_or_else(|e| e.into_inner());
        let slot = cached.entry(tenant).or_insert_with(|| config.clone());
        if slot.version < version {
            *slot = config.clone();
        }
        Ok(config)
    }

    fn read(&self, tenant: Uuid) -> Option<Arc<TenantConfig>> {
        let cached = self.cached.read().unwrap_or_else(|e| e.into_inner());
        cached.get(&tenant).cloned()
    }
}
