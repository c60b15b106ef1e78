//! The built-in `vectors` server (issue #6 point 2): a tenant's vector indexes, managed and
//! searched over MCP, in the shape of Pinecone's API (indexes with a dimension and metric;
//! records with ids, values and metadata; top-k queries with metadata filters).
//!
//! The embedded backend keeps records in Switchyard's database and searches a copy in
//! memory: exactly while an index is small, through an HNSW graph once it is large.

mod args;
pub mod filter;
pub mod hnsw;
mod indexes;
pub mod memory;
pub mod metric;
pub mod pinecone;
mod remote;
mod schema;
pub mod service;

use app::api::{VectorIndexInput, VectorMetric, dimension_problem, index_name_problem};
use futures::future::BoxFuture;
use rmcp::model::{CallToolResult, JsonObject, Tool};
use rmcp::service::{RequestContext, RoleServer};
use serde_json::{Value, json};

use super::host::{self, ToolSet};
use crate::store::{StoreError, VectorIndexRow};
use crate::tenancy::TenantScope;
use args::{
    CreateIndex, DeleteVectors, Fetch, ListVectors, Named, Nothing, Query, Upsert, backend_failure,
    check_batch, check_id, check_vector, internal, store_failure,
};
use filter::Filter;
use metric::Metric;
use service::{Embedded, Search};

pub use indexes::{CreateError, Remote, create_index, index_view};

/// Limits on what one call may carry (Pinecone's own, where it has one).
pub const MAX_DIMENSION: usize = app::api::MAX_VECTOR_DIMENSION as usize;
pub const MAX_BATCH: usize = 1000;
pub const MAX_TOP_K: usize = 1000;
pub const MAX_ID_LEN: usize = 512;
pub const MAX_METADATA_BYTES: usize = 40 * 1024;

/// One tenant's vectors server.
pub struct Vectors {
    scope: TenantScope,
    backend: Embedded,
    remote: Remote,
}

impl Vectors {
    pub fn new(scope: TenantScope, backend: Embedded, remote: Remote) -> Self {
        Self {
            scope,
            backend,
            remote,
        }
    }
}

impl ToolSet for Vectors {
    fn name(&self) -> &'static str {
        "switchyard-vectors"
    }

    fn instructions(&self) -> &'static str {
        "Vector indexes for similarity search. Create an index with the dimension of your \
         embeddings, upsert records (id, values, optional metadata), then query with a vector \
         for the nearest records, optionally filtered on metadata."
    }

    fn tools(&self) -> Vec<Tool> {
        schema::definitions()
    }

    fn call<'a>(
        &'a self,
        name: &'a str,
        arguments: JsonObject,
        _context: RequestContext<RoleServer>,
    ) -> Option<BoxFuture<'a, CallToolResult>> {
        Some(match name {
            "create_index" => Box::pin(self.run(arguments, Self::create_index)),
            "list_indexes" => Box::pin(self.run(arguments, Self::list_indexes)),
            "describe_index" => Box::pin(self.run(arguments, Self::describe_index)),
            "delete_index" => Box::pin(self.run(arguments, Self::delete_index)),
            "upsert" => Box::pin(self.run(arguments, Self::upsert)),
            "fetch" => Box::pin(self.run(arguments, Self::fetch)),
            "list_vectors" => Box::pin(self.run(arguments, Self::list_vectors)),
            "delete_vectors" => Box::pin(self.run(arguments, Self::delete_vectors)),
            "query" => Box::pin(self.run(arguments, Self::query)),
            _ => return None,
        })
    }
}

/// A tool's failure, in words for the caller.
type Outcome = Result<Value, String>;

impl Vectors {
    async fn run<'a, A, F, R>(&'a self, arguments: JsonObject, tool: F) -> CallToolResult
    where
        A: serde::de::DeserializeOwned,
        F: FnOnce(&'a Self, A) -> R,
        R: std::future::Future<Output = Outcome>,
    {
        match host::arguments::<A>(arguments) {
            Ok(args) => host::answer(tool(self, args).await),
            Err(failure) => failure,
        }
    }

    async fn index(&self, name: &str) -> Result<(VectorIndexRow, Metric), String> {
        let row = self
            .backend
            .store()
            .get_vector_index(&self.scope, name)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => format!(
                    "there is no index named `{name}`; list_indexes shows this tenant's indexes"
                ),
                other => internal(other),
            })?;
        let metric = Metric::parse(&row.metric).unwrap_or(Metric::Cosine);
        Ok((row, metric))
    }

    fn describe(&self, row: &VectorIndexRow) -> Value {
        serde_json::to_value(index_view(row, &self.backend)).unwrap_or_default()
    }

    async fn create_index(&self, args: CreateIndex) -> Outcome {
        if let Some(problem) = index_name_problem(&args.name) {
            return Err(format!("`{}` is not an index name: {problem}", args.name));
        }
        let dimension = u32::try_from(args.dimension).unwrap_or(u32::MAX);
        if let Some(problem) = dimension_problem(dimension) {
            return Err(format!("dimension {problem}"));
        }
        let Some(metric) = VectorMetric::parse(&args.metric) else {
            return Err(format!(
                "unknown metric `{}`; one of: cosine, euclidean, dotproduct",
                args.metric
            ));
        };
        let input = VectorIndexInput {
            name: args.name,
            dimension,
            metric,
            description: args.description,
            // Connecting a Pinecone index takes its key, which goes through the REST API
            // (never a tool's arguments, which are audited).
            backend: app::api::VectorBackend::Embedded,
            pinecone: None,
        };
        let row = create_index(&self.backend, &self.remote, &self.scope, &input)
            .await
            .map_err(|e| match e {
                indexes::CreateError::Store(StoreError::Conflict { .. }) => {
                    format!("an index named `{}` exists", input.name)
                }
                indexes::CreateError::Store(other) => internal(other),
                other => other.to_string(),
            })?;
        Ok(self.describe(&row))
    }

    async fn list_indexes(&self, _: Nothing) -> Outcome {
        let rows = self
            .backend
            .store()
            .list_vector_indexes(&self.scope)
            .await
            .map_err(internal)?;
        let indexes: Vec<Value> = rows.iter().map(|r| self.describe(r)).collect();
        Ok(json!({ "indexes": indexes }))
    }

    async fn describe_index(&self, args: Named) -> Outcome {
        let (mut row, _) = self.index(&args.name).await?;
        if let Some(p) = self.remote.pinecone(&row)? {
            row.vector_count = remote::recount(&p, self.store(), &self.scope, &row).await?;
        }
        Ok(self.describe(&row))
    }

    fn store(&self) -> &crate::store::Store {
        self.backend.store()
    }

    async fn delete_index(&self, args: Named) -> Outcome {
        let (row, _) = self.index(&args.name).await?;
        let store = self.backend.store();
        store
            .delete_vector_index(&self.scope, row.id)
            .await
            .map_err(internal)?;
        self.backend.forget(row.id);
        if row.remote_host.is_some() {
            // Only the connection goes: the index and its records stay at Pinecone.
            return Ok(
                json!({ "deleted": row.name, "vector_count": row.vector_count, "remote_kept": true }),
            );
        }
        Ok(json!({ "deleted": row.name, "vector_count": row.vector_count }))
    }

    async fn upsert(&self, args: Upsert) -> Outcome {
        let (row, metric) = self.index(&args.index).await?;
        check_batch("vectors", args.vectors.len())?;
        let mut seen = std::collections::HashSet::new();
        let mut records = Vec::with_capacity(args.vectors.len());
        for (i, record) in args.vectors.into_iter().enumerate() {
            let at = format!("vectors[{i}]");
            check_id(&record.id, &at)?;
            if !seen.insert(record.id.clone()) {
                return Err(format!(
                    "{at}: id `{}` appears twice in this batch",
                    record.id
                ));
            }
            check_vector(&record.values, &row, metric, &format!("{at}.values"))?;
            filter::check_metadata(&record.metadata).map_err(|e| format!("{at}: {e}"))?;
            let size = serde_json::to_vec(&record.metadata).map_or(0, |b| b.len());
            if size > MAX_METADATA_BYTES {
                return Err(format!(
                    "{at}: metadata is {size} bytes; at most {MAX_METADATA_BYTES} are kept per record"
                ));
            }
            records.push((record.id, record.values, record.metadata));
        }
        if let Some(p) = self.remote.pinecone(&row)? {
            return remote::upsert(&p, self.store(), &self.scope, &row, records).await;
        }
        let upserted = records.len();
        let written = self
            .backend
            .upsert(&self.scope, &row, records)
            .await
            .map_err(|e| store_failure(e, &row.name))?;
        Ok(json!({ "upserted_count": upserted, "vector_count": written.count }))
    }

    async fn fetch(&self, args: Fetch) -> Outcome {
        let (row, _) = self.index(&args.index).await?;
        check_batch("ids", args.ids.len())?;
        if let Some(p) = self.remote.pinecone(&row)? {
            return remote::fetch(&p, &args.ids).await;
        }
        let rows = self
            .backend
            .store()
            .fetch_vectors(&self.scope, row.id, &args.ids)
            .await
            .map_err(internal)?;
        let found: std::collections::HashSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let missing: Vec<&String> = args
            .ids
            .iter()
            .filter(|id| !found.contains(id.as_str()))
            .collect();
        let vectors: Vec<Value> = rows
            .iter()
            .map(|r| json!({ "id": r.id, "values": service::decode(&r.embedding), "metadata": r.metadata.0 }))
            .collect();
        Ok(json!({ "vectors": vectors, "missing": missing }))
    }

    async fn list_vectors(&self, args: ListVectors) -> Outcome {
        let (row, _) = self.index(&args.index).await?;
        if args.limit == 0 || args.limit as usize > MAX_BATCH {
            return Err(format!("limit must be between 1 and {MAX_BATCH}"));
        }
        if let Some(p) = self.remote.pinecone(&row)? {
            let token = args.pagination_token.as_deref();
            return remote::list(&p, &args.prefix, args.limit, token).await;
        }
        let after = args.pagination_token.unwrap_or_default();
        let ids = self
            .backend
            .store()
            .list_vector_ids(&self.scope, row.id, &args.prefix, &after, args.limit + 1)
            .await
            .map_err(internal)?;
        let more = ids.len() > args.limit as usize;
        let ids: Vec<String> = ids.into_iter().take(args.limit as usize).collect();
        let next = more.then(|| ids.last().cloned()).flatten();
        Ok(json!({ "ids": ids, "pagination_token": next }))
    }

    async fn delete_vectors(&self, args: DeleteVectors) -> Outcome {
        let (row, metric) = self.index(&args.index).await?;
        let chosen = [args.ids.is_some(), args.filter.is_some(), args.delete_all];
        if chosen.iter().filter(|c| **c).count() != 1 {
            return Err("give exactly one of `ids`, `filter` or `delete_all: true`".into());
        }
        if let Some(p) = self.remote.pinecone(&row)? {
            let which = match (&args.ids, &args.filter) {
                (Some(ids), _) => {
                    check_batch("ids", ids.len())?;
                    pinecone::Deletion::Ids(ids)
                }
                (None, Some(filter)) => {
                    Filter::parse(filter)?;
                    pinecone::Deletion::Filter(filter)
                }
                (None, None) => pinecone::Deletion::All,
            };
            return remote::delete(&p, self.store(), &self.scope, &row, which).await;
        }
        let ids = match (args.ids, args.filter) {
            (Some(ids), _) => {
                check_batch("ids", ids.len())?;
                Some(ids)
            }
            (None, Some(filter)) => {
                let filter = Filter::parse(&filter)?;
                let ids = self
                    .backend
                    .matching(&self.scope, &row, metric, filter)
                    .await
                    .map_err(|e| backend_failure(e, &row.name))?;
                Some(ids)
            }
            (None, None) => None,
        };
        let written = self
            .backend
            .delete(&self.scope, &row, ids.as_deref())
            .await
            .map_err(|e| store_failure(e, &row.name))?;
        Ok(json!({ "deleted_count": written.removed, "vector_count": written.count }))
    }

    async fn query(&self, args: Query) -> Outcome {
        let (row, metric) = self.index(&args.index).await?;
        if args.top_k == 0 || args.top_k > MAX_TOP_K {
            return Err(format!("top_k must be between 1 and {MAX_TOP_K}"));
        }
        if let Some(p) = self.remote.pinecone(&row)? {
            if let Some(vector) = &args.vector {
                check_vector(vector, &row, metric, "vector")?;
            }
            if let Some(filter) = &args.filter {
                Filter::parse(filter)?;
            }
            let started = std::time::Instant::now();
            let answer = remote::query(&p, &args).await;
            let metrics = self.backend.metrics();
            metrics.vector_query("pinecone", "remote", started.elapsed());
            return answer;
        }
        let vector = match (args.vector, args.id) {
            (Some(vector), None) => {
                check_vector(&vector, &row, metric, "vector")?;
                vector
            }
            (None, Some(id)) => {
                let found = self
                    .backend
                    .store()
                    .fetch_vectors(&self.scope, row.id, std::slice::from_ref(&id))
                    .await
                    .map_err(internal)?;
                let record = found
                    .first()
                    .ok_or_else(|| format!("there is no record `{id}` in `{}`", row.name))?;
                service::decode(&record.embedding)
            }
            _ => return Err("give exactly one of `vector` or `id` (a record's id)".into()),
        };
        let filter = args.filter.as_ref().map(Filter::parse).transpose()?;
        let search = Search {
            vector,
            k: args.top_k,
            filter,
            exact: args.exact,
        };
        let answer = self
            .backend
            .query(&self.scope, &row, metric, search)
            .await
            .map_err(|e| backend_failure(e, &row.name))?;
        let values = if args.include_values {
            let ids: Vec<String> = answer.matches.iter().map(|m| m.id.clone()).collect();
            let rows = self
                .backend
                .store()
                .fetch_vectors(&self.scope, row.id, &ids)
                .await
                .map_err(internal)?;
            rows.into_iter()
                .map(|r| (r.id, service::decode(&r.embedding)))
                .collect()
        } else {
            std::collections::HashMap::new()
        };
        let matches: Vec<Value> = answer
            .matches
            .into_iter()
            .map(|m| {
                let mut entry = json!({ "id": m.id, "score": m.score });
                if args.include_metadata {
                    entry["metadata"] = Value::Object(m.metadata);
                }
                if let Some(v) = values.get(&m.id) {
                    entry["values"] = json!(v);
                }
                entry
            })
            .collect();
        Ok(json!({ "matches": matches, "approximate": answer.approximate }))
    }
}
