//! First run: the default tenant and its platform administrator.

use app::api::NewTenant;
use rand::Rng;
use rand::distr::Alphanumeric;

use serde_json::json;

use super::password::{PasswordError, hash_password};
use crate::audit::{self, AuditEvent, Outcome};
use crate::config::{BootstrapSettings, Secret};
use crate::store::{NewUserRecord, Store, StoreError};
use crate::tenancy::TenantScope;

/// Why the first-run setup failed.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The configured tenant slug or admin email is not valid.
    #[error("bootstrap setting `{field}` {message}")]
    Invalid { field: String, message: String },
}

/// On an empty database, creates the default tenant and a platform administrator. The admin
/// password comes from settings, or is generated and printed once to the log. Does nothing
/// when any tenant exists: nothing is ever seeded silently into a database in use. Returns
/// the tenant it created, if it did.
pub async fn bootstrap(
    store: &Store,
    settings: &BootstrapSettings,
) -> Result<Option<TenantScope>, BootstrapError> {
    if store.has_tenants().await? {
        return Ok(None);
    }
    let invalid = |e: app::api::FieldError| BootstrapError::Invalid {
        field: e.field,
        message: e.message,
    };
    app::api::validate_slug("bootstrap.tenant_slug", &settings.tenant_slug).map_err(invalid)?;
    app::api::validate_name("bootstrap.tenant_name", &settings.tenant_name).map_err(invalid)?;
    app::api::validate_email("bootstrap.admin_email", &settings.admin_email).map_err(invalid)?;

    let (password, generated) = if settings.admin_password.is_empty() {
        (Secret::new(generate_password()), true)
    } else {
        (settings.admin_password.clone(), false)
    };
    let hash = hash_password(password.clone()).await?;
    let tenant = NewTenant {
        slug: settings.tenant_slug.clone(),
        name: settings.tenant_name.clone(),
    };
    let admin = NewUserRecord {
        email: &settings.admin_email,
        display_name: "Platform administrator",
        password_hash: Some(&hash),
        platform_admin: true,
    };
    let Some((tenant_id, admin_id)) = store.first_run(&tenant, &admin).await? else {
        return Ok(None);
    };
    store.ensure_builtin_roles(Some(tenant_id)).await?;
    let scope = TenantScope::verified(tenant_id);
    let tenant_admin = store.role_by_name(&scope, "tenant_admin").await?;
    store
        .set_user_roles(&scope, admin_id, &[tenant_admin.id])
        .await?;
    for (action, target, detail) in [
        (
            "tenant.create",
            format!("tenant:{tenant_id}"),
            json!({ "slug": tenant.slug, "name": tenant.name }),
        ),
        (
            "user.create",
            format!("user:{admin_id}"),
            json!({ "email": admin.email, "platform_admin": true }),
        ),
    ] {
        let event = AuditEvent {
            actor: "system:first-run".into(),
            action,
            target,
            outcome: Outcome::Success,
            rule: None,
            request_id: None,
            client_addr: None,
            detail,
        };
        audit::record(store, tenant_id, event).await?;
    }
    if generated {
        // Printed once, on the start that created the account; it is never stored in clear.
        tracing::warn!(
            email = %settings.admin_email,
            password = password.expose(),
            "created the platform administrator with a generated password; change it after signing in"
        );
    } else {
        tracing::info!(email = %settings.admin_email, tenant = %settings.tenant_slug, "created the platform administrator");
    }
    Ok(Some(scope))
}

/// 24 alphanumeric characters from the OS-seeded generator: about 142 bits.
fn generate_password() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}
