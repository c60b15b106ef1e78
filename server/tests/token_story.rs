//! Tokens end to end over HTTP on every backend: forged JWTs are refused, refresh tokens
//! rotate and their reuse revokes the sign-in, and signing-key rotation keeps live tokens
//! valid.

mod common;

use common::{
    ADMIN_PASSWORD, PASSWORD, TestDb, TestServer, backends, bearer_client, default_tenant,
    make_user, post, settings, status,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;

#[tokio::test]
async fn token_story_on_every_backend() {
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        let mut s = settings(&db);
        s.http.rate_limit_per_second = 0;
        s.auth.login_attempts_per_minute = 100;
        let server = TestServer::start(s).await;
        let tenant = default_tenant(&server).await;
        make_user(&server, &tenant, "viewer@example.com", &["viewer"]).await;
        jwt_attacks(&server, &db).await;
        refresh_rotation_and_reuse(&server).await;
        key_rotation_keeps_tokens_valid(&server).await;
        server.stop().await;
        db.drop_db().await;
    }
}

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
