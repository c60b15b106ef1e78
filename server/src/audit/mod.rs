//! The audit trail: append-only and hash-chained per tenant. Each record's hash is
//! SHA-256(previous hash ‖ canonical JSON of the record); a head row per tenant holds the
//! newest (seq, hash), so a changed, removed or truncated record is detected by [`verify`].

mod csv;

pub use csv::to_csv;

use app::api::{AuditRecord, AuditVerification};
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::store::{AuditRow, Store, StoreError};
use crate::tenancy::TenantScope;

/// The hash before a tenant's first record.
pub const GENESIS: [u8; 32] = [0; 32];

/// How an audited action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// What a caller records; the chain fields are added on append.
#[derive(Clone, Debug)]
pub struct AuditEvent {
    pub actor: String,
    pub action: &'static str,
    pub target: String,
    pub outcome: Outcome,
    pub rule: Option<String>,
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
    /// Facts about the action. Callers put no secrets here.
    pub detail: Value,
}

/// Where a request came from, for the records it causes.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    pub request_id: Option<String>,
    pub client_addr: Option<String>,
}

impl Origin {
    /// A record of `action` by `actor` from this origin; add target, rule and detail after.
    pub fn event(
        &self,
        actor: impl Into<String>,
        action: &'static str,
        outcome: Outcome,
    ) -> AuditEvent {
        AuditEvent {
            actor: actor.into(),
            action,
            target: String::new(),
            outcome,
            rule: None,
            request_id: self.request_id.clone(),
            client_addr: self.client_addr.clone(),
            detail: Value::Object(Default::default()),
        }
    }
}

impl AuditEvent {
    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = target.into();
        self
    }

    pub fn rule(mut self, rule: impl Into<String>) -> Self {
        self.rule = Some(rule.into());
        self
    }

    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

/// Appends `event` to the tenant's chain and returns the stored record once committed. The
/// store serialises appends per tenant (and commits concurrent ones together), so the chain
/// never forks.
pub async fn record(
    store: &Store,
    tenant_id: Uuid,
    event: AuditEvent,
) -> Result<AuditRecord, StoreError> {
    // PostgreSQL keeps microseconds; hash exactly what will be read back.
    let at = Utc::now().trunc_subsecs(6);
    let id = Uuid::now_v7();
    let row = store
        .append_audit(tenant_id, move |seq, prev_hash| {
            // Called once, or again should its batch fail and be retried record by record.
            let event = event.clone();
            let mut row = AuditRow {
                id,
                tenant_id,
                seq,
                at,
                actor: event.actor,
                action: event.action.to_string(),
                target: event.target,
                outcome: event.outcome.as_str().to_string(),
                rule: event.rule,
                request_id: event.request_id,
                client_addr: event.client_addr,
                detail: sqlx::types::Json(event.detail),
                prev_hash: prev_hash.to_vec(),
                hash: Vec::new(),
            };
            row.hash = chain_hash(&row.prev_hash, &row).to_vec();
            row
        })
        .await?;
    Ok(row.into())
}

/// Re-computes the tenant's whole chain, page by page, and compares it with the head.
pub async fn verify(store: &Store, scope: &TenantScope) -> Result<AuditVerification, StoreError> {
    const PAGE: u32 = 1000;
    let broken = |checked, seq, reason: &str| AuditVerification {
        intact: false,
        checked,
        broken_at: Some(seq),
        reason: Some(reason.to_string()),
    };
    let (mut expected_seq, mut prev) = (1i64, GENESIS.to_vec());
    let mut checked = 0;
    loop {
        let rows = store
            .audit_chain_page(scope, expected_seq - 1, PAGE)
            .await?;
        let done = rows.len() < PAGE as usize;
        for row in rows {
            if row.seq != expected_seq {
                return Ok(broken(checked, expected_seq, "record missing"));
            }
            if row.prev_hash != prev {
                return Ok(broken(
                    checked,
                    row.seq,
                    "record does not link to the previous one",
                ));
            }
            if chain_hash(&row.prev_hash, &row).as_slice() != row.hash.as_slice() {
                return Ok(broken(checked, row.seq, "record modified"));
            }
            prev = row.hash;
            expected_seq += 1;
            checked += 1;
        }
        if done {
            break;
        }
    }
    let (head_seq, head_hash) = store
        .audit_head(scope)
        .await?
        .unwrap_or((0, GENESIS.to_vec()));
    if head_seq != checked || head_hash != prev {
        return Ok(broken(
            checked,
            head_seq.max(checked),
            "newest records missing (chain head mismatch)",
        ));
    }
    Ok(AuditVerification {
        intact: true,
        checked,
        broken_at: None,
        reason: None,
    })
}

/// Verifies every chain in the database, including those of deleted tenants (their records
/// are kept), for the `switchyard audit verify` command.
pub async fn verify_all(store: &Store) -> Result<Vec<(Uuid, AuditVerification)>, StoreError> {
    let mut results = Vec::new();
    for tenant_id in store.audit_chains().await? {
        // The chain itself is the object here, whether or not its tenant row still exists.
        let scope = TenantScope::verified(tenant_id);
        results.push((tenant_id, verify(store, &scope).await?));
    }
    Ok(results)
}

/// SHA-256 over the previous hash and the record's canonical JSON (keys sorted, fixed
/// timestamp format), so the hash survives a round trip through either database.
fn chain_hash(prev_hash: &[u8], row: &AuditRow) -> [u8; 32] {
    let fields = Value::Array(vec![
        Value::String(row.tenant_id.to_string()),
        Value::from(row.seq),
        Value::String(at_text(&row.at)),
        Value::String(row.actor.clone()),
        Value::String(row.action.clone()),
        Value::String(row.target.clone()),
        Value::String(row.outcome.clone()),
        row.rule.clone().map_or(Value::Null, Value::String),
        row.request_id.clone().map_or(Value::Null, Value::String),
        row.client_addr.clone().map_or(Value::Null, Value::String),
        row.detail.0.clone(),
    ]);
    let mut hasher = Sha256::new();
    hasher.update(prev_hash);
    canonical_json(&fields, &mut hasher);
    hasher.finalize().into()
}

fn at_text(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Writes `value` as JSON with object keys in byte order, whatever map order the JSON
/// library or the database (jsonb reorders keys) produced.
fn canonical_json(value: &Value, out: &mut Sha256) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.update(b"{");
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.update(b",");
                }
                out.update(Value::String(key.clone()).to_string().as_bytes());
                out.update(b":");
                canonical_json(&map[key], out);
            }
            out.update(b"}");
        }
        Value::Array(items) => {
            out.update(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.update(b",");
                }
                canonical_json(item, out);
            }
            out.update(b"]");
        }
        scalar => out.update(scalar.to_string().as_bytes()),
    }
}

impl From<AuditRow> for AuditRecord {
    fn from(r: AuditRow) -> Self {
        AuditRecord {
            id: r.id,
            tenant_id: r.tenant_id,
            seq: r.seq,
            at: r.at,
            actor: r.actor,
            action: r.action,
            target: r.target,
            outcome: r.outcome,
            rule: r.rule,
            request_id: r.request_id,
            client_addr: r.client_addr,
            detail: r.detail.0,
            hash: hex::encode(r.hash),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(value: &Value) -> Vec<u8> {
        let mut h = Sha256::new();
        canonical_json(value, &mut h);
        h.finalize().to_vec()
    }

    #[test]
    fn canonical_json_ignores_key_order() {
        let a: Value =
            serde_json::from_str(r#"{"b": 1, "a": {"y": [1, "x"], "x": null}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{"a": {"x": null, "y": [1, "x"]}, "b": 1}"#).unwrap();
        assert_eq!(digest(&a), digest(&b));
        let c: Value =
            serde_json::from_str(r#"{"a": {"x": null, "y": [1, "x"]}, "b": 2}"#).unwrap();
        assert_ne!(digest(&a), digest(&c));
    }
}
