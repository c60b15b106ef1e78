//! Accounts end to end over HTTP on every backend: TOTP with replay protection and recovery
//! codes, brute-force throttling and lockout, console sessions with CSRF, API keys, and no
//! escalation. Tokens are in `token_story.rs`; the cross-tenant suite in `cross_tenant.rs`.

mod common;

use common::{
    ADMIN_PASSWORD, PASSWORD, TestDb, TestServer, backends, bearer_client, default_tenant,
    make_user, post, settings, status,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn identity_story_on_every_backend() {
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        let mut s = settings(&db);
        s.http.rate_limit_per_second = 0;
        s.auth.login_attempts_per_minute = 100;
        s.auth.lockout_after_failures = 3;
        let server = TestServer::start(s).await;
        let tenant = default_tenant(&server).await;
        totp_with_replay_protection(&server, &tenant).await;
        lockout_and_unlock(&server, &tenant).await;
        sessions_and_csrf(&server, &tenant).await;
        api_keys_and_no_escalation(&server, &tenant).await;
        mfa_required_by_role(&server, &tenant).await;
        server.stop().await;
        db.drop_db().await;
    }
}

/// The signing key's id and PKCS#8 document, read behind the server's back.
fn totp_code(secret: &str, at: u64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret).unwrap();
    totp_rs::Builder::new()
        .with_secret(secret.as_ref().to_vec())
        .build_noncompliant()
        .generate(at)
        .to_string()
}

async fn totp_with_replay_protection(server: &TestServer, tenant: &str) {
    make_user(server, tenant, "mfa@example.com", &["member"]).await;
    let (client, _) = server
        .sign_in_as("default", "mfa@example.com", PASSWORD)
        .await;
    let enrolment: Value = post(&client, server.url("/api/v1/auth/mfa/totp"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let secret = enrolment["secret"].as_str().unwrap();
    assert!(
        enrolment["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    assert!(enrolment["qr_svg"].as_str().unwrap().starts_with("<svg"));
    let now = chrono::Utc::now().timestamp() as u64;
    let wrong = post(
        &client,
        server.url("/api/v1/auth/mfa/totp/confirm"),
        json!({ "code": "000000" }),
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let code = totp_code(secret, now);
    let codes: Value = post(
        &client,
        server.url("/api/v1/auth/mfa/totp/confirm"),
        json!({ "code": code }),
    )
    .await
    .json()
    .await
    .unwrap();
    let recovery: Vec<String> = serde_json::from_value(codes["recovery_codes"].clone()).unwrap();
    assert_eq!(recovery.len(), 10);

    let attempt = |mfa: Option<String>| {
        let mut body =
            json!({ "tenant": "default", "email": "mfa@example.com", "password": PASSWORD });
        if let Some(code) = mfa {
            body["mfa_code"] = json!(code);
        }
        post(&server.anon, server.url("/api/v1/auth/token"), body)
    };
    let no_code = attempt(None).await;
    assert_eq!(no_code.status(), StatusCode::UNAUTHORIZED);
    let problem: Value = no_code.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/mfa-required");
    // The code used to confirm cannot sign in: its step was spent.
    assert_eq!(
        attempt(Some(code.clone())).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The next step's code works once (±1 step window), and not twice.
    let next = totp_code(secret, now + 30);
    assert_eq!(attempt(Some(next.clone())).await.status(), StatusCode::OK);
    assert_eq!(attempt(Some(next)).await.status(), StatusCode::UNAUTHORIZED);
    // A recovery code works once.
    assert_eq!(
        attempt(Some(recovery[0].to_uppercase())).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        attempt(Some(recovery[0].clone())).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The audit trail has the MFA events.
    let failures: Value = server
        .get(&format!(
            "/api/v1/tenants/{tenant}/audit?action=auth.login&outcome=failure"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        failures["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["rule"] == "mfa")
    );
    // Clear the failures this story caused, so later stories start clean.
    let users: Value = server
        .get(&format!("/api/v1/tenants/{tenant}/users?q=mfa@"))
        .await
        .json()
        .await
        .unwrap();
    let id = users["items"][0]["id"].as_str().unwrap();
    server
        .client
        .post(server.url(&format!("/api/v1/tenants/{tenant}/users/{id}/unlock")))
        .send()
        .await
        .unwrap();
}

async fn lockout_and_unlock(server: &TestServer, tenant: &str) {
    let id = make_user(server, tenant, "locked@example.com", &["viewer"]).await;
    let attempt = |password: &str| {
        post(
            &server.anon,
            server.url("/api/v1/auth/token"),
            json!({ "tenant": "default", "email": "locked@example.com", "password": password }),
        )
    };
    for _ in 0..3 {
        assert_eq!(
            attempt("wrong password!!").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    // Locked after three failures: even the right password waits.
    let locked = attempt(PASSWORD).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        locked.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    // The lock and the roles show on the user.
    let user: Value = server
        .get(&format!("/api/v1/tenants/{tenant}/users/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(user["locked_until"].is_string(), "{user}");
    assert_eq!(user["roles"], json!(["viewer"]));
    let r = server
        .client
        .post(server.url(&format!("/api/v1/tenants/{tenant}/users/{id}/unlock")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(attempt(PASSWORD).await.status(), StatusCode::OK);
    let listed: Value = server
        .get(&format!("/api/v1/tenants/{tenant}/users?q=locked@"))
        .await
        .json()
        .await
        .unwrap();
    assert!(listed["items"][0]["locked_until"].is_null(), "{listed}");
    assert_eq!(listed["items"][0]["roles"], json!(["viewer"]));
    let denied: Value = server
        .get(&format!(
            "/api/v1/tenants/{tenant}/audit?action=auth.login&outcome=denied"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        denied["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["rule"] == "account-locked")
    );
}

async fn sessions_and_csrf(server: &TestServer, tenant: &str) {
    make_user(server, tenant, "console@example.com", &["tenant_admin"]).await;
    let signed_in = post(
        &server.anon,
        server.url("/api/v1/auth/session"),
        json!({ "tenant": "default", "email": "console@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let cookies: Vec<String> = signed_in
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("__Host-switchyard_session="))
        .expect("session cookie");
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(attribute), "{session} lacks {attribute}");
    }
    let me: Value = signed_in.json().await.unwrap();
    assert_eq!(me["authenticated_by"], "session");
    let csrf = me["csrf_token"].as_str().unwrap().to_string();
    // The client keeps no cookie jar: send the two cookies by hand, as a browser would.
    let cookie_header = cookies
        .iter()
        .map(|c| c.split(';').next().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("; ");
    let with_cookie = |csrf: Option<&str>| {
        let mut request = server
            .anon
            .post(server.url(&format!("/api/v1/tenants/{tenant}/users")))
            .header("cookie", &cookie_header)
            .json(&json!({ "email": format!("u{}@example.com", uuid::Uuid::new_v4().simple()), "display_name": "x" }));
        if let Some(token) = csrf {
            request = request.header("x-csrf-token", token);
        }
        request.send()
    };
    assert_eq!(
        with_cookie(None).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        with_cookie(Some("forged")).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        with_cookie(Some(&csrf)).await.unwrap().status(),
        StatusCode::CREATED
    );
    let cross_origin = server
        .anon
        .post(server.url(&format!("/api/v1/tenants/{tenant}/users")))
        .header("cookie", &cookie_header)
        .header("x-csrf-token", &csrf)
        .header("origin", "https://evil.example")
        .json(&json!({ "email": "evil@example.com", "display_name": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(cross_origin.status(), StatusCode::FORBIDDEN);
    let read = server
        .anon
        .get(server.url("/api/v1/auth/me"))
        .header("cookie", &cookie_header)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);

    // Sign out everywhere ends this session.
    let out = server
        .anon
        .post(server.url("/api/v1/auth/sign-out-everywhere"))
        .header("cookie", &cookie_header)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let read = server
        .anon
        .get(server.url("/api/v1/auth/me"))
        .header("cookie", &cookie_header)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::UNAUTHORIZED);
}

async fn api_keys_and_no_escalation(server: &TestServer, tenant: &str) {
    let viewer_id = make_user(server, tenant, "viewer@example.com", &["viewer"]).await;
    let (viewer, _) = server
        .sign_in_as("default", "viewer@example.com", PASSWORD)
        .await;
    // A viewer cannot mint a key with rights it lacks, nor assign roles, nor write users.
    let r = post(
        &viewer,
        server.url("/api/v1/auth/api-keys"),
        json!({ "name": "up", "permissions": ["users:write"] }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = viewer
        .put(server.url(&format!("/api/v1/tenants/{tenant}/users/{viewer_id}/roles")))
        .json(&json!({ "roles": ["tenant_admin"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = post(
        &viewer,
        server.url(&format!("/api/v1/tenants/{tenant}/users")),
        json!({ "email": "x@example.com", "display_name": "x" }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let me: Value = viewer
        .get(server.url("/api/v1/auth/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["roles"], json!(["viewer"]));

    // A tenant admin cannot take over the platform administrator's account.
    make_user(server, tenant, "tadmin@example.com", &["tenant_admin"]).await;
    let (tadmin, _) = server
        .sign_in_as("default", "tadmin@example.com", PASSWORD)
        .await;
    let admin: Value = server.get("/api/v1/auth/me").await.json().await.unwrap();
    let r = post(
        &tadmin,
        server.url(&format!(
            "/api/v1/tenants/{tenant}/users/{}/password",
            admin["user_id"].as_str().unwrap()
        )),
        json!({ "new_password": "taken over, surely" }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // A key scoped to users:read reads users and cannot write them; revoked, it stops.
    let created: Value = post(
        &viewer,
        server.url("/api/v1/auth/api-keys"),
        json!({ "name": "reader", "permissions": ["users:read"] }),
    )
    .await
    .json()
    .await
    .unwrap();
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with("sy_"));
    let keyed = bearer_client(key);
    assert_eq!(
        status(
            &keyed,
            server.url(&format!("/api/v1/tenants/{tenant}/users"))
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(
        status(
            &keyed,
            server.url(&format!("/api/v1/tenants/{tenant}/roles"))
        )
        .await,
        StatusCode::FORBIDDEN
    );
    let listed: Value = viewer
        .get(server.url("/api/v1/auth/api-keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed["items"][0]["last_used_at"].is_string());
    assert!(
        !listed
            .to_string()
            .contains(key.splitn(3, '_').nth(2).unwrap()),
        "the secret is never listed"
    );
    let id = created["api_key"]["id"].as_str().unwrap();
    let r = viewer
        .delete(server.url(&format!("/api/v1/auth/api-keys/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        status(
            &keyed,
            server.url(&format!("/api/v1/tenants/{tenant}/users"))
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    let forged = format!("{}x", &key[..key.len() - 1]);
    assert_eq!(
        status(&bearer_client(&forged), server.url("/api/v1/auth/me")).await,
        StatusCode::UNAUTHORIZED
    );
    // Secrets never reach the audit trail.
    let trail = server
        .get(&format!(
            "/api/v1/tenants/{tenant}/audit/export?format=json"
        ))
        .await
        .text()
        .await
        .unwrap();
    assert!(!trail.contains(key) && !trail.contains(PASSWORD) && !trail.contains(ADMIN_PASSWORD));
}

async fn mfa_required_by_role(server: &TestServer, tenant: &str) {
    let roles: Value = server
        .get(&format!("/api/v1/tenants/{tenant}/roles"))
        .await
        .json()
        .await
        .unwrap();
    let operator = roles["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "operator")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = server
        .client
        .put(server.url(&format!(
            "/api/v1/tenants/{tenant}/roles/{operator}/require-mfa"
        )))
        .json(&json!({ "required": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let role: Value = r.json().await.unwrap();
    assert_eq!(role["require_mfa"], true);

    make_user(server, tenant, "ops@example.com", &["operator"]).await;
    let (ops, tokens) = server
        .sign_in_as("default", "ops@example.com", PASSWORD)
        .await;
    let users = server.url(&format!("/api/v1/tenants/{tenant}/users"));
    let r = ops.get(&users).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["type"], "/problems/mfa-enrolment-required");
    let me: Value = ops
        .get(server.url("/api/v1/auth/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["mfa_enrolment_required"], true);

    // Enrol; the next token (refresh) is no longer restricted.
    let enrolment: Value = post(&ops, server.url("/api/v1/auth/mfa/totp"), json!({}))
        .await
        .json()
        .await
        .unwrap();
    let secret = totp_rs::Secret::try_from_base32(enrolment["secret"].as_str().unwrap()).unwrap();
    let code = totp_rs::Builder::new()
        .with_secret(secret.as_ref().to_vec())
        .build_noncompliant()
        .generate(chrono::Utc::now().timestamp() as u64)
        .to_string();
    let r = post(
        &ops,
        server.url("/api/v1/auth/mfa/totp/confirm"),
        json!({ "code": code }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let refreshed: Value = post(
        &server.anon,
        server.url("/api/v1/auth/refresh"),
        json!({ "refresh_token": tokens["refresh_token"] }),
    )
    .await
    .json()
    .await
    .unwrap();
    let ops = bearer_client(refreshed["access_token"].as_str().unwrap());
    assert_eq!(
        ops.get(&users).send().await.unwrap().status(),
        StatusCode::OK
    );
    let trail: Value = server
        .get(&format!(
            "/api/v1/tenants/{tenant}/audit?action=role.require_mfa"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(trail["items"][0]["detail"]["required"], true);
}
