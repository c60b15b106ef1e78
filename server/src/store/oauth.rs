//! The OAuth authorization server's records (migration 0013): clients registered with a
//! tenant (RFC 7591) and the consent each user gave each client.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use tracing::instrument;
use uuid::Uuid;

use super::{Db, Store, StoreError, Wall, walled};
use crate::tenancy::TenantScope;

/// A client registered through Dynamic Client Registration.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OAuthClientRow {
    pub client_id: String,
    pub client_name: String,
    pub redirect_uris: Json<Vec<String>>,
    pub client_uri: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What a user allowed a client.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ConsentRow {
    pub id: Uuid,
    pub client_id: String,
    pub client_name: String,
    /// Space-separated (RFC 6749 §3.3).
    pub scopes: String,
    pub granted_at: DateTime<Utc>,
}

impl Store {
    #[instrument(skip_all)]
    pub async fn insert_oauth_client(
        &self,
        scope: &TenantScope,
        client: &OAuthClientRow,
    ) -> Result<(), StoreError> {
        walled!(self, Wall::of(scope), pool => {
            sqlx::query("INSERT INTO oauth_clients (id, tenant_id, client_id, client_name, redirect_uris, client_uri, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(Uuid::now_v7()).bind(scope.tenant_id()).bind(&client.client_id).bind(&client.client_name)
                .bind(&client.redirect_uris).bind(&client.client_uri).bind(client.created_at)
                .execute(pool).await?;
        });
        Ok(())
    }

    #[instrument(skip_all)]
    pub async fn oauth_client(
        &self,
        scope: &TenantScope,
        client_id: &str,
    ) -> Result<Option<OAuthClientRow>, StoreError> {
        Ok(walled!(self, Wall::of(scope), pool => {
            sqlx::query_as("SELECT client_id, client_name, redirect_uris, client_uri, created_at \
                            FROM oauth_clients WHERE tenant_id = $1 AND client_id = $2")
                .bind(scope.tenant_id()).bind(client_id).fetch_optional(pool).await?
        }))
    }

    #[instrument(skip_all)]
    pub async fn consent(
        &self,
        scope: &TenantScope,
        user_id: Uuid,
        client_id: &str,
    ) -> Result<Option<ConsentRow>, StoreError> {
        Ok(walled!(self, Wall::of(scope), pool => {
            sqlx::query_as("SELECT id, client_id, client_name, scopes, granted_at FROM oauth_consents \
                            WHERE tenant_id = $1 AND user_id = $2 AND client_id = $3")
                .bind(scope.tenant_id()).bind(user_id).bind(client_id).fetch_optional(pool).await?
        }))
    }

    /// Records (or widens) a user's consent to a client.
    #[instrument(skip_all)]
    pub async fn grant_consent(
        &self,
        scope: &TenantScope,
        user_id: Uuid,
        consent: &ConsentRow,
    ) -> Result<(), StoreError> {
        walled!(self, Wall::of(scope), pool => {
            sqlx::query("INSERT INTO oauth_consents (id, tenant_id, user_id, client_id, client_name, scopes, granted_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) \
                         ON CONFLICT (tenant_id, user_id, client_id) DO UPDATE \
                         SET client_name = excluded.client_name, scopes = excluded.scopes, granted_at = excluded.granted_at")
                .bind(consent.id).bind(scope.tenant_id()).bind(user_id).bind(&consent.client_id)
                .bind(&consent.client_name).bind(&consent.scopes).bind(consent.granted_at)
                .execute(pool).await?;
        });
        Ok(())
    }

    #[instrument(skip_all)]
    pub async fn list_consents(
        &self,
        scope: &TenantScope,
        user_id: Uuid,
    ) -> Result<Vec<ConsentRow>, StoreError> {
        Ok(walled!(self, Wall::of(scope), pool => {
            sqlx::query_as("SELECT id, client_id, client_name, scopes, granted_at FROM oauth_consents \
                            WHERE tenant_id = $1 AND user_id = $2 ORDER BY granted_at DESC")
                .bind(scope.tenant_id()).bind(user_id).fetch_all(pool).await?
        }))
    }

    /// Withdraws one consent of a user's; returns it (its client's sign-ins end with it).
    #[instrument(skip_all)]
    pub async fn withdraw_consent(
        &self,
        scope: &TenantScope,
        user_id: Uuid,
        id: Uuid,
    ) -> Result<ConsentRow, StoreError> {
        let row: Option<ConsentRow> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as("DELETE FROM oauth_consents WHERE tenant_id = $1 AND user_id = $2 AND id = $3 \
                            RETURNING id, client_id, client_name, scopes, granted_at")
                .bind(scope.tenant_id()).bind(user_id).bind(id).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound("consent"))
    }
}
