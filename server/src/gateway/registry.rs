//! The upstream registry: what each upstream is and how to reach it. Credentials (secret
//! headers or environment variables) are sealed by the vault with the upstream's tenant and
//! id as context, so a sealed blob copied to another row does not open; they are never
//! returned, logged or audited, only their names.

use std::collections::BTreeMap;

use app::api::{BuiltinServer, Connection, FieldError, Upstream, UpstreamInput};
use uuid::Uuid;

use super::limits::Limits;
use super::upstream_oauth::{UpstreamAuth, UpstreamAuthError};
use crate::store::{PolicyRecord, Store, StoreError, UpstreamRecord, UpstreamRow};
use crate::tenancy::TenantScope;
use crate::vault::{Vault, VaultError};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid upstream")]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    OAuth(#[from] UpstreamAuthError),
    /// A stored row that no longer parses (written by another version).
    #[error("upstream {0} is stored in a form this version cannot read")]
    Corrupt(Uuid),
}

/// The registry: cheap to clone.
#[derive(Clone)]
pub struct Registry {
    store: Store,
    vault: Vault,
    /// The stdio limits of upstreams that set none.
    limits: Limits,
    /// Grants of OAuth-protected upstreams.
    oauth: UpstreamAuth,
    /// What the built-in servers share, to make one for a tenant.
    builtins: crate::tools::Builtins,
}

fn context(tenant: Uuid, id: Uuid) -> String {
    format!("upstream:{tenant}:{id}")
}

/// An upstream's credentials in clear: for the connection pool, and for the OAuth probe of
/// the upstream itself. Never in an answer or a log.
pub(super) async fn open_secrets(
    store: &Store,
    vault: &Vault,
    scope: &TenantScope,
    id: Uuid,
) -> Result<BTreeMap<String, String>, RegistryError> {
    let row = store.get_upstream(scope, id).await?;
    let Some(sealed) = row.credentials_enc else {
        return Ok(BTreeMap::new());
    };
    let plain = vault.open_sealed(&context(row.tenant_id, id), &sealed)?;
    serde_json::from_slice(&plain).map_err(|_| RegistryError::Corrupt(id))
}

fn transport(connection: &Connection) -> &'static str {
    match connection {
        Connection::Stdio { .. } => "stdio",
        Connection::StreamableHttp { .. } => "streamable_http",
        Connection::Builtin { .. } => "builtin",
    }
}

fn to_api(row: UpstreamRow) -> Result<Upstream, RegistryError> {
    let connection: Connection =
        serde_json::from_value(row.config.0).map_err(|_| RegistryError::Corrupt(row.id))?;
    Ok(Upstream {
        id: row.id,
        tenant_id: row.tenant_id,
        name: row.name,
        description: row.description,
        connection,
        secret_names: row.secret_names.0,
        call_timeout_ms: u32::try_from(row.call_timeout_ms).unwrap_or(30_000),
        enabled: row.enabled,
        tags: row.tags.0,
        // Rows from before migration 0011 hold `{}`: no filter.
        tool_filter: serde_json::from_value(row.tool_filter.0)
            .map_err(|_| RegistryError::Corrupt(row.id))?,
        created_at: row.created_at,
        updated_at: row.updated_at,
        status: app::api::UpstreamStatus::default(),
        authorization: None,
    })
}

impl Registry {
    pub fn new(
        store: Store,
        vault: Vault,
        limits: Limits,
        oauth: UpstreamAuth,
        builtins: crate::tools::Builtins,
    ) -> Self {
        Self {
            store,
            vault,
            limits,
            oauth,
            builtins,
        }
    }

    /// What the built-in servers share across tenants.
    pub fn shared_builtins(&self) -> &crate::tools::Builtins {
        &self.builtins
    }

    /// The built-in servers as they act for the tenant of `scope`.
    pub fn builtins(&self, scope: &TenantScope) -> crate::tools::TenantTools {
        self.builtins.for_tenant(scope)
    }

    /// The gateway's grants at OAuth-protected upstreams.
    pub fn oauth(&self) -> &UpstreamAuth {
        &self.oauth
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The vault the registry seals credentials with (the gateway seals other state with it).
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// What a stdio upstream may use: its own limits, else the server's defaults.
    pub fn limits(&self, upstream: &Upstream) -> Limits {
        self.limits.for_connection(&upstream.connection)
    }

    pub async fn list(&self, scope: &TenantScope) -> Result<Vec<Upstream>, RegistryError> {
        let rows = self.store.list_upstreams(scope).await?;
        rows.into_iter().map(to_api).collect()
    }

    pub async fn get(&self, scope: &TenantScope, id: Uuid) -> Result<Upstream, RegistryError> {
        to_api(self.store.get_upstream(scope, id).await?)
    }

    /// Registers an upstream after checking every field.
    pub async fn create(
        &self,
        scope: &TenantScope,
        input: &UpstreamInput,
    ) -> Result<Upstream, RegistryError> {
        check(input)?;
        let id = Uuid::now_v7();
        let secrets = input.secrets.clone().unwrap_or_default();
        let record = self.record(scope, id, input, &secrets)?;
        let created = to_api(self.store.create_upstream(scope, &record).await?)?;
        self.oauth
            .configured(scope, None, &created, client_secret(input))
            .await?;
        Ok(created)
    }

    /// Replaces an upstream; absent `secrets` keeps the stored ones.
    pub async fn replace(
        &self,
        scope: &TenantScope,
        id: Uuid,
        input: &UpstreamInput,
    ) -> Result<Upstream, RegistryError> {
        check(input)?;
        let secrets = match &input.secrets {
            Some(new) => new.clone(),
            None => self.secrets(scope, id).await?,
        };
        let before = self.get(scope, id).await?;
        let record = self.record(scope, id, input, &secrets)?;
        let after = to_api(self.store.replace_upstream(scope, &record).await?)?;
        self.oauth
            .configured(scope, Some(&before), &after, client_secret(input))
            .await?;
        Ok(after)
    }

    /// Connects to the upstream with its stored credentials and lists what it offers.
    pub async fn probe(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<app::api::UpstreamProbe, RegistryError> {
        let upstream = self.get(scope, id).await?;
        let secrets = self.secrets(scope, id).await?;
        let timeout = std::time::Duration::from_millis(u64::from(upstream.call_timeout_ms));
        let bearer = match self.oauth.bearer(scope, &upstream).await {
            Ok(bearer) => bearer,
            Err(e @ (UpstreamAuthError::Required(_) | UpstreamAuthError::Upstream(_))) => {
                return Ok(app::api::UpstreamProbe {
                    error: Some(e.to_string()),
                    ..Default::default()
                });
            }
            Err(e) => return Err(e.into()),
        };
        let bearer = bearer.map(|b| b.token);
        let local = self.builtins(scope);
        Ok(super::probe(
            &upstream.connection,
            &secrets,
            bearer.as_deref(),
            &local,
            timeout,
        )
        .await)
    }

    /// Registers Switchyard's own `server` under its name, with a policy (`builtin-NAME`)
    /// letting everyone in the tenant use its tools; both or neither. A name already taken is
    /// a conflict. Returns the upstream and the policy's id.
    pub async fn create_builtin(
        &self,
        scope: &TenantScope,
        server: BuiltinServer,
    ) -> Result<(Upstream, Uuid), RegistryError> {
        let input = UpstreamInput {
            name: server.name().into(),
            description: server.description().into(),
            connection: Connection::Builtin { server },
            secrets: None,
            call_timeout_ms: 30_000,
            enabled: true,
            tags: vec!["builtin".into()],
            tool_filter: Default::default(),
        };
        let id = Uuid::now_v7();
        let record = self.record(scope, id, &input, &BTreeMap::new())?;
        let policy_name = format!("builtin-{}", server.name());
        let pattern = format!("{}.*", server.name());
        let policy = PolicyRecord {
            name: &policy_name,
            effect: "allow",
            tool_pattern: &pattern,
            role_id: None,
            conditions: &[],
            priority: 0,
            confirm: false,
        };
        let policy_id = (self.store)
            .create_upstream_with_policy(scope, &record, &policy)
            .await?;
        Ok((self.get(scope, id).await?, policy_id))
    }

    pub async fn delete(&self, scope: &TenantScope, id: Uuid) -> Result<(), RegistryError> {
        Ok(self.store.delete_upstream(scope, id).await?)
    }

    /// The upstream's credentials in clear, for the connection pool only.
    pub async fn secrets(
        &self,
        scope: &TenantScope,
        id: Uuid,
    ) -> Result<BTreeMap<String, String>, RegistryError> {
        open_secrets(&self.store, &self.vault, scope, id).await
    }

    fn record<'a>(
        &self,
        scope: &TenantScope,
        id: Uuid,
        input: &'a UpstreamInput,
        secrets: &BTreeMap<String, String>,
    ) -> Result<UpstreamRecord<'a>, RegistryError> {
        let credentials_enc = (!secrets.is_empty()).then(|| {
            let plain = serde_json::to_vec(secrets).unwrap_or_default();
            self.vault.seal(&context(scope.tenant_id(), id), &plain)
        });
        Ok(UpstreamRecord {
            id,
            name: &input.name,
            description: &input.description,
            transport: transport(&input.connection),
            config: serde_json::to_value(&input.connection)
                .map_err(|_| RegistryError::Corrupt(id))?,
            credentials_enc,
            secret_names: secrets.keys().cloned().collect(),
            call_timeout_ms: input.call_timeout_ms,
            enabled: input.enabled,
            tags: &input.tags,
            tool_filter: serde_json::to_value(&input.tool_filter)
                .map_err(|_| RegistryError::Corrupt(id))?,
        })
    }
}

/// The pre-registered OAuth client's secret and key in the input, which are sealed, not
/// stored in clear.
fn client_secret(input: &UpstreamInput) -> super::upstream_oauth::Credentials<'_> {
    match &input.connection {
        Connection::StreamableHttp {
            oauth: Some(oauth), ..
        } => super::upstream_oauth::Credentials {
            secret: oauth.client_secret.as_deref(),
            private_key: oauth.private_key.as_deref(),
        },
        _ => Default::default(),
    }
}

fn check(input: &UpstreamInput) -> Result<(), RegistryError> {
    let problems = input.problems();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(RegistryError::Invalid(problems))
    }
}
