//! OAuth 2.1 for MCP clients (MCP 2025-11-25 basic/authorization). Each tenant is its own
//! authorization server, issuer `{public}/oauth/{slug}`, for the resources `{public}/mcp/{slug}`
//! and its virtual servers `{public}/mcp/{slug}/{name}`:
//! - clients are registered (RFC 7591, [`clients`]) or named by the URL of their metadata
//!   document (Client ID Metadata Documents); all are public clients, so PKCE S256 is
//!   required and nothing else authenticates them;
//! - the authorization code flow ([`flow`]): the request waits in `kv` while the user signs in
//!   with the console's login and answers the consent page; codes are single-use and short;
//!   the answer carries `iss` (RFC 9207);
//! - tokens name their resource in `aud` (RFC 8707) and are accepted there alone; refresh
//!   tokens rotate and stay bound to their client and resource.

mod clients;
mod flow;

pub use clients::Registration;
pub use flow::{AuthorizeParams, Authorized, PendingView, TokenParams, TokenResponse};

use std::sync::Arc;

use uuid::Uuid;

use crate::config::OAuthSettings;
use crate::identity::Identity;
use crate::kv::{Kv, KvError};
use crate::store::{Store, StoreError};
use crate::telemetry::Metrics;

/// The one scope: use the MCP endpoint with the signed-in user's own rights. What a token
/// lets its holder call is still decided per call by the tenant's policies.
pub const SCOPE: &str = "mcp";

/// The scopes the authorization server knows: `offline_access` (OIDC Core §11) asks for a
/// refresh token, which every client gets anyway.
pub const SCOPES: [&str; 2] = [SCOPE, "offline_access"];

/// An OAuth error, with the code the RFCs define for it (RFC 6749 §4.1.2.1 and §5.2,
/// RFC 7591 §3.2.2, RFC 8707 §2).
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("{0}")]
    InvalidRequest(String),
    /// Unknown client, or one whose metadata cannot be used.
    #[error("{0}")]
    InvalidClient(String),
    /// A code or refresh token that is invalid, expired, spent or not this client's.
    #[error("{0}")]
    InvalidGrant(String),
    #[error("{0}")]
    UnsupportedGrantType(String),
    #[error("{0}")]
    UnsupportedResponseType(String),
    #[error("{0}")]
    InvalidScope(String),
    /// The `resource` is not one of this authorization server's.
    #[error("{0}")]
    InvalidTarget(String),
    /// The user refused.
    #[error("the user did not allow the request")]
    AccessDenied,
    #[error("{0}")]
    InvalidRedirectUri(String),
    #[error("{0}")]
    InvalidClientMetadata(String),
    /// The pending request is unknown or expired, or belongs to another tenant.
    #[error("the authorization request is unknown or has expired; start again from the client")]
    UnknownRequest,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Kv(#[from] KvError),
    #[error(transparent)]
    Auth(#[from] crate::identity::AuthError),
    #[error("{0}")]
    Internal(String),
}

impl OAuthError {
    /// The `error` value of the answer; `None` for faults of ours (a 5xx).
    pub fn code(&self) -> Option<&'static str> {
        Some(match self {
            OAuthError::InvalidRequest(_) | OAuthError::UnknownRequest => "invalid_request",
            OAuthError::InvalidClient(_) => "invalid_client",
            OAuthError::InvalidGrant(_) => "invalid_grant",
            OAuthError::UnsupportedGrantType(_) => "unsupported_grant_type",
            OAuthError::UnsupportedResponseType(_) => "unsupported_response_type",
            OAuthError::InvalidScope(_) => "invalid_scope",
            OAuthError::InvalidTarget(_) => "invalid_target",
            OAuthError::AccessDenied => "access_denied",
            OAuthError::InvalidRedirectUri(_) => "invalid_redirect_uri",
            OAuthError::InvalidClientMetadata(_) => "invalid_client_metadata",
            OAuthError::Auth(crate::identity::AuthError::Disabled) => "access_denied",
            OAuthError::Auth(crate::identity::AuthError::InvalidToken(_)) => "invalid_grant",
            OAuthError::Store(_) | OAuthError::Kv(_) | OAuthError::Auth(_) => return None,
            OAuthError::Internal(_) => return None,
        })
    }
}

/// One tenant's authorization server, as reached through one public origin.
#[derive(Clone, Debug)]
pub struct Issuer {
    pub tenant_id: Uuid,
    pub slug: String,
    /// `https://gateway.example.com`, no trailing slash.
    pub public: String,
}

impl Issuer {
    /// The `issuer` of the metadata and of every authorization response (RFC 8414 §2).
    pub fn url(&self) -> String {
        format!("{}/oauth/{}", self.public, self.slug)
    }

    /// The tenant's MCP endpoint: the default resource.
    pub fn resource(&self) -> String {
        format!("{}/mcp/{}", self.public, self.slug)
    }

    /// Whether `resource` is one of this tenant's MCP endpoints (its own or a virtual
    /// server's), compared exactly as the canonical URI it must be (RFC 8707 §2).
    pub fn serves(&self, resource: &str) -> bool {
        let Some(rest) = resource.strip_prefix(&self.resource()) else {
            return false;
        };
        match rest.strip_prefix('/') {
            None => rest.is_empty(),
            Some(name) => app::api::validate_identifier("resource", name).is_ok(),
        }
    }

    /// RFC 8414 authorization server metadata, with the MCP additions.
    pub fn metadata(&self) -> serde_json::Value {
        let issuer = self.url();
        serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "registration_endpoint": format!("{issuer}/register"),
            "revocation_endpoint": format!("{}/api/v1/auth/revoke", self.public),
            "scopes_supported": SCOPES,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["none"],
            "code_challenge_methods_supported": ["S256"],
            "authorization_response_iss_parameter_supported": true,
            "client_id_metadata_document_supported": true,
        })
    }
}

/// The authorization server of every tenant; cheap to clone.
#[derive(Clone)]
pub struct AuthorizationServer {
    store: Store,
    kv: Kv,
    identity: Identity,
    metrics: Metrics,
    settings: Arc<OAuthSettings>,
}

impl AuthorizationServer {
    pub fn new(
        store: Store,
        kv: Kv,
        identity: Identity,
        metrics: Metrics,
        settings: OAuthSettings,
    ) -> Self {
        Self {
            store,
            kv,
            identity,
            metrics,
            settings: Arc::new(settings),
        }
    }

    pub fn settings(&self) -> &OAuthSettings {
        &self.settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issuer_serves_its_own_endpoints_exactly() {
        let issuer = Issuer {
            tenant_id: Uuid::nil(),
            slug: "acme".into(),
            public: "https://gw.example.com".into(),
        };
        assert_eq!(issuer.url(), "https://gw.example.com/oauth/acme");
        for ok in [
            "https://gw.example.com/mcp/acme",
            "https://gw.example.com/mcp/acme/github-tools",
        ] {
            assert!(issuer.serves(ok), "{ok}");
        }
        for bad in [
            "https://gw.example.com/mcp/acme/",
            "https://gw.example.com/mcp/acmecorp",
            "https://gw.example.com/mcp/other",
            "https://evil.example.com/mcp/acme",
            "https://gw.example.com/mcp/acme/a/b",
            "https://gw.example.com/mcp/acme?x=1",
            "http://gw.example.com/mcp/acme",
        ] {
            assert!(!issuer.serves(bad), "{bad}");
        }
    }
}
