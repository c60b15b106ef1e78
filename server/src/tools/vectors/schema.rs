//! The vectors server's tool definitions: JSON Schemas written for a model to follow.

use rmcp::model::{Tool, ToolAnnotations};
use serde_json::{Value, json};

use super::{MAX_BATCH, MAX_DIMENSION, MAX_TOP_K};
use crate::tools::host::tool;

fn reads() -> ToolAnnotations {
    ToolAnnotations::new()
        .read_only(true)
        .destructive(false)
        .idempotent(true)
        .open_world(false)
}

fn writes(destructive: bool, idempotent: bool) -> ToolAnnotations {
    ToolAnnotations::new()
        .read_only(false)
        .destructive(destructive)
        .idempotent(idempotent)
        .open_world(false)
}

fn index_name() -> Value {
    json!({"type": "string", "description": "The index's name (list_indexes shows them)."})
}

fn filter() -> Value {
    json!({
        "type": "object",
        "description": "A metadata filter in Pinecone's language: {\"genre\": \"drama\"} matches equal \
            values; operators $eq $ne $gt $gte $lt $lte $in $nin $exists go in an object per field \
            ({\"year\": {\"$gte\": 2020}}); fields at one level must all match; $and/$or take lists of filters."
    })
}

fn description() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": {"type": "string"}, "description": {"type": "string"},
            "dimension": {"type": "integer"}, "metric": {"type": "string"},
            "backend": {"type": "string"}, "vector_count": {"type": "integer"},
            "ann_linked": {"type": "integer", "description": "Records the approximate (HNSW) index covers."},
            "ann_threshold": {"type": "integer", "description": "The record count from which an approximate index is built."},
            "created_at": {"type": "string"}, "updated_at": {"type": "string"}
        },
        "required": ["name", "dimension", "metric", "vector_count"]
    })
}

pub fn definitions() -> Vec<Tool> {
    vec![
        tool(
            "create_index",
            "Create an index",
            "Creates an empty vector index. Its dimension must equal the length of the embeddings \
             you will store (384 for all-MiniLM-L6-v2, 1536 for OpenAI text-embedding-3-small); \
             it cannot be changed later.",
            json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "pattern": "^[a-z0-9]([a-z0-9-]{0,43}[a-z0-9])?$",
                             "description": "Lowercase letters, digits and hyphens; at most 45."},
                    "dimension": {"type": "integer", "minimum": 1, "maximum": MAX_DIMENSION},
                    "metric": {"type": "string", "enum": ["cosine", "euclidean", "dotproduct"], "default": "cosine",
                               "description": "How nearness is measured. Use cosine unless your embeddings say otherwise."},
                    "description": {"type": "string"}
                },
                "required": ["name", "dimension"],
                "additionalProperties": false
            }),
            description(),
            writes(false, false),
        ),
        tool(
            "list_indexes",
            "List indexes",
            "Lists this tenant's vector indexes with their dimension, metric and record count.",
            json!({"type": "object", "properties": {}, "additionalProperties": false}),
            json!({"type": "object", "properties": {"indexes": {"type": "array", "items": description()}}, "required": ["indexes"]}),
            reads(),
        ),
        tool(
            "describe_index",
            "Describe an index",
            "Shows one index: dimension, metric, record count, and how much of it the approximate index covers.",
            json!({"type": "object", "properties": {"name": index_name()}, "required": ["name"], "additionalProperties": false}),
            description(),
            reads(),
        ),
        tool(
            "delete_index",
            "Delete an index",
            "Deletes an index and every record in it. This cannot be undone.",
            json!({"type": "object", "properties": {"name": index_name()}, "required": ["name"], "additionalProperties": false}),
            json!({"type": "object", "properties": {"deleted": {"type": "string"}, "vector_count": {"type": "integer"}}, "required": ["deleted"]}),
            writes(true, true),
        ),
        tool(
            "upsert",
            "Upsert records",
            format!(
                "Adds records to an index, replacing any with the same id. Up to {MAX_BATCH} per call; \
                 all are written or none is."
            ),
            json!({
                "type": "object",
                "properties": {
                    "index": index_name(),
                    "vectors": {
                        "type": "array", "minItems": 1, "maxItems": MAX_BATCH,
                        "items": {
                            "type": "object",
                            "properties": {
                                "id": {"type": "string", "minLength": 1, "maxLength": 512},
                                "values": {"type": "array", "items": {"type": "number"},
                                           "description": "The embedding; as many numbers as the index's dimension."},
                                "metadata": {"type": "object", "description": "Strings, numbers, booleans or lists of strings, to filter on; at most 40 KB."}
                            },
                            "required": ["id", "values"],
                            "additionalProperties": false
                        }
                    }
                },
                "required": ["index", "vectors"],
                "additionalProperties": false
            }),
            json!({"type": "object", "properties": {"upserted_count": {"type": "integer"}, "vector_count": {"type": "integer"}}, "required": ["upserted_count", "vector_count"]}),
            writes(true, true),
        ),
        tool(
            "fetch",
            "Fetch records",
            "Reads records by id, with their values and metadata; ids not in the index are listed as missing.",
            json!({"type": "object", "properties": {"index": index_name(),
                   "ids": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": MAX_BATCH}},
                   "required": ["index", "ids"], "additionalProperties": false}),
            json!({"type": "object", "properties": {"vectors": {"type": "array"}, "missing": {"type": "array", "items": {"type": "string"}}}, "required": ["vectors", "missing"]}),
            reads(),
        ),
        tool(
            "list_vectors",
            "List record ids",
            "Lists record ids in order, optionally those starting with a prefix. Pass the answer's \
             pagination_token back for the next page.",
            json!({"type": "object", "properties": {"index": index_name(),
                   "prefix": {"type": "string"},
                   "limit": {"type": "integer", "minimum": 1, "maximum": MAX_BATCH, "default": 100},
                   "pagination_token": {"type": "string"}},
                   "required": ["index"], "additionalProperties": false}),
            json!({"type": "object", "properties": {"ids": {"type": "array", "items": {"type": "string"}}, "pagination_token": {"type": ["string", "null"]}}, "required": ["ids"]}),
            reads(),
        ),
        tool(
            "delete_vectors",
            "Delete records",
            "Deletes records from an index: those with the given ids, those a metadata filter matches, \
             or all of them (delete_all). Give exactly one.",
            json!({"type": "object", "properties": {"index": index_name(),
                   "ids": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": MAX_BATCH},
                   "filter": filter(),
                   "delete_all": {"type": "boolean"}},
                   "required": ["index"], "additionalProperties": false}),
            json!({"type": "object", "properties": {"deleted_count": {"type": "integer"}, "vector_count": {"type": "integer"}}, "required": ["deleted_count", "vector_count"]}),
            writes(true, true),
        ),
        tool(
            "query",
            "Find nearest records",
            "Finds the records nearest a vector (or an existing record, by id), best first, \
             optionally only those whose metadata matches a filter. Scores are cosine similarity or \
             dot product (higher is nearer) or Euclidean distance (lower is nearer), per the index's metric.",
            json!({
                "type": "object",
                "properties": {
                    "index": index_name(),
                    "vector": {"type": "array", "items": {"type": "number"}, "description": "The query embedding."},
                    "id": {"type": "string", "description": "Instead of vector: query with this record's vector."},
                    "top_k": {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K, "default": 10},
                    "filter": filter(),
                    "include_metadata": {"type": "boolean", "default": true},
                    "include_values": {"type": "boolean", "default": false},
                    "exact": {"type": "boolean", "default": false,
                              "description": "Compare with every record instead of using the approximate index: slower on large indexes, never misses."}
                },
                "required": ["index"],
                "additionalProperties": false
            }),
            json!({"type": "object", "properties": {
                "matches": {"type": "array", "items": {"type": "object", "properties": {
                    "id": {"type": "string"}, "score": {"type": "number"}, "metadata": {"type": "object"},
                    "values": {"type": "array", "items": {"type": "number"}}}, "required": ["id", "score"]}},
                "approximate": {"type": "boolean", "description": "Whether the approximate index answered."}},
                "required": ["matches", "approximate"]}),
            reads(),
        ),
    ]
}
