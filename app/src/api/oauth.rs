//! The console's side of OAuth for MCP clients: the consent page's request and answer, and
//! the apps a user has allowed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A pending authorization request, as the consent page shows it
/// (`GET /api/v1/oauth/requests/{id}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OAuthRequest {
    pub client_id: String,
    /// The client's own name for itself.
    pub client_name: String,
    /// `client_id` is the URL of the client's metadata document (its host vouches for it);
    /// otherwise the client registered itself here.
    pub metadata_document: bool,
    /// Where the browser goes with the answer.
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    /// The MCP endpoint the token will be for.
    pub resource: String,
    /// Who is answering.
    pub user_email: String,
    pub tenant_slug: String,
}

/// Body of `POST /api/v1/oauth/requests/{id}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OAuthAnswer {
    pub allow: bool,
}

/// Where the browser goes next: the client's redirect URI with a code or an error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OAuthRedirect {
    pub redirect_to: String,
}

/// An application the user allowed to use their MCP endpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OAuthConsent {
    pub id: Uuid,
    pub client_id: String,
    pub client_name: String,
    pub scopes: Vec<String>,
    pub granted_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OAuthConsentList {
    pub items: Vec<OAuthConsent>,
}
