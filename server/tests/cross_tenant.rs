//! The cross-tenant suite: for every `/api/v1` route with a tenant in its path — enumerated
//! from the OpenAPI document, so a new route cannot escape — a tenant administrator of tenant
//! A addressing tenant B's objects gets 404 (not 403: no existence leak) and nothing in B
//! changes. Routes without a tenant in the path must be listed here as caller-scoped.

mod common;

use common::{PASSWORD, TestDb, TestServer, backends, make_user, post, settings};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Routes that act on the caller's own account or are platform-level; each is covered by the
/// identity story. A route missing from both lists fails the suite.
const CALLER_SCOPED: &[&str] = &[
    "/api/v1/tenants",
    "/api/v1/auth/token",
    "/api/v1/auth/refresh",
    "/api/v1/auth/revoke",
    "/api/v1/auth/session",
    "/api/v1/auth/me",
    "/api/v1/auth/password",
    "/api/v1/auth/sign-out-everywhere",
    "/api/v1/auth/mfa/totp",
    "/api/v1/auth/mfa/totp/confirm",
    "/api/v1/auth/mfa/totp/disable",
    "/api/v1/auth/api-keys",
    "/api/v1/auth/api-keys/{id}",
    "/api/v1/auth/invitations/inspect",
    "/api/v1/auth/invitations/accept",
    "/api/v1/auth/oauth-consents",
    "/api/v1/auth/oauth-consents/{id}",
    // A pending request names its tenant; a user of another tenant finds nothing there
    // (oauth_flow.rs).
    "/api/v1/oauth/requests/{id}",
    // A flow's `state` names its tenant and only the user who started it can finish it
    // (upstream_oauth.rs).
    "/api/v1/upstream-oauth/callback",
    "/api/v1/admin/signing-keys/rotate",
    "/.well-known/jwks.json",
];

fn upstream() -> Value {
    json!({ "name": "intruder", "connection": { "transport": "streamable_http", "url": "https://evil.example/mcp" } })
}

/// A valid body for each unsafe route, so the request reaches the tenant check rather than
/// failing body validation.
fn body_for(path: &str, method: &str) -> Option<Value> {
    let role = json!({ "name": "intruders", "permissions": [] });
    let policy = json!({ "name": "open-all", "effect": "allow", "tool_pattern": "*" });
    let body = match (method, path.rsplit('/').next().unwrap_or_default()) {
        ("post", "users") => {
            json!({ "email": "intruder@example.com", "display_name": "Intruder" })
        }
        ("patch", "{id}") if path.contains("/users/") => json!({ "display_name": "Renamed" }),
        ("patch", "{id}") if path.contains("/conversations/") => json!({ "title": "Renamed" }),
        ("patch", "{id}") => json!({ "name": "Renamed" }),
        ("put", "roles") => json!({ "roles": ["viewer"] }),
        ("post", "roles") => role,
        ("put", "{id}") if path.contains("/roles/") => role,
        ("post", "policies") => policy,
        ("put", "{id}") if path.contains("/policies/") => policy,
        ("post", "evaluate") => json!({ "tool": "files.read" }),
        ("put", "limits") => json!({ "tenant_per_second": 1 }),
        ("put", "require-mfa") => json!({ "required": true }),
        ("post", "upstreams") => upstream(),
        ("post", "builtin") => json!({ "server": "math" }),
        ("put", "{id}") if path.contains("/upstreams/") => upstream(),
        ("put", "gateway-settings") => json!({ "store_arguments": true }),
        ("post", "virtual-servers") => json!({ "name": "bundle", "tools": ["*"] }),
        ("post", "vector-indexes") => json!({ "name": "docs", "dimension": 4 }),
        ("put", "{id}") if path.contains("/virtual-servers/") => {
            json!({ "name": "bundle", "tools": ["*"] })
        }
        ("post", "call") => json!({ "tool": "everything.echo", "arguments": {} }),
        ("post", "invitations") => json!({ "email": "invited@example.com", "roles": ["viewer"] }),
        ("post", "password") => json!({ "new_password": "a brand new password" }),
        ("post", "llm-providers") => llm_provider(),
        ("put", "{id}") if path.contains("/llm-providers/") => llm_provider(),
        ("put", "llm-budget") => json!({ "monthly_tokens": 5 }),
        ("post", "workflows") => workflow(),
        ("put", "{id}") if path.contains("/workflows/") => workflow(),
        ("post", "runs") => json!({}),
        ("post", "decisions") => json!({ "node": "ask", "approve": true }),
        ("post", "fork") => json!({ "step": 0 }),
        ("post", "conversations") => json!({ "title": "Intruding" }),
        ("post", "messages") => json!({ "content": "hello" }),
        ("post", "approvals") => json!({ "message_id": uuid::Uuid::now_v7(), "approve": true }),
        _ => return None,
    };
    Some(body)
}

fn llm_provider() -> Value {
    json!({ "name": "model", "base_url": "http://127.0.0.1:1/v1", "model": "m", "api_key": "sk-b" })
}

/// A workflow that pauses at an approval, so a run of it stays open.
fn workflow() -> Value {
    json!({ "name": "flow", "definition": { "start": "ask", "nodes": { "ask": { "kind": "approval" } } } })
}

/// A valid query for routes that require one.
fn query_for(path: &str) -> &'static str {
    if path.ends_with("/who") {
        "?tool=files.read"
    } else {
        ""
    }
}

async fn json_of(server: &TestServer, path: &str) -> Value {
    server.get(path).await.json().await.unwrap()
}

/// Everything of tenant B an intrusion could change.
async fn snapshot(server: &TestServer, b: &str, b_user: &str) -> Value {
    let audit: Value = json_of(server, &format!("/api/v1/tenants/{b}/audit?limit=200")).await;
    let records: Vec<Value> = audit["items"].as_array().unwrap().to_vec();
    json!({
        "tenant": json_of(server, &format!("/api/v1/tenants/{b}")).await,
        "users": json_of(server, &format!("/api/v1/tenants/{b}/users")).await,
        "roles": json_of(server, &format!("/api/v1/tenants/{b}/users/{b_user}/roles")).await,
        "tenant_roles": json_of(server, &format!("/api/v1/tenants/{b}/roles")).await,
        "policies": json_of(server, &format!("/api/v1/tenants/{b}/policies")).await,
        "limits": json_of(server, &format!("/api/v1/tenants/{b}/limits")).await,
        "upstreams": json_of(server, &format!("/api/v1/tenants/{b}/upstreams")).await,
        "virtual_servers": json_of(server, &format!("/api/v1/tenants/{b}/virtual-servers")).await,
        "gateway_settings": json_of(server, &format!("/api/v1/tenants/{b}/gateway-settings")).await,
        "invitations": json_of(server, &format!("/api/v1/tenants/{b}/invitations")).await,
        "workflows": json_of(server, &format!("/api/v1/tenants/{b}/workflows")).await,
        "runs": json_of(server, &format!("/api/v1/tenants/{b}/runs")).await,
        "llm_providers": json_of(server, &format!("/api/v1/tenants/{b}/llm-providers")).await,
        "llm_usage": json_of(server, &format!("/api/v1/tenants/{b}/llm-usage")).await,
        "audit": records,
    })
}

#[tokio::test]
async fn tenant_a_cannot_see_or_touch_tenant_b() {
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        let mut s = settings(&db);
        s.http.rate_limit_per_second = 0;
        let server = TestServer::start(s).await;
        let me: Value = json_of(&server, "/api/v1/auth/me").await;
        let a = me["tenant_id"].as_str().unwrap().to_string();
        let b: Value = server
            .client
            .post(server.url("/api/v1/tenants"))
            .json(&json!({ "slug": "tenant-b", "name": "B" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let b = b["id"].as_str().unwrap().to_string();
        let b_user: Value = server
            .client
            .post(server.url(&format!("/api/v1/tenants/{b}/users")))
            .json(&json!({ "email": "victim@example.com", "display_name": "Victim" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let b_user = b_user["id"].as_str().unwrap().to_string();
        // B's workflow and a run of it, waiting for an approval.
        let url = server.url(&format!("/api/v1/tenants/{b}/workflows"));
        let flow: Value = post(&server.client, url, workflow())
            .await
            .json()
            .await
            .unwrap();
        let b_flow = flow["id"].as_str().unwrap().to_string();
        let url = server.url(&format!("/api/v1/tenants/{b}/workflows/{b_flow}/runs"));
        let run: Value = post(&server.client, url, json!({}))
            .await
            .json()
            .await
            .unwrap();
        let b_run = run["id"].as_str().unwrap().to_string();
        let url = server.url(&format!("/api/v1/tenants/{b}/llm-providers"));
        let provider: Value = post(&server.client, url, llm_provider())
            .await
            .json()
            .await
            .unwrap();
        let b_provider = provider["id"].as_str().unwrap().to_string();
        for _ in 0..200 {
            let run = json_of(&server, &format!("/api/v1/tenants/{b}/runs/{b_run}")).await;
            if run["status"] == "waiting" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }

        // A's tenant administrator, who may do everything inside A.
        make_user(&server, &a, "a-admin@example.com", &["tenant_admin"]).await;
        let (intruder, _) = server
            .sign_in_as("default", "a-admin@example.com", PASSWORD)
            .await;

        let before = snapshot(&server, &b, &b_user).await;
        let doc: Value = serde_json::from_str(&switchyard::http::openapi_document()).unwrap();
        let mut checked = 0;
        for (template, operations) in doc["paths"].as_object().unwrap() {
            let tenant_route = template.starts_with("/api/v1/tenants/{id}");
            let tenant_scoped = template.contains("{tenant_id}") || tenant_route;
            if !tenant_scoped {
                assert!(
                    CALLER_SCOPED.contains(&template.as_str()),
                    "{template} has no tenant in its path and is not listed as caller-scoped"
                );
                continue;
            }
            let path = template
                .replace("{tenant_id}", &b)
                .replace("{run_id}", &b_run)
                .replace("{version}", "1")
                .replace("{name}", "docs")
                .replace(
                    "{id}",
                    match () {
                        _ if tenant_route => &b,
                        _ if template.contains("/workflows/") => &b_flow,
                        _ if template.contains("/llm-providers/") => &b_provider,
                        _ => &b_user,
                    },
                )
                + query_for(template);
            for method in operations.as_object().unwrap().keys() {
                let mut request = match method.as_str() {
                    "get" => intruder.get(server.url(&path)),
                    "post" => intruder.post(server.url(&path)),
                    "put" => intruder.put(server.url(&path)),
                    "patch" => intruder.patch(server.url(&path)),
                    "delete" => intruder.delete(server.url(&path)),
                    other => panic!("unexpected method {other}"),
                };
                if let Some(body) = body_for(template, method) {
                    request = request.json(&body);
                }
                let response = request.send().await.unwrap();
                let status = response.status();
                let text = response.text().await.unwrap();
                assert_eq!(status, StatusCode::NOT_FOUND, "{method} {template}: {text}");
                assert!(text.contains("not found"), "{method} {template}: {text}");
                checked += 1;
            }
        }
        assert!(checked >= 32, "only {checked} operations were checked");
        assert_eq!(
            snapshot(&server, &b, &b_user).await,
            before,
            "tenant B changed"
        );

        // The same user in its own tenant is allowed, so the 404s above are the tenant wall.
        let own = intruder
            .get(server.url(&format!("/api/v1/tenants/{a}/users")))
            .send()
            .await
            .unwrap();
        assert_eq!(own.status(), StatusCode::OK);
        // Tenant listing shows only the caller's own tenant.
        let listed: Value = intruder
            .get(server.url("/api/v1/tenants"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(listed["items"].as_array().unwrap().len(), 1);
        assert_eq!(listed["items"][0]["id"], a.as_str());
        // The platform administrator crosses, and the crossing is audited in its own tenant.
        let crossings: Value = json_of(
            &server,
            &format!("/api/v1/tenants/{a}/audit?action=admin.cross_tenant"),
        )
        .await;
        assert!(!crossings["items"].as_array().unwrap().is_empty());
        assert_eq!(crossings["items"][0]["rule"], "platform-admin");
        server.stop().await;
        db.drop_db().await;
    }
}
