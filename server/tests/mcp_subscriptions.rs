//! Resource subscriptions through the gateway, against server-everything (which sends
//! `notifications/resources/updated` every 5 s for what is subscribed, once its
//! `toggle-subscriber-updates` tool is called): two client sessions subscribe to the same
//! resource under its gateway URI (one upstream subscription between them), both hear its
//! updates under that URI, and after one unsubscribes only the other does. A resource the caller may not
//! see cannot be subscribed to.
#![allow(deprecated)] // resources/subscribe is the session-era mechanism under test.

mod common;

use std::time::Duration;

use common::mcp::{Era, Watcher, connect, tenant_with_everything};
use common::{TestDb, TestServer, post, settings};
use rmcp::model::{CallToolRequestParams, SubscribeRequestParams, UnsubscribeRequestParams};
use serde_json::json;

/// Waits until `watcher` has heard `uri` updated more than `after` times.
async fn heard(watcher: &Watcher, uri: &str, after: usize) -> usize {
    for _ in 0..150 {
        let count = watcher
            .updated
            .lock()
            .unwrap()
            .iter()
            .filter(|u| *u == uri)
            .count();
        if count > after {
            return count;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no update of {uri} within 15 s");
}

#[tokio::test]
async fn subscribed_sessions_hear_their_resources_change() {
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let server = TestServer::start(settings(&db)).await;
    let t = tenant_with_everything(&server.base, &server.client).await;
    let endpoint = server.url("/mcp/default");
    let (one, two) = (Watcher::default(), Watcher::default());
    let first = connect(&endpoint, &server.admin_token, Era::Session, one.clone()).await;
    let second = connect(&endpoint, &server.admin_token, Era::Session, two.clone()).await;
    let info = first.peer_info().unwrap();
    assert_eq!(
        info.capabilities
            .resources
            .as_ref()
            .and_then(|r| r.subscribe),
        Some(true)
    );
    let resources = first.list_all_resources().await.unwrap();
    let uri = resources[0].uri.clone();
    assert!(uri.starts_with("switchyard://everything/"), "{uri}");

    for client in [&first, &second] {
        client
            .subscribe(SubscribeRequestParams::new(uri.clone()))
            .await
            .unwrap();
    }
    let toggle = CallToolRequestParams::new("everything.toggle-subscriber-updates");
    first.call_tool(toggle).await.unwrap();
    let heard_one = heard(&one, &uri, 0).await;
    heard(&two, &uri, 0).await;

    // After unsubscribing, the first session hears nothing more while the second still does.
    first
        .unsubscribe(UnsubscribeRequestParams::new(uri.clone()))
        .await
        .unwrap();
    let settled = one.updated.lock().unwrap().len().max(heard_one);
    let now = two.updated.lock().unwrap().len();
    heard(&two, &uri, now + 1).await;
    assert!(
        one.updated.lock().unwrap().len() <= settled,
        "the first session still hears updates"
    );

    // What the caller may not see cannot be watched, and answers as unknown.
    let deny =
        json!({ "name": "no-resources", "effect": "deny", "tool_pattern": "everything.demo://*" });
    let r = post(
        &server.client,
        server.url(&format!("/api/v1/tenants/{t}/policies")),
        deny,
    )
    .await;
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let hidden = resources
        .iter()
        .find(|r| r.uri.contains("demo://"))
        .map(|r| r.uri.clone())
        .unwrap_or_else(|| panic!("no demo:// resource in {resources:?}"));
    let refused = first.subscribe(SubscribeRequestParams::new(hidden)).await;
    assert!(refused.is_err(), "{refused:?}");
    let unknown = first
        .subscribe(SubscribeRequestParams::new("switchyard://nope/x"))
        .await;
    assert!(unknown.is_err(), "{unknown:?}");
    first.cancel().await.unwrap();
    second.cancel().await.unwrap();
    server.stop().await;
}
