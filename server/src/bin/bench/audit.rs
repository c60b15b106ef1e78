//! Audit search latency over a large trail. The records are written in bulk straight into the
//! table (with the chain head advanced to match) rather than through the chained append, which
//! would take far longer and is not what is measured; their hashes are therefore not a valid
//! chain. Searches go through the HTTP API, as the console and clients make them.

use std::time::{Duration, Instant};

use sqlx::Connection;
use uuid::Uuid;

use super::{bench_settings, percentile};

const ACTIONS: [&str; 10] = [
    "tool.call",
    "tool.call",
    "tool.call",
    "tool.call",
    "auth.login",
    "auth.login",
    "auth.token.refresh",
    "resource.read",
    "user.update",
    "auth.password.reset",
];

pub async fn run(
    label: &str,
    database_url: &str,
    dir: &std::path::Path,
    events: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let (base, token, server) = super::start(bench_settings(database_url, dir)).await?;
    let client = super::bearer(&token, 4)?;
    let me: serde_json::Value = client
        .get(format!("{base}/api/v1/auth/me"))
        .send()
        .await?
        .json()
        .await?;
    let tenant: Uuid = me["tenant_id"].as_str().unwrap_or_default().parse()?;
    let started = Instant::now();
    let span_days = fill(database_url, tenant, events).await?;
    eprintln!(
        "  ({label}: wrote {events} records in {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    let day = (chrono::Utc::now() - chrono::Duration::days(span_days / 2))
        .format("%Y-%m-%dT00:00:00Z")
        .to_string();
    let next_day = (chrono::Utc::now() - chrono::Duration::days(span_days / 2 - 1))
        .format("%Y-%m-%dT00:00:00Z")
        .to_string();
    let queries = [
        ("newest page", String::new()),
        (
            "action = tool.call (common)",
            "action=tool.call".to_string(),
        ),
        (
            "action = auth.password.reset (rare)",
            "action=auth.password.reset".to_string(),
        ),
        (
            "actor = one of 1,000 users",
            "actor=user:u-0000000421".to_string(),
        ),
        ("outcome = denied (2 %)", "outcome=denied".to_string()),
        ("one day", format!("from={day}&to={next_day}")),
        ("free text, rare word", "q=quarterly-7777".to_string()),
    ];
    for (name, query) in queries {
        let url = format!("{base}/api/v1/tenants/{tenant}/audit?limit=50&{query}");
        let mut samples: Vec<Duration> = Vec::with_capacity(100);
        let mut rows = 0;
        for i in 0..105 {
            let t = Instant::now();
            let page: serde_json::Value = client
                .get(&url)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            if i >= 5 {
                samples.push(t.elapsed());
            }
            rows = page["items"].as_array().map_or(0, Vec::len);
        }
        samples.sort_unstable();
        println!(
            "{label:<10} {name:<34} {:>9.2} {:>9.2} {rows:>7}",
            percentile(&samples, 0.50),
            percentile(&samples, 0.95)
        );
    }
    server.stop().await
}

/// Writes `events` records for `tenant` over the last year, 1,000 per statement; returns the
/// span in days.
async fn fill(url: &str, tenant: Uuid, events: usize) -> Result<i64, Box<dyn std::error::Error>> {
    const SPAN_DAYS: i64 = 365;
    const BATCH: usize = 1000;
    let head: i64 = 1_000;
    let now = chrono::Utc::now();
    let step = chrono::Duration::days(SPAN_DAYS).num_milliseconds() / events.max(1) as i64;
    let sqlite = url.starts_with("sqlite:");
    // Literals as each driver stores them: SQLite keeps UUIDs as 16-byte blobs and times as
    // RFC 3339 text; PostgreSQL parses both from text.
    let uuid = |u: Uuid| {
        if sqlite {
            format!("x'{}'", u.simple())
        } else {
            format!("'{u}'")
        }
    };
    let hash = if sqlite { "x'00'" } else { "'\\x00'::bytea" };
    let mut statements = Vec::new();
    for start in (0..events).step_by(BATCH) {
        let mut sql = String::from(
            "INSERT INTO audit_events (id, tenant_id, seq, at, actor, action, target, outcome, rule, request_id, client_addr, detail, prev_hash, hash) VALUES ",
        );
        for i in start..(start + BATCH).min(events) {
            let seq = head + i as i64 + 1;
            let at = now - chrono::Duration::days(SPAN_DAYS)
                + chrono::Duration::milliseconds(step * i as i64);
            let outcome = match i % 50 {
                0 => "denied",
                1..=4 => "failure",
                _ => "success",
            };
            let word = if i % 100_000 == 7777 {
                "quarterly-7777"
            } else {
                "report"
            };
            if i > start {
                sql.push(',');
            }
            sql.push_str(&format!(
                "({}, {}, {seq}, '{}', 'user:u-{:010}', '{}', 'tool:upstream{}.tool', '{outcome}', NULL, 'req-{i}', '10.0.0.{}', '{{\"n\": {i}, \"file\": \"{word}.csv\"}}', {hash}, {hash})",
                uuid(Uuid::now_v7()),
                uuid(tenant),
                at.to_rfc3339_opts(chrono::SecondsFormat::Micros, false),
                i % 1000,
                ACTIONS[i % ACTIONS.len()],
                i % 50,
                i % 250,
            ));
        }
        statements.push(sql);
    }
    if sqlite {
        let mut conn = sqlx::SqliteConnection::connect(url).await?;
        // Existing records keep their places: the bulk starts after sequence 1,000.
        for sql in statements {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await?;
        }
        sqlx::query("ANALYZE").execute(&mut conn).await?;
        // The free-text index, as the server fills it behind its appends (store/audit_index),
        // before anything is timed.
        let store =
            switchyard::store::Store::open(&switchyard::config::Secret::new(url.to_owned()), 1)
                .await?;
        store.catch_up_audit_index().await?;
        store.close().await;
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        for sql in statements {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await?;
        }
        sqlx::query("ANALYZE audit_events")
            .execute(&mut conn)
            .await?;
    }
    Ok(SPAN_DAYS)
}
