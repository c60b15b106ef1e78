//! Custom roles, tool policies, the tester, "who may call it" and effective access, over HTTP
//! on every backend; bad rules are precise 422s that write nothing.

mod common;

use common::{TestDb, TestServer, backends, default_tenant, make_user, post, settings};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn json_of(server: &TestServer, path: &str) -> Value {
    let response = server.get(path).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn policy_story_on_every_backend() {
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        let mut s = settings(&db);
        s.http.rate_limit_per_second = 0;
        s.auth.login_attempts_per_minute = 100;
        let server = TestServer::start(s).await;
        let t = default_tenant(&server).await;
        let url = |p: &str| server.url(&format!("/api/v1/tenants/{t}{p}"));

        // A custom role; built-in roles cannot change.
        let role = post(&server.client, url("/roles"), json!({ "name": "analyst", "description": "Reads reports", "permissions": ["tools:call", "workflows:read"] })).await;
        assert_eq!(role.status(), StatusCode::CREATED);
        let role: Value = role.json().await.unwrap();
        assert_eq!(role["permissions"], json!(["workflows:read", "tools:call"]));
        let dup = post(
            &server.client,
            url("/roles"),
            json!({ "name": "analyst", "permissions": [] }),
        )
        .await;
        assert_eq!(dup.status(), StatusCode::CONFLICT);
        let bad = post(
            &server.client,
            url("/roles"),
            json!({ "name": "Bad Name", "permissions": ["tools:fly"] }),
        )
        .await;
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let roles = json_of(&server, &format!("/api/v1/tenants/{t}/roles")).await;
        let viewer_id = roles["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "viewer")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = server
            .client
            .put(url(&format!("/roles/{viewer_id}")))
            .json(&json!({ "name": "viewer", "permissions": ["users:write"] }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = server
            .client
            .delete(url(&format!("/roles/{viewer_id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);

        let ana = make_user(&server, &t, "ana@example.com", &["analyst"]).await;
        make_user(&server, &t, "val@example.com", &["viewer"]).await;

        // Rules: analysts may read reports under /srv/reports; nobody deletes anything.
        let created = post(&server.client, url("/policies"), json!({
            "name": "analysts-read-reports", "effect": "allow", "tool_pattern": "files.read", "role": "analyst",
            "conditions": [{ "op": "prefix", "path": "/path", "value": "/srv/reports/" }],
        })).await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let created = post(
            &server.client,
            url("/policies"),
            json!({ "name": "no-deletes", "effect": "deny", "tool_pattern": "*.delete" }),
        )
        .await;
        assert_eq!(created.status(), StatusCode::CREATED);
        let math = post(&server.client, url("/policies"), json!({ "name": "math-for-all", "effect": "allow", "tool_pattern": "math.*", "priority": 1 })).await;
        let math: Value = math.json().await.unwrap();

        // Bad rules: every field error at once, and nothing written.
        let bad = post(&server.client, url("/policies"), json!({
            "name": "x", "effect": "maybe", "tool_pattern": "has space",
            "conditions": [{ "op": "between", "path": "/a" }, { "op": "max", "path": "no-slash", "value": 3 }],
        })).await;
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let problem: Value = bad.json().await.unwrap();
        let fields = common::fields(&problem);
        assert_eq!(
            fields,
            ["name", "effect", "tool_pattern", "conditions"],
            "{problem}"
        );
        assert!(problem.to_string().contains("conditions[0]"), "{problem}");
        let unknown_role = post(
            &server.client,
            url("/policies"),
            json!({ "name": "ghost", "effect": "allow", "tool_pattern": "*", "role": "ghosts" }),
        )
        .await;
        assert_eq!(unknown_role.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let listed = json_of(&server, &format!("/api/v1/tenants/{t}/policies")).await;
        let names: Vec<&str> = listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["no-deletes", "math-for-all", "analysts-read-reports"],
            "deny first, then by priority"
        );

        // The tester: decision, deciding rule, and each rule's part.
        let ask = |question: Value| post(&server.client, url("/policies/evaluate"), question);
        let answer: Value = ask(json!({ "user_id": ana, "tool": "files.read", "arguments": { "path": "/srv/reports/q3.pdf" } })).await.json().await.unwrap();
        assert_eq!(
            (answer["allowed"].as_bool(), answer["rule"].as_str()),
            (Some(true), Some("analysts-read-reports")),
            "{answer}"
        );
        let answer: Value = ask(json!({ "user_id": ana, "tool": "files.read", "arguments": { "path": "/srv/reports/../../etc/shadow" } })).await.json().await.unwrap();
        assert_eq!(
            (answer["allowed"].as_bool(), answer["rule"].as_str()),
            (Some(false), Some("default-deny")),
            "{answer}"
        );
        let trace = answer["trace"].as_array().unwrap();
        let reports = trace
            .iter()
            .find(|r| r["rule"] == "analysts-read-reports")
            .unwrap();
        assert_eq!(reports["outcome"], "condition_fails");
        assert_eq!(reports["condition"]["op"], "prefix");
        let answer: Value = ask(json!({ "roles": ["analyst"], "tool": "files.delete" }))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(answer["rule"], "no-deletes");
        // A viewer lacks tools:call whatever the rules say.
        let answer: Value = ask(json!({ "roles": ["viewer"], "tool": "math.add" }))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            (answer["allowed"].as_bool(), answer["rule"].as_str()),
            (Some(false), Some("permission:tools:call"))
        );
        let r = ask(json!({ "roles": ["nobody"], "tool": "math.add" })).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);

        // Who may call a tool, and what one user may do.
        let who = json_of(
            &server,
            &format!("/api/v1/tenants/{t}/policies/who?tool=files.read"),
        )
        .await;
        let ana_row = who["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == "ana@example.com")
            .unwrap();
        assert_eq!(ana_row["allowed"], false);
        assert_eq!(ana_row["conditional"], json!(["analysts-read-reports"]));
        let who = json_of(
            &server,
            &format!("/api/v1/tenants/{t}/policies/who?tool=math.add"),
        )
        .await;
        let allowed: Vec<&str> = who["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["allowed"] == true)
            .map(|u| u["email"].as_str().unwrap())
            .collect();
        assert!(
            allowed.contains(&"ana@example.com") && !allowed.contains(&"val@example.com"),
            "{who}"
        );
        let effective = json_of(
            &server,
            &format!("/api/v1/tenants/{t}/users/{ana}/effective"),
        )
        .await;
        assert_eq!(effective["roles"], json!(["analyst"]));
        assert!(
            effective["permissions"]
                .as_array()
                .unwrap()
                .contains(&json!({ "permission": "tools:call", "granted_by": ["analyst"] }))
        );
        let rules: Vec<&str> = effective["tool_rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            rules,
            ["no-deletes", "math-for-all", "analysts-read-reports"]
        );

        // Change and delete rules; each change is on the audit trail.
        let id = math["id"].as_str().unwrap();
        let r = server.client.put(url(&format!("/policies/{id}"))).json(&json!({ "name": "math-for-analysts", "effect": "allow", "tool_pattern": "math.*", "role": "analyst" })).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = server
            .client
            .delete(url(&format!("/policies/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
        let r = server
            .client
            .get(url(&format!("/policies/{id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let trail = json_of(
            &server,
            &format!("/api/v1/tenants/{t}/audit?q=policy.&limit=200"),
        )
        .await;
        let actions: Vec<&str> = trail["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            [
                "policy.delete",
                "policy.update",
                "policy.create",
                "policy.create",
                "policy.create"
            ]
        );

        // A viewer may read rules but not write them.
        let (viewer, _) = server
            .sign_in_as("default", "val@example.com", common::PASSWORD)
            .await;
        let r = viewer.get(url("/policies")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = post(
            &viewer,
            url("/policies"),
            json!({ "name": "sneaky", "effect": "allow", "tool_pattern": "*" }),
        )
        .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = post(
            &viewer,
            url("/roles"),
            json!({ "name": "mine", "permissions": ["tools:call"] }),
        )
        .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        server.stop().await;
        db.drop_db().await;
    }
}
