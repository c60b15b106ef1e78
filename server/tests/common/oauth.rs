//! A browser for OAuth stories: it follows no redirects and sends the bootstrap
//! administrator's console session by hand, as the person at the consent page would.

use reqwest::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use super::{ADMIN_PASSWORD, TestServer, post};

/// A browser: no redirects followed, the console session's cookies sent by hand.
pub struct Browser {
    pub http: reqwest::Client,
    /// The `Cookie` header value.
    pub cookie: String,
    pub csrf: String,
}

impl Browser {
    pub async fn sign_in(server: &TestServer) -> Browser {
        let http = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap();
        let r = post(
            &http,
            server.url("/api/v1/auth/session"),
            json!({ "tenant": "default", "email": "admin@localhost", "password": ADMIN_PASSWORD }),
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
