//! Making indexes and showing them, for the tools and the REST API alike, and reaching the
//! ones that live at Pinecone.

use app::api::{VectorBackend, VectorIndex, VectorIndexInput, VectorMetric};
use uuid::Uuid;

use super::pinecone::{self, Pinecone};
use super::service::Embedded;
use crate::store::{NewVectorIndex, StoreError, VectorIndexRow};
use crate::tenancy::TenantScope;
use crate::vault::Vault;

/// What reaching a remote index takes: the vault that holds its key, and one HTTP client.
#[derive(Clone)]
pub struct Remote {
    vault: Vault,
    http: reqwest::Client,
}

impl Remote {
    pub fn new(vault: Vault) -> Self {
        Self {
            vault,
            http: pinecone::http_client(),
        }
    }

    /// The client of `row`'s Pinecone index; `None` for an embedded index.
    pub fn pinecone(&self, row: &VectorIndexRow) -> Result<Option<Pinecone>, String> {
        let (Some(host), Some(sealed)) = (&row.remote_host, &row.credentials_enc) else {
            return Ok(None);
        };
        let key = self
            .vault
            .open_sealed(&context(row.tenant_id, row.id), sealed)
            .map_err(|error| {
                tracing::error!(%error, index = %row.id, "the Pinecone key does not open");
                "the Pinecone API key cannot be read; an administrator can connect the index again"
                    .to_string()
            })?;
        let key =
            String::from_utf8(key).map_err(|_| "the stored API key is not text".to_string())?;
        Ok(Some(Pinecone::new(self.http.clone(), host, key)))
    }
}

/// What a remote index's key is sealed to.
fn context(tenant: Uuid, index: Uuid) -> String {
    format!("vector_index:{tenant}:{index}")
}

/// Why an index could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The Pinecone host is not one Switchyard will send a key to.
    #[error("pinecone.host {0}")]
    Host(&'static str),
}

/// Makes an index (its input checked with `problems()` by the caller). A Pinecone index's
/// host is checked here and its key sealed to the new index.
pub async fn create_index(
    backend: &Embedded,
    remote: &Remote,
    scope: &TenantScope,
    input: &VectorIndexInput,
) -> Result<VectorIndexRow, CreateError> {
    let id = Uuid::now_v7();
    let (remote_host, credentials_enc) = match (&input.backend, &input.pinecone) {
        (VectorBackend::Pinecone, Some(p)) => {
            if let Some(problem) = pinecone::host_problem(&p.host) {
                return Err(CreateError::Host(problem));
            }
            let sealed = remote
                .vault
                .seal(&context(scope.tenant_id(), id), p.api_key.trim().as_bytes());
            (Some(pinecone::base_url(&p.host)), Some(sealed))
        }
        _ => (None, None),
    };
    let new = NewVectorIndex {
        id,
        name: &input.name,
        description: &input.description,
        dimension: i32::try_from(input.dimension).unwrap_or(i32::MAX),
        metric: input.metric.as_str(),
        backend: input.backend.as_str(),
        remote_host: remote_host.as_deref(),
        credentials_enc,
    };
    Ok(backend.store().create_vector_index(scope, &new).await?)
}

/// An index as the API and the tools show it.
pub fn index_view(row: &VectorIndexRow, backend: &Embedded) -> VectorIndex {
    VectorIndex {
        name: row.name.clone(),
        description: row.description.clone(),
        dimension: u32::try_from(row.dimension).unwrap_or_default(),
        metric: VectorMetric::parse(&row.metric).unwrap_or_default(),
        backend: if row.backend == "pinecone" {
            VectorBackend::Pinecone
        } else {
            VectorBackend::Embedded
        },
        remote_host: row.remote_host.clone(),
        vector_count: u64::try_from(row.vector_count).unwrap_or_default(),
        ann_linked: backend.linked(row.id) as u64,
        ann_threshold: backend.tuning().ann_threshold as u64,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}
