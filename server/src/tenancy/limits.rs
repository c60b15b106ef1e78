//! Per-tenant API rate limits: each tenant's own values, or the platform defaults. Read on
//! every authenticated request, so kept in a short-lived per-process cache; a change made on
//! another replica applies within [`CACHE_TTL`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::store::{Store, StoreError};

/// How long a replica keeps a tenant's limits before reading them again.
pub const CACHE_TTL: Duration = Duration::from_secs(30);

/// Requests per second for the whole tenant and for each caller (user or API key); 0 = none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub tenant_per_second: u32,
    pub principal_per_second: u32,
}

/// The cache; cheap to clone.
#[derive(Clone)]
pub struct LimitCache {
    defaults: Limits,
    entries: Arc<RwLock<HashMap<Uuid, (Instant, Limits)>>>,
}

impl LimitCache {
    pub fn new(defaults: Limits) -> Self {
        Self {
            defaults,
            entries: Arc::new(RwLock::new(HashMap::new())),
        }
    }

    /// The limits in force for `tenant`.
    pub async fn of(&self, store: &Store, tenant: Uuid) -> Result<Limits, StoreError> {
        if let Some((at, limits)) = self
            .entries
            .read()
            .expect("limit cache poisoned")
            .get(&tenant)
            && at.elapsed() < CACHE_TTL
        {
            return Ok(*limits);
        }
        let (tenant_limit, principal_limit) = store.tenant_limits(tenant).await?;
        let limits = Limits {
            tenant_per_second: tenant_limit.unwrap_or(self.defaults.tenant_per_second),
            principal_per_second: principal_limit.unwrap_or(self.defaults.principal_per_second),
        };
        self.entries
            .write()
            .expect("limit cache poisoned")
            .insert(tenant, (Instant::now(), limits));
        Ok(limits)
    }

    /// Forgets a tenant's entry after a change on this replica.
    pub fn forget(&self, tenant: Uuid) {
        self.entries
            .write()
            .expect("limit cache poisoned")
            .remove(&tenant);
    }
}
