//! Custom roles, tool policies, the policy tester and the effective-permissions explorer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Every permission, as `resource:action` (the server's `access::Permission`; a test keeps
/// the two lists equal).
pub const PERMISSIONS: [&str; 15] = [
    "tenant:read",
    "tenant:write",
    "users:read",
    "users:write",
    "roles:read",
    "roles:write",
    "upstreams:read",
    "upstreams:write",
    "policies:read",
    "policies:write",
    "workflows:read",
    "workflows:write",
    "workflows:run",
    "audit:read",
    "tools:call",
];

/// Body of `POST /api/v1/tenants/{tenant_id}/roles` and `PUT …/roles/{id}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewRole {
    /// 2–63 characters: lowercase letters, digits, `-` and `_`.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// `resource:action` permissions, each held by the caller.
    pub permissions: Vec<String>,
}

/// A tool rule: allow or deny the tools matching `tool_pattern` (a glob over `upstream.tool`;
/// `*` any run of characters, `?` one) for `role` (or everyone), when every condition holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ToolPolicy {
    pub id: Uuid,
    pub name: String,
    /// `allow` or `deny`; deny wins.
    pub effect: String,
    pub tool_pattern: String,
    /// The role the rule applies to; absent: every user of the tenant.
    pub role: Option<String>,
    /// Constraints on the call's arguments, each `{"op": "prefix" | "max" | "min" | "equals" |
    /// "one_of", "path": "/json/pointer", "value" | "values": …}`.
    pub conditions: Vec<serde_json::Value>,
    /// Among allow rules that apply, the highest priority decides.
    pub priority: i32,
    /// An allow rule that allows a call only once the user confirms it: the chat asks them;
    /// other callers are refused (a workflow puts an approval node before the call).
    #[serde(default)]
    pub confirm: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/tenants/{tenant_id}/policies` and `PUT …/policies/{id}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewToolPolicy {
    pub name: String,
    pub effect: String,
    pub tool_pattern: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default)]
    pub conditions: Vec<serde_json::Value>,
    #[serde(default)]
    pub priority: i32,
    /// Only for `allow`: allow after the user confirms the call.
    #[serde(default)]
    pub confirm: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ToolPolicyList {
    pub items: Vec<ToolPolicy>,
}

/// Body of `POST /api/v1/tenants/{tenant_id}/policies/evaluate`: would this call be allowed?
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PolicyQuestion {
    /// Evaluate for this user (with their roles and permissions)…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Uuid>,
    /// …or for someone holding these roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// The namespaced tool name, `upstream.tool`.
    pub tool: String,
    #[serde(default)]
    pub arguments: serde_json::Value,
}

/// How one rule related to the call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RuleTrace {
    pub rule: String,
    pub effect: String,
    /// `applies`, `pattern_differs`, `role_differs` or `condition_fails`.
    pub outcome: String,
    /// For `condition_fails`: which condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<serde_json::Value>,
}

/// The decision, the rule that made it, and every rule's part in it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PolicyAnswer {
    pub allowed: bool,
    /// Allowed only after the user confirms the call.
    #[serde(default)]
    pub confirm: bool,
    /// The deciding rule, or `default-deny` / `permission:tools:call`.
    pub rule: String,
    pub reason: String,
    pub trace: Vec<RuleTrace>,
}

/// One permission and the roles that grant it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Grant {
    pub permission: String,
    pub granted_by: Vec<String>,
}

/// What a user may do and why: `GET /api/v1/tenants/{tenant_id}/users/{id}/effective`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct EffectiveAccess {
    pub user_id: Uuid,
    pub roles: Vec<String>,
    pub platform_admin: bool,
    pub permissions: Vec<Grant>,
    /// The tool rules that apply to the user (through a role or to everyone), in the order
    /// they are weighed: deny rules first, then allow rules by priority.
    pub tool_rules: Vec<ToolPolicy>,
}

/// One user's answer for a tool: `GET …/policies/who?tool=…`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ToolAccess {
    pub user_id: Uuid,
    pub email: String,
    /// Allowed whatever the arguments (no condition involved).
    pub allowed: bool,
    pub rule: String,
    /// Rules that would allow the call only for some arguments.
    pub conditional: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ToolAccessList {
    pub tool: String,
    pub items: Vec<ToolAccess>,
}

/// Query of `GET /api/v1/tenants/{tenant_id}/policies/who`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct WhoQuery {
    /// The namespaced tool name.
    pub tool: String,
}

/// The tenant's gateway settings: `GET` and `PUT /api/v1/tenants/{tenant_id}/gateway-settings`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// Keep each tool call's and prompt's arguments in the audit trail, beside their digest.
    /// Values under names that suggest secrets (`password`, `token`, `secret`, `key`,
    /// `authorization`, `credential`) are redacted; arguments over 16 KiB are not kept. Off
    /// (the default): the digest only.
    pub store_arguments: bool,
}
