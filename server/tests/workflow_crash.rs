//! Crash recovery: a `switchyard` process is killed with SIGKILL in the middle of a long run,
//! another is started on the same database (and Redis, when set), and the run finishes from
//! its last checkpoint with no step lost and none applied twice. SQLite, and PostgreSQL when
//! `DATABASE_URL` is set.

mod common;

use std::time::Duration;

use common::TestDb;
use common::replica::Replica;
use serde_json::{Value, json};

const LIMIT: i64 = 1500;

async fn run_of(client: &reqwest::Client, base: &str, t: &str, run: &str) -> Value {
    common::get_json(client, &format!("{base}/api/v1/tenants/{t}/runs/{run}")).await
}

#[tokio::test]
async fn a_run_killed_mid_way_resumes_on_the_next_process_without_loss_or_repeat() {
    for backend in common::backends() {
        let db = TestDb::create(&backend).await;
        let redis = if matches!(backend, common::Backend::Postgres(_)) {
            common::redis_url().unwrap_or_default()
        } else {
            String::new()
        };
        let prefix = format!("switchyard-test:{}:", uuid::Uuid::new_v4().simple());
        // A dead replica's lease lapses after 2 s; the next sweeps every second.
        let env = [
            ("SWITCHYARD_ENGINE__LEASE_SECS", "2"),
            ("SWITCHYARD_ENGINE__SWEEP_SECS", "1"),
        ];
        let mut first = Replica::start(&db.url, &redis, &prefix, db._dir.path(), &env).await;
        let (client, t, _) = first.admin().await;
        let definition = json!({
            "state": {
                "count": { "type": "integer", "reducer": "sum" },
                "finished": { "type": "boolean", "default": false }
            },
            "start": "inc",
            "max_steps": 100_000,
            "nodes": {
                "inc": { "kind": "transform", "set": { "count": "1" }, "next": "check" },
                "check": { "kind": "condition", "routes": [{ "when": format!("state.count >= {LIMIT}"), "to": "done" }], "otherwise": "inc" },
                "done": { "kind": "transform", "set": { "finished": "true" } }
            }
        });
        let url = format!("{}/api/v1/tenants/{t}/workflows", first.base);
        let created: Value = common::post(
            &client,
            url,
            json!({ "name": "long", "definition": definition }),
        )
        .await
        .json()
        .await
        .unwrap();
        let wf = created["id"].as_str().unwrap();
        let url = format!("{}/api/v1/tenants/{t}/workflows/{wf}/runs", first.base);
        let run: Value = common::post(&client, url, json!({}))
            .await
            .json()
            .await
            .unwrap();
        let run = run["id"].as_str().unwrap().to_owned();

        // Kill it once it is well under way.
        let mut killed_at = 0;
        for _ in 0..3000 {
            let body = run_of(&client, &first.base, &t, &run).await;
            assert_eq!(
                body["status"], "running",
                "the run ended before the kill: {body}"
            );
            killed_at = body["step"].as_i64().unwrap();
            if killed_at >= 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(killed_at >= 200, "the run did not get under way");
        first.child.kill().unwrap(); // SIGKILL
        first.child.wait().unwrap();
        drop(first);

        let second = Replica::start(&db.url, &redis, &prefix, db._dir.path(), &env).await;
        let (client, _, _) = second.admin().await;
        let mut done = Value::Null;
        for _ in 0..1200 {
            done = run_of(&client, &second.base, &t, &run).await;
            if done["status"] != "running" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(done["status"], "succeeded", "{done}");
        assert_eq!(
            done["state"]["count"], LIMIT,
            "every inc applied exactly once"
        );
        assert_eq!(done["state"]["finished"], true);

        // Every step has one checkpoint, and each holds the count its step implies; read in
        // pages of 1,000.
        let mut items: Vec<Value> = Vec::new();
        loop {
            let after = items.last().map_or(-1, |c| c["step"].as_i64().unwrap());
            let url = format!(
                "{}/api/v1/tenants/{t}/runs/{run}/checkpoints?after={after}&limit=1000",
                second.base
            );
            let page = common::get_json(&client, &url).await;
            items.extend(page["items"].as_array().unwrap().iter().cloned());
            if page["more"] != true {
                break;
            }
        }
        let steps = 2 * LIMIT + 1;
        assert_eq!(items.len() as i64, steps + 1);
        for (i, c) in items.iter().enumerate() {
            let step = i as i64;
            assert_eq!(c["step"], step);
            let (ran, count) = match step {
                0 => (json!([]), 0),
                s if s == steps => (json!(["done"]), LIMIT),
                s if s % 2 == 1 => (json!(["inc"]), (s + 1) / 2),
                s => (json!(["check"]), s / 2),
            };
            assert_eq!(
                (&c["ran"], &c["state"]["count"]),
                (&ran, &json!(count)),
                "step {step}"
            );
        }
        let metrics = reqwest::get(format!("{}/metrics", second.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("workflow_runs_total{how=\"resumed\"} 1"),
            "{metrics}"
        );
        drop(second);
        db.drop_db().await;
    }
}
