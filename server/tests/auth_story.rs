//! Identity and access, end to end over HTTP on every backend: tokens and their attacks,
//! refresh rotation and reuse, TOTP with replay protection and recovery codes, brute-force
//! throttling and lockout, console sessions with CSRF, API keys, key rotation, and no
//! escalation for a viewer. The cross-tenant suite lives in `cross_tenant.rs`.

mod common;

use common::{
    ADMIN_PASSWORD, PASSWORD, TestDb, TestServer, backends, bearer_client, make_user, settings,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;

async fn default_tenant(server: &TestServer) -> String {
    let me: Value = server.get("/api/v1/auth/me").await.json().await.unwrap();
    me["tenant_id"].as_str().unwrap().to_string()
}

async fn status(client: &reqwest::Client, url: String) -> StatusCode {
    client.get(url).send().await.unwrap().status()
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> reqwest::Response {
    client.post(url).json(&body).send().await.unwrap()
}

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
        jwt_attacks(&server, &db).await;
        refresh_rotation_and_reuse(&server).await;
        totp_with_replay_protection(&server, &tenant).await;
        lockout_and_unlock(&server, &tenant).await;
        sessions_and_csrf(&server, &tenant).await;
        api_keys_and_no_escalation(&server, &tenant).await;
        key_rotation_keeps_tokens_valid(&server).await;
        server.stop().await;
        db.drop_db().await;
    }
}

/// The signing key's id and PKCS#8 document, read behind the server's back.
async fn signing_key(db: &TestDb) -> (String, Vec<u8>) {
    let query = "SELECT kid, private_enc FROM signing_keys WHERE retired_at IS NULL";
    let (kid, sealed): (String, Vec<u8>) = if db.url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        sqlx::query_as(query).fetch_one(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
        sqlx::query_as(query).fetch_one(&mut c).await.unwrap()
    };
    let vault = switchyard::vault::Vault::open(&Default::default(), db._dir.path())
        .await
        .unwrap();
    (kid.clone(), vault.open_sealed(&kid, &sealed).unwrap())
}

async fn jwt_attacks(server: &TestServer, db: &TestDb) {
    use base64::Engine;
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    let (kid, pkcs8) = signing_key(db).await;
    let key = EncodingKey::from_ec_der(&pkcs8);
    let now = chrono::Utc::now().timestamp();
    let me: Value = server.get("/api/v1/auth/me").await.json().await.unwrap();
    let good = json!({
        "iss": "switchyard", "aud": "switchyard-api", "sub": me["user_id"], "tid": me["tenant_id"],
        "sid": uuid::Uuid::now_v7(), "jti": uuid::Uuid::now_v7(), "email": "admin@localhost",
        "roles": ["tenant_admin"], "scope": "users:read", "adm": true,
        "iat": now, "nbf": now, "exp": now + 300,
    });
    let sign = |claims: &Value, kid: &str| {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_string());
        encode(&header, claims, &key).unwrap()
    };
    let with = |field: &str, value: Value| {
        let mut c = good.clone();
        c[field] = value;
        c
    };
    // The control: a well-formed token signed with the real key is accepted.
    let control = sign(&good, &kid);
    assert_eq!(
        status(&bearer_client(&control), server.url("/api/v1/auth/me")).await,
        StatusCode::OK
    );

    let jwks: Value = server
        .anon
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let public_x = jwks["keys"][0]["x"].as_str().unwrap().to_string();
    let hs256_with_public_key = encode(
        &{
            let mut h = Header::new(Algorithm::HS256);
            h.kid = Some(kid.clone());
            h
        },
        &good,
        &EncodingKey::from_secret(public_x.as_bytes()),
    )
    .unwrap();
    let alg_none = format!(
        "{}.{}.",
        b64(&json!({ "alg": "none", "typ": "JWT", "kid": kid })),
        b64(&good)
    );
    let tampered = {
        let parts: Vec<&str> = control.split('.').collect();
        let claims = with("scope", json!("users:read users:write roles:write"));
        format!("{}.{}.{}", parts[0], b64(&claims), parts[2])
    };
    let attacks = [
        ("alg none", alg_none),
        ("HS256 signed with the public key", hs256_with_public_key),
        ("expired", sign(&with("exp", json!(now - 3600)), &kid)),
        ("not yet valid", sign(&with("nbf", json!(now + 3600)), &kid)),
        (
            "wrong audience",
            sign(&with("aud", json!("someone-else")), &kid),
        ),
        (
            "wrong issuer",
            sign(&with("iss", json!("https://evil.example")), &kid),
        ),
        ("unknown kid", sign(&good, "no-such-key")),
        ("tampered payload", tampered),
        ("garbage", "a.b.c".to_string()),
    ];
    for (name, token) in attacks {
        let response = bearer_client(&token)
            .get(server.url("/api/v1/auth/me"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{name} was accepted"
        );
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token"),
            "{name}"
        );
    }
}

async fn refresh_rotation_and_reuse(server: &TestServer) {
    let (_, first) = server
        .sign_in_as("default", "admin@localhost", ADMIN_PASSWORD)
        .await;
    let refresh = |token: Value| {
        post(
            &server.anon,
            server.url("/api/v1/auth/refresh"),
            json!({ "refresh_token": token }),
        )
    };
    let second: Value = refresh(first["refresh_token"].clone())
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    let access = second["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        status(&bearer_client(&access), server.url("/api/v1/auth/me")).await,
        StatusCode::OK
    );

    // The first refresh token again: reuse. The family dies, its access tokens too.
    let reuse = refresh(first["refresh_token"].clone()).await;
    assert_eq!(reuse.status(), StatusCode::UNAUTHORIZED);
    let reuse: Value = reuse.json().await.unwrap();
    assert!(
        reuse["detail"].as_str().unwrap().contains("already used"),
        "{reuse}"
    );
    assert_eq!(
        refresh(second["refresh_token"].clone()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status(&bearer_client(&access), server.url("/api/v1/auth/me")).await,
        StatusCode::UNAUTHORIZED
    );

    // Revocation (RFC 7009) ends a family; unknown tokens are fine.
    let (_, third) = server
        .sign_in_as("default", "admin@localhost", ADMIN_PASSWORD)
        .await;
    let r = post(
        &server.anon,
        server.url("/api/v1/auth/revoke"),
        json!({ "refresh_token": third["refresh_token"] }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        refresh(third["refresh_token"].clone()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let r = post(
        &server.anon,
        server.url("/api/v1/auth/revoke"),
        json!({ "refresh_token": "syr_unknown" }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);

    let tenant = default_tenant(server).await;
    let records: Value = server
        .get(&format!(
            "/api/v1/tenants/{tenant}/audit?action=auth.token.reuse"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(records["items"][0]["outcome"], "denied");
    assert_eq!(records["items"][0]["rule"], "refresh-token-reuse");
}

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
    let r = server
        .client
        .post(server.url(&format!("/api/v1/tenants/{tenant}/users/{id}/unlock")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(attempt(PASSWORD).await.status(), StatusCode::OK);
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

async fn key_rotation_keeps_tokens_valid(server: &TestServer) {
    let before = server.admin_token.clone();
    let rotated: Value = post(
        &server.client,
        server.url("/api/v1/admin/signing-keys/rotate"),
        json!({}),
    )
    .await
    .json()
    .await
    .unwrap();
    let jwks: Value = server
        .anon
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(jwks["keys"].as_array().unwrap().len() >= 2);
    assert_eq!(
        status(&bearer_client(&before), server.url("/api/v1/auth/me")).await,
        StatusCode::OK
    );
    let (_, fresh) = server
        .sign_in_as("default", "admin@localhost", ADMIN_PASSWORD)
        .await;
    let header = jsonwebtoken::decode_header(fresh["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(header.kid.as_deref(), rotated["kid"].as_str());
    let (viewer, _) = server
        .sign_in_as("default", "viewer@example.com", PASSWORD)
        .await;
    let r = post(
        &viewer,
        server.url("/api/v1/admin/signing-keys/rotate"),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

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
