//! Who an OAuth client is: one named by the URL of its metadata document (served here by a
//! small HTTP server), refused when the document does not name itself or the URL is not
//! https on a public address; and open registration, bounded per address.

mod common;

use common::oauth::{Browser, authorize_url, location, pkce};
use common::{TestDb, TestServer, post, settings};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A client named by the URL of its metadata document, served here; documents that do not
/// name themselves, and URLs that are not https on a public address, are refused.
#[tokio::test]
async fn clients_named_by_their_metadata_document() {
    let docs = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = docs.local_addr().unwrap().port();
    let client_id = format!("http://127.0.0.1:{port}/client.json");
    let redirect = "http://127.0.0.1:9/callback";
    let good =
        json!({ "client_id": client_id, "client_name": "Doc Client", "redirect_uris": [redirect] });
    let liar =
        json!({ "client_id": "https://someone.else/client.json", "redirect_uris": [redirect] });
    let app = axum::Router::new()
        .route(
            "/client.json",
            axum::routing::get(move || async move { axum::Json(good) }),
        )
        .route(
            "/liar.json",
            axum::routing::get(move || async move { axum::Json(liar) }),
        );
    tokio::spawn(async move { axum::serve(docs, app).await.unwrap() });

    let db = TestDb::create(&common::Backend::Sqlite).await;
    let mut settings = settings(&db);
    settings.oauth.client_metadata_allowed_hosts = vec!["127.0.0.1".into()];
    let server = TestServer::start(settings).await;
    let browser = Browser::sign_in(&server).await;
    let r = browser
        .get(&authorize_url(
            &server,
            &client_id,
            redirect,
            Some(&pkce().1),
            &[],
        ))
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let request = location(&r)
        .strip_prefix("/oauth/consent?request=")
        .unwrap()
        .to_owned();
    let shown: Value = browser
        .get(&server.url(&format!("/api/v1/oauth/requests/{request}")))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            shown["client_name"].as_str(),
            shown["metadata_document"].as_bool()
        ),
        (Some("Doc Client"), Some(true))
    );
    for refused in [
        format!("http://127.0.0.1:{port}/liar.json"),
        format!("http://127.0.0.1:{port}/missing.json"),
        format!("http://localhost:{port}/client.json"),
        format!("https://localhost:{port}/client.json"),
        "https://169.254.169.254/latest/meta-data".to_owned(),
    ] {
        let r = browser
            .get(&authorize_url(
                &server,
                &refused,
                redirect,
                Some(&pkce().1),
                &[],
            ))
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{refused}");
        assert!(r.headers().get("location").is_none(), "{refused}");
    }

    // Registration is open to anyone, but bounded per address.
    let mut statuses = Vec::new();
    for _ in 0..21 {
        let body = json!({ "redirect_uris": [redirect] });
        statuses.push(
            post(&server.anon, server.url("/oauth/default/register"), body)
                .await
                .status(),
        );
    }
    assert!(
        statuses[..20].iter().all(|s| *s == StatusCode::CREATED),
        "{statuses:?}"
    );
    assert_eq!(statuses[20], StatusCode::TOO_MANY_REQUESTS);
    server.stop().await;
}
