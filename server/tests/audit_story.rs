//! The audit trail on every backend: admin actions recorded with request id and client
//! address, search filters and paging, JSON/CSV export, and the hash chain catching a
//! modified, a removed and a truncated record — through the API and the CLI.

mod common;

use common::{TestDb, TestServer, backends, execute_sql, settings};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn audit(server: &TestServer, tenant: &str, query: &str) -> Value {
    let response = server
        .get(&format!("/api/v1/tenants/{tenant}/audit{query}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    response.json().await.unwrap()
}

async fn verify(server: &TestServer, tenant: &str) -> Value {
    server
        .get(&format!("/api/v1/tenants/{tenant}/audit/verify"))
        .await
        .json()
        .await
        .unwrap()
}

fn actions(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap().to_string())
        .collect()
}

/// `switchyard audit verify` against `url`; returns (success, stdout).
fn cli_verify(url: &str) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["audit", "verify"])
        .env_clear()
        .env("SWITCHYARD_DATABASE__URL", url)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string(),
    )
}

#[tokio::test]
async fn audit_story_on_every_backend() {
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        let mut s = settings(&db);
        s.http.rate_limit_per_second = 0;
        let server = TestServer::start(s).await;

        // First run is on the default tenant's record.
        let default = server
            .get("/api/v1/tenants")
            .await
            .json::<Value>()
            .await
            .unwrap()["items"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let first = audit(&server, &default, "?actor=system:first-run").await;
        assert_eq!(actions(&first), ["user.create", "tenant.create"]);
        assert_eq!(first["items"][1]["actor"], "system:first-run");

        let me: Value = server.get("/api/v1/auth/me").await.json().await.unwrap();
        let admin = format!("user:{}", me["user_id"].as_str().unwrap());
        // Admin actions, each with its actor, request id and client address.
        let response = server
            .client
            .post(server.url("/api/v1/tenants"))
            .header("x-request-id", "create-acme")
            .json(&json!({"slug": "acme", "name": "Acme"}))
            .send()
            .await
            .unwrap();
        let acme = response.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        server
            .client
            .patch(server.url(&format!("/api/v1/tenants/{acme}")))
            .json(&json!({"name": "Acme Inc"}))
            .send()
            .await
            .unwrap();
        let user: Value = server
            .client
            .post(server.url(&format!("/api/v1/tenants/{acme}/users")))
            .json(&json!({"email": "ada@example.com", "display_name": "Ada"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let user_id = user["id"].as_str().unwrap();
        server
            .client
            .patch(server.url(&format!("/api/v1/tenants/{acme}/users/{user_id}")))
            .json(&json!({"disabled": true}))
            .send()
            .await
            .unwrap();
        server
            .client
            .delete(server.url(&format!("/api/v1/tenants/{acme}/users/{user_id}")))
            .send()
            .await
            .unwrap();
        // A refused request leaves no record.
        let refused = server
            .client
            .post(server.url("/api/v1/tenants"))
            .json(&json!({"slug": "acme", "name": "Again"}))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::CONFLICT);

        let all = audit(&server, &acme, "").await;
        assert_eq!(
            actions(&all),
            [
                "user.delete",
                "user.update",
                "user.create",
                "tenant.update",
                "tenant.create"
            ]
        );
        let seqs: Vec<i64> = all["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(seqs, [5, 4, 3, 2, 1]);
        let created = &all["items"][4];
        assert_eq!(
            (
                created["actor"].as_str(),
                created["request_id"].as_str(),
                created["client_addr"].as_str()
            ),
            (Some(admin.as_str()), Some("create-acme"), Some("127.0.0.1"))
        );
        assert_eq!(created["target"], format!("tenant:{acme}"));
        assert_eq!(all["items"][1]["detail"], json!({"disabled": true}));

        // Filters and paging.
        assert_eq!(
            actions(&audit(&server, &acme, "?action=user.update").await),
            ["user.update"]
        );
        assert_eq!(
            actions(&audit(&server, &acme, "?q=ADA%40example").await),
            ["user.create"]
        );
        // Free text is a literal, case-insensitive substring: short queries (below the
        // trigram index's three characters), wildcards and quotes are taken as typed.
        for (q, expected) in [
            ("%40e", vec!["user.create"]),
            ("a_a", vec![]),
            ("ada%25", vec![]),
            ("%22ada%40", vec!["user.create"]),
            ("%22example", vec![]),
            ("Inc%22%22", vec![]),
            ("ACME%20INC", vec!["tenant.update"]),
        ] {
            let found = audit(&server, &acme, &format!("?q={q}")).await;
            assert_eq!(actions(&found), expected, "q={q}");
        }
        assert_eq!(
            audit(&server, &acme, "?outcome=denied").await["items"]
                .as_array()
                .unwrap()
                .len(),
            0
        );
        assert_eq!(
            audit(&server, &acme, &format!("?actor={admin}")).await["items"]
                .as_array()
                .unwrap()
                .len(),
            5
        );
        assert_eq!(
            audit(
                &server,
                &acme,
                "?from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z"
            )
            .await["items"]
                .as_array()
                .unwrap()
                .len(),
            5
        );
        assert_eq!(
            audit(&server, &acme, "?from=2100-01-01T00:00:00Z").await["items"]
                .as_array()
                .unwrap()
                .len(),
            0
        );
        let page = audit(&server, &acme, "?limit=2").await;
        assert_eq!(page["next_cursor"], 4);
        let page = audit(&server, &acme, "?limit=2&cursor=4").await;
        assert_eq!(actions(&page), ["user.create", "tenant.update"]);
        for bad in [
            "?outcome=maybe",
            "?from=yesterday",
            "?from=2030-01-01T00:00:00Z&to=2020-01-01T00:00:00Z",
            "?limit=0",
            "?format=csv",
            "?colour=red",
        ] {
            let response = server
                .get(&format!("/api/v1/tenants/{acme}/audit{bad}"))
                .await;
            assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(
                response.headers()["content-type"],
                "application/problem+json"
            );
        }

        // Export.
        let response = server
            .get(&format!(
                "/api/v1/tenants/{acme}/audit/export?action=user.create"
            ))
            .await;
        assert_eq!(response.headers()["content-type"], "application/json");
        assert!(
            response.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains(".json")
        );
        let exported: Vec<Value> = response.json().await.unwrap();
        assert_eq!(exported.len(), 1);
        let csv = server
            .text(&format!("/api/v1/tenants/{acme}/audit/export?format=csv"))
            .await;
        let lines: Vec<&str> = csv.trim_end().split("\r\n").collect();
        assert_eq!(lines.len(), 6, "{csv}");
        assert!(lines[0].starts_with("seq,at,actor,action,target,outcome"));
        assert!(
            lines[5].starts_with("1,") && lines[5].contains(",tenant.create,"),
            "{csv}"
        );
        let response = server
            .get(&format!("/api/v1/tenants/{acme}/audit/export?format=xml"))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);

        // Concurrent appends never fork the chain.
        let patches = (0..20).map(|i| {
            server
                .client
                .patch(server.url(&format!("/api/v1/tenants/{acme}")))
                .json(&json!({"name": format!("Acme {i}")}))
                .send()
        });
        for response in futures::future::join_all(patches).await {
            assert_eq!(response.unwrap().status(), StatusCode::OK);
        }
        let v = verify(&server, &acme).await;
        assert_eq!(
            (v["intact"].as_bool(), v["checked"].as_i64()),
            (Some(true), Some(25)),
            "{v}"
        );
        assert!(cli_verify(&db.url).0);

        // Tampering: a modified record...
        assert_eq!(
            execute_sql(
                &db.url,
                "UPDATE audit_events SET actor = 'mallory' WHERE seq = 3 AND action = 'user.create'"
            )
            .await,
            1,
            "only acme's chain has user.create third"
        );
        let v = verify(&server, &acme).await;
        assert_eq!(
            (
                v["intact"].as_bool(),
                v["broken_at"].as_i64(),
                v["reason"].as_str()
            ),
            (Some(false), Some(3), Some("record modified")),
            "{v}"
        );
        let (ok, out) = cli_verify(&db.url);
        assert!(
            !ok && out.contains("TAMPERING DETECTED") && out.contains("BROKEN at record 3"),
            "{out}"
        );
        // ...a removed one...
        execute_sql(
            &db.url,
            "DELETE FROM audit_events WHERE seq = 2 AND action = 'tenant.update'",
        )
        .await;
        let v = verify(&server, &acme).await;
        assert_eq!(
            (v["broken_at"].as_i64(), v["reason"].as_str()),
            (Some(2), Some("record missing")),
            "{v}"
        );
        // ...and a truncated tail, on the untouched default tenant.
        let v = verify(&server, &default).await;
        assert_eq!(v["intact"], true, "{v}");
        execute_sql(
            &db.url,
            "DELETE FROM audit_events WHERE tenant_id IN \
             (SELECT tenant_id FROM audit_events WHERE actor = 'system:first-run') \
             AND seq = (SELECT MAX(seq) FROM audit_events a WHERE a.tenant_id = audit_events.tenant_id)",
        )
        .await;
        let v = verify(&server, &default).await;
        assert_eq!(
            (v["intact"].as_bool(), v["reason"].as_str()),
            (
                Some(false),
                Some("newest records missing (chain head mismatch)")
            ),
            "{v}"
        );

        // The trail outlives its tenant.
        server
            .client
            .delete(server.url(&format!("/api/v1/tenants/{acme}")))
            .send()
            .await
            .unwrap();
        let (_, out) = cli_verify(&db.url);
        assert!(out.contains(&acme), "{out}");
        server.stop().await;
        db.drop_db().await;
    }
}

/// Group commit: many concurrent appends to several tenants' chains, some of whose callers
/// give up before their commit, leave every chain intact and every record in it — the writer,
/// not the caller, owns a record once it is queued.
#[tokio::test]
async fn concurrent_appends_are_group_committed_without_loss() {
    use switchyard::audit::{self, Origin, Outcome};
    use switchyard::store::Store;

    for backend in backends() {
        let db = TestDb::create(&backend).await;
        let url = switchyard::config::Secret::new(db.url.clone());
        let store = Store::open(&url, 8).await.unwrap();
        let tenants: Vec<app::api::Tenant> = futures::future::join_all((0..3).map(|i| {
            let store = store.clone();
            async move {
                let new = app::api::NewTenant {
                    slug: format!("chain-{i}"),
                    name: format!("Chain {i}"),
                };
                store.create_tenant(&new).await.unwrap()
            }
        }))
        .await;
        let appends = (0..300).map(|i| {
            let (store, tenant) = (store.clone(), tenants[i % 3].id);
            async move {
                let event = Origin::default()
                    .event("tester", "test.append", Outcome::Success)
                    .target(format!("n:{i}"));
                let record = audit::record(&store, tenant, event);
                if i % 10 == 0 {
                    // Polled exactly once (the record is queued), then dropped, nearly
                    // always before its commit. `unconstrained`: a spent coop budget must not
                    // keep that one poll from queueing it. (A zero `timeout` is not one poll:
                    // tokio rounds its deadline up to the next millisecond tick.) SQLite's
                    // writer is a thread of its own, which can commit within that one poll:
                    // then the record is answered, and must have landed like any other.
                    use futures::FutureExt;
                    let polled = tokio::task::unconstrained(record).now_or_never();
                    if let Some(answered) = polled {
                        answered.unwrap();
                    }
                } else {
                    record.await.unwrap();
                }
            }
        });
        futures::future::join_all(appends).await;
        // Those callers' records land all the same: wait for the writer to drain.
        for tenant in &tenants {
            let scope = store.scope(tenant.id).await.unwrap();
            let mut verified = audit::verify(&store, &scope).await.unwrap();
            for _ in 0..50 {
                if verified.checked == 100 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                verified = audit::verify(&store, &scope).await.unwrap();
            }
            assert!(verified.intact, "{verified:?}");
            assert_eq!(
                verified.checked, 100,
                "{}: every append is in the chain",
                tenant.slug
            );
        }
        store.close().await;
        db.drop_db().await;
    }
}

/// Two writers on one database (two processes; on SQLite the writer appends after the head
/// it last committed, checking that it still is the head): appends that alternate between
/// them make one intact chain with every record in it, numbered without a gap.
#[tokio::test]
async fn writers_sharing_a_database_keep_one_chain() {
    use switchyard::audit::{self, Origin, Outcome};
    use switchyard::store::Store;

    for backend in backends() {
        let db = TestDb::create(&backend).await;
        let url = switchyard::config::Secret::new(db.url.clone());
        let (one, two) = (
            Store::open(&url, 4).await.unwrap(),
            Store::open(&url, 4).await.unwrap(),
        );
        let new = app::api::NewTenant {
            slug: "shared".into(),
            name: "Shared".into(),
        };
        let tenant = one.create_tenant(&new).await.unwrap().id;
        for i in 0..20 {
            let store = if i % 3 == 0 { &two } else { &one };
            let event = Origin::default()
                .event("tester", "test.append", Outcome::Success)
                .target(format!("n:{i}"));
            let record = audit::record(store, tenant, event).await.unwrap();
            assert_eq!(record.seq, i as i64 + 1, "{backend:?}: append {i}");
        }
        let scope = one.scope(tenant).await.unwrap();
        let verified = audit::verify(&one, &scope).await.unwrap();
        assert!(verified.intact, "{verified:?}");
        assert_eq!(verified.checked, 20);
        one.close().await;
        two.close().await;
        db.drop_db().await;
    }
}

/// Copies `tenant`'s record 2 as a record 3 the chain's head does not know of, behind the
/// store's back (a stray row: a bug, a restore gone wrong, tampering).
async fn insert_stray_record(url: &str, tenant: uuid::Uuid) {
    use sqlx::Connection;
    const COPY: &str = "INSERT INTO audit_events (id, tenant_id, seq, at, actor, action, target, \
         outcome, rule, request_id, client_addr, detail, prev_hash, hash) \
         SELECT $1, tenant_id, 3, at, actor, action, 'stray', outcome, rule, request_id, \
         client_addr, detail, hash, hash FROM audit_events WHERE tenant_id = $2 AND seq = 2";
    let copied = if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        let query = sqlx::query(COPY).bind(uuid::Uuid::new_v4()).bind(tenant);
        query.execute(&mut conn).await.unwrap().rows_affected()
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let query = sqlx::query(COPY).bind(uuid::Uuid::new_v4()).bind(tenant);
        query.execute(&mut conn).await.unwrap().rows_affected()
    };
    assert_eq!(copied, 1);
}

/// An append that fails inside its transaction (here a stray record already holds the next
/// number) fails alone and leaves nothing behind: no transaction lingers on a pooled
/// connection holding the write lock, so another tenant's appends commit at once, this
/// tenant's commit once the stray row is gone, and a store opened afresh finds them all.
#[tokio::test]
async fn a_failed_append_leaves_the_store_writable() {
    use std::time::Duration;
    use switchyard::audit::{self, Origin, Outcome};
    use switchyard::store::Store;

    let event = |n: usize| {
        Origin::default()
            .event("tester", "test.append", Outcome::Success)
            .target(format!("n:{n}"))
    };
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        let url = switchyard::config::Secret::new(db.url.clone());
        let store = Store::open(&url, 4).await.unwrap();
        let mut tenants = Vec::new();
        for slug in ["stray", "bystander"] {
            let new = app::api::NewTenant {
                slug: slug.into(),
                name: slug.into(),
            };
            tenants.push(store.create_tenant(&new).await.unwrap().id);
        }
        let (stray, bystander) = (tenants[0], tenants[1]);
        // Two appends: the second goes after the head the writer remembers.
        for n in 1..=2 {
            audit::record(&store, stray, event(n)).await.unwrap();
        }
        insert_stray_record(&db.url, stray).await;
        let refused = audit::record(&store, stray, event(3)).await;
        assert!(
            refused.is_err(),
            "{backend:?}: appended over a stray record"
        );

        let quickly = Duration::from_secs(2);
        for n in 1..=5 {
            let appended =
                tokio::time::timeout(quickly, audit::record(&store, bystander, event(n)))
                    .await
                    .unwrap_or_else(|_| panic!("{backend:?}: another tenant's append {n} waited"));
            assert_eq!(appended.unwrap().seq, n as i64, "{backend:?}");
        }
        execute_sql(&db.url, "DELETE FROM audit_events WHERE target = 'stray'").await;
        let appended = tokio::time::timeout(quickly, audit::record(&store, stray, event(3)))
            .await
            .unwrap_or_else(|_| panic!("{backend:?}: the append after the repair waited"));
        assert_eq!(appended.unwrap().seq, 3, "{backend:?}");
        store.close().await;

        let fresh = Store::open(&url, 4).await.unwrap();
        for (tenant, count) in [(stray, 3), (bystander, 5)] {
            let scope = fresh.scope(tenant).await.unwrap();
            let verified = audit::verify(&fresh, &scope).await.unwrap();
            assert!(verified.intact, "{backend:?}: {verified:?}");
            assert_eq!(verified.checked, count, "{backend:?}");
        }
        fresh.close().await;
        db.drop_db().await;
    }
}
