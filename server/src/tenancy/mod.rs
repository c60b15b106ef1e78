//! Tenant scoping. A [`TenantScope`] names one tenant that was found to exist; repositories of
//! tenant-owned rows take one, so a query without a tenant cannot be written by accident.

mod limits;

pub use limits::{CACHE_TTL as LIMIT_CACHE_TTL, LimitCache, Limits};

use uuid::Uuid;

/// Proof that a request acts within one existing tenant. Only the store makes these, after
/// looking the tenant up ([`crate::store::Store::scope`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TenantScope {
    tenant_id: Uuid,
}

impl TenantScope {
    /// Made by the store once the tenant row was seen.
    pub(crate) fn verified(tenant_id: Uuid) -> Self {
        Self { tenant_id }
    }

    /// The tenant's id, for binding into a query.
    pub fn tenant_id(&self) -> Uuid {
        self.tenant_id
    }
}
