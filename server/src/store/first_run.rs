//! The first-run write: the default tenant and its administrator, together or not at all.

use app::api::NewTenant;
use chrono::{DateTime, Utc};
use tracing::instrument;
use uuid::Uuid;

use super::{Db, NewUserRecord, Store, StoreError, Wall, walled_tx};

impl Store {
    /// On an empty database, creates `tenant` and `admin` in one transaction and returns their
    /// ids. Returns `None` when any tenant already exists, including when another replica won
    /// the race to bootstrap (its insert committed first and ours hit the unique slug).
    #[instrument(skip_all)]
    pub async fn first_run(
        &self,
        tenant: &NewTenant,
        admin: &NewUserRecord<'_>,
    ) -> Result<Option<(Uuid, Uuid)>, StoreError> {
        let (tenant_id, user_id, now) = (Uuid::now_v7(), Uuid::now_v7(), Utc::now());
        let result = self
            .try_first_run(tenant, admin, tenant_id, user_id, now)
            .await;
        match result {
            Ok(true) => Ok(Some((tenant_id, user_id))),
            Ok(false) => Ok(None),
            // Losing the race shows up as a unique-slug conflict (PostgreSQL) or a busy
            // snapshot (SQLite); either way, if a tenant now exists another replica won.
            Err(e) => match self.has_tenants().await {
                Ok(true) => Ok(None),
                _ => Err(e),
            },
        }
    }

    async fn try_first_run(
        &self,
        tenant: &NewTenant,
        admin: &NewUserRecord<'_>,
        tenant_id: Uuid,
        user_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(walled_tx!(self, Wall::Tenant(tenant_id), tx => {
            let existing: Option<(Uuid,)> =
                sqlx::query_as("SELECT id FROM tenants LIMIT 1").fetch_optional(&mut *tx).await?;
            if existing.is_some() {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO tenants (id, slug, name, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(tenant_id)
            .bind(&tenant.slug)
            .bind(&tenant.name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO users (id, tenant_id, email, email_lower, display_name, password_hash, \
                 disabled, platform_admin, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, FALSE, $7, $8, $8)",
            )
            .bind(user_id)
            .bind(tenant_id)
            .bind(admin.email)
            .bind(admin.email.to_lowercase())
            .bind(admin.display_name)
            .bind(admin.password_hash)
            .bind(admin.platform_admin)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            true
        }))
    }
}
