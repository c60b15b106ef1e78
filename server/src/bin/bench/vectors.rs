//! The vectors server's embedded index: recall@10 and queries/s of the HNSW graph against
//! exact search, on random vectors (the hard case for a graph: no clusters to follow).
//! Everything runs on one thread, in this process, without the database or MCP around it.

use std::time::Instant;

use serde_json::{Map, json};
use switchyard::tools::vectors::filter::Filter;
use switchyard::tools::vectors::hnsw::Visited;
use switchyard::tools::vectors::memory::{Memory, Tuning};
use switchyard::tools::vectors::metric::Metric;

const DIMENSION: usize = 384;
const QUERIES: usize = 1_000;
const K: usize = 10;

/// xorshift64*: uniform floats in [-1, 1), the same for every run.
struct Random(u64);

impl Random {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
        (bits as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    fn vector(&mut self) -> Vec<f32> {
        (0..DIMENSION).map(|_| self.next()).collect()
    }
}

pub fn run(count: usize) {
    let tuning = Tuning {
        ann_threshold: 1,
        ..Tuning::default()
    };
    println!(
        "\nvectors: {count} random {DIMENSION}-dim vectors, cosine, {QUERIES} queries, top {K}, one thread \
         (HNSW M={}, efConstruction={})",
        tuning.graph.m, tuning.graph.ef_construction
    );
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let mut memory = Memory::new(Metric::Cosine, DIMENSION, tuning);
    for i in 0..count {
        let mut metadata = Map::new();
        metadata.insert("bucket".into(), json!(i % 100));
        memory.upsert(format!("v{i}"), &random.vector(), metadata);
    }
    let started = Instant::now();
    let mut visited = Visited::new(count);
    while memory.link_some(count, &mut visited) > 0 {}
    let build = started.elapsed().as_secs_f64();
    println!(
        "graph built in {build:.1} s ({:.0} vectors/s)",
        count as f64 / build
    );
    let queries: Vec<Vec<f32>> = (0..QUERIES).map(|_| random.vector()).collect();

    let (truth, exact_secs) = timed(&queries, |q| memory.search(q, K, None, true));
    println!(
        "{:<34} {:>10} {:>10} {:>10} {:>9}",
        "search", "recall@10", "queries/s", "p50 µs", "× exact"
    );
    let exact_qps = QUERIES as f64 / exact_secs.iter().sum::<f64>();
    row("exact (every vector)", 1.0, &exact_secs, exact_qps);
    for ef in [32, 64, 128, 256, 512] {
        memory.set_ef_search(ef);
        let (found, secs) = timed(&queries, |q| memory.search(q, K, None, false));
        let label = format!("HNSW ef={ef}");
        row(&label, recall(&truth, &found), &secs, exact_qps);
    }
    // Filters: one admitting half the records walks the graph; one admitting 5 % is answered
    // by exact search over what it admits.
    memory.set_ef_search(Tuning::default().ef_search);
    for (label, filter) in [
        (
            "HNSW ef=128, filter admits 50 %",
            json!({"bucket": {"$lt": 50}}),
        ),
        ("filter admits 5 % (exact)", json!({"bucket": {"$lt": 5}})),
    ] {
        let filter = Filter::parse(&filter).expect("a valid filter");
        let (truth, _) = timed(&queries, |q| memory.search(q, K, Some(&filter), true));
        let (found, secs) = timed(&queries, |q| memory.search(q, K, Some(&filter), false));
        row(label, recall(&truth, &found), &secs, exact_qps);
    }
}

type Hits = Vec<Vec<u32>>;

fn timed(
    queries: &[Vec<f32>],
    search: impl Fn(&[f32]) -> Vec<switchyard::tools::vectors::memory::Hit>,
) -> (Hits, Vec<f64>) {
    let mut found = Vec::with_capacity(queries.len());
    let mut secs = Vec::with_capacity(queries.len());
    for q in queries {
        let started = Instant::now();
        let hits = search(q);
        secs.push(started.elapsed().as_secs_f64());
        found.push(hits.into_iter().map(|h| h.1).collect());
    }
    (found, secs)
}

fn recall(truth: &Hits, found: &Hits) -> f64 {
    let hits: usize = truth
        .iter()
        .zip(found)
        .map(|(t, f)| f.iter().filter(|id| t.contains(id)).count())
        .sum();
    let total: usize = truth.iter().map(Vec::len).sum();
    hits as f64 / total.max(1) as f64
}

fn row(label: &str, recall: f64, secs: &[f64], exact_qps: f64) {
    let mut sorted = secs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let qps = secs.len() as f64 / secs.iter().sum::<f64>();
    println!(
        "{label:<34} {recall:>10.3} {qps:>10.0} {:>10.0} {:>9.1}",
        sorted[sorted.len() / 2] * 1e6,
        qps / exact_qps
    );
}
