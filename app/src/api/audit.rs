//! Audit trail types: one record per security-relevant action, hash-chained per tenant.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One audit record as stored: who did what to which target, with what outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditRecord {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Position in the tenant's chain, from 1, without gaps.
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// Who acted (`user:<id>`, `apikey:<id>`, or `anonymous` before sign-in exists).
    pub actor: String,
    /// What was done, as `resource.verb` (`tenant.create`, `user.update`).
    pub action: String,
    /// What it was done to (`tenant:<id>`, `user:<id>`).
    pub target: String,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// The policy rule that decided, when one did.
    pub rule: Option<String>,
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
    /// Action-specific facts; never secrets.
    pub detail: serde_json::Value,
    /// SHA-256 over the previous record's hash and this record, hex.
    pub hash: String,
}

/// Query of the audit search and export.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Page size, 1–200 (default 50); ignored by the export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page (records come newest first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Only records at or after this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    /// Only records before this time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<DateTime<Utc>>,
    /// Case-insensitive text in the actor, action, target or detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Export format: `json` (default) or `csv`; only for the export.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

/// One page of audit records, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditList {
    pub items: Vec<AuditRecord>,
    pub next_cursor: Option<i64>,
}

/// The result of re-computing a tenant's chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditVerification {
    /// Whether every record and the chain head check out.
    pub intact: bool,
    /// Records checked.
    pub checked: i64,
    /// The first sequence number where the chain breaks.
    pub broken_at: Option<i64>,
    /// Why it breaks there (modified record, missing record, head mismatch).
    pub reason: Option<String>,
}
