//! Guessing passwords: the sixth attempt a minute on one account, and an address spraying many
//! accounts, are refused with 429 and audited.

mod common;

use common::{TestDb, TestServer, default_tenant, make_user, post, settings};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Brute force with the default limits: the sixth attempt in a minute is refused and audited,
/// whether or not the account exists.
#[tokio::test]
async fn brute_force_is_throttled_and_audited() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let mut s = settings(&db);
    s.http.rate_limit_per_second = 0;
    let server = TestServer::start(s).await;
    let tenant = default_tenant(&server).await;
    make_user(&server, &tenant, "target@example.com", &["member"]).await;
    for email in ["target@example.com", "nobody@example.com"] {
        for n in 1..=6 {
            let r = post(&server.anon, server.url("/api/v1/auth/token"), json!({ "tenant": "default", "email": email, "password": format!("guess number {n}") })).await;
            let expected = if n <= 5 {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::TOO_MANY_REQUESTS
            };
            assert_eq!(r.status(), expected, "{email} attempt {n}");
            if n == 6 {
                assert!(r.headers().contains_key("retry-after"));
            }
        }
    }
    let denied: Value = server
        .get(&format!(
            "/api/v1/tenants/{tenant}/audit?action=auth.login&outcome=denied"
        ))
        .await
        .json()
        .await
        .unwrap();
    let rules: Vec<&str> = denied["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["rule"].as_str())
        .collect();
    assert_eq!(rules, ["login-throttle", "login-throttle"]);
    let failures: Value = server
        .get(&format!(
            "/api/v1/tenants/{tenant}/audit?action=auth.login&outcome=failure&limit=200"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(failures["items"].as_array().unwrap().len(), 10);
    server.stop().await;
}

/// One address trying many accounts is throttled too: ten accounts' worth of attempts a
/// minute, before any password is hashed.
#[tokio::test]
async fn one_address_cannot_spray_many_accounts() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let mut s = settings(&db);
    s.http.rate_limit_per_second = 0;
    s.auth.login_attempts_per_minute = 1;
    let server = TestServer::start(s).await;
    // Sent at once, so that the bucket's refill (one attempt every 6 s) cannot blur the count
    // on a slow machine: the check comes before any hashing.
    let attempts = (0..15).map(|n| {
        post(
            &server.anon,
            server.url("/api/v1/auth/token"),
            json!({ "tenant": "default", "email": format!("user{n}@example.com"), "password": "guess" }),
        )
    });
    let statuses: Vec<u16> = futures::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    let wrong = statuses.iter().filter(|s| **s == 401).count();
    // The administrator's own sign-in at start took one of the ten.
    assert_eq!(refused + wrong, 15, "{statuses:?}");
    assert!(wrong <= 10 && refused >= 5, "{statuses:?}");
    server.stop().await;
}
