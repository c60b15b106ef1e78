//! The request and response types of `/api/v1`, shared by the server, the console and any Rust
//! client (DESIGN.md "One API"). Everything here is wasm-safe; OpenAPI schemas derive under
//! the `ssr` feature only.

mod audit;
mod auth;
mod chat;
mod client;
mod invitation;
mod llm;
mod oauth;
mod policy;
mod tools;
mod upstream;
mod validate;
mod vectors;
mod virtual_server;
pub mod workflow;

pub use audit::{AuditList, AuditQuery, AuditRecord, AuditVerification};
pub use auth::{
    ApiKey, ApiKeyList, CreatedApiKey, Me, MfaCode, MfaEnrolment, NewApiKey, PasswordChange,
    PasswordReset, RecoveryCodes, RefreshToken, Role, RoleList, RoleMfa, SignIn, SigningKeyRotated,
    TokenResponse, UserRoles,
};
pub use chat::{
    ChatApproval, ChatEvent, ChatMessage, ChatMessageList, Conversation, ConversationInput,
    ConversationList, ConversationStatus, MAX_MESSAGE_CHARS, NewChatMessage, ToolCard,
};
pub use client::{ApiClient, Method, sendable};
pub use invitation::{
    AcceptInvitation, CreatedInvitation, Invitation, InvitationInfo, InvitationList,
    InvitationToken, NewInvitation,
};
pub use llm::{
    LlmBudget, LlmFlavor, LlmProbe, LlmProvider, LlmProviderInput, LlmProviderList, LlmUsage,
    LlmUsageQuery, ModelUsage, TokenCount,
};
pub use oauth::{OAuthAnswer, OAuthConsent, OAuthConsentList, OAuthRedirect, OAuthRequest};
pub use policy::{
    EffectiveAccess, GatewaySettings, Grant, NewRole, NewToolPolicy, PERMISSIONS, PolicyAnswer,
    PolicyQuestion, RuleTrace, ToolAccess, ToolAccessList, ToolPolicy, ToolPolicyList, WhoQuery,
};
pub use tools::{
    CATALOG_KINDS, CatalogEntry, CatalogList, CatalogQuery, CatalogTool, ToolCall, ToolCallResult,
    ToolList, ToolStats, ToolStatsList, ToolStatsQuery, UpstreamFault,
};
pub use upstream::{
    AuthorizationStart, BuiltinRegistration, BuiltinServer, Connection, OAuthGrant, ProbedItem,
    ToolFilter, Upstream, UpstreamAuthorization, UpstreamInput, UpstreamList, UpstreamOAuth,
    UpstreamProbe, UpstreamStatus,
};
pub use validate::{FieldError, validate_email, validate_identifier, validate_name, validate_slug};
pub use vectors::{
    MAX_VECTOR_DIMENSION, PineconeConnection, VectorBackend, VectorIndex, VectorIndexInput,
    VectorIndexList, VectorMetric, dimension_problem, index_name_problem,
};
pub use virtual_server::{
    MAX_PATTERNS, VirtualServer, VirtualServerInput, VirtualServerList, any_matches, glob_matches,
    pattern_list_problems, pattern_problem,
};
pub use workflow::{
    Checkpoint, CheckpointList, CheckpointQuery, Decision, Fork, Run, RunEvent, RunEventKind,
    RunEventList, RunEventQuery, RunInput, RunList, RunQuery, RunStatus, Workflow, WorkflowInput,
    WorkflowList,
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Largest page a list endpoint returns; larger `limit`s are rejected, not clamped.
pub const MAX_PAGE_SIZE: u32 = 200;
/// Page size when the request names none.
pub const DEFAULT_PAGE_SIZE: u32 = 50;

/// An organisation using Switchyard; every other record belongs to exactly one tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Tenant {
    pub id: Uuid,
    /// URL-safe identifier, unique across the platform (`acme`, `team-7`).
    pub slug: String,
    /// Human-readable name.
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/tenants`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// 2–63 characters: lowercase letters, digits and `-`, starting with a letter or digit.
    pub slug: String,
    /// 1–200 characters.
    pub name: String,
}

/// Body of `PATCH /api/v1/tenants/{id}`: only the fields present change.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A tenant's API rate limits: `GET`/`PUT /api/v1/tenants/{id}/limits`. Absent: the
/// platform default; 0: no limit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TenantLimits {
    /// Requests per second for the whole tenant.
    #[serde(default)]
    pub tenant_per_second: Option<u32>,
    /// Requests per second for each user or API key.
    #[serde(default)]
    pub principal_per_second: Option<u32>,
}

/// A person (or service identity) in one tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct User {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Unique within the tenant, compared case-insensitively.
    pub email: String,
    pub display_name: String,
    /// A disabled user cannot sign in or call tools.
    pub disabled: bool,
    /// Platform administrators may act across tenants through the admin endpoints.
    pub platform_admin: bool,
    /// The user's roles in the tenant, by name.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Set while the account is locked after repeated failed sign-ins.
    #[serde(default)]
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/tenants/{tenant_id}/users`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub email: String,
    pub display_name: String,
}

/// Body of `PATCH /api/v1/tenants/{tenant_id}/users/{id}`: only the fields present change.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

/// Query of `GET /api/v1/tenants`. Pages are keyed on the last id seen (ids are UUIDv7, so
/// this is creation order) and stay stable while rows are added.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct TenantQuery {
    /// Page size, 1–200 (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Uuid>,
    /// Case-insensitive substring of the slug or name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
}

/// Query of `GET /api/v1/tenants/{tenant_id}/users`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    /// Page size, 1–200 (default 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Uuid>,
    /// Case-insensitive substring of the email or display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
    /// Only disabled (`true`) or only enabled (`false`) users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

/// One page of tenants.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TenantList {
    pub items: Vec<Tenant>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<Uuid>,
}

/// One page of users.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UserList {
    pub items: Vec<User>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<Uuid>,
}

/// An RFC 9457 problem details object, the body of every error response of `/api/v1`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Problem {
    /// A URI naming the problem type (RFC 9457 §3.1.1).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What exactly went wrong with this request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The `x-request-id` of the request, for finding it in the logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Per-field errors, when the body failed validation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Problem {
    /// A problem raised on the client side (network failure, undecodable answer).
    pub fn client(detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank".into(),
            title: "Request failed".into(),
            status: 0,
            detail: Some(detail.into()),
            instance: None,
            request_id: None,
            errors: Vec::new(),
        }
    }

    /// The message a person should see.
    pub fn message(&self) -> String {
        let mut text = self.detail.clone().unwrap_or_else(|| self.title.clone());
        for error in &self.errors {
            text.push_str(&format!("; {}: {}", error.field, error.message));
        }
        text
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for Problem {}
