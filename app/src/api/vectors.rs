//! Vector indexes of the built-in `vectors` server (issue #6): managed over MCP by its tools,
//! and listed, created and deleted here by administrators.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::FieldError;

/// The longest vectors an index may hold.
pub const MAX_VECTOR_DIMENSION: u32 = 4096;

/// How an index compares vectors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum VectorMetric {
    /// Cosine similarity (higher is nearer): the usual choice for text embeddings.
    #[default]
    Cosine,
    /// Euclidean distance (lower is nearer).
    Euclidean,
    /// Dot product (higher is nearer), for embeddings trained for it.
    Dotproduct,
}

impl VectorMetric {
    pub const ALL: [VectorMetric; 3] = [
        VectorMetric::Cosine,
        VectorMetric::Euclidean,
        VectorMetric::Dotproduct,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VectorMetric::Cosine => "cosine",
            VectorMetric::Euclidean => "euclidean",
            VectorMetric::Dotproduct => "dotproduct",
        }
    }

    pub fn parse(text: &str) -> Option<VectorMetric> {
        VectorMetric::ALL.into_iter().find(|m| m.as_str() == text)
    }
}

/// Where an index's records live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum VectorBackend {
    /// In Switchyard's database, searched in memory (exactly, then through an HNSW graph).
    #[default]
    Embedded,
    /// An existing Pinecone index, reached over its REST API with the tenant's API key.
    Pinecone,
}

impl VectorBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            VectorBackend::Embedded => "embedded",
            VectorBackend::Pinecone => "pinecone",
        }
    }
}

/// How to reach a Pinecone index.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PineconeConnection {
    /// The index's host as Pinecone's console shows it
    /// (`docs-abc123.svc.aped-4627-b74a.pinecone.io`); HTTPS.
    pub host: String,
    /// Write-only: stored sealed by the vault, never returned.
    pub api_key: String,
}

/// Body of `POST /api/v1/tenants/{tenant_id}/vector-indexes`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VectorIndexInput {
    /// 1 to 45 lowercase letters, digits and hyphens (as Pinecone names indexes).
    pub name: String,
    /// The length of the vectors it holds (384 for all-MiniLM-L6-v2); fixed once made.
    pub dimension: u32,
    #[serde(default)]
    pub metric: VectorMetric,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub backend: VectorBackend,
    /// Required with the `pinecone` backend: the index to connect (it must exist there, with
    /// this dimension and metric).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinecone: Option<PineconeConnection>,
}

impl VectorIndexInput {
    pub fn problems(&self) -> Vec<FieldError> {
        let mut problems = Vec::new();
        match (self.backend, &self.pinecone) {
            (VectorBackend::Embedded, Some(_)) => problems.push(FieldError::new(
                "pinecone",
                "only an index with the pinecone backend takes a Pinecone connection",
            )),
            (VectorBackend::Pinecone, None) => problems.push(FieldError::new(
                "pinecone",
                "name the Pinecone index's host and API key",
            )),
            (VectorBackend::Pinecone, Some(p)) => {
                if p.host.trim().is_empty() {
                    problems.push(FieldError::new("pinecone.host", "must not be empty"));
                }
                if p.api_key.trim().is_empty() {
                    problems.push(FieldError::new("pinecone.api_key", "must not be empty"));
                }
            }
            (VectorBackend::Embedded, None) => {}
        }
        if let Some(problem) = index_name_problem(&self.name) {
            problems.push(FieldError::new("name", problem));
        }
        if let Some(problem) = dimension_problem(self.dimension) {
            problems.push(FieldError::new("dimension", problem));
        }
        if self.description.chars().count() > 1000 {
            problems.push(FieldError::new(
                "description",
                "must be at most 1000 characters",
            ));
        }
        problems
    }
}

/// Why `name` cannot name an index, if it cannot.
pub fn index_name_problem(name: &str) -> Option<&'static str> {
    let fits = !name.is_empty()
        && name.len() <= 45
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    (!fits).then_some(
        "1 to 45 lowercase letters, digits and hyphens, not starting or ending with a hyphen",
    )
}

/// Why an index cannot have `dimension`, if it cannot.
pub fn dimension_problem(dimension: u32) -> Option<String> {
    (dimension == 0 || dimension > MAX_VECTOR_DIMENSION)
        .then(|| format!("must be between 1 and {MAX_VECTOR_DIMENSION}, not {dimension}"))
}

/// An index as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct VectorIndex {
    pub name: String,
    pub description: String,
    pub dimension: u32,
    pub metric: VectorMetric,
    /// Where the records live.
    pub backend: VectorBackend,
    /// A Pinecone index's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_host: Option<String>,
    pub vector_count: u64,
    /// Records this replica's approximate (HNSW) index covers; 0 while the index is searched
    /// exactly, not yet loaded here, or at Pinecone. At Pinecone, `vector_count` is as of the
    /// last write through Switchyard.
    pub ann_linked: u64,
    /// The record count from which an approximate index is built.
    pub ann_threshold: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct VectorIndexList {
    pub items: Vec<VectorIndex>,
}
