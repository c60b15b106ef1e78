//! Users, always within one tenant.

use app::api::{User, UserPatch};
use chrono::{DateTime, Utc};
use tracing::instrument;
use uuid::Uuid;

use super::{Db, Store, StoreError, Wall, like_pattern, paginate, walled};
use crate::tenancy::TenantScope;

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    id: Uuid,
    tenant_id: Uuid,
    email: String,
    display_name: String,
    disabled: bool,
    platform_admin: bool,
    locked_until: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: r.id,
            tenant_id: r.tenant_id,
            email: r.email,
            display_name: r.display_name,
            disabled: r.disabled,
            platform_admin: r.platform_admin,
            roles: Vec::new(),
            locked_until: r.locked_until.filter(|t| *t > Utc::now()),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The columns every query returns, as a literal so queries stay `&'static str`.
macro_rules! user_columns {
    () => {
        "id, tenant_id, email, display_name, disabled, platform_admin, locked_until, created_at, updated_at"
    };
}

/// Inserts `$new` into `$scope` on executor `$ex`, returning the row; a macro so that a plain
/// create and an invitation's transaction share one statement on either backend.
macro_rules! insert_user {
    ($ex:expr, $scope:expr, $new:expr, $now:expr) => {{
        let sql = concat!(
            "INSERT INTO users (id, tenant_id, email, email_lower, display_name, password_hash, \
             disabled, platform_admin, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, FALSE, $7, $8, $8) RETURNING ",
            user_columns!()
        );
        let row: $crate::store::users::UserRow = sqlx::query_as(sql)
            .bind(Uuid::now_v7())
            .bind($scope.tenant_id())
            .bind($new.email)
            .bind($new.email.to_lowercase())
            .bind($new.display_name)
            .bind($new.password_hash)
            .bind($new.platform_admin)
            .bind($now)
            .fetch_one($ex)
            .await?;
        row
    }};
}
pub(super) use {insert_user, user_columns};

/// A user to insert, with the fields the public API does not set.
#[derive(Debug)]
pub struct NewUserRecord<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
    /// An argon2id PHC string, or `None` for accounts that sign in another way.
    pub password_hash: Option<&'a str>,
    pub platform_admin: bool,
}

impl Store {
    /// Creates a user; an email already used in the tenant (ignoring case) is a conflict.
    #[instrument(skip_all)]
    pub async fn create_user(
        &self,
        scope: &TenantScope,
        new: &NewUserRecord<'_>,
    ) -> Result<User, StoreError> {
        let now = Utc::now();
        let row: UserRow =
            walled!(self, Wall::of(scope), pool => insert_user!(pool, scope, new, now));
        Ok(row.into())
    }

    #[instrument(skip_all)]
    pub async fn get_user(&self, scope: &TenantScope, id: Uuid) -> Result<User, StoreError> {
        let sql = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE tenant_id = $1 AND id = $2"
        );
        let row: Option<UserRow> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql).bind(scope.tenant_id()).bind(id).fetch_optional(pool).await?
        });
        row.map(Into::into).ok_or(StoreError::NotFound("user"))
    }

    /// One page of the tenant's users in creation order after `cursor`.
    #[instrument(skip_all)]
    pub async fn list_users(
        &self,
        scope: &TenantScope,
        cursor: Option<Uuid>,
        q: Option<&str>,
        disabled: Option<bool>,
        limit: u32,
    ) -> Result<(Vec<User>, Option<Uuid>), StoreError> {
        let sql = concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE tenant_id = $1 \
               AND ($2 IS NULL OR id > $2) \
               AND ($3 IS NULL OR email_lower LIKE $3 ESCAPE '\\' OR lower(display_name) LIKE $3 ESCAPE '\\') \
               AND ($4 IS NULL OR disabled = $4) \
             ORDER BY id LIMIT $5"
        );
        let rows: Vec<UserRow> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql)
                .bind(scope.tenant_id())
                .bind(cursor)
                .bind(like_pattern(q))
                .bind(disabled)
                .bind(i64::from(limit) + 1)
                .fetch_all(pool)
                .await?
        });
        let (rows, next) = paginate(rows, limit, |r| r.id);
        Ok((rows.into_iter().map(Into::into).collect(), next))
    }

    /// Applies the fields present in `patch` in one statement.
    #[instrument(skip_all)]
    pub async fn update_user(
        &self,
        scope: &TenantScope,
        id: Uuid,
        patch: &UserPatch,
    ) -> Result<User, StoreError> {
        let sql = concat!(
            "UPDATE users SET email = COALESCE($3, email), email_lower = COALESCE($4, email_lower), \
             display_name = COALESCE($5, display_name), disabled = COALESCE($6, disabled), updated_at = $7 \
             WHERE tenant_id = $1 AND id = $2 RETURNING ",
            user_columns!()
        );
        let row: Option<UserRow> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as(sql)
                .bind(scope.tenant_id())
                .bind(id)
                .bind(patch.email.as_deref())
                .bind(patch.email.as_deref().map(str::to_lowercase))
                .bind(patch.display_name.as_deref())
                .bind(patch.disabled)
                .bind(Utc::now())
                .fetch_optional(pool)
                .await?
        });
        row.map(Into::into).ok_or(StoreError::NotFound("user"))
    }

    #[instrument(skip_all)]
    pub async fn delete_user(&self, scope: &TenantScope, id: Uuid) -> Result<(), StoreError> {
        let done = walled!(self, Wall::of(scope), pool => {
            sqlx::query("DELETE FROM users WHERE tenant_id = $1 AND id = $2")
                .bind(scope.tenant_id())
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if done == 0 {
            Err(StoreError::NotFound("user"))
        } else {
            Ok(())
        }
    }

    /// Fills in each user's role names, with one query for the whole page: user ids are
    /// UUIDv7 and pages are id-ordered, so the page is one id range.
    #[instrument(skip_all)]
    pub async fn with_roles(
        &self,
        scope: &TenantScope,
        users: &mut [User],
    ) -> Result<(), StoreError> {
        let (Some(first), Some(last)) = (
            users.iter().map(|u| u.id).min(),
            users.iter().map(|u| u.id).max(),
        ) else {
            return Ok(());
        };
        let rows: Vec<(Uuid, String)> = walled!(self, Wall::of(scope), pool => {
            sqlx::query_as("SELECT a.user_id, r.name FROM role_assignments a JOIN roles r ON r.id = a.role_id \
                            WHERE a.tenant_id = $1 AND a.user_id >= $2 AND a.user_id <= $3 ORDER BY r.name")
                .bind(scope.tenant_id()).bind(first).bind(last).fetch_all(pool).await?
        });
        for user in users.iter_mut() {
            user.roles = rows
                .iter()
                .filter(|(id, _)| *id == user.id)
                .map(|(_, name)| name.clone())
                .collect();
        }
        Ok(())
    }
}
