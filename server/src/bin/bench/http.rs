//! Authenticated `GET /api/v1/tenants/{id}/users` from concurrent loopback clients.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{Options, bench_settings, percentile};

pub async fn run(
    label: &str,
    database_url: &str,
    dir: &std::path::Path,
    options: &Options,
) -> Result<(), Box<dyn std::error::Error>> {
    let (base, token, server) = super::start(bench_settings(database_url, dir)).await?;
    let client = super::bearer(&token, options.concurrency)?;
    let tenant = seed(&client, &base, options.users).await?;
    let path = format!("{base}/api/v1/tenants/{tenant}/users?limit=50");

    // Warm up connections and caches, then measure.
    for _ in 0..50 {
        client.get(&path).send().await?.error_for_status()?;
    }
    let running = Arc::new(AtomicBool::new(true));
    let started = Instant::now();
    let workers: Vec<_> = (0..options.concurrency)
        .map(|_| {
            let (client, path, running) = (client.clone(), path.clone(), running.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(16_384);
                let mut errors = 0u64;
                while running.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let ok = match client.get(&path).send().await {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if ok {
                        latencies.push(t.elapsed());
                    } else {
                        errors += 1;
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(options.seconds)).await;
    running.store(false, Ordering::Relaxed);
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (l, e) = worker.await?;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| percentile(&latencies, p);
    println!(
        "{:<10} {:>10} {:>10.0} {:>10.2} {:>10.2} {:>8}",
        label,
        latencies.len(),
        latencies.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        errors
    );
    server.stop().await
}

/// A tenant with `users` users; returns its id.
async fn seed(
    client: &reqwest::Client,
    base: &str,
    users: usize,
) -> Result<String, Box<dyn std::error::Error>> {
    let tenant: serde_json::Value = client
        .post(format!("{base}/api/v1/tenants"))
        .json(&serde_json::json!({"slug": "bench", "name": "Bench"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = tenant["id"].as_str().ok_or("no tenant id")?.to_string();
    for i in 0..users {
        client
            .post(format!("{base}/api/v1/tenants/{id}/users"))
            .json(&serde_json::json!({"email": format!("user{i}@example.com"), "display_name": format!("User {i}")}))
            .send()
            .await?
            .error_for_status()?;
    }
    Ok(id)
}
