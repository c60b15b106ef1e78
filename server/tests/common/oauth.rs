//! OAuth stories' helpers: a browser that follows no redirects and sends the bootstrap
//! administrator's console session by hand, as the person at the consent page would; PKCE
//! pairs, authorization URLs and what a redirect carries.

use base64::Engine;
use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{ADMIN_PASSWORD, TestServer, post};

/// A browser: no redirects followed, the console session's cookies sent by hand.
pub struct Browser {
    pub http: reqwest::Client,
    /// The `Cookie` header value.
    pub cookie: String,
    pub csrf: String,
}

impl Browser {
    /// The bootstrap administrator's browser.
    pub async fn sign_in(server: &TestServer) -> Browser {
        Browser::sign_in_as(server, "default", "admin@localhost", ADMIN_PASSWORD).await
    }

    pub async fn sign_in_as(
        server: &TestServer,
        tenant: &str,
        email: &str,
        password: &str,
    ) -> Browser {
        let http = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap();
        let r = post(
            &http,
            server.url("/api/v1/auth/session"),
            json!({ "tenant": tenant, "email": email, "password": password }),
        )
        .await;
        assert_eq!(r.status(), StatusCode::OK);
        let cookie = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("; ");
        let me: Value = r.json().await.unwrap();
        Browser {
            http,
            cookie,
            csrf: me["csrf_token"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        let r = self.http.get(url).header("cookie", &self.cookie);
        r.send().await.unwrap()
    }

    /// The JSON body of `GET url`, whatever the status.
    pub async fn get_json(&self, url: &str) -> Value {
        self.get(url).await.json().await.unwrap()
    }

    /// Answers the consent page's request.
    pub async fn answer(
        &self,
        server: &TestServer,
        request: &str,
        allow: bool,
    ) -> reqwest::Response {
        self.http
            .post(server.url(&format!("/api/v1/oauth/requests/{request}")))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .json(&json!({ "allow": allow }))
            .send()
            .await
            .unwrap()
    }
}

pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

pub fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// A PKCE pair (RFC 7636 §4.1–4.2).
pub fn pkce() -> (String, String) {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// `/oauth/default/authorize` for `client_id` with `state` `st-123` and the tenant's
/// endpoint as `resource`; `extra` pairs are appended.
pub fn authorize_url(
    server: &TestServer,
    client_id: &str,
    redirect: &str,
    challenge: Option<&str>,
    extra: &[(&str, &str)],
) -> String {
    let mut url = reqwest::Url::parse(&server.url("/oauth/default/authorize")).unwrap();
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect)
            .append_pair("state", "st-123")
            .append_pair("resource", &server.url("/mcp/default"));
        if let Some(c) = challenge {
            q.append_pair("code_challenge", c)
                .append_pair("code_challenge_method", "S256");
        }
        for (k, v) in extra {
            q.append_pair(k, v);
        }
    }
    url.into()
}
