//! Invitations, on every backend: an administrator invites an address with roles, the link
//! works once and only for its tenant, bad input changes nothing, and nobody invites with
//! more rights than they hold.

mod common;

use common::{PASSWORD, TestDb, TestServer, backends, default_tenant, make_user, post, settings};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn json_of(server: &TestServer, path: &str) -> Value {
    server.get(path).await.json().await.unwrap()
}

async fn user_count(server: &TestServer, t: &str) -> usize {
    json_of(server, &format!("/api/v1/tenants/{t}/users?limit=200")).await["items"]
        .as_array()
        .unwrap()
        .len()
}

#[tokio::test]
async fn an_invitation_link_sets_a_password_once() {
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        let server = TestServer::start(settings(&db)).await;
        let t = default_tenant(&server).await;
        let url = |p: &str| server.url(&format!("/api/v1/tenants/{t}{p}"));
        let inspect = server.url("/api/v1/auth/invitations/inspect");
        let accept = server.url("/api/v1/auth/invitations/accept");

        // Bad input is refused whole and creates nothing.
        let before = user_count(&server, &t).await;
        let bad = post(
            &server.client,
            url("/invitations"),
            json!({ "email": "not-an-address" }),
        )
        .await;
        assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let unknown_role = post(
            &server.client,
            url("/invitations"),
            json!({ "email": "x@example.com", "roles": ["wizard"] }),
        )
        .await;
        assert_eq!(unknown_role.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let problem: Value = unknown_role.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], "roles", "{problem}");
        let extra = post(
            &server.client,
            url("/invitations"),
            json!({ "email": "x@example.com", "admin": true }),
        )
        .await;
        assert!(extra.status().is_client_error(), "{}", extra.status());
        assert_eq!(user_count(&server, &t).await, before);

        // The invitation: the user exists at once with their roles, without a password.
        let created = post(
            &server.client,
            url("/invitations"),
            json!({ "email": "newbie@example.com", "roles": ["operator"] }),
        )
        .await;
        assert_eq!(created.status(), StatusCode::CREATED);
        assert_eq!(created.headers()["cache-control"], "no-store");
        let created: Value = created.json().await.unwrap();
        let token = created["token"].as_str().unwrap().to_string();
        assert!(token.starts_with("sy_inv_"));
        assert_eq!(created["accept_path"], format!("/invite#{token}"));
        let user_id = created["invitation"]["user_id"]
            .as_str()
            .unwrap()
            .to_string();
        let user = json_of(&server, &format!("/api/v1/tenants/{t}/users/{user_id}")).await;
        assert_eq!(user["roles"], json!(["operator"]));
        let pending = json_of(&server, &format!("/api/v1/tenants/{t}/invitations")).await;
        assert_eq!(pending["items"][0]["email"], "newbie@example.com");
        let again = post(
            &server.client,
            url("/invitations"),
            json!({ "email": "NEWBIE@example.com" }),
        )
        .await;
        assert_eq!(again.status(), StatusCode::CONFLICT);
        assert_eq!(
            json_of(&server, &format!("/api/v1/tenants/{t}/invitations")).await["items"]
                .as_array()
                .unwrap()
                .len(),
            1
        );

        // Before accepting, the invitee cannot sign in.
        let early = post(
            &server.anon,
            server.url("/api/v1/auth/token"),
            json!({ "tenant": "default", "email": "newbie@example.com", "password": PASSWORD }),
        )
        .await;
        assert_eq!(early.status(), StatusCode::UNAUTHORIZED);

        // The link tells who it is for.
        let info: Value = post(&server.anon, inspect.clone(), json!({ "token": token }))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(info["email"], "newbie@example.com");
        assert_eq!(info["tenant_slug"], "default");

        // A password the policy refuses leaves the link usable.
        let weak = post(
            &server.anon,
            accept.clone(),
            json!({ "token": token, "password": "short" }),
        )
        .await;
        assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let problem: Value = weak.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], "password", "{problem}");

        // A forged or re-targeted link is refused: another tenant, another secret, garbage.
        let other: Value = post(
            &server.client,
            server.url("/api/v1/tenants"),
            json!({ "slug": "other", "name": "Other" }),
        )
        .await
        .json()
        .await
        .unwrap();
        let other_id = other["id"].as_str().unwrap().replace('-', "");
        let tenant_part = t.replace('-', "");
        for forged in [
            token.replace(&tenant_part, &other_id),
            format!("{}x", &token[..token.len() - 1]),
            "sy_inv_garbage".to_string(),
            String::new(),
        ] {
            let r = post(
                &server.anon,
                accept.clone(),
                json!({ "token": forged, "password": PASSWORD }),
            )
            .await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{forged}");
        }

        // Accepted once; the second use is refused and the first password stands.
        let ok = post(
            &server.anon,
            accept.clone(),
            json!({ "token": token, "password": PASSWORD }),
        )
        .await;
        assert_eq!(ok.status(), StatusCode::NO_CONTENT);
        let reuse = post(
            &server.anon,
            accept.clone(),
            json!({ "token": token, "password": "another long password" }),
        )
        .await;
        assert_eq!(reuse.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            post(&server.anon, inspect.clone(), json!({ "token": token }))
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
        let (newbie, _) = server
            .sign_in_as("default", "newbie@example.com", PASSWORD)
            .await;
        let me: Value = newbie
            .get(server.url("/api/v1/auth/me"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["roles"], json!(["operator"]));
        assert!(
            json_of(&server, &format!("/api/v1/tenants/{t}/invitations")).await["items"]
                .as_array()
                .unwrap()
                .is_empty()
        );

        // Withdrawn links stop working; the user stays.
        let second: Value = post(
            &server.client,
            url("/invitations"),
            json!({ "email": "later@example.com" }),
        )
        .await
        .json()
        .await
        .unwrap();
        let second_id = second["invitation"]["id"].as_str().unwrap();
        let gone = server
            .client
            .delete(url(&format!("/invitations/{second_id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(gone.status(), StatusCode::NO_CONTENT);
        let r = post(
            &server.anon,
            accept.clone(),
            json!({ "token": second["token"], "password": PASSWORD }),
        )
        .await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let twice = server
            .client
            .delete(url(&format!("/invitations/{second_id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(twice.status(), StatusCode::NOT_FOUND);

        // No escalation: a user who may write users but holds little cannot invite with more.
        let role = post(
            &server.client,
            url("/roles"),
            json!({ "name": "people", "permissions": ["users:read", "users:write"] }),
        )
        .await;
        assert_eq!(role.status(), StatusCode::CREATED);
        make_user(&server, &t, "hr@example.com", &["people"]).await;
        let (hr, _) = server
            .sign_in_as("default", "hr@example.com", PASSWORD)
            .await;
        let count = user_count(&server, &t).await;
        let denied = post(
            &hr,
            url("/invitations"),
            json!({ "email": "mole@example.com", "roles": ["tenant_admin"] }),
        )
        .await;
        assert_eq!(denied.status(), StatusCode::FORBIDDEN);
        assert_eq!(user_count(&server, &t).await, count);
        let allowed = post(
            &hr,
            url("/invitations"),
            json!({ "email": "peer@example.com", "roles": ["people"] }),
        )
        .await;
        assert_eq!(allowed.status(), StatusCode::CREATED);
        make_user(&server, &t, "viewer@example.com", &["viewer"]).await;
        let (viewer, _) = server
            .sign_in_as("default", "viewer@example.com", PASSWORD)
            .await;
        let r = post(
            &viewer,
            url("/invitations"),
            json!({ "email": "v2@example.com" }),
        )
        .await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);

        // The trail: invitations, the acceptance, the refused escalation; no secret in it.
        let trail = server
            .text(&format!("/api/v1/tenants/{t}/audit/export?format=json"))
            .await;
        for action in ["user.invite", "user.invite.accept", "user.invite.withdraw"] {
            assert!(trail.contains(&format!("\"{action}\"")), "{action} missing");
        }
        assert!(trail.contains("no-escalation"));
        // `sy_inv_<tenant>_<secret>`: the secret is base64url, which may itself hold `_`.
        let secret = token.splitn(4, '_').nth(3).unwrap();
        assert!(secret.len() >= 40, "{token}");
        assert!(
            !trail.contains(secret),
            "the link's secret reached the audit trail"
        );

        server.stop().await;
        db.drop_db().await;
    }
}
