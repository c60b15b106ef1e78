//! Per-tenant and per-caller API rate limits: a caller over its limit gets 429 with
//! `Retry-After` and `RateLimit-*` headers while other callers go on; a platform administrator
//! sets a tenant's own limits, and the tenant's bucket then binds every caller in it.

mod common;

use common::{TestDb, TestServer, default_tenant, make_user, settings};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn callers_and_tenants_are_limited() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let mut s = settings(&db);
    s.http.rate_limit_per_second = 0;
    s.http.principal_rate_limit_per_second = 5;
    s.http.tenant_rate_limit_per_second = 0;
    s.auth.login_attempts_per_minute = 100;
    let server = TestServer::start(s).await;
    let t = default_tenant(&server).await;
    make_user(&server, &t, "busy@example.com", &["viewer"]).await;
    make_user(&server, &t, "calm@example.com", &["viewer"]).await;
    let (busy, _) = server
        .sign_in_as("default", "busy@example.com", common::PASSWORD)
        .await;
    let (calm, _) = server
        .sign_in_as("default", "calm@example.com", common::PASSWORD)
        .await;
    let me = server.url("/api/v1/auth/me");

    // A bucket of 5: the first five pass (with shrinking RateLimit-Remaining), the sixth waits.
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let r = busy.get(&me).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["ratelimit-limit"], "5");
        remaining.push(
            r.headers()["ratelimit-remaining"]
                .to_str()
                .unwrap()
                .parse::<u32>()
                .unwrap(),
        );
    }
    assert!(remaining.windows(2).all(|w| w[1] <= w[0]), "{remaining:?}");
    let r = busy.get(&me).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        r.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/rate-limited");
    // Another user of the same tenant is not affected.
    assert_eq!(calm.get(&me).send().await.unwrap().status(), StatusCode::OK);

    // A tenant's own limit: only a platform administrator sets it.
    let limits = server.url(&format!("/api/v1/tenants/{t}/limits"));
    let r = calm
        .put(&limits)
        .json(&json!({ "tenant_per_second": 1000 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = server
        .client
        .put(&limits)
        .json(&json!({ "tenant_per_second": 2, "principal_per_second": 0 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let stored: Value = server
        .get(&format!("/api/v1/tenants/{t}/limits"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        stored,
        json!({ "tenant_per_second": 2, "principal_per_second": 0 })
    );
    // The tenant bucket (2 a second) now binds everyone in the tenant together.
    let mut statuses = Vec::new();
    for client in [&calm, &calm, &calm, &busy] {
        statuses.push(client.get(&me).send().await.unwrap().status());
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // The administrator is in the tenant too: wait for the bucket to refill.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let trail: Value = server
        .get(&format!("/api/v1/tenants/{t}/audit?action=tenant.limits"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(trail["items"][0]["detail"]["tenant_per_second"], 2);
    server.stop().await;
}
