//! Settings of Switchyard's own MCP servers (`[tools]`, issue #6).

use serde::{Deserialize, Serialize};

/// Switchyard's own MCP servers (issue #6).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ToolsSettings {
    /// The built-in servers registered in every new tenant (the first one included), each
    /// with a policy letting everyone use it. Tenants that exist already add them in the
    /// console; nothing is registered silently in a tenant in use.
    pub builtin_for_new_tenants: Vec<app::api::BuiltinServer>,
    pub vectors: VectorSettings,
}

impl Default for ToolsSettings {
    fn default() -> Self {
        Self {
            builtin_for_new_tenants: app::api::BuiltinServer::ALL.to_vec(),
            vectors: VectorSettings::default(),
        }
    }
}

/// The built-in vectors server's embedded backend.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct VectorSettings {
    /// Indexes with at least this many records are searched through an HNSW graph (built in
    /// the background); smaller ones, and queries with `exact`, compare every record.
    pub ann_threshold: usize,
    /// Candidates a graph search keeps (HNSW `ef`): more finds more true neighbours, slower.
    pub ef_search: usize,
    /// Links per graph node (HNSW `M`; twice this on the ground layer).
    pub hnsw_m: usize,
    /// Candidates kept while linking a record into the graph (HNSW `efConstruction`).
    pub hnsw_ef_construction: usize,
    /// An index's copy in a replica's memory is dropped once no search or write has used it
    /// for this long (the next search reloads it from the database).
    pub idle_unload_secs: u64,
}

impl Default for VectorSettings {
    fn default() -> Self {
        let tuning = crate::tools::vectors::memory::Tuning::default();
        Self {
            ann_threshold: tuning.ann_threshold,
            ef_search: tuning.ef_search,
            hnsw_m: tuning.graph.m,
            hnsw_ef_construction: tuning.graph.ef_construction,
            idle_unload_secs: 1800,
        }
    }
}

impl VectorSettings {
    pub fn tuning(&self) -> crate::tools::vectors::memory::Tuning {
        let mut tuning = crate::tools::vectors::memory::Tuning {
            ann_threshold: self.ann_threshold.max(1),
            ef_search: self.ef_search.max(1),
            ..Default::default()
        };
        tuning.graph.m = self.hnsw_m.clamp(2, 128);
        tuning.graph.ef_construction = self.hnsw_ef_construction.max(1);
        tuning
    }
}
