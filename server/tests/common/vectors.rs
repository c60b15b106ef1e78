//! The built-in vectors server's tools over MCP, for the vectors stories.

use app::api::BuiltinServer;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use serde_json::Value;

use super::mcp::{Client, Era, Watcher, connect};
use super::{TestDb, TestServer, make_user, settings};

pub fn call(name: &str, arguments: Value) -> CallToolRequestParams {
    CallToolRequestParams::new(format!("vectors.{name}"))
        .with_arguments(arguments.as_object().unwrap().clone())
}

pub fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

/// Calls a tool that must succeed: its structured result.
pub async fn ok(client: &Client, name: &str, arguments: Value) -> Value {
    let result = client.call_tool(call(name, arguments)).await.unwrap();
    assert_eq!(result.is_error, Some(false), "{name}: {}", text_of(&result));
    result.structured_content.expect("structured content")
}

/// Calls a tool that must refuse: its message.
pub async fn refused(client: &Client, name: &str, arguments: Value) -> String {
    let result = client.call_tool(call(name, arguments)).await.unwrap();
    assert_eq!(result.is_error, Some(true), "{name}: {}", text_of(&result));
    text_of(&result)
}

pub fn settings_with_vectors(db: &TestDb) -> switchyard::config::Settings {
    let mut settings = settings(db);
    settings.tools.builtin_for_new_tenants = vec![BuiltinServer::Vectors];
    settings
}

/// A member of `slug`'s MCP session.
pub async fn member(server: &TestServer, tenant: &str, slug: &str, email: &str) -> Client {
    make_user(server, tenant, email, &["member"]).await;
    let (_, tokens) = server.sign_in_as(slug, email, super::PASSWORD).await;
    let token = tokens["access_token"].as_str().unwrap();
    let url = server.url(&format!("/mcp/{slug}"));
    connect(&url, token, Era::Stateless, Watcher::default()).await
}

pub fn ids(matches: &Value) -> Vec<&str> {
    matches["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect()
}
