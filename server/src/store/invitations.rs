//! Invitations: a user created without a password, plus the hash of a single-use link secret
//! that lets them set one. One pending invitation per user.

use app::api::User;
use chrono::{DateTime, Utc};
use tracing::instrument;
use uuid::Uuid;

use super::users::{insert_user, user_columns};
use super::{Db, NewUserRecord, Store, StoreError, Wall, walled, walled_tx};
use crate::tenancy::TenantScope;

/// A pending invitation with its invitee's address.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct InvitationRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub email: String,
    pub invited_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// An invitation to store with its user.
pub struct NewInvitation<'a> {
    pub user: NewUserRecord<'a>,
    pub role_ids: &'a [Uuid],
    pub token_hash: &'a [u8],
    pub invited_by: &'a str,
    pub expires_at: DateTime<Utc>,
}

macro_rules! columns {
    () => {
        "i.id, i.tenant_id, i.user_id, u.email, i.invited_by, i.created_at, i.expires_at \
         FROM invitations i JOIN users u ON u.id = i.user_id"
    };
}

impl Store {
    /// Creates the user, their roles and the invitation together, or nothing.
    #[instrument(skip_all)]
    pub async fn create_invitation(
        &self,
        scope: &TenantScope,
        new: &NewInvitation<'_>,
    ) -> Result<InvitationRow, StoreError> {
        let (id, now) = (Uuid::now_v7(), Utc::now());
        let user = walled_tx!(self, Wall::of(scope), tx => {
            let user: User = insert_user!(&mut *tx, scope, new.user, now).into();
            for role_id in new.role_ids {
                sqlx::query("INSERT INTO role_assignments (tenant_id, user_id, role_id, created_at) \
                             SELECT $1, $2, id, $4 FROM roles WHERE tenant_id = $1 AND id = $3")
                    .bind(scope.tenant_id()).bind(user.id).bind(role_id).bind(now)
                    .execute(&mut *tx).await?;
            }
            sqlx::query("INSERT INTO invitations (id, tenant_id, user_id, token_hash, invited_by, created_at, expires_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(id).bind(scope.tenant_id()).bind(user.id).bind(new.token_hash)
                .bind(new.invited_by).bind(now).bind(new.expires_at)
                .execute(&mut *tx).await?;
            user
        });
        Ok(InvitationRow {
            id,
            tenant_id: scope.tenant_id(),
            user_id: user.id,
            email: user.email,
            invited_by: new.invited_by.to_owned(),
            created_at: now,
            expires_at: new.expires_at,
        })
    }

    /// The tenant's pending invitations, expired ones included (the console shows them so).
    #[instrument(skip_all)]
    pub async fn list_invitations(
        &self,
        scope: &TenantScope,
    ) -> Result<Vec<InvitationRow>, StoreError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " WHERE i.tenant_id = $1 ORDER BY i.id"
        );
        Ok(walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql).bind(scope.tenant_id()).fetch_all(pool).await?
        }))
    }

    /// Withdraws an invitation; the user stays, without a password.
    #[instrument(skip_all)]
    pub async fn delete_invitation(&self, scope: &TenantScope, id: Uuid) -> Result<(), StoreError> {
        let done = walled!(self, Wall::of(scope), pool => {
            sqlx::query("DELETE FROM invitations WHERE tenant_id = $1 AND id = $2")
                .bind(scope.tenant_id()).bind(id).execute(pool).await?.rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound("invitation"));
        }
        Ok(())
    }

    /// The unexpired invitation whose secret hashes to `hash`, in the tenant the link names.
    #[instrument(skip_all)]
    pub async fn invitation_by_hash(
        &self,
        tenant_id: Uuid,
        hash: &[u8],
    ) -> Result<Option<InvitationRow>, StoreError> {
        let sql = concat!(
            "SELECT ",
            columns!(),
            " WHERE i.tenant_id = $1 AND i.token_hash = $2 AND i.expires_at > $3"
        );
        Ok(walled!(self, Wall::Tenant(tenant_id), pool => {
            sqlx::query_as(sql).bind(tenant_id).bind(hash).bind(Utc::now()).fetch_optional(pool).await?
        }))
    }

    /// Spends the invitation and sets the user's password in one transaction; false when
    /// someone spent it first (a link works once).
    #[instrument(skip_all)]
    pub async fn accept_invitation(
        &self,
        scope: &TenantScope,
        invitation: &InvitationRow,
        password_hash: &str,
    ) -> Result<bool, StoreError> {
        let now = Utc::now();
        Ok(walled_tx!(self, Wall::of(scope), tx => {
            let spent = sqlx::query("DELETE FROM invitations WHERE tenant_id = $1 AND id = $2 AND expires_at > $3")
                .bind(scope.tenant_id()).bind(invitation.id).bind(now)
                .execute(&mut *tx).await?.rows_affected();
            if spent == 1 {
                sqlx::query("UPDATE users SET password_hash = $3, password_changed_at = $4, updated_at = $4 \
                             WHERE tenant_id = $1 AND id = $2")
                    .bind(scope.tenant_id()).bind(invitation.user_id).bind(password_hash).bind(now)
                    .execute(&mut *tx).await?;
            }
            spent == 1
        }))
    }
}
