//! Invitations: an administrator invites an address with roles; the invitee sets a password
//! through a single-use link.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Body of `POST /api/v1/tenants/{tenant_id}/invitations`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    pub email: String,
    /// Defaults to the address.
    #[serde(default)]
    pub display_name: String,
    /// Role names in the tenant; the inviter must hold every permission they grant.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// A pending invitation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Invitation {
    pub id: Uuid,
    pub user_id: Uuid,
    pub email: String,
    /// `user:<id>` of the inviter.
    pub invited_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct InvitationList {
    pub items: Vec<Invitation>,
}

/// The answer to an invitation: its link is shown only here.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct CreatedInvitation {
    pub invitation: Invitation,
    /// The secret the invitee presents (`sy_inv_…`).
    pub token: String,
    /// The console path that accepts it, `/invite#<token>`: the fragment never reaches a
    /// server log or a `Referer` header.
    pub accept_path: String,
}

/// Body of `POST /api/v1/auth/invitations/inspect`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InvitationToken {
    pub token: String,
}

/// What the invitee is told before choosing a password.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct InvitationInfo {
    pub tenant_slug: String,
    pub tenant_name: String,
    pub email: String,
    pub expires_at: DateTime<Utc>,
}

/// Body of `POST /api/v1/auth/invitations/accept`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    pub token: String,
    pub password: String,
}
