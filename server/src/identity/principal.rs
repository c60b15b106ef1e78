//! The authenticated caller of a request.

use uuid::Uuid;

use super::{AuthError, Identity};
use crate::access::{Permission, PermissionSet};
use crate::store::Credentials;
use crate::tenancy::TenantScope;

/// How the caller proved who it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credential {
    /// A JWT access token from the refresh family `family`.
    Bearer { family: Uuid },
    /// A console session cookie; unsafe methods need its CSRF token.
    Session { csrf: String },
    /// An API key (personal access token).
    ApiKey { id: Uuid },
    /// A workflow run, acting for the user who started it ([`Identity::principal_for_run`]).
    Run { id: Uuid },
}

/// A verified identity: who, in which tenant, allowed to do what.
#[derive(Clone, Debug)]
pub struct Principal {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub email: String,
    pub platform_admin: bool,
    pub roles: Vec<String>,
    /// What the principal may do in its own tenant (already narrowed by an API key's scopes).
    pub permissions: PermissionSet,
    pub credential: Credential,
    /// A role requires MFA and the account has none yet: only enrolment is allowed.
    pub must_enrol_mfa: bool,
}

impl Principal {
    /// The actor written into audit records.
    pub fn actor(&self) -> String {
        format!("user:{}", self.user_id)
    }

    /// Whether the principal holds `permission` in its own tenant.
    pub fn can(&self, permission: Permission) -> bool {
        self.platform_admin || self.permissions.contains(permission)
    }

    /// The permissions of `wanted` the principal does not hold, by name: what granting
    /// `wanted` (to a key, a role, a user) would escalate to.
    pub fn lacking(&self, wanted: PermissionSet) -> Vec<String> {
        wanted
            .iter()
            .filter(|p| !self.can(*p))
            .map(|p| p.as_str().to_string())
            .collect()
    }

    /// The principal a run this principal starts acts as, now: what
    /// [`Identity::principal_for_run`] reads back later (the same account and roles, never
    /// beyond what this credential holds, never platform-wide).
    pub fn for_run(&self, run: Uuid) -> Principal {
        Principal {
            permissions: self.effective(),
            platform_admin: false,
            credential: Credential::Run { id: run },
            ..self.clone()
        }
    }

    /// The permissions the principal holds, as a platform admin holds all of them.
    pub fn effective(&self) -> PermissionSet {
        if self.platform_admin {
            PermissionSet::all()
        } else {
            self.permissions
        }
    }
}

impl Identity {
    /// The principal a workflow run acts as: its starter's account as it is now (its current
    /// roles; refused once disabled), never beyond `scopes`, the permissions the starter's
    /// credential held when the run started, and never with platform-wide powers.
    pub async fn principal_for_run(
        &self,
        scope: &TenantScope,
        user: Uuid,
        run: Uuid,
        scopes: PermissionSet,
    ) -> Result<Principal, AuthError> {
        let account = self.store.credentials(scope, user).await?;
        let mut principal = self
            .principal_for(&account, Credential::Run { id: run })
            .await?;
        principal.permissions = principal.effective().intersect(scopes);
        principal.platform_admin = false;
        Ok(principal)
    }

    /// The principal for an account, with its current roles; refuses disabled accounts.
    pub(super) async fn principal_for(
        &self,
        account: &Credentials,
        credential: Credential,
    ) -> Result<Principal, AuthError> {
        if account.disabled {
            return Err(AuthError::Disabled);
        }
        let scope = TenantScope::verified(account.tenant_id);
        let roles = self.store.user_roles(&scope, account.user_id).await?;
        let permissions = crate::access::granted_by(&roles);
        let must_enrol_mfa = !account.totp_enabled && roles.iter().any(|r| r.require_mfa);
        Ok(Principal {
            tenant_id: account.tenant_id,
            user_id: account.user_id,
            email: account.email.clone(),
            platform_admin: account.platform_admin,
            roles: roles.into_iter().map(|r| r.name).collect(),
            permissions,
            credential,
            must_enrol_mfa,
        })
    }
}
