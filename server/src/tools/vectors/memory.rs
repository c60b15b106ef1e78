//! An index's searchable copy in memory: vectors in slots (prepared for the metric), exact
//! search over them, and an HNSW graph over the first slots once the index is large.
//!
//! Slots are append-only: replacing a record adds a slot and marks the old one dead, so the
//! graph never has to unlink anything. When dead slots pile up, [`Memory::compact`] copies the
//! live ones into fresh slots and the graph is rebuilt.

use std::collections::{BinaryHeap, HashMap};

use serde_json::{Map, Value};

use super::filter::Filter;
use super::hnsw::{Hnsw, Near, Params, Slots, Visited};
use super::metric::Metric;

/// When the approximate index is used and how it searches.
#[derive(Clone, Copy, Debug)]
pub struct Tuning {
    /// Indexes with at least this many records get an HNSW graph; smaller ones are searched
    /// exactly, which never misses: a scan of 50,000 384-dimension vectors takes about 7 ms
    /// on one core (`switchyard-bench vectors`: 100,000 in 14.6 ms).
    pub ann_threshold: usize,
    /// Candidates the graph search keeps (`ef`); at least the query's top-k.
    pub ef_search: usize,
    pub graph: Params,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            ann_threshold: 50_000,
            ef_search: 128,
            graph: Params::default(),
        }
    }
}

/// A filter letting through at most this share of the records is answered by exact search
/// over the records it admits: cheaper than a graph walk that skips most of what it meets,
/// and never misses.
const SELECTIVE: f64 = 0.1;

pub struct Memory {
    metric: Metric,
    dimension: usize,
    tuning: Tuning,
    data: Vec<f32>,
    ids: Vec<String>,
    metadata: Vec<Map<String, Value>>,
    alive: Vec<bool>,
    by_id: HashMap<String, u32>,
    /// Covers slots `0..graph.len()`; the rest (the tail) are searched exactly.
    graph: Option<Hnsw>,
}

/// One match: the slot, and its distance to the query.
pub type Hit = Near;

impl Memory {
    pub fn new(metric: Metric, dimension: usize, tuning: Tuning) -> Self {
        Self {
            metric,
            dimension,
            tuning,
            data: Vec::new(),
            ids: Vec::new(),
            metadata: Vec::new(),
            alive: Vec::new(),
            by_id: HashMap::new(),
            graph: None,
        }
    }

    /// Changes how many candidates graph searches keep.
    pub fn set_ef_search(&mut self, ef: usize) {
        self.tuning.ef_search = ef.max(1);
    }

    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// Live records.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    fn slots(&self) -> Slots<'_> {
        Slots {
            data: &self.data,
            dimension: self.dimension,
        }
    }

    /// Adds or replaces a record. `values` must have the index's dimension and, for cosine,
    /// not be zero (the caller checked).
    pub fn upsert(&mut self, id: String, values: &[f32], metadata: Map<String, Value>) {
        let Some(prepared) = self.metric.prepare(values) else {
            return;
        };
        if let Some(old) = self.by_id.get(&id) {
            self.alive[*old as usize] = false;
        }
        let slot = self.ids.len() as u32;
        self.data.extend_from_slice(&prepared);
        self.ids.push(id.clone());
        self.metadata.push(metadata);
        self.alive.push(true);
        self.by_id.insert(id, slot);
    }

    /// Removes a record; false if there was none.
    pub fn delete(&mut self, id: &str) -> bool {
        match self.by_id.remove(id) {
            Some(slot) => {
                self.alive[slot as usize] = false;
                true
            }
            None => false,
        }
    }

    pub fn clear(&mut self) {
        *self = Memory::new(self.metric, self.dimension, self.tuning);
    }

    pub fn id(&self, slot: u32) -> &str {
        &self.ids[slot as usize]
    }

    pub fn metadata(&self, slot: u32) -> &Map<String, Value> {
        &self.metadata[slot as usize]
    }

    /// Ids of the live records `filter` admits.
    pub fn matching(&self, filter: &Filter) -> Vec<String> {
        self.by_id
            .iter()
            .filter(|(_, slot)| filter.matches(&self.metadata[**slot as usize]))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Whether the graph is missing or behind: the index is large and has unlinked slots.
    pub fn needs_linking(&self) -> bool {
        self.len() >= self.tuning.ann_threshold
            && self.graph.as_ref().map_or(0, Hnsw::len) < self.ids.len()
    }

    /// Links up to `max` more slots into the graph (making it if need be): the number linked.
    pub fn link_some(&mut self, max: usize, visited: &mut Visited) -> usize {
        let total = self.ids.len();
        let (metric, params) = (self.metric, self.tuning.graph);
        let mut graph = self
            .graph
            .take()
            .unwrap_or_else(|| Hnsw::new(metric, params));
        let start = graph.len();
        let end = total.min(start + max);
        let slots = self.slots();
        for _ in start..end {
            graph.insert(slots, visited);
        }
        self.graph = Some(graph);
        end - start
    }

    /// How many slots the graph covers.
    pub fn linked(&self) -> usize {
        self.graph.as_ref().map_or(0, Hnsw::len)
    }

    /// Whether dead slots are a quarter of all (and at least a thousand).
    pub fn needs_compaction(&self) -> bool {
        let dead = self.ids.len() - self.len();
        dead >= 1_000 && dead * 4 >= self.ids.len()
    }

    /// Keeps only live slots, in fresh order; the graph is dropped to be rebuilt.
    pub fn compact(&mut self) {
        let mut fresh = Memory::new(self.metric, self.dimension, self.tuning);
        for slot in 0..self.ids.len() {
            if self.alive[slot] {
                let start = slot * self.dimension;
                fresh
                    .data
                    .extend_from_slice(&self.data[start..start + self.dimension]);
                fresh.ids.push(std::mem::take(&mut self.ids[slot]));
                fresh
                    .metadata
                    .push(std::mem::take(&mut self.metadata[slot]));
                fresh.alive.push(true);
                let id = fresh.ids.last().expect("pushed").clone();
                fresh.by_id.insert(id, fresh.ids.len() as u32 - 1);
            }
        }
        *self = fresh;
    }

    /// The `k` live records nearest `query` (raw, of the index's dimension) that `filter`
    /// admits, nearest first. `exact` skips the graph.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<&Filter>,
        exact: bool,
    ) -> Vec<Hit> {
        let Some(query) = self.metric.prepare(query) else {
            return Vec::new();
        };
        if k == 0 || self.is_empty() {
            return Vec::new();
        }
        let allowed = |slot: u32| {
            let s = slot as usize;
            self.alive[s] && filter.is_none_or(|f| f.matches(&self.metadata[s]))
        };
        let share = filter.map_or(1.0, |f| self.share(f));
        let graph = self.graph.as_ref().filter(|_| !exact && share > SELECTIVE);
        let linked = graph.map_or(0, Hnsw::len);
        let mut best: BinaryHeap<Near> = BinaryHeap::with_capacity(k + 1);
        if let Some(graph) = graph {
            let ef = self.tuning.ef_search.max(k);
            // A filter that admits a share s of the records leaves about s·ef of the walk's
            // candidates: widen the walk to make up for it.
            let ef = (ef as f64 / share.max(SELECTIVE)) as usize;
            for hit in graph.search(self.slots(), &query, k, ef, &allowed) {
                keep(&mut best, k, hit);
            }
        }
        let slots = self.slots();
        for slot in linked as u32..self.ids.len() as u32 {
            if allowed(slot) {
                keep(
                    &mut best,
                    k,
                    Near(self.metric.distance(&query, slots.get(slot)), slot),
                );
            }
        }
        best.into_sorted_vec()
    }
}

/// Slots a filter's share is estimated from: enough to tell 10 % from 5 % or 20 %.
const SAMPLE: usize = 2_000;

impl Memory {
    /// About what share of the live records `filter` admits, from a sample of slots. The
    /// sample steps by the golden ratio (Fibonacci hashing) rather than evenly, so metadata
    /// that repeats with the slot number (every 100th record in one bucket) is not aliased.
    fn share(&self, filter: &Filter) -> f64 {
        let slots = self.ids.len() as u64;
        let (mut live, mut admitted) = (0usize, 0usize);
        for i in 0..(SAMPLE as u64).min(slots) {
            let slot = (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % slots) as usize;
            if self.alive[slot] {
                live += 1;
                admitted += usize::from(filter.matches(&self.metadata[slot]));
            }
        }
        admitted as f64 / live.max(1) as f64
    }
}

fn keep(best: &mut BinaryHeap<Near>, k: usize, hit: Near) {
    if best.len() < k {
        best.push(hit);
    } else if best.peek().is_some_and(|worst| hit < *worst) {
        best.pop();
        best.push(hit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn small() -> Tuning {
        Tuning {
            ann_threshold: 100,
            ..Tuning::default()
        }
    }

    fn meta(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn replaced_and_deleted_records_are_not_found() {
        let mut memory = Memory::new(Metric::Euclidean, 2, small());
        memory.upsert("a".into(), &[0.0, 0.0], meta(json!({"k": 1})));
        memory.upsert("b".into(), &[5.0, 5.0], meta(json!({"k": 2})));
        memory.upsert("a".into(), &[10.0, 10.0], meta(json!({"k": 3})));
        let hits = memory.search(&[0.0, 0.0], 5, None, false);
        let ids: Vec<&str> = hits.iter().map(|h| memory.id(h.1)).collect();
        assert_eq!(ids, ["b", "a"]);
        assert!(memory.delete("b"));
        assert!(!memory.delete("b"));
        assert_eq!(memory.len(), 1);
        let hits = memory.search(&[0.0, 0.0], 5, None, false);
        assert_eq!(memory.metadata(hits[0].1), &meta(json!({"k": 3})));
    }

    #[test]
    fn graph_tail_and_filters_agree_with_exact_search() {
        let mut memory = Memory::new(Metric::Cosine, 4, small());
        for i in 0..400u32 {
            let x = i as f32;
            memory.upsert(
                format!("v{i}"),
                &[x.sin(), x.cos(), (x * 0.3).sin(), 1.0],
                meta(json!({"even": i % 2 == 0, "i": i})),
            );
        }
        let mut visited = Visited::new(0);
        assert!(memory.needs_linking());
        memory.link_some(300, &mut visited);
        assert_eq!(memory.linked(), 300);
        let query = [0.3, 0.9, 0.1, 1.0];
        let exact = memory.search(&query, 10, None, true);
        let mixed = memory.search(&query, 10, None, false);
        let overlap = mixed.iter().filter(|h| exact.contains(h)).count();
        assert!(overlap >= 9, "{overlap}");
        let rare = Filter::parse(&json!({"i": {"$lt": 20}})).unwrap();
        let found = memory.search(&query, 50, Some(&rare), false);
        assert_eq!(found.len(), 20);
        let even = Filter::parse(&json!({"even": true})).unwrap();
        let found = memory.search(&query, 10, Some(&even), false);
        assert!(
            found
                .iter()
                .all(|h| memory.metadata(h.1)["even"] == json!(true))
        );
    }

    #[test]
    fn a_filters_share_is_estimated_without_aliasing_periodic_metadata() {
        let mut memory = Memory::new(Metric::Euclidean, 1, small());
        for i in 0..100_000u32 {
            memory.upsert(
                format!("{i}"),
                &[i as f32],
                meta(json!({"bucket": i % 100})),
            );
        }
        let five = Filter::parse(&json!({"bucket": {"$lt": 5}})).unwrap();
        let share = memory.share(&five);
        assert!((0.03..0.07).contains(&share), "{share}");
    }

    #[test]
    fn compaction_keeps_every_live_record() {
        let mut memory = Memory::new(Metric::Dotproduct, 1, small());
        for round in 0..3 {
            for i in 0..1_000 {
                memory.upsert(format!("{i}"), &[(i + round) as f32], Map::new());
            }
        }
        assert!(memory.needs_compaction());
        memory.compact();
        assert!(!memory.needs_compaction());
        assert_eq!(memory.len(), 1_000);
        let best = memory.search(&[1.0], 1, None, true);
        assert_eq!(memory.id(best[0].1), "999");
    }
}
