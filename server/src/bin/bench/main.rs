//! `switchyard-bench`: the figures the issues ask for, on SQLite and, when `DATABASE_URL` is
//! set, on a fresh PostgreSQL database.
//!
//! - `http`: authenticated `GET /api/v1/tenants/{id}/users` from concurrent loopback clients
//!   (requests/s, p50/p99). The server runs in this process with rate limiting off; client
//!   and server share the machine's cores, so compare backends rather than read a ceiling.
//! - `tokens`: µs per access-token verification.
//! - `policy`: ns per tool-policy decision over 1,000 rules.
//! - `audit`: audit search latency (p50/p95) over `--events` records (default 1,000,000).
//! - `mcp`: `tools/call` direct to an upstream vs through the gateway at 1/16/64 clients, and
//!   the memory per open MCP session over `--sessions` sessions (default 10,000).
//!
//! - `workflow`: a 10-node linear workflow of transform nodes, a durable checkpoint per step:
//!   per-step overhead one run at a time, runs/s with 16 starting at once (`--runs`, at
//!   most 200), and the memory 1,000 runs paused at an approval hold.
//!
//! - `vectors`: recall@10 and queries/s of the vectors server's HNSW index against exact
//!   search over `--vectors` random 384-dim vectors (default 100,000), and the graph's build
//!   time.
//!
//! With no mode named, all seven run. Usage:
//!
//! ```text
//! cargo run --release -p server --bin switchyard-bench -- [http|tokens|policy|audit|mcp|workflow|vectors]...
//!     [--seconds 10] [--concurrency 32] [--users 200] [--events 1000000] [--sessions 10000] [--runs 200]
//!     [--vectors 100000]
//! ```

mod audit;
mod http;
mod mcp;
mod policy;
mod tokens;
mod vectors;
mod workflow;

use std::time::Duration;

use sqlx::Connection;
use switchyard::config::{Secret, Settings};

pub struct Options {
    modes: Vec<String>,
    seconds: u64,
    concurrency: usize,
    users: usize,
    events: usize,
    sessions: usize,
    runs: usize,
    vectors: usize,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        modes: Vec::new(),
        seconds: 10,
        concurrency: 32,
        users: 200,
        events: 1_000_000,
        sessions: 10_000,
        runs: 200,
        vectors: 100_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if matches!(
            arg.as_str(),
            "http" | "tokens" | "policy" | "audit" | "mcp" | "workflow" | "vectors"
        ) {
            o.modes.push(arg);
            continue;
        }
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        let number = value
            .parse::<u64>()
            .map_err(|_| format!("{arg}: `{value}` is not a number"))?;
        match arg.as_str() {
            "--seconds" => o.seconds = number.max(1),
            "--concurrency" => o.concurrency = number.max(1) as usize,
            "--users" => o.users = number.max(1) as usize,
            "--events" => o.events = number.max(1) as usize,
            "--sessions" => o.sessions = number.max(1) as usize,
            "--runs" => o.runs = number.max(1) as usize,
            "--vectors" => o.vectors = number.max(100) as usize,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if o.modes.is_empty() {
        o.modes = [
            "http", "tokens", "policy", "audit", "mcp", "workflow", "vectors",
        ]
        .map(String::from)
        .to_vec();
    }
    Ok(o)
}

/// The allocator the `switchyard` binary runs with (its `main.rs` says why), so that the
/// figures are the server's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let options = options()?;
    let dir = std::env::temp_dir().join(format!("switchyard-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run_modes(&options, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run_modes(
    options: &Options,
    dir: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    for mode in &options.modes {
        match mode.as_str() {
            "http" => {
                println!(
                    "GET /api/v1/tenants/{{id}}/users?limit=50 · {} clients · {} s · {} users in the tenant",
                    options.concurrency, options.seconds, options.users
                );
                println!(
                    "{:<10} {:>10} {:>10} {:>10} {:>10} {:>8}",
                    "database", "requests", "req/s", "p50 ms", "p99 ms", "errors"
                );
                on_each_database(dir, "http", |label, url, dir| {
                    Box::pin(async move { http::run(label, &url, dir, options).await })
                })
                .await?;
            }
            "tokens" => {
                let url = format!("sqlite://{}/tokens.db", dir.display());
                tokens::token_verification(&url, dir).await?;
            }
            "policy" => policy::run(),
            "vectors" => {
                let count = options.vectors;
                tokio::task::spawn_blocking(move || vectors::run(count)).await?;
            }
            "audit" => {
                println!(
                    "\naudit search over {} records (one tenant), 100 requests per query:",
                    options.events
                );
                println!(
                    "{:<10} {:<34} {:>9} {:>9} {:>7}",
                    "database", "query", "p50 ms", "p95 ms", "rows"
                );
                on_each_database(dir, "audit", |label, url, dir| {
                    Box::pin(async move { audit::run(label, &url, dir, options.events).await })
                })
                .await?;
            }
            "mcp" => {
                println!(
                    "\ntools/call (stateless 2026-07-28 POSTs) · {} s per row · upstream: rmcp server in-process",
                    options.seconds
                );
                println!(
                    "{:<10} {:<8} {:>7} {:>10} {:>9} {:>9} {:>7}",
                    "database", "path", "clients", "calls/s", "p50 ms", "p99 ms", "errors"
                );
                on_each_database(dir, "mcp", |label, url, dir| {
                    Box::pin(async move { mcp::run(label, &url, dir, options).await })
                })
                .await?;
            }
            "workflow" => {
                println!(
                    "\nworkflow: {} transform nodes in a line, a durable checkpoint per step",
                    10
                );
                println!(
                    "{:<10} {:>25} {:>25} {:>23}",
                    "", "ms/step, step to step", "ms/step, whole run", "16 runs at once"
                );
                println!(
                    "{:<10} {:>12} {:>12} {:>12} {:>12} {:>10} {:>12}",
                    "database", "p50", "min", "p50", "min", "runs/s", "ms/step"
                );
                on_each_database(dir, "workflow", |label, url, dir| {
                    Box::pin(async move { workflow::run(label, &url, dir, options.runs).await })
                })
                .await?;
            }
            _ => unreachable!("modes are checked when parsed"),
        }
    }
    Ok(())
}

type BenchFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<(), Box<dyn std::error::Error>>> + 'a>,
>;

/// Runs `bench` on a fresh SQLite file, then on a fresh PostgreSQL database when
/// `DATABASE_URL` is set (dropped afterwards).
async fn on_each_database<'a>(
    dir: &'a std::path::Path,
    name: &str,
    bench: impl Fn(&'a str, String, &'a std::path::Path) -> BenchFuture<'a>,
) -> Result<(), Box<dyn std::error::Error>> {
    let sqlite = format!("sqlite://{}/{name}.db", dir.display());
    bench("sqlite", sqlite, dir).await?;
    let Ok(admin_url) = std::env::var("DATABASE_URL") else {
        println!("(set DATABASE_URL to a PostgreSQL server to measure PostgreSQL too)");
        return Ok(());
    };
    let db = format!("switchyard_bench_{name}_{}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(&admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}")))
        .execute(&mut conn)
        .await?;
    let base = admin_url.split('?').next().unwrap_or(&admin_url);
    let url = format!("{}/{db}", &base[..base.rfind('/').unwrap_or(base.len())]);
    let result = bench("postgres", url, dir).await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await?;
    result
}

/// Settings for a server under benchmark: rate limits off, a known admin password.
pub fn bench_settings(database_url: &str, dir: &std::path::Path) -> Settings {
    let mut settings = Settings {
        data_dir: dir.to_path_buf(),
        ..Default::default()
    };
    settings.database.url = Secret::new(database_url);
    settings.database.max_connections = 16;
    settings.http.rate_limit_per_second = 0;
    settings.http.tenant_rate_limit_per_second = 0;
    settings.http.principal_rate_limit_per_second = 0;
    settings.auth.login_attempts_per_minute = 1000;
    settings.bootstrap.admin_password = Secret::new(ADMIN_PASSWORD);
    // The tenant holds what each bench registers, as the figures of earlier stops assumed.
    settings.tools.builtin_for_new_tenants = Vec::new();
    settings
}

pub const ADMIN_PASSWORD: &str = "bench-admin-password";

/// The `p` quantile of sorted `samples`, in milliseconds.
pub fn percentile(samples: &[Duration], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let i = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
    samples[i].as_secs_f64() * 1000.0
}

/// Starts the server on `settings`; returns its base URL, a bearer token of the bootstrap
/// administrator, and the handle to stop it.
pub async fn start(
    settings: Settings,
) -> Result<(String, String, Server), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(switchyard::serve(settings, listener, async {
        let _ = stopped.await;
    }));
    let token: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/token"))
        .json(&serde_json::json!({"tenant": "default", "email": "admin@localhost", "password": ADMIN_PASSWORD}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = token["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    Ok((base, token, Server { stop, task }))
}

pub struct Server {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), switchyard::ServeError>>,
}

impl Server {
    pub async fn stop(self) -> Result<(), Box<dyn std::error::Error>> {
        let _ = self.stop.send(());
        self.task.await??;
        Ok(())
    }
}

/// A client sending `Authorization: Bearer <token>`.
pub fn bearer(token: &str, pool: usize) -> Result<reqwest::Client, Box<dyn std::error::Error>> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse()?,
    );
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(pool)
        .default_headers(headers)
        .build()?)
}
