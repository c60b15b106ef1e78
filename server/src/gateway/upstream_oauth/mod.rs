//! The gateway as an OAuth 2.1 client of its upstreams (MCP 2025-11-25 basic/authorization,
//! the client's side). An upstream registered with `oauth` is a protected resource; the gateway:
//! - discovers its authorization server ([`discovery`]) from the upstream's challenge;
//! - identifies itself with a pre-registered client, its Client ID Metadata Document, or
//!   Dynamic Client Registration ([`exchange`]);
//! - for the code grant, sends a person to the authorization endpoint with PKCE S256, a
//!   single-use `state` and the `resource` (RFC 8707), and exchanges the code the callback
//!   brings, checking `iss` (RFC 9207); for client credentials, asks for a token itself;
//! - keeps the tokens sealed by the vault (context: tenant and upstream), refreshes them
//!   before they expire, and sends only them: no caller's token ever goes upstream;
//! - records a 401 or 403 challenge, so the console shows that someone must authorize again
//!   and with which scopes (step-up, §Scope Challenge Handling).

mod challenge;
mod discovery;
mod exchange;
mod grant;
mod scope;

pub use challenge::Challenge;
pub use grant::{CallbackAnswer, Finished, UpstreamAuthError};

use std::sync::Arc;
use std::time::Duration;

use app::api::{Connection, OAuthGrant, Upstream, UpstreamAuthorization, UpstreamOAuth};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::kv::Kv;
use crate::store::{Store, UpstreamOAuthRow};
use crate::telemetry::Metrics;
use crate::tenancy::TenantScope;
use crate::vault::Vault;
use discovery::Clients;
use exchange::Client;

/// How long a person has to authorize at the upstream's server.
const PENDING_TTL: Duration = Duration::from_secs(600);
/// A token this close to expiry (or half its lifetime, if less) is refreshed before use.
const EXPIRY_MARGIN_SECS: i64 = 30;

/// Where the authorization server sends the person back, under the gateway's public URL.
pub const CALLBACK_PATH: &str = "/api/v1/upstream-oauth/callback";
/// Where the gateway's own Client ID Metadata Document is served.
pub const CLIENT_METADATA_PATH: &str = "/oauth/upstream-client.json";

/// What is sealed for an upstream: the gateway's registration there and its tokens.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Sealed {
    /// A pre-registered client's secret, as the administrator gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    preregistered_secret: Option<String>,
    /// A pre-registered client's private key (PKCS#8 PEM), for `private_key_jwt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    preregistered_key: Option<String>,
    /// The client the tokens were issued to, and the server it is registered with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client: Option<Client>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    registered_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token_endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    /// When to stop using the access token and refresh it: before its expiry by 30 s or
    /// half its lifetime, whichever is less.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_after: Option<chrono::DateTime<Utc>>,
}

/// A pre-registered client's write-only credentials, as an administrator gave them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Credentials<'a> {
    pub secret: Option<&'a str>,
    pub private_key: Option<&'a str>,
}

/// The gateway's OAuth client side; cheap to clone.
#[derive(Clone)]
pub struct UpstreamAuth {
    store: Store,
    vault: Vault,
    kv: Kv,
    http: Clients,
    metrics: Metrics,
    /// The URL of the gateway's Client ID Metadata Document, when it has a public one.
    client_metadata_url: Arc<str>,
}

fn context(tenant: Uuid, upstream: Uuid) -> String {
    format!("upstream-oauth:{tenant}:{upstream}")
}

/// The upstream's OAuth settings, if it is an OAuth upstream.
pub fn settings(upstream: &Upstream) -> Option<&UpstreamOAuth> {
    match &upstream.connection {
        Connection::StreamableHttp { oauth, .. } => oauth.as_ref(),
        Connection::Stdio { .. } | Connection::Builtin { .. } => None,
    }
}

impl UpstreamAuth {
    pub fn new(
        store: Store,
        vault: Vault,
        kv: Kv,
        metrics: Metrics,
        client_metadata_url: String,
    ) -> Self {
        Self {
            store,
            vault,
            kv,
            metrics,
            http: Clients::new().expect("the TLS backend initialises"),
            client_metadata_url: client_metadata_url.into(),
        }
    }

    async fn load(
        &self,
        scope: &TenantScope,
        upstream: Uuid,
    ) -> Result<(UpstreamOAuthRow, Sealed), UpstreamAuthError> {
        let row = self
            .store
            .get_upstream_oauth(scope, upstream)
            .await?
            .unwrap_or_default();
        let sealed = match &row.sealed {
            Some(blob) => {
                let plain = self
                    .vault
                    .open_sealed(&context(scope.tenant_id(), upstream), blob)?;
                serde_json::from_slice(&plain).map_err(|_| UpstreamAuthError::Corrupt(upstream))?
            }
            None => Sealed::default(),
        };
        Ok((row, sealed))
    }

    async fn save(
        &self,
        scope: &TenantScope,
        upstream: Uuid,
        mut row: UpstreamOAuthRow,
        sealed: &Sealed,
    ) -> Result<(), UpstreamAuthError> {
        let plain = serde_json::to_vec(sealed).map_err(|_| UpstreamAuthError::Corrupt(upstream))?;
        row.sealed = Some(
            self.vault
                .seal(&context(scope.tenant_id(), upstream), &plain),
        );
        row.refreshable = sealed.refresh_token.is_some();
        Ok(self.store.put_upstream_oauth(scope, upstream, &row).await?)
    }

    /// Keeps what an administrator wrote: a new pre-registered secret or key replaces the
    /// stored one; a changed URL, client or grant drops the tokens, which were issued for
    /// the old.
    pub async fn configured(
        &self,
        scope: &TenantScope,
        before: Option<&Upstream>,
        after: &Upstream,
        given: Credentials<'_>,
    ) -> Result<(), UpstreamAuthError> {
        if settings(after).is_none() {
            return Ok(());
        }
        let (mut row, mut sealed) = self.load(scope, after.id).await?;
        let changed = before.is_none_or(|b| b.connection != after.connection);
        if changed {
            sealed = Sealed {
                preregistered_secret: sealed.preregistered_secret,
                preregistered_key: sealed.preregistered_key,
                ..Sealed::default()
            };
            row = UpstreamOAuthRow::default();
        }
        if let Some(secret) = given.secret {
            sealed.preregistered_secret = Some(secret.to_string());
        }
        if let Some(key) = given.private_key {
            sealed.preregistered_key = Some(key.to_string());
        }
        self.save(scope, after.id, row, &sealed).await
    }

    /// Where an OAuth upstream's authorization stands, for the API and console.
    pub async fn status(
        &self,
        scope: &TenantScope,
        upstream: &Upstream,
    ) -> Result<Option<UpstreamAuthorization>, UpstreamAuthError> {
        if settings(upstream).is_none() {
            return Ok(None);
        }
        let (row, sealed) = self.load(scope, upstream.id).await?;
        Ok(Some(view(&row, &sealed)))
    }

    /// The token to send the upstream: the stored one while it is fresh, else a refreshed
    /// one (or, for client credentials, a new one). `Ok(None)` for upstreams without OAuth.
    pub async fn bearer(
        &self,
        scope: &TenantScope,
        upstream: &Upstream,
    ) -> Result<Option<Bearer>, UpstreamAuthError> {
        let Some(oauth) = settings(upstream) else {
            return Ok(None);
        };
        let (row, sealed) = self.load(scope, upstream.id).await?;
        if let Some(token) = &sealed.access_token
            && !stale(sealed.refresh_after)
        {
            return Ok(Some(Bearer {
                token: token.clone(),
                refresh_after: sealed.refresh_after,
            }));
        }
        if sealed.refresh_token.is_some() {
            self.refresh(scope, upstream, row, sealed).await?;
        } else if oauth.grant == OAuthGrant::ClientCredentials {
            self.client_credentials(scope, upstream).await?;
        } else {
            return Err(UpstreamAuthError::Required(upstream.name.clone()));
        }
        let (_, sealed) = self.load(scope, upstream.id).await?;
        let token = sealed
            .access_token
            .ok_or_else(|| UpstreamAuthError::Required(upstream.name.clone()))?;
        Ok(Some(Bearer {
            token,
            refresh_after: sealed.refresh_after,
        }))
    }

    /// Records the upstream's refusal of the token sent (a 401 or 403 with `challenge`) and
    /// answers what the caller is told. On a 401 the token is dropped and, where a refresh
    /// token is held, renewed at once (the refused request was not served: the caller may
    /// send it again); a 403 `insufficient_scope` keeps the scopes asked for, for the next
    /// authorization (step-up).
    pub async fn challenged(
        &self,
        scope: &TenantScope,
        upstream: &Upstream,
        header: &str,
    ) -> UpstreamAuthError {
        let challenge = Challenge::parse(header);
        self.metrics.upstream_oauth("challenged");
        match self.record(scope, upstream, &challenge).await {
            Ok(Some((row, sealed))) => match self.refresh(scope, upstream, row, sealed).await {
                Ok(()) => UpstreamAuthError::Renewed(upstream.name.clone()),
                Err(error) => error,
            },
            Ok(None) if challenge.insufficient_scope() => UpstreamAuthError::StepUp(
                upstream.name.clone(),
                challenge.scope.unwrap_or_default(),
            ),
            Ok(None) => UpstreamAuthError::Required(upstream.name.clone()),
            Err(error) => {
                tracing::warn!(%error, upstream = %upstream.id, "an upstream's challenge was not recorded");
                UpstreamAuthError::Required(upstream.name.clone())
            }
        }
    }

    /// Stores what a challenge says; answers the grant when it should be refreshed now.
    async fn record(
        &self,
        scope: &TenantScope,
        upstream: &Upstream,
        challenge: &Challenge,
    ) -> Result<Option<(UpstreamOAuthRow, Sealed)>, UpstreamAuthError> {
        let (mut row, mut sealed) = self.load(scope, upstream.id).await?;
        let renew = !challenge.insufficient_scope();
        if renew {
            sealed.access_token = None;
            sealed.refresh_after = None;
            row.expires_at = None;
        }
        row.required_scope = challenge.scope.clone().or(row.required_scope);
        row.last_error = Some(match &challenge.error {
            Some(error) => format!("the upstream refused the token: {error}"),
            None => "the upstream asked for authorization".to_string(),
        });
        self.save(scope, upstream.id, row.clone(), &sealed).await?;
        Ok((renew && sealed.refresh_token.is_some()).then_some((row, sealed)))
    }
}

/// An access token, and when to stop using it.
#[derive(Clone, Debug)]
pub struct Bearer {
    pub token: String,
    pub refresh_after: Option<chrono::DateTime<Utc>>,
}

impl Bearer {
    /// Whether a session opened with this token should be reopened with a fresh one.
    pub fn stale(&self) -> bool {
        stale(self.refresh_after)
    }
}

fn stale(refresh_after: Option<chrono::DateTime<Utc>>) -> bool {
    refresh_after.is_some_and(|at| at <= Utc::now())
}

/// When a token that lives `lifetime_secs` from now should be refreshed.
fn refresh_after(lifetime_secs: i64) -> chrono::DateTime<Utc> {
    let margin = EXPIRY_MARGIN_SECS.min(lifetime_secs / 2);
    Utc::now() + chrono::Duration::seconds(lifetime_secs - margin)
}

/// The console's view of a grant.
fn view(row: &UpstreamOAuthRow, sealed: &Sealed) -> UpstreamAuthorization {
    let usable = sealed.access_token.is_some() || sealed.refresh_token.is_some();
    let granted: Vec<&str> = row.scope.as_deref().unwrap_or("").split(' ').collect();
    let more_needed = row
        .required_scope
        .as_deref()
        .is_some_and(|r| r.split(' ').any(|s| !granted.contains(&s)));
    let state = if !usable {
        "required"
    } else if more_needed {
        "step_up"
    } else {
        "authorized"
    };
    UpstreamAuthorization {
        state: state.into(),
        scope: row.scope.clone(),
        required_scope: row.required_scope.clone(),
        expires_at: row.expires_at,
        refreshable: sealed.refresh_token.is_some(),
        authorized_by: row.authorized_by,
        authorized_at: row.authorized_at,
        last_error: row.last_error.clone(),
    }
}
