//! The vectors tools on an index at Pinecone: the same arguments, checked the same way
//! before anything is sent, answered in the same shape as the embedded backend's.

use serde_json::{Value, json};

use super::Outcome;
use super::args::{Query, internal};
use super::pinecone::{Deletion, Pinecone, Question, Record};
use crate::store::{Metadata, Store, VectorIndexRow};
use crate::tenancy::TenantScope;

/// Asks Pinecone how many records the index holds and remembers it for the index list.
pub(super) async fn recount(
    pinecone: &Pinecone,
    store: &Store,
    scope: &TenantScope,
    row: &VectorIndexRow,
) -> Result<i64, String> {
    let count = pinecone.count().await.map_err(|e| e.to_string())?;
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    store
        .set_vector_count(scope, row.id, count)
        .await
        .map_err(internal)?;
    Ok(count)
}

pub(super) async fn upsert(
    pinecone: &Pinecone,
    store: &Store,
    scope: &TenantScope,
    row: &VectorIndexRow,
    records: Vec<(String, Vec<f32>, Metadata)>,
) -> Outcome {
    let records: Vec<Record> = records
        .into_iter()
        .map(|(id, values, metadata)| Record {
            id,
            values,
            metadata: (!metadata.is_empty()).then_some(metadata),
        })
        .collect();
    let upserted = pinecone.upsert(&records).await.map_err(|e| e.to_string())?;
    let count = recount(pinecone, store, scope, row).await?;
    Ok(json!({ "upserted_count": upserted, "vector_count": count }))
}

pub(super) async fn fetch(pinecone: &Pinecone, ids: &[String]) -> Outcome {
    let found = pinecone.fetch(ids).await.map_err(|e| e.to_string())?;
    let missing: Vec<&String> = ids
        .iter()
        .filter(|id| !found.iter().any(|r| &r.id == *id))
        .collect();
    let vectors: Vec<Value> = found
        .into_iter()
        .map(|r| json!({ "id": r.id, "values": r.values, "metadata": r.metadata.unwrap_or_default() }))
        .collect();
    Ok(json!({ "vectors": vectors, "missing": missing }))
}

pub(super) async fn list(
    pinecone: &Pinecone,
    prefix: &str,
    limit: u32,
    token: Option<&str>,
) -> Outcome {
    let page = pinecone
        .list(prefix, limit, token)
        .await
        .map_err(|e| e.to_string())?;
    Ok(json!({ "ids": page.ids, "pagination_token": page.next }))
}

/// Pinecone does not say how many records a delete removed: `deleted_count` is null.
pub(super) async fn delete(
    pinecone: &Pinecone,
    store: &Store,
    scope: &TenantScope,
    row: &VectorIndexRow,
    which: Deletion<'_>,
) -> Outcome {
    pinecone.delete(which).await.map_err(|e| e.to_string())?;
    let count = recount(pinecone, store, scope, row).await?;
    Ok(json!({ "deleted_count": null, "vector_count": count }))
}

pub(super) async fn query(pinecone: &Pinecone, args: &Query) -> Outcome {
    let question = Question {
        vector: args.vector.as_deref(),
        id: args.id.as_deref(),
        top_k: args.top_k,
        filter: args.filter.as_ref(),
        include_values: args.include_values,
        include_metadata: args.include_metadata,
    };
    if question.vector.is_some() == question.id.is_some() {
        return Err("give exactly one of `vector` or `id` (a record's id)".into());
    }
    let matches = pinecone.query(&question).await.map_err(|e| e.to_string())?;
    let matches: Vec<Value> = matches
        .into_iter()
        .map(|m| {
            let mut entry = json!({ "id": m.id, "score": m.score });
            if args.include_metadata {
                entry["metadata"] = Value::Object(m.metadata.unwrap_or_default());
            }
            if args.include_values {
                entry["values"] = json!(m.values);
            }
            entry
        })
        .collect();
    // Pinecone's indexes are approximate.
    Ok(json!({ "matches": matches, "approximate": true }))
}
