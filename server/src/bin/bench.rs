//! `switchyard-bench`: drives `GET /api/v1/tenants/{id}/users` (authenticated with a bearer
//! JWT) with concurrent clients over loopback and prints requests/s and latency percentiles,
//! on SQLite and, when `DATABASE_URL` is set, on a fresh PostgreSQL database; then the cost
//! of verifying one access token. The server runs in this process (the same `serve`
//! the binary runs) with rate limiting off; client and server share the machine's cores, so
//! compare the backends with each other rather than reading the figures as a ceiling.
//!
//!   cargo run --release -p server --bin switchyard-bench -- [--seconds 10] [--concurrency 32] [--users 200]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::Connection;
use switchyard::config::{Secret, Settings};

struct Options {
    seconds: u64,
    concurrency: usize,
    users: usize,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        seconds: 10,
        concurrency: 32,
        users: 200,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        let number = value
            .parse::<u64>()
            .map_err(|_| format!("{arg}: `{value}` is not a number"))?;
        match arg.as_str() {
            "--seconds" => o.seconds = number.max(1),
            "--concurrency" => o.concurrency = number.max(1) as usize,
            "--users" => o.users = number.max(1) as usize,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let options = options()?;
    println!(
        "GET /api/v1/tenants/{{id}}/users?limit=50 · {} clients · {} s · {} users in the tenant",
        options.concurrency, options.seconds, options.users
    );
    println!(
        "{:<10} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "database", "requests", "req/s", "p50 ms", "p99 ms", "errors"
    );

    let dir = tempfile_dir()?;
    let sqlite = format!("sqlite://{}/bench.db", dir.display());
    run("sqlite", &sqlite, &dir, &options).await?;

    if let Ok(admin_url) = std::env::var("DATABASE_URL") {
        let name = format!("switchyard_bench_{}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(&admin_url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        let base = admin_url.split('?').next().unwrap_or(&admin_url);
        let url = format!("{}/{name}", &base[..base.rfind('/').unwrap_or(base.len())]);
        let result = run("postgres", &url, &dir, &options).await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
        )))
        .execute(&mut conn)
        .await?;
        result?;
    } else {
        println!("(set DATABASE_URL to a PostgreSQL server to measure PostgreSQL too)");
    }
    token_verification(&sqlite, &dir).await?;
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("switchyard-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn bench_settings(database_url: &str, dir: &std::path::Path) -> Settings {
    let mut settings = Settings {
        data_dir: dir.to_path_buf(),
        ..Default::default()
    };
    settings.database.url = Secret::new(database_url);
    settings.auth.login_attempts_per_minute = 1000;
    settings
}

/// µs per access-token verification: signature and claims alone, and with the revocation
/// lookup in `kv` that every request also makes.
async fn token_verification(
    database_url: &str,
    dir: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    use switchyard::identity::Login;
    let mut settings = bench_settings(database_url, dir);
    settings.bootstrap.admin_password = Secret::new("bench-admin-password");
    let state = switchyard::AppState::open(settings).await?;
    let login = Login {
        tenant: "default",
        email: "admin@localhost",
        password: Secret::new("bench-admin-password"),
        mfa_code: None,
    };
    let signed_in = state.identity.sign_in(login, &Default::default()).await?;
    let token = state
        .identity
        .start_family(&signed_in.principal)
        .await?
        .access_token;
    const N: u32 = 20_000;
    println!("\naccess-token verification (ES256), {N} times:");
    let started = Instant::now();
    for _ in 0..N {
        state.identity.verify_claims(&token).await?;
    }
    let claims_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(N);
    let started = Instant::now();
    for _ in 0..N {
        state.identity.verify_access(&token).await?;
    }
    let full_us = started.elapsed().as_secs_f64() * 1e6 / f64::from(N);
    println!("  signature + claims            {claims_us:>8.1} µs");
    println!("  + revocation check (in-process kv) {full_us:>3.1} µs");
    Ok(())
}

async fn run(
    label: &str,
    database_url: &str,
    dir: &std::path::Path,
    options: &Options,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut settings = bench_settings(database_url, dir);
    settings.database.max_connections = 16;
    settings.http.rate_limit_per_second = 0;
    settings.bootstrap.admin_password = Secret::new("bench-admin-password");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(switchyard::serve(settings, listener, async {
        let _ = stopped.await;
    }));

    let token: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/token"))
        .json(&serde_json::json!({"tenant": "default", "email": "admin@localhost", "password": "bench-admin-password"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!(
            "Bearer {}",
            token["access_token"].as_str().unwrap_or_default()
        )
        .parse()?,
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .default_headers(headers)
        .build()?;
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
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1000.0
    };
    println!(
        "{:<10} {:>10} {:>10.0} {:>10.2} {:>10.2} {:>8}",
        label,
        latencies.len(),
        latencies.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        errors
    );
    let _ = stop.send(());
    server.await??;
    Ok(())
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
