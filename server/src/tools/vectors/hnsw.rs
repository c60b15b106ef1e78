//! A hierarchical navigable small world graph (Malkov & Yashunin, "Efficient and robust
//! approximate nearest neighbor search using Hierarchical Navigable Small World graphs",
//! IEEE TPAMI 2020): the embedded backend's approximate index once an index outgrows exact
//! search.
//!
//! The graph holds links only; vectors stay in the index's slots ([`Slots`]) and node `i` is
//! slot `i`. Deleted slots stay in the graph as waypoints and are left out of results by the
//! caller's predicate; the owner rebuilds when too many are dead.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::metric::Metric;

/// Vectors by slot number, `dimension` floats each.
#[derive(Clone, Copy)]
pub struct Slots<'a> {
    pub data: &'a [f32],
    pub dimension: usize,
}

impl<'a> Slots<'a> {
    #[inline]
    pub fn get(&self, slot: u32) -> &'a [f32] {
        let start = slot as usize * self.dimension;
        &self.data[start..start + self.dimension]
    }

    pub fn len(&self) -> usize {
        self.data.len() / self.dimension.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// How the graph is built.
#[derive(Clone, Copy, Debug)]
pub struct Params {
    /// Links per node above the ground layer; twice this on the ground layer (the paper's
    /// `M` and `Mmax0 = 2M`).
    pub m: usize,
    /// Candidates kept while linking a new node (`efConstruction`).
    pub ef_construction: usize,
    /// Seeds the level draws, so one input builds one graph.
    pub seed: u64,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            m: 16,
            ef_construction: 128,
            seed: 0x5157_1cd7_a11d_0001,
        }
    }
}

/// A distance and a node, ordered by distance (ties by node, so orders are total).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Near(pub f32, pub u32);

impl Eq for Near {}
impl PartialOrd for Near {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Near {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

/// Which nodes a search has seen, cleared in O(1) by moving to a new epoch.
pub struct Visited {
    marks: Vec<u32>,
    epoch: u32,
}

impl Visited {
    pub fn new(nodes: usize) -> Self {
        Self {
            marks: vec![0; nodes],
            epoch: 0,
        }
    }

    fn start(&mut self, nodes: usize) {
        if self.marks.len() < nodes {
            self.marks.resize(nodes, 0);
        }
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.marks.fill(0);
            self.epoch = 1;
        }
    }

    /// Marks `node`; false if it was marked already.
    #[inline]
    fn visit(&mut self, node: u32) -> bool {
        let mark = &mut self.marks[node as usize];
        let fresh = *mark != self.epoch;
        *mark = self.epoch;
        fresh
    }
}

/// The graph.
pub struct Hnsw {
    params: Params,
    metric: Metric,
    /// Per node, per layer from the ground up, its neighbours.
    links: Vec<Vec<Vec<u32>>>,
    entry: Option<u32>,
    rng: u64,
}

/// Layers above this are never drawn (a node reaches layer 16 with probability 16^-16).
const MAX_LEVEL: usize = 16;

impl Hnsw {
    pub fn new(metric: Metric, params: Params) -> Self {
        Self {
            params,
            metric,
            links: Vec::new(),
            entry: None,
            rng: params.seed | 1,
        }
    }

    /// How many slots are linked: slots `0..len()`.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    fn top(&self) -> usize {
        self.entry.map_or(0, |e| self.links[e as usize].len() - 1)
    }

    /// A level with P(level ≥ l) = M^-l (the paper's mL = 1/ln M), from xorshift64*.
    fn draw_level(&mut self) -> usize {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let bits = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11;
        let uniform = (bits as f64 + 1.0) / (1u64 << 53) as f64;
        let level = -uniform.ln() / (self.params.m as f64).ln();
        (level as usize).min(MAX_LEVEL)
    }

    fn max_links(&self, layer: usize) -> usize {
        if layer == 0 {
            self.params.m * 2
        } else {
            self.params.m
        }
    }

    /// Links the next slot (`len()`), whose vector is in `slots` (the paper's Algorithm 1).
    pub fn insert(&mut self, slots: Slots<'_>, visited: &mut Visited) {
        let node = self.links.len() as u32;
        let query = slots.get(node);
        let level = self.draw_level();
        self.links.push(vec![Vec::new(); level + 1]);
        let Some(entry) = self.entry else {
            self.entry = Some(node);
            return;
        };
        let top = self.top();
        let mut nearest = vec![Near(self.metric.distance(query, slots.get(entry)), entry)];
        for layer in (level + 1..=top).rev() {
            nearest = self.search_layer(slots, query, &nearest, 1, layer, visited, None);
        }
        for layer in (0..=level.min(top)).rev() {
            let found = self.search_layer(
                slots,
                query,
                &nearest,
                self.params.ef_construction,
                layer,
                visited,
                None,
            );
            let chosen = self.select(slots, &found, self.params.m);
            for &Near(_, neighbour) in &chosen {
                self.link(slots, neighbour, node, layer);
            }
            self.links[node as usize][layer] = chosen.iter().map(|n| n.1).collect();
            nearest = found;
        }
        if level > top {
            self.entry = Some(node);
        }
    }

    /// Adds `node` to `to`'s links on `layer`, pruning them back to size when full.
    fn link(&mut self, slots: Slots<'_>, to: u32, node: u32, layer: usize) {
        let max = self.max_links(layer);
        let links = &mut self.links[to as usize][layer];
        links.push(node);
        if links.len() <= max {
            return;
        }
        let base = slots.get(to);
        let mut candidates: Vec<Near> = links
            .iter()
            .map(|&n| Near(self.metric.distance(base, slots.get(n)), n))
            .collect();
        candidates.sort_unstable();
        let kept = self.select(slots, &candidates, max);
        self.links[to as usize][layer] = kept.iter().map(|n| n.1).collect();
    }

    /// The paper's neighbour-selection heuristic (Algorithm 4): a candidate is kept only if
    /// it is nearer the base than to every neighbour kept before it, so links spread in all
    /// directions instead of bunching in one cluster. `candidates` are sorted nearest first.
    fn select(&self, slots: Slots<'_>, candidates: &[Near], max: usize) -> Vec<Near> {
        let mut kept: Vec<Near> = Vec::with_capacity(max);
        for &candidate in candidates {
            if kept.len() == max {
                break;
            }
            let vector = slots.get(candidate.1);
            let diverse = kept
                .iter()
                .all(|k| self.metric.distance(vector, slots.get(k.1)) > candidate.0);
            if diverse {
                kept.push(candidate);
            }
        }
        kept
    }

    /// The `k` nodes nearest `query` among those `allowed` admits, nearest first, searching
    /// the ground layer with `ef` candidates (the paper's Algorithm 5).
    pub fn search(
        &self,
        slots: Slots<'_>,
        query: &[f32],
        k: usize,
        ef: usize,
        allowed: &dyn Fn(u32) -> bool,
    ) -> Vec<Near> {
        let Some(entry) = self.entry else {
            return Vec::new();
        };
        let mut visited = Visited::new(self.len());
        let mut nearest = vec![Near(self.metric.distance(query, slots.get(entry)), entry)];
        for layer in (1..=self.top()).rev() {
            nearest = self.search_layer(slots, query, &nearest, 1, layer, &mut visited, None);
        }
        let mut found = self.search_layer(
            slots,
            query,
            &nearest,
            ef.max(k),
            0,
            &mut visited,
            Some(allowed),
        );
        found.truncate(k);
        found
    }

    /// The `ef` nodes nearest `query` on `layer` reachable from `entries` (Algorithm 2),
    /// sorted nearest first. With `allowed`, every node is walked through but only those it
    /// admits are returned.
    #[allow(clippy::too_many_arguments)]
    fn search_layer(
        &self,
        slots: Slots<'_>,
        query: &[f32],
        entries: &[Near],
        ef: usize,
        layer: usize,
        visited: &mut Visited,
        allowed: Option<&dyn Fn(u32) -> bool>,
    ) -> Vec<Near> {
        visited.start(self.len());
        let admits = |node: u32| allowed.is_none_or(|f| f(node));
        // Nearest first, as a min-heap of the frontier; the results as a max-heap.
        let mut frontier: BinaryHeap<std::cmp::Reverse<Near>> = BinaryHeap::new();
        let mut results: BinaryHeap<Near> = BinaryHeap::new();
        for &entry in entries {
            visited.visit(entry.1);
            frontier.push(std::cmp::Reverse(entry));
            if admits(entry.1) {
                results.push(entry);
            }
        }
        while let Some(std::cmp::Reverse(current)) = frontier.pop() {
            if results.len() >= ef && results.peek().is_some_and(|worst| current.0 > worst.0) {
                break;
            }
            let Some(neighbours) = self.links[current.1 as usize].get(layer) else {
                continue;
            };
            for &neighbour in neighbours {
                if !visited.visit(neighbour) {
                    continue;
                }
                let distance = self.metric.distance(query, slots.get(neighbour));
                let worst = results.peek().map_or(f32::INFINITY, |w| w.0);
                if results.len() < ef || distance < worst {
                    frontier.push(std::cmp::Reverse(Near(distance, neighbour)));
                    if admits(neighbour) {
                        results.push(Near(distance, neighbour));
                        if results.len() > ef {
                            results.pop();
                        }
                    }
                }
            }
        }
        results.into_sorted_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_vectors(count: usize, dimension: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..count * dimension)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    fn exact(slots: Slots<'_>, metric: Metric, query: &[f32], k: usize) -> Vec<u32> {
        let mut all: Vec<Near> = (0..slots.len() as u32)
            .map(|i| Near(metric.distance(query, slots.get(i)), i))
            .collect();
        all.sort_unstable();
        all.into_iter().take(k).map(|n| n.1).collect()
    }

    #[test]
    fn finds_what_exact_search_finds_on_most_queries() {
        let (count, dimension) = (3_000, 16);
        let data = random_vectors(count, dimension, 7);
        let slots = Slots {
            data: &data,
            dimension,
        };
        for metric in Metric::ALL {
            let mut graph = Hnsw::new(metric, Params::default());
            let mut visited = Visited::new(count);
            for _ in 0..count {
                graph.insert(slots, &mut visited);
            }
            let queries = random_vectors(50, dimension, 99);
            let mut hits = 0;
            for q in queries.chunks_exact(dimension) {
                let truth = exact(slots, metric, q, 10);
                let found = graph.search(slots, q, 10, 64, &|_| true);
                hits += found.iter().filter(|n| truth.contains(&n.1)).count();
            }
            let recall = hits as f64 / 500.0;
            assert!(recall > 0.9, "{metric:?}: recall@10 {recall}");
        }
    }

    #[test]
    fn a_predicate_keeps_other_nodes_out_of_the_results() {
        let (count, dimension) = (1_000, 8);
        let data = random_vectors(count, dimension, 3);
        let slots = Slots {
            data: &data,
            dimension,
        };
        let mut graph = Hnsw::new(Metric::Euclidean, Params::default());
        let mut visited = Visited::new(count);
        for _ in 0..count {
            graph.insert(slots, &mut visited);
        }
        let found = graph.search(slots, slots.get(10), 5, 50, &|n| n % 2 == 1);
        assert_eq!(found.len(), 5);
        assert!(found.iter().all(|n| n.1 % 2 == 1));
        // Its own slot is the nearest when allowed.
        assert_eq!(
            graph.search(slots, slots.get(10), 1, 50, &|_| true)[0].1,
            10
        );
    }

    #[test]
    fn an_empty_graph_finds_nothing() {
        let graph = Hnsw::new(Metric::Cosine, Params::default());
        let slots = Slots {
            data: &[],
            dimension: 4,
        };
        assert!(
            graph
                .search(slots, &[1.0, 0.0, 0.0, 0.0], 3, 10, &|_| true)
                .is_empty()
        );
    }
}
