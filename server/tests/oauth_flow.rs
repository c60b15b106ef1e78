//! OAuth 2.1 for MCP clients, end to end over HTTP on every backend: discovery from the
//! endpoint's 401 (RFC 9728), the tenant's authorization server metadata (RFC 8414),
//! registration (RFC 7591), the authorization request with
//! PKCE, the consent answered in a console session, the code exchanged for tokens bound to
//! the resource (RFC 8707) that then call tools, refresh, consent remembered and withdrawn —
//! and every malformed or hostile request refused with the precise OAuth error.

mod common;

use base64::Engine;
use common::mcp::{Era, Watcher, connect, tenant_with_everything};
use common::oauth::{Browser, authorize_url, location, pkce, query_of};
use common::{
    ADMIN_PASSWORD, PASSWORD, TestDb, TestServer, backends, get_json, make_user, post, settings,
};
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

/// `application/x-www-form-urlencoded` (the token endpoint's body, OAuth 2.1 §3.2.2).
fn form_body(pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://form.invalid/").unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or_default().to_owned()
}

async fn token(server: &TestServer, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let r = server
        .anon
        .post(server.url("/oauth/default/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(form))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    (r.status(), r.json().await.unwrap())
}

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn mcp_clients_get_tokens_for_their_endpoint_through_oauth() {
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        let server = TestServer::start(settings(&db)).await;
        story(&server).await;
        server.stop().await;
        db.drop_db().await;
    }
}

async fn story(server: &TestServer) {
    let t = tenant_with_everything(&server.base, &server.client).await;
    let endpoint = server.url("/mcp/default");

    // Discovery: the endpoint's 401 names its metadata, which names the tenant's server.
    let r = server
        .anon
        .post(&endpoint)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    let metadata_url = server.url("/.well-known/oauth-protected-resource/mcp/default");
    assert!(
        challenge.contains(&format!("resource_metadata=\"{metadata_url}\"")),
        "{challenge}"
    );
    let prm: Value = get_json(&server.anon, &metadata_url).await;
    assert_eq!(prm["resource"], endpoint);
    let issuer = server.url("/oauth/default");
    assert_eq!(prm["authorization_servers"], json!([issuer]));
    let unknown = server
        .anon
        .get(server.url("/.well-known/oauth-protected-resource/mcp/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let asm: Value = get_json(
        &server.anon,
        &server.url("/.well-known/oauth-authorization-server/oauth/default"),
    )
    .await;
    assert_eq!(asm["issuer"], issuer);
    assert_eq!(asm["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(asm["authorization_response_iss_parameter_supported"], true);
    assert_eq!(asm["client_id_metadata_document_supported"], true);
    let register_url = asm["registration_endpoint"].as_str().unwrap().to_owned();

    // Registration: refused precisely, then accepted.
    let redirect = "http://127.0.0.1:9/callback";
    for (body, error) in [
        (json!({ "client_name": "x" }), "invalid_redirect_uri"),
        (
            json!({ "redirect_uris": ["http://example.com/cb"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": ["https://a.example/cb#x"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": ["javascript:alert(1)"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": [redirect], "token_endpoint_auth_method": "client_secret_basic" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": [redirect], "grant_types": ["implicit"] }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": "not a list" }),
            "invalid_client_metadata",
        ),
    ] {
        let r = post(&server.anon, register_url.clone(), body.clone()).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["error"], error, "{body}: {answer}");
    }
    let r = server
        .anon
        .post(&register_url)
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post(
        &server.anon,
        register_url.clone(),
        json!({ "client_name": "Test Desktop", "redirect_uris": [redirect] }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let client: Value = r.json().await.unwrap();
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    assert_eq!(client["token_endpoint_auth_method"], "none");

    // The authorization request: nothing goes to an unverified redirect URI.
    let anon = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    let (verifier, challenge) = pkce();
    for url in [
        authorize_url(server, "syc_unknown", redirect, Some(&challenge), &[]),
        authorize_url(
            server,
            &client_id,
            "http://127.0.0.1:9/other",
            Some(&challenge),
            &[],
        ),
    ] {
        let r = anon.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.headers().get("location").is_none());
        assert_eq!(r.headers()["x-frame-options"], "DENY");
    }
    // Past that, errors go back to the client with state and iss.
    for (url, error) in [
        (
            authorize_url(server, &client_id, redirect, None, &[]),
            "invalid_request",
        ),
        (
            authorize_url(
                server,
                &client_id,
                redirect,
                None,
                &[
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "plain"),
                ],
            ),
            "invalid_request",
        ),
        (
            authorize_url(
                server,
                &client_id,
                redirect,
                Some(&challenge),
                &[("scope", "admin")],
            ),
            "invalid_scope",
        ),
        (
            authorize_url(
                server,
                &client_id,
                redirect,
                Some(&challenge),
                &[("response_type", "token")],
            )
            .replacen("response_type=code&", "", 1),
            "unsupported_response_type",
        ),
    ] {
        let r = anon.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{url}");
        let to = location(&r);
        assert!(to.starts_with(redirect), "{to}");
        let q = query_of(&to);
        assert_eq!(q["error"], error, "{url}");
        assert_eq!(q["state"], "st-123");
        assert_eq!(q["iss"], issuer);
    }
    let mut foreign = reqwest::Url::parse(&authorize_url(
        server,
        &client_id,
        redirect,
        Some(&challenge),
        &[],
    ))
    .unwrap();
    let pairs: Vec<(String, String)> = foreign
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != "resource")
        .collect();
    foreign
        .query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair("resource", "https://evil.example/mcp");
    let r = anon.get(foreign.as_str()).send().await.unwrap();
    assert_eq!(query_of(&location(&r))["error"], "invalid_target");

    // A valid request waits for the user on the consent page.
    let r = anon
        .get(authorize_url(
            server,
            &client_id,
            redirect,
            Some(&challenge),
            &[],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let consent = location(&r);
    let request = consent
        .strip_prefix("/oauth/consent?request=")
        .expect(&consent)
        .to_owned();
    // Signed out, the request is not readable; a token or API key cannot answer it.
    let r = anon
        .get(server.url(&format!("/api/v1/oauth/requests/{request}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = server
        .get(&format!("/api/v1/oauth/requests/{request}"))
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let browser = Browser::sign_in(server).await;
    let page = browser.get(&server.url(&consent)).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(
        page.headers()["content-security-policy"],
        "frame-ancestors 'none'"
    );
    let shown: Value = browser
        .get_json(&server.url(&format!("/api/v1/oauth/requests/{request}")))
        .await;
    assert_eq!(shown["client_name"], "Test Desktop");
    assert_eq!(shown["redirect_uri"], redirect);
    assert_eq!(shown["scopes"], json!(["mcp"]));
    assert_eq!(shown["resource"], endpoint);
    assert_eq!(shown["user_email"], "admin@localhost");
    let r = browser.answer(server, &request, true).await;
    assert_eq!(r.status(), StatusCode::OK);
    let to = r.json::<Value>().await.unwrap()["redirect_to"]
        .as_str()
        .unwrap()
        .to_owned();
    let q = query_of(&to);
    assert_eq!(
        (q["state"].as_str(), q["iss"].as_str()),
        ("st-123", issuer.as_str())
    );
    let code = q["code"].clone();
    // The request is spent.
    assert_eq!(
        browser.answer(server, &request, true).await.status(),
        StatusCode::NOT_FOUND
    );

    // The code: the wrong verifier spends it for nothing.
    let (status, answer) = token(
        server,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &client_id),
            ("redirect_uri", redirect),
            ("code_verifier", &pkce().0),
        ],
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{answer}"
    );
    let (_, answer) = token(
        server,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &client_id),
            ("redirect_uri", redirect),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(answer["error"], "invalid_grant", "a spent code: {answer}");

    // Consent is remembered: signed in, the next request gets a code at once.
    let (verifier, challenge) = pkce();
    let r = browser
        .get(&authorize_url(
            server,
            &client_id,
            redirect,
            Some(&challenge),
            &[],
        ))
        .await;
    let q = query_of(&location(&r));
    let code = q["code"].clone();
    assert_eq!(q["iss"], issuer);
    for (form, error) in [
        (vec![("grant_type", "password")], "unsupported_grant_type"),
        (vec![("code", code.as_str())], "invalid_request"),
        (
            vec![
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", &client_id),
                ("redirect_uri", redirect),
            ],
            "invalid_request",
        ),
    ] {
        let (status, answer) = token(server, &form).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some(error)),
            "{form:?}"
        );
    }
    let r = server
        .anon
        .post(server.url("/oauth/default/token"))
        .json(&json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    let (status, tokens) = token(
        server,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &client_id),
            ("redirect_uri", redirect),
            ("code_verifier", &verifier),
            ("resource", &endpoint),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(
        (tokens["token_type"].as_str(), tokens["scope"].as_str()),
        (Some("Bearer"), Some("mcp"))
    );
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let c = claims(&access);
    assert_eq!(
        (c["aud"].as_str(), c["client_id"].as_str()),
        (Some(endpoint.as_str()), Some(client_id.as_str()))
    );

    // The token opens its endpoint, with the user's rights; the API refuses it.
    let mcp = connect(&endpoint, &access, Era::Session, Watcher::default()).await;
    let tools = mcp.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "everything.echo"));
    assert!(!tools.iter().any(|t| t.name == "everything.get-env"));
    mcp.cancel().await.unwrap();
    let as_api = common::bearer_client(&access);
    assert_eq!(
        as_api
            .get(server.url("/api/v1/auth/me"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );

    // Refresh: only by its client, never into an API token; API refresh tokens stay out.
    let (_, answer) = token(
        server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", "syc_other"),
        ],
    )
    .await;
    assert_eq!(answer["error"], "invalid_grant");
    let r = post(
        &server.anon,
        server.url("/api/v1/auth/refresh"),
        json!({ "refresh_token": refresh }),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (_, api_tokens) = server
        .sign_in_as("default", "admin@localhost", ADMIN_PASSWORD)
        .await;
    let api_refresh = api_tokens["refresh_token"].as_str().unwrap();
    let (_, answer) = token(
        server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", api_refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(answer["error"], "invalid_grant");
    let (status, renewed) = token(
        server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    assert_eq!(
        claims(renewed["access_token"].as_str().unwrap())["aud"],
        endpoint
    );
    let access = renewed["access_token"].as_str().unwrap().to_owned();

    // Refusing: the client hears access_denied.
    let r = post(
        &server.anon,
        register_url.clone(),
        json!({ "client_name": "Other App", "redirect_uris": [redirect] }),
    )
    .await;
    let other = r.json::<Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = browser
        .get(&authorize_url(
            server,
            &other,
            redirect,
            Some(&pkce().1),
            &[],
        ))
        .await;
    let request = location(&r)
        .strip_prefix("/oauth/consent?request=")
        .unwrap()
        .to_owned();
    // A user of another tenant finds no such request, and cannot answer it.
    let other_tenant = post(
        &server.client,
        server.url("/api/v1/tenants"),
        json!({ "slug": "elsewhere", "name": "Elsewhere" }),
    )
    .await
    .json::<Value>()
    .await
    .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    make_user(
        server,
        &other_tenant,
        "mallory@example.com",
        &["tenant_admin"],
    )
    .await;
    let mallory = Browser::sign_in_as(server, "elsewhere", "mallory@example.com", PASSWORD).await;
    let url = server.url(&format!("/api/v1/oauth/requests/{request}"));
    assert_eq!(mallory.get(&url).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        mallory.answer(server, &request, true).await.status(),
        StatusCode::NOT_FOUND
    );
    let to = browser
        .answer(server, &request, false)
        .await
        .json::<Value>()
        .await
        .unwrap()["redirect_to"]
        .as_str()
        .unwrap()
        .to_owned();
    let q = query_of(&to);
    assert_eq!(
        (q["error"].as_str(), q["state"].as_str()),
        ("access_denied", "st-123")
    );

    // Withdrawing the consent ends the app's sign-in at once.
    let list: Value = browser
        .get_json(&server.url("/api/v1/auth/oauth-consents"))
        .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["client_name"], "Test Desktop");
    let id = items[0]["id"].as_str().unwrap();
    let r = browser
        .http
        .delete(server.url(&format!("/api/v1/auth/oauth-consents/{id}")))
        .header("cookie", &browser.cookie)
        .header("x-csrf-token", &browser.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = common::bearer_client(&access)
        .post(&endpoint)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (_, answer) = token(
        server,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", renewed["refresh_token"].as_str().unwrap()),
            ("client_id", &client_id),
        ],
    )
    .await;
    assert_eq!(answer["error"], "invalid_grant");

    // The trail has it all.
    let trail: Value = server
        .get(&format!("/api/v1/tenants/{t}/audit?limit=200"))
        .await
        .json::<Value>()
        .await
        .unwrap();
    let actions: Vec<(String, String)> = trail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for wanted in [
        ("oauth.client.register", "success"),
        ("oauth.consent", "success"),
        ("oauth.consent", "denied"),
        ("oauth.token", "success"),
        ("oauth.consent.withdraw", "success"),
    ] {
        assert!(
            actions
                .iter()
                .any(|(a, o)| (a.as_str(), o.as_str()) == wanted),
            "{wanted:?} missing"
        );
    }
    let metrics = server.text("/metrics").await;
    assert!(
        metrics.contains(
            "oauth_token_requests_total{grant=\"authorization_code\",outcome=\"issued\"}"
        )
    );
}
