//! The workflow engine: a 10-node linear workflow of cheap transform nodes, each step a
//! durable checkpoint, run one at a time (per-step overhead) and many at once (runs/s); then
//! 1,000 runs paused at an approval, with the memory they hold.
//!
//! Times come from the runs' own records, so polling for the end costs the figures nothing.
//! On SQLite a checkpoint's `created_at` and a run's `finished_at` are stamped in the
//! transaction that commits them (`store::step_writer`), so they tell when a step was durable:
//! - per step, step to step: a run's time from its first step's commit to its last one's,
//!   over the steps between — a step's whole cycle (routing, the node, its events, its
//!   durable commit) without the run's start;
//! - per step, whole run: from `created_at` when the run was stored to `finished_at` in its
//!   last step's commit, over its steps, so the start (lease, executor) shared among them;
//! - a long run: one run of 10,000 steps (a counter and a condition in a loop), whole run.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::bench_settings;
use super::mcp::rss_kib;

const NODES: usize = 10;

fn linear() -> Value {
    let mut nodes = serde_json::Map::new();
    for i in 0..NODES {
        let mut node =
            json!({ "kind": "transform", "set": { "count": "1", "last": format!("'n{i}'") } });
        if i + 1 < NODES {
            node["next"] = json!(format!("n{}", i + 1));
        }
        nodes.insert(format!("n{i}"), node);
    }
    json!({
        "state": {
            "count": { "type": "integer", "reducer": "sum" },
            "last": { "type": "string" }
        },
        "start": "n0",
        "nodes": nodes
    })
}

/// Steps of the long run: a counter and a condition, each half of them.
const LONG_STEPS: usize = 10_000;

fn long() -> Value {
    json!({
        "state": { "count": { "type": "integer", "reducer": "sum" } },
        "start": "inc",
        "max_steps": LONG_STEPS + 10,
        "nodes": {
            "inc": { "kind": "transform", "set": { "count": "1" }, "next": "check" },
            "check": {
                "kind": "condition",
                "routes": [{ "when": format!("state.count < {}", LONG_STEPS / 2), "to": "inc" }]
            }
        }
    })
}

fn paused() -> Value {
    json!({
        "state": { "decision": { "type": "object" }, "note": { "type": "string" } },
        "start": "prepare",
        "nodes": {
            "prepare": { "kind": "transform", "set": { "note": "'ready'" }, "next": "ask" },
            "ask": { "kind": "approval", "prompt": "Go on?", "output": "decision" }
        }
    })
}

async fn create(
    client: &reqwest::Client,
    base: &str,
    t: &str,
    name: &str,
    definition: Value,
) -> Result<String, Box<dyn std::error::Error>> {
    let created: Value = client
        .post(format!("{base}/api/v1/tenants/{t}/workflows"))
        .json(&json!({ "name": name, "definition": definition }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(created["id"].as_str().unwrap_or_default().to_owned())
}

/// Starts `count` runs of `workflow`, `parallel` requests at a time.
async fn start_runs(
    client: &reqwest::Client,
    url: &str,
    count: usize,
    parallel: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut started = 0;
    while started < count {
        let batch = parallel.min(count - started);
        let requests = (0..batch).map(|_| client.post(url).json(&json!({})).send());
        for response in futures::future::join_all(requests).await {
            response?.error_for_status()?;
        }
        started += batch;
    }
    Ok(())
}

/// Waits until no run of `workflow` is `running`; the runs in `status`.
async fn settle(
    client: &reqwest::Client,
    base: &str,
    t: &str,
    workflow: &str,
    status: &str,
    want: usize,
) -> Result<Vec<Value>, Box<dyn std::error::Error>> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let mut all = Vec::new();
        // The list is newest first and at most 200 a page: page by status until done.
        let page: Value = client
            .get(format!(
                "{base}/api/v1/tenants/{t}/runs?status=running&workflow_id={workflow}&limit=1"
            ))
            .send()
            .await?
            .json()
            .await?;
        if page["items"].as_array().is_some_and(Vec::is_empty) {
            let page: Value = client
                .get(format!("{base}/api/v1/tenants/{t}/runs?status={status}&workflow_id={workflow}&limit=200"))
                .send()
                .await?
                .json()
                .await?;
            all.extend(page["items"].as_array().cloned().unwrap_or_default());
            if all.len() >= want.min(200) {
                return Ok(all);
            }
        }
        if Instant::now() > deadline {
            return Err("runs did not settle in 10 minutes".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn seconds(run: &Value, key: &str) -> f64 {
    run[key]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map_or(f64::NAN, |t| t.timestamp_micros() as f64 / 1e6)
}

/// The milliseconds per step from a run's first step's commit to its last one's (step 0 is
/// stored with the run).
async fn step_cycle(
    client: &reqwest::Client,
    base: &str,
    t: &str,
    run: &Value,
) -> Result<Option<f64>, Box<dyn std::error::Error>> {
    let id = run["id"].as_str().unwrap_or_default();
    let list: Value = client
        .get(format!("{base}/api/v1/tenants/{t}/runs/{id}/checkpoints"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut at: Vec<(i64, f64)> = (list["items"].as_array().into_iter().flatten())
        .filter(|c| c["step"].as_i64().is_some_and(|s| s >= 1))
        .map(|c| (c["step"].as_i64().unwrap_or(0), seconds(c, "created_at")))
        .collect();
    at.sort_by_key(|(step, _)| *step);
    Ok(match (at.first(), at.last()) {
        (Some(first), Some(last)) if at.len() > 1 => {
            Some((last.1 - first.1) * 1000.0 / (at.len() - 1) as f64)
        }
        _ => None,
    })
}

/// The median and the least of `figures` (NaN when there are none).
fn median_and_best(figures: &mut [f64]) -> (f64, f64) {
    figures.sort_by(f64::total_cmp);
    match figures.first() {
        Some(best) => (figures[figures.len() / 2], *best),
        None => (f64::NAN, f64::NAN),
    }
}

pub async fn run(
    label: &str,
    database_url: &str,
    dir: &std::path::Path,
    runs: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let (base, token, server) = super::start(bench_settings(database_url, dir)).await?;
    let client = super::bearer(&token, 32)?;
    let me: Value = client
        .get(format!("{base}/api/v1/auth/me"))
        .send()
        .await?
        .json()
        .await?;
    let t = me["tenant_id"].as_str().unwrap_or_default().to_owned();
    let wf = create(&client, &base, &t, "linear", linear()).await?;
    let url = format!("{base}/api/v1/tenants/{t}/workflows/{wf}/runs");

    // One at a time: a step's cycle, and a run's wall time over its steps.
    let mut per_step = Vec::new();
    let mut cycles = Vec::new();
    for _ in 0..runs.min(200) {
        start_runs(&client, &url, 1, 1).await?;
        let done = settle(&client, &base, &t, &wf, "succeeded", 1).await?;
        let run = &done[0];
        per_step.push(
            (seconds(run, "finished_at") - seconds(run, "created_at")) / NODES as f64 * 1000.0,
        );
        cycles.extend(step_cycle(&client, &base, &t, run).await?);
    }
    let (p50, best) = median_and_best(&mut per_step);
    let (cycle_p50, cycle_best) = median_and_best(&mut cycles);

    // Many at once: runs/s from the first stored to the last finished.
    let runs = runs.clamp(1, 200);
    let wf_many = create(&client, &base, &t, "linear-many", linear()).await?;
    let url_many = format!("{base}/api/v1/tenants/{t}/workflows/{wf_many}/runs");
    start_runs(&client, &url_many, runs, 16).await?;
    let done = settle(&client, &base, &t, &wf_many, "succeeded", runs).await?;
    let first = done
        .iter()
        .map(|r| seconds(r, "created_at"))
        .fold(f64::INFINITY, f64::min);
    let last = done
        .iter()
        .map(|r| seconds(r, "finished_at"))
        .fold(0.0, f64::max);
    let rate = done.len() as f64 / (last - first);
    println!(
        "{label:<10} {:>12.3} {:>12.3} {:>12.3} {:>12.3} {:>10.0} {:>12.3}",
        cycle_p50,
        cycle_best,
        p50,
        best,
        rate,
        1000.0 / (rate * NODES as f64)
    );

    // One long run: a step's cost once the start is shared by 10,000.
    let wf_long = create(&client, &base, &t, "long", long()).await?;
    let url_long = format!("{base}/api/v1/tenants/{t}/workflows/{wf_long}/runs");
    start_runs(&client, &url_long, 1, 1).await?;
    let done = settle(&client, &base, &t, &wf_long, "succeeded", 1).await?;
    let run = &done[0];
    println!(
        "{label:<10} one run of {LONG_STEPS} steps: {:.4} ms per step, {:.0} steps/s",
        (seconds(run, "finished_at") - seconds(run, "created_at")) * 1000.0 / LONG_STEPS as f64,
        LONG_STEPS as f64 / (seconds(run, "finished_at") - seconds(run, "created_at")),
    );

    // 1,000 runs paused at an approval: what they hold.
    let before = rss_kib().await;
    let wf_paused = create(&client, &base, &t, "paused", paused()).await?;
    let url_paused = format!("{base}/api/v1/tenants/{t}/workflows/{wf_paused}/runs");
    start_runs(&client, &url_paused, 1000, 16).await?;
    settle(&client, &base, &t, &wf_paused, "waiting", 1000).await?;
    let after = rss_kib().await;
    println!(
        "{label:<10} 1,000 runs paused at an approval: RSS {} MiB before, {} MiB after ({:+} KiB, {:.1} KiB per run)",
        before / 1024,
        after / 1024,
        after as i64 - before as i64,
        (after as f64 - before as f64) / 1000.0
    );
    server.stop().await
}
