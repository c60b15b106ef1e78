//! The tenant's tool catalog as a caller sees it, and calling a tool through the gateway.

use serde::{Deserialize, Serialize};

/// A tool the caller may use, named `upstream.tool`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CatalogTool {
    pub name: String,
    pub upstream: String,
    #[serde(default)]
    pub description: String,
    /// The tool's JSON Schema for its arguments.
    pub input_schema: serde_json::Value,
    /// The upstream says the tool changes nothing (`readOnlyHint`).
    #[serde(default)]
    pub read_only: bool,
}

/// An upstream whose tools could not be listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UpstreamFault {
    pub upstream: String,
    pub error: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ToolList {
    pub items: Vec<CatalogTool>,
    /// Enabled upstreams that did not answer; their tools are missing from `items`.
    pub unavailable: Vec<UpstreamFault>,
}

/// Body of `POST /api/v1/tenants/{tenant_id}/tools/call`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    /// `upstream.tool`.
    pub tool: String,
    /// A JSON object matching the tool's input schema.
    #[serde(default)]
    pub arguments: serde_json::Map<String, serde_json::Value>,
}

/// What the tool answered (MCP `CallToolResult`), with how the call went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ToolCallResult {
    /// The MCP result: `content`, `structuredContent`, `isError`.
    pub result: serde_json::Value,
    /// The tool reported an error (`isError`); the call itself went through.
    pub is_error: bool,
    /// The policy rule that allowed the call.
    pub rule: String,
    pub latency_ms: u64,
}

/// Query of `GET /api/v1/tenants/{tenant_id}/tools/stats`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct ToolStatsQuery {
    /// The window, in hours back from now: 1–720 (default 24).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<u32>,
}

/// Calls to one tool in the window, from the audit trail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ToolStats {
    pub tool: String,
    pub calls: u64,
    /// Calls that failed: the upstream failed or the tool reported an error.
    pub failures: u64,
    /// Calls refused by policy or rate limit.
    pub denied: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ToolStatsList {
    pub hours: u32,
    /// Busiest first.
    pub items: Vec<ToolStats>,
}

/// Query of `GET /api/v1/tenants/{tenant_id}/catalog`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct CatalogQuery {
    /// Case-insensitive text in the name, the upstream or the description (≤ 200 chars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Only this kind: `tool`, `prompt`, `resource` or `template`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// The kinds of catalog entry.
pub const CATALOG_KINDS: [&str; 4] = ["tool", "prompt", "resource", "template"];

/// One thing the caller may use: a tool or prompt (`upstream.name`), or a resource or
/// resource template (its gateway URI).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CatalogEntry {
    pub kind: String,
    pub name: String,
    pub upstream: String,
    #[serde(default)]
    pub description: String,
}

impl CatalogEntry {
    /// Whether `needle` (lowercase) is in the name, upstream or description.
    pub fn mentions(&self, needle: &str) -> bool {
        [&self.name, &self.upstream, &self.description]
            .iter()
            .any(|s| s.to_lowercase().contains(needle))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CatalogList {
    pub items: Vec<CatalogEntry>,
    /// Enabled upstreams that did not answer; their items are missing from `items`.
    pub unavailable: Vec<UpstreamFault>,
}
