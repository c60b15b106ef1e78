//! The gateway as the OAuth client of a protected upstream, end to end on every backend. The
//! upstream is a real OAuth 2.1 protected MCP server: this gateway's endpoint for another
//! tenant, `/mcp/inner`, whose tenant is an authorization server with resource metadata,
//! Dynamic Client Registration, PKCE, a consent page, `iss` in the answer (RFC 9207),
//! audience-bound tokens and rotating refresh tokens. Access tokens live 4 s here, so the
//! gateway refreshes them after 2 s (half their life, when that is under 30 s).
//!
//! The story: unauthorized calls fail clearly; an administrator authorizes (discovery, DCR,
//! PKCE, consent, callback) and calls go through with tokens that are never shown; another
//! user cannot finish someone's flow and a spent `state` is refused; the grant is refreshed;
//! withdrawing the consent at the upstream's server ends the gateway's access.

mod common;

use common::oauth::{Browser, location, query_of};
use common::{
    PASSWORD, TestDb, TestServer, backends, default_tenant, get_json, make_user, post, settings,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn an_oauth_upstream_is_authorized_once_refreshed_and_cut_off_when_consent_ends() {
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        let mut config = settings(&db);
        config.auth.access_token_ttl_secs = 4;
        let server = TestServer::start(config).await;
        story(&server).await;
        server.stop().await;
        db.drop_db().await;
    }
}

async fn call(server: &TestServer, t: &str, message: &str) -> (StatusCode, Value) {
    let r = post(
        &server.client,
        server.url(&format!("/api/v1/tenants/{t}/tools/call")),
        json!({ "tool": "remote.everything.echo", "arguments": { "message": message } }),
    )
    .await;
    let status = r.status();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "text": text }));
    (status, body)
}

/// A call that fails because the gateway holds no usable grant.
async fn refused(server: &TestServer, t: &str, message: &str) {
    let (status, body) = call(server, t, message).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("needs authorization"), "{body}");
}

async fn upstream(server: &TestServer, t: &str, id: &str) -> Value {
    let url = server.url(&format!("/api/v1/tenants/{t}/upstreams/{id}"));
    get_json(&server.client, &url).await
}

/// `POST …/authorize`: the authorization URL.
async fn start(server: &TestServer, t: &str, id: &str) -> String {
    let url = server.url(&format!("/api/v1/tenants/{t}/upstreams/{id}/authorize"));
    let r = post(&server.client, url, json!({})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["authorization_url"].as_str().unwrap().to_owned()
}

/// The person at the upstream's server: consents (unless they did before, which the server
/// remembers); answers where it sends them back.
async fn consent(server: &TestServer, browser: &Browser, to: &str) -> String {
    let r = browser.get(to).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let consent = location(&r);
    if consent.starts_with(&server.url("/api/v1/upstream-oauth/callback")) {
        return consent;
    }
    let request = consent
        .strip_prefix("/oauth/consent?request=")
        .unwrap_or_else(|| panic!("not the consent page: {consent}"));
    let r = browser.answer(server, request, true).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["redirect_to"].as_str().unwrap().to_owned()
}

/// The upstream's side: tenant `inner` with server-everything, and a person there.
async fn inner_tenant(server: &TestServer) -> Browser {
    let r = post(
        &server.client,
        server.url("/api/v1/tenants"),
        json!({ "slug": "inner", "name": "Inner" }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let tenant = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let url = |p: &str| server.url(&format!("/api/v1/tenants/{tenant}{p}"));
    let marker = format!("upstream-oauth-{}", uuid::Uuid::new_v4().simple());
    let everything = json!({ "name": "everything", "connection": { "transport": "stdio",
        "command": "node", "args": [common::peers::everything(), "stdio", marker] } });
    let rule = json!({ "name": "all", "effect": "allow", "tool_pattern": "everything.*" });
    for (path, body) in [("/upstreams", everything), ("/policies", rule)] {
        assert_eq!(
            post(&server.client, url(path), body).await.status(),
            StatusCode::CREATED
        );
    }
    make_user(server, &tenant, "owner@inner.example", &["tenant_admin"]).await;
    Browser::sign_in_as(server, "inner", "owner@inner.example", PASSWORD).await
}

async fn story(server: &TestServer) {
    let t = default_tenant(server).await;
    let url = |p: &str| server.url(&format!("/api/v1/tenants/{t}{p}"));
    let owner = inner_tenant(server).await;
    let remote = json!({ "name": "remote", "connection": { "transport": "streamable_http",
        "url": server.url("/mcp/inner"), "oauth": {} } });
    let r = post(&server.client, url("/upstreams"), remote).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rule = json!({ "name": "remote-all", "effect": "allow", "tool_pattern": "remote.*" });
    assert_eq!(
        post(&server.client, url("/policies"), rule).await.status(),
        StatusCode::CREATED
    );

    // Not authorized yet: said so, and calls fail naming the reason.
    assert_eq!(
        upstream(server, &t, &id).await["authorization"]["state"],
        "required"
    );
    refused(server, &t, "early").await;
    // Authorizing a plain upstream is a conflict, not a flow.
    let r = post(
        &server.client,
        url("/upstreams"),
        json!({ "name": "plain",
        "connection": { "transport": "streamable_http", "url": "http://127.0.0.1:9/mcp" } }),
    )
    .await;
    let plain = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = post(
        &server.client,
        url(&format!("/upstreams/{plain}/authorize")),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // The administrator starts the flow: discovery from the 401, registration, PKCE S256.
    let to = start(server, &t, &id).await;
    let q = query_of(&to);
    assert!(
        to.starts_with(&server.url("/oauth/inner/authorize?")),
        "{to}"
    );
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["resource"], server.url("/mcp/inner"));
    assert_eq!(
        q["scope"], "mcp offline_access",
        "from the server's metadata"
    );
    assert_eq!(
        q["redirect_uri"],
        server.url("/api/v1/upstream-oauth/callback")
    );

    // The person consents at the upstream's server, which sends them to the callback, where
    // they are the administrator who started the flow.
    let browser = Browser::sign_in(server).await;
    let back = consent(server, &owner, &to).await;
    assert!(query_of(&back).contains_key("iss"));
    // Someone else cannot finish it (and the flow is spent by trying).
    make_user(server, &t, "mallory@example.com", &["tenant_admin"]).await;
    let mallory = Browser::sign_in_as(server, "default", "mallory@example.com", PASSWORD).await;
    assert_eq!(mallory.get(&back).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(browser.get(&back).await.status(), StatusCode::BAD_REQUEST);

    let back = consent(server, &owner, &start(server, &t, &id).await).await;
    let r = browser.get(&back).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&r),
        format!("/upstreams?tenant={t}&authorized={id}")
    );
    // A spent state is refused.
    let r = browser.get(&back).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let problem: Value = r.json().await.unwrap();
    assert!(
        problem["detail"].as_str().unwrap().contains("already used"),
        "{problem}"
    );

    // Calls go through; the grant is shown, its tokens never.
    let (status, body) = call(server, &t, "hello").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["result"].to_string().contains("hello"), "{body}");
    let shown = upstream(server, &t, &id).await;
    let grant = &shown["authorization"];
    assert_eq!(grant["state"], "authorized", "{shown}");
    assert_eq!(grant["refreshable"], true);
    assert_eq!(grant["scope"], "mcp offline_access");
    assert!(!shown.to_string().contains("eyJ"), "a JWT leaked: {shown}");
    let first_expiry = grant["expires_at"].as_str().unwrap().to_owned();

    // Past half the token's life, the next call opens a session with a refreshed one.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let (status, body) = call(server, &t, "again").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let later = upstream(server, &t, &id).await["authorization"]["expires_at"].clone();
    assert_ne!(
        later.as_str().unwrap(),
        first_expiry,
        "the grant was refreshed"
    );

    // Withdrawing the consent at the upstream's server ends the gateway's access.
    let consents = owner
        .get_json(&server.url("/api/v1/auth/oauth-consents"))
        .await;
    let consent = consents["items"][0]["id"].as_str().unwrap().to_owned();
    let r = owner
        .http
        .delete(server.url(&format!("/api/v1/auth/oauth-consents/{consent}")))
        .header("cookie", &owner.cookie)
        .header("x-csrf-token", &owner.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    refused(server, &t, "after").await;
    let grant = upstream(server, &t, &id).await["authorization"].clone();
    assert_eq!(grant["state"], "required", "{grant}");
    assert!(
        grant["last_error"]
            .as_str()
            .unwrap()
            .contains("refresh failed"),
        "{grant}"
    );

    // The trail has both acts.
    let trail = get_json(&server.client, &url("/audit?action=upstream.authorized")).await;
    assert_eq!(trail["items"].as_array().unwrap().len(), 1, "{trail}");
}

/// A hostile upstream: its challenge sends the gateway to the cloud metadata service. The
/// probe carries the upstream's own headers and credentials (the fixture answers only
/// then), and discovery refuses the address before any request goes to it.
#[tokio::test]
async fn discovery_goes_no_further_into_the_network_than_the_upstream() {
    use axum::http::{HeaderMap, StatusCode as Status, header};
    let fixture = axum::Router::new().route(
        "/mcp",
        axum::routing::post(|headers: HeaderMap| async move {
            let has = |name: &str, value: &str| {
                headers.get(name).and_then(|v| v.to_str().ok()) == Some(value)
            };
            if !(has("x-tenant", "acme") && has("x-api-key", "k-123")) {
                return (
                    Status::BAD_REQUEST,
                    [(header::WWW_AUTHENTICATE, String::new())],
                );
            }
            let challenge = "Bearer resource_metadata=\"http://169.254.169.254/latest/meta-data/\"";
            (
                Status::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, challenge.to_owned())],
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, fixture).await });

    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    let t = default_tenant(&server).await;
    let hostile = json!({ "name": "hostile", "connection": { "transport": "streamable_http",
        "url": format!("http://{address}/mcp"), "headers": { "x-tenant": "acme" }, "oauth": {} },
        "secrets": { "x-api-key": "k-123" } });
    let url = |p: &str| server.url(&format!("/api/v1/tenants/{t}{p}"));
    let r = post(&server.client, url("/upstreams"), hostile).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = post(
        &server.client,
        url(&format!("/upstreams/{id}/authorize")),
        json!({}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let problem: Value = r.json().await.unwrap();
    let detail = problem["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("169.254.169.254 is a cloud metadata address"),
        "{problem}"
    );
    server.stop().await;
    db.drop_db().await;
}
