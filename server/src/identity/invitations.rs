//! Invitations: an administrator invites an address into their tenant with chosen roles; the
//! invitee opens a single-use link and sets a password. The link carries
//! `sy_inv_<tenant>_<secret>`: the tenant lets the lookup stay behind the tenant wall, the
//! 256-bit secret is stored only as its SHA-256 (as for API keys, a slow hash adds nothing).
//! Delivery is the inviter's: the console shows the link once, to copy into any channel.

use chrono::{Duration, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{AuthError, Identity, Principal};
use crate::audit::{self, Origin, Outcome};
use crate::config::Secret;
use crate::store::{InvitationRow, NewInvitation, NewUserRecord};
use crate::tenancy::TenantScope;

const TOKEN_PREFIX: &str = "sy_inv_";

/// How long a link stays valid.
pub const INVITATION_TTL: Duration = Duration::days(7);

/// Why an invitation link was not accepted.
const INVALID: AuthError =
    AuthError::InvalidToken("the invitation is invalid, expired or already used");

/// An invitation as created: the row and the link's token, shown once.
pub struct Invited {
    pub invitation: InvitationRow,
    pub token: String,
}

fn token_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Splits a token into its tenant and secret.
fn parse(token: &str) -> Option<(Uuid, &str)> {
    let (tenant, secret) = token.strip_prefix(TOKEN_PREFIX)?.split_once('_')?;
    let tenant = Uuid::try_parse(tenant).ok()?;
    (!secret.is_empty()).then_some((tenant, secret))
}

impl Identity {
    /// Creates the invitee (no password yet) with `role_ids`, and the link. The caller has
    /// already checked the inviter may grant those roles.
    pub async fn invite(
        &self,
        inviter: &Principal,
        scope: &TenantScope,
        user: NewUserRecord<'_>,
        roles: (&[Uuid], &[String]),
        origin: &Origin,
    ) -> Result<Invited, AuthError> {
        let secret = super::random_token(32);
        let email = user.email.to_owned();
        let invitation = self
            .store
            .create_invitation(
                scope,
                &NewInvitation {
                    user,
                    role_ids: roles.0,
                    token_hash: &token_hash(&secret),
                    invited_by: &inviter.actor(),
                    expires_at: Utc::now() + INVITATION_TTL,
                },
            )
            .await?;
        let event = origin
            .event(inviter.actor(), "user.invite", Outcome::Success)
            .target(format!("user:{}", invitation.user_id))
            .detail(
                json!({ "email": email, "roles": roles.1, "expires_at": invitation.expires_at }),
            );
        audit::record(&self.store, scope.tenant_id(), event).await?;
        let token = format!("{TOKEN_PREFIX}{}_{secret}", scope.tenant_id().simple());
        Ok(Invited { invitation, token })
    }

    /// The live invitation a token names.
    pub async fn find_invitation(&self, token: &str) -> Result<InvitationRow, AuthError> {
        let (tenant, secret) = parse(token).ok_or(INVALID)?;
        self.store
            .invitation_by_hash(tenant, &token_hash(secret))
            .await?
            .ok_or(INVALID)
    }

    /// Sets the invitee's password and spends the link; the invitee then signs in as anyone.
    /// A password the policy refuses leaves the link usable.
    pub async fn accept_invitation(
        &self,
        token: &str,
        password: Secret,
        origin: &Origin,
    ) -> Result<InvitationRow, AuthError> {
        let invitation = self.find_invitation(token).await?;
        self.check_password_policy(password.expose())
            .map_err(AuthError::Refused)?;
        let hash = self.hash(password).await?;
        let scope = TenantScope::verified(invitation.tenant_id);
        if !self
            .store
            .accept_invitation(&scope, &invitation, &hash)
            .await?
        {
            return Err(INVALID);
        }
        let actor = format!("user:{}", invitation.user_id);
        let event = origin
            .event(actor.clone(), "user.invite.accept", Outcome::Success)
            .target(actor)
            .detail(json!({ "invited_by": invitation.invited_by }));
        audit::record(&self.store, invitation.tenant_id, event).await?;
        Ok(invitation)
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn tokens_name_their_tenant() {
        let id = uuid::Uuid::now_v7();
        let token = format!("sy_inv_{}_abc", id.simple());
        assert_eq!(parse(&token), Some((id, "abc")));
        assert_eq!(parse("sy_inv_nonsense_abc"), None);
        assert_eq!(parse(&format!("sy_inv_{}_", id.simple())), None);
        assert_eq!(parse("sy_abc_def"), None);
    }
}
