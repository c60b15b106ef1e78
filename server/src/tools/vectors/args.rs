//! The vectors server's tool arguments, the checks every backend shares, and how failures
//! read to the caller.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::metric::Metric;
use super::service::BackendError;
use super::{MAX_BATCH, MAX_ID_LEN};
use crate::store::{Metadata, StoreError, VectorIndexRow};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateIndex {
    pub(super) name: String,
    pub(super) dimension: usize,
    #[serde(default = "cosine")]
    pub(super) metric: String,
    #[serde(default)]
    pub(super) description: String,
}

pub(super) fn cosine() -> String {
    "cosine".into()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Named {
    pub(super) name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Nothing {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Upsert {
    pub(super) index: String,
    pub(super) vectors: Vec<Record>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Record {
    pub(super) id: String,
    pub(super) values: Vec<f32>,
    #[serde(default)]
    pub(super) metadata: Metadata,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Fetch {
    pub(super) index: String,
    pub(super) ids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListVectors {
    pub(super) index: String,
    #[serde(default)]
    pub(super) prefix: String,
    #[serde(default = "hundred")]
    pub(super) limit: u32,
    #[serde(default)]
    pub(super) pagination_token: Option<String>,
}

pub(super) fn hundred() -> u32 {
    100
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeleteVectors {
    pub(super) index: String,
    #[serde(default)]
    pub(super) ids: Option<Vec<String>>,
    #[serde(default)]
    pub(super) filter: Option<Value>,
    #[serde(default)]
    pub(super) delete_all: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Query {
    pub(super) index: String,
    #[serde(default)]
    pub(super) vector: Option<Vec<f32>>,
    #[serde(default)]
    pub(super) id: Option<String>,
    #[serde(default = "ten")]
    pub(super) top_k: usize,
    #[serde(default)]
    pub(super) filter: Option<Value>,
    #[serde(default = "yes")]
    pub(super) include_metadata: bool,
    #[serde(default)]
    pub(super) include_values: bool,
    #[serde(default)]
    pub(super) exact: bool,
}

pub(super) fn ten() -> usize {
    10
}

pub(super) fn yes() -> bool {
    true
}

pub(super) fn check_batch(what: &str, len: usize) -> Result<(), String> {
    if len == 0 || len > MAX_BATCH {
        return Err(format!(
            "`{what}` must hold between 1 and {MAX_BATCH} entries, not {len}"
        ));
    }
    Ok(())
}

pub(super) fn check_id(id: &str, at: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(format!("{at}.id must be 1 to {MAX_ID_LEN} bytes long"));
    }
    Ok(())
}

pub(super) fn check_vector(
    values: &[f32],
    row: &VectorIndexRow,
    metric: Metric,
    at: &str,
) -> Result<(), String> {
    if values.len() != row.dimension as usize {
        return Err(format!(
            "{at} has {} dimensions; index `{}` holds {}-dimensional vectors",
            values.len(),
            row.name,
            row.dimension
        ));
    }
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(format!("{at}[{i}] is not a finite number"));
    }
    if metric == Metric::Cosine && values.iter().all(|v| *v == 0.0) {
        return Err(format!(
            "{at} is all zeros, which has no direction for cosine similarity"
        ));
    }
    Ok(())
}

/// A store failure the caller cannot fix: logged in full, reported in general terms.
pub(super) fn internal(error: StoreError) -> String {
    tracing::error!(%error, "vectors: the store failed");
    "the vector store failed; try again later".into()
}

pub(super) fn store_failure(error: StoreError, index: &str) -> String {
    match error {
        StoreError::NotFound(_) => format!("index `{index}` was deleted meanwhile"),
        other => internal(other),
    }
}

pub(super) fn backend_failure(error: BackendError, index: &str) -> String {
    match error {
        BackendError::Store(e) => store_failure(e, index),
        BackendError::Stopped => "the search was stopped: the server is shutting down".into(),
    }
}
