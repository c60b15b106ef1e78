//! Sign-in, tokens, sessions, MFA, API keys and roles.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Body of `POST /api/v1/auth/token` (mobile apps, scripts) and `POST /api/v1/auth/session`
/// (the console).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// The tenant's slug.
    pub tenant: String,
    pub email: String,
    pub password: String,
    /// A 6-digit TOTP code or a recovery code, for accounts with MFA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_code: Option<String>,
}

/// Tokens (RFC 6749 §5.1 names). The access token is a JWT (ES256) verifiable with
/// `/.well-known/jwks.json`; the refresh token rotates on every use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub refresh_token: String,
}

/// Body of `POST /api/v1/auth/refresh` and `POST /api/v1/auth/revoke`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RefreshToken {
    pub refresh_token: String,
}

/// The caller: `GET /api/v1/auth/me`, and the answer of a console sign-in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Me {
    pub user_id: Uuid,
    pub tenant_id: Uuid,
    pub tenant_slug: String,
    pub email: String,
    pub platform_admin: bool,
    pub roles: Vec<String>,
    /// Effective permissions in the caller's tenant (`users:read`, `tools:call`, …).
    pub permissions: Vec<String>,
    /// `bearer`, `session` or `api_key`.
    pub authenticated_by: String,
    pub mfa_enabled: bool,
    /// A role the caller holds requires MFA and none is enrolled: only enrolment works.
    #[serde(default)]
    pub mfa_enrolment_required: bool,
    /// For console sessions: the token to send as `x-csrf-token` on unsafe requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

/// Body of `POST /api/v1/auth/password`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Body of `POST /api/v1/tenants/{tenant_id}/users/{id}/password` (administrator reset).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    pub new_password: String,
}

/// A started TOTP enrolment: add it to an authenticator app, then confirm with a code.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MfaEnrolment {
    /// The shared secret, base32, for manual entry.
    pub secret: String,
    /// `otpauth://totp/…` for QR codes.
    pub otpauth_uri: String,
    /// The same URI as an SVG QR code.
    pub qr_svg: String,
}

/// Body of `POST /api/v1/auth/mfa/confirm`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MfaCode {
    pub code: String,
}

/// One-time recovery codes, shown once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// An API key as listed (never the secret).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    /// The public part, shown to tell keys apart (`sy_<prefix>_…`).
    pub prefix: String,
    /// Granted permissions; `["*"]` means whatever the owner holds.
    pub permissions: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/auth/api-keys`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    pub name: String,
    /// Permissions to grant, each held by the caller; omitted: whatever the caller holds at
    /// each use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A created key: the only time the full key is shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreatedApiKey {
    pub key: String,
    pub api_key: ApiKey,
}

/// A list of API keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ApiKeyList {
    pub items: Vec<ApiKey>,
}

/// A role in a tenant: built-in (fixed permissions) or custom.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Role {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub permissions: Vec<String>,
    pub builtin: bool,
    /// Holders must use a second factor.
    #[serde(default)]
    pub require_mfa: bool,
}

/// Body of `PUT /api/v1/tenants/{tenant_id}/roles/{id}/require-mfa`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RoleMfa {
    pub required: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RoleList {
    pub items: Vec<Role>,
}

/// Body of `PUT /api/v1/tenants/{tenant_id}/users/{id}/roles`: the complete set of role names.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserRoles {
    pub roles: Vec<String>,
}

/// A token-signing key as the admin endpoint lists it (public parts only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SigningKeyRotated {
    /// The key id (RFC 7638 thumbprint) of the new signing key.
    pub kid: String,
}
