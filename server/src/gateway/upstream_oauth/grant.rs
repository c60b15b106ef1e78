//! Obtaining and renewing grants: the authorization code flow's two halves (start, and the
//! callback's finish), refresh (RFC 6749 §6), and client credentials (§4.4).

use app::api::{AuthorizationStart, OAuthGrant, Upstream, UpstreamOAuth};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use reqwest::Url;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::discovery::{self, Discovered, DiscoveryError};
use super::exchange::{self, Assertion, Client, Tokens};
use super::scope::choose_scope;
use super::{
    CALLBACK_PATH, Challenge, PENDING_TTL, Sealed, UpstreamAuth, refresh_after, settings, view,
};
use crate::gateway::registry::{RegistryError, open_secrets};
use crate::kv::KvError;
use crate::store::{StoreError, UpstreamOAuthRow};
use crate::tenancy::TenantScope;
use crate::vault::VaultError;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamAuthError {
    #[error("upstream `{0}` is not an OAuth upstream: set connection.oauth first")]
    NotOAuth(String),
    #[error(
        "upstream `{0}` needs authorization: an administrator must authorize it in the console"
    )]
    Required(String),
    #[error(
        "upstream `{0}` asks for more scope ({1}): an administrator must authorize it again in the console"
    )]
    StepUp(String, String),
    /// The upstream refused an expired or revoked token and a new one was obtained: the
    /// request, which it did not serve, may be sent again.
    #[error("upstream `{0}` refused its token, which was renewed: send the request again")]
    Renewed(String),
    /// Authorizing would not help, or the setup cannot work.
    #[error("{0}")]
    Refused(String),
    /// The upstream or its authorization server could not be used.
    #[error("{0}")]
    Upstream(String),
    #[error("the authorization is unknown, expired or already used; start it again")]
    UnknownState,
    #[error("this authorization was started by another user")]
    OtherUser,
    #[error("{0}")]
    BadCallback(String),
    #[error("upstream {0}'s grant is stored in a form this version cannot read")]
    Corrupt(Uuid),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Kv(#[from] KvError),
    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl From<DiscoveryError> for UpstreamAuthError {
    fn from(error: DiscoveryError) -> Self {
        Self::Upstream(error.to_string())
    }
}

/// A code flow waiting for its callback, in `kv` under its `state`.
#[derive(Serialize, Deserialize)]
struct Pending {
    tenant: Uuid,
    upstream: Uuid,
    user: Uuid,
    verifier: String,
    redirect_uri: String,
    token_endpoint: String,
    client: Client,
    resource: String,
    issuer: Option<String>,
    iss_parameter: bool,
    scope: Option<String>,
}

/// The upstream a callback authorized.
pub struct Finished {
    pub tenant_id: Uuid,
    pub upstream_id: Uuid,
}

fn pending_key(state: &str) -> String {
    format!("upoauth:state:{state}")
}

impl UpstreamAuth {
    /// Begins authorizing the upstream: discovery, client identity, and either the URL to
    /// send `user` to (code grant) or, for client credentials, the grant itself.
    /// `public_base` is the gateway's public origin, for the callback URL.
    pub async fn start(
        &self,
        scope: &TenantScope,
        upstream: &Upstream,
        user: Uuid,
        public_base: &str,
    ) -> Result<AuthorizationStart, UpstreamAuthError> {
        let oauth =
            settings(upstream).ok_or_else(|| UpstreamAuthError::NotOAuth(upstream.name.clone()))?;
        let (row, mut sealed) = self.load(scope, upstream.id).await?;
        let (found, challenge) = self.discover(scope, upstream).await?;
        let wanted = choose_scope(oauth, &challenge, &row, &sealed, &found)?;
        if oauth.grant == OAuthGrant::ClientCredentials {
            self.client_credentials_with(scope, upstream, &found, wanted)
                .await?;
            let (row, sealed) = self.load(scope, upstream.id).await?;
            return Ok(AuthorizationStart {
                authorization_url: None,
                authorization: view(&row, &sealed),
            });
        }
        let redirect_uri = format!("{}{CALLBACK_PATH}", public_base.trim_end_matches('/'));
        let client = self
            .client_for(oauth, &found, &sealed, &redirect_uri)
            .await?;
        sealed.client = Some(client.clone());
        sealed.registered_at = Some(found.token_endpoint.clone());
        self.save(scope, upstream.id, row.clone(), &sealed).await?;

        let verifier = crate::identity::random_token(32);
        let state = crate::identity::random_token(24);
        let pending = Pending {
            tenant: scope.tenant_id(),
            upstream: upstream.id,
            user,
            verifier: verifier.clone(),
            redirect_uri: redirect_uri.clone(),
            token_endpoint: found.token_endpoint.clone(),
            client: client.clone(),
            resource: found.resource.clone(),
            issuer: found.issuer.clone(),
            iss_parameter: found.iss_parameter,
            scope: wanted.clone(),
        };
        let json =
            serde_json::to_vec(&pending).map_err(|_| UpstreamAuthError::Corrupt(upstream.id))?;
        self.kv
            .set(&pending_key(&state), &json, Some(PENDING_TTL))
            .await?;

        let mut url = Url::parse(&found.authorization_endpoint).map_err(|_| {
            UpstreamAuthError::Upstream("the authorization endpoint is not a URL".into())
        })?;
        let code_challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &client.id)
                .append_pair("redirect_uri", &redirect_uri)
                .append_pair("code_challenge", &code_challenge)
                .append_pair("code_challenge_method", "S256")
                .append_pair("state", &state)
                .append_pair("resource", &found.resource);
            if let Some(wanted) = &wanted {
                query.append_pair("scope", wanted);
            }
        }
        Ok(AuthorizationStart {
            authorization_url: Some(url.to_string()),
            authorization: view(&row, &sealed),
        })
    }

    /// The callback: exchanges the code of the flow `state` names, which `user` started.
    /// The flow is spent whatever the outcome.
    pub async fn finish(
        &self,
        state: &str,
        user: Uuid,
        answer: &CallbackAnswer,
    ) -> Result<Finished, UpstreamAuthError> {
        let raw = self
            .kv
            .take(&pending_key(state))
            .await?
            .ok_or(UpstreamAuthError::UnknownState)?;
        let pending: Pending =
            serde_json::from_slice(&raw).map_err(|_| UpstreamAuthError::UnknownState)?;
        if pending.user != user {
            return Err(UpstreamAuthError::OtherUser);
        }
        let scope = self.store.scope(pending.tenant).await?;
        let outcome = self.exchange_code(&pending, answer).await;
        let (mut row, mut sealed) = self.load(&scope, pending.upstream).await?;
        match outcome {
            Ok(tokens) => {
                sealed.client = Some(pending.client.clone());
                sealed.token_endpoint = Some(pending.token_endpoint.clone());
                sealed.resource = Some(pending.resource.clone());
                granted(&mut row, &mut sealed, tokens, pending.scope.clone());
                row.authorized_by = Some(user);
                row.authorized_at = Some(Utc::now());
                self.save(&scope, pending.upstream, row, &sealed).await?;
                self.metrics.upstream_oauth("authorized");
                Ok(Finished {
                    tenant_id: pending.tenant,
                    upstream_id: pending.upstream,
                })
            }
            Err(error) => {
                row.last_error = Some(error.to_string());
                self.save(&scope, pending.upstream, row, &sealed).await?;
                Err(error)
            }
        }
    }

    async fn exchange_code(
        &self,
        pending: &Pending,
        answer: &CallbackAnswer,
    ) -> Result<Tokens, UpstreamAuthError> {
        if let Some(error) = &answer.error {
            let detail = answer
                .error_description
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            return Err(UpstreamAuthError::BadCallback(format!(
                "the authorization server refused: {error}{detail}"
            )));
        }
        // RFC 9207 §2.4: an answer naming another issuer may come from a mix-up attack.
        match (&pending.issuer, &answer.iss) {
            (Some(expected), Some(iss))
                if iss.trim_end_matches('/') != expected.trim_end_matches('/') =>
            {
                return Err(UpstreamAuthError::BadCallback(format!(
                    "the answer names issuer {iss}, not {expected} (RFC 9207)"
                )));
            }
            (Some(_), None) if pending.iss_parameter => {
                return Err(UpstreamAuthError::BadCallback(
                    "the answer has no `iss` although the server says it sends one (RFC 9207)"
                        .into(),
                ));
            }
            _ => {}
        }
        let code = answer
            .code
            .as_deref()
            .ok_or_else(|| UpstreamAuthError::BadCallback("the answer has no `code`".into()))?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", pending.redirect_uri.as_str()),
            ("code_verifier", pending.verifier.as_str()),
            ("resource", pending.resource.as_str()),
        ];
        let http = self.http.for_upstream(&pending.resource).await;
        Ok(exchange::token(&http, &pending.token_endpoint, &pending.client, &form).await?)
    }

    /// Trades the refresh token for new tokens, one replica at a time (a rotated refresh
    /// token is good once).
    pub(super) async fn refresh(
        &self,
        scope: &TenantScope,
        upstream: &Upstream,
        mut row: UpstreamOAuthRow,
        mut sealed: Sealed,
    ) -> Result<(), UpstreamAuthError> {
        let lease = format!("upoauth:refresh:{}", upstream.id);
        let holder = crate::identity::random_token(12);
        let mut tries = 0;
        while !self
            .kv
            .acquire_lease(&lease, &holder, std::time::Duration::from_secs(15))
            .await?
        {
            tries += 1;
            if tries > 40 {
                return Err(UpstreamAuthError::Upstream(
                    "a token refresh elsewhere did not finish".into(),
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            let (_, again) = self.load(scope, upstream.id).await?;
            if again.access_token.is_some() && again.refresh_token != sealed.refresh_token {
                return Ok(());
            }
        }
        let outcome = self.refreshed(&sealed).await;
        let result = match outcome {
            Ok(tokens) => {
                let scope_before = row.scope.clone();
                granted(&mut row, &mut sealed, tokens, scope_before);
                self.metrics.upstream_oauth("refreshed");
                self.save(scope, upstream.id, row, &sealed).await
            }
            Err(error) => {
                self.metrics.upstream_oauth("refresh_failed");
                // Refused or answered badly (not merely unreachable): the grant is gone, and
                // someone must authorize again.
                if matches!(error, DiscoveryError::Invalid(_)) {
                    sealed.access_token = None;
                    sealed.refresh_token = None;
                    row.expires_at = None;
                }
                row.last_error = Some(format!("refresh failed: {error}"));
                match self.save(scope, upstream.id, row, &sealed).await {
                    Ok(()) => Err(UpstreamAuthError::Required(upstream.name.clone())),
                    Err(e) => Err(e),
                }
            }
        };
        let _ = self.kv.release_lease(&lease, &holder).await;
        result
    }

    async fn refreshed(&self, sealed: &Sealed) -> Result<Tokens, DiscoveryError> {
        let (Some(endpoint), Some(client), Some(refresh)) = (
            &sealed.token_endpoint,
            &sealed.client,
            &sealed.refresh_token,
        ) else {
            return Err(DiscoveryError::Invalid(
                "the grant lacks what a refresh needs".into(),
            ));
        };
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.as_str()),
        ];
        if let Some(resource) = &sealed.resource {
            form.push(("resource", resource));
        }
        let http = self
            .http
            .for_upstream(sealed.resource.as_deref().unwrap_or_default())
            .await;
        exchange::token(&http, endpoint, client, &form).await
    }

    /// A client-credentials grant, discovering the server first.
    pub(super) async fn client_credentials(
        &self,
        scope: &TenantScope,
        upstream: &Upstream,
    ) -> Result<(), UpstreamAuthError> {
        let oauth =
            settings(upstream).ok_or_else(|| UpstreamAuthError::NotOAuth(upstream.name.clone()))?;
        let (row, sealed) = self.load(scope, upstream.id).await?;
        let (found, challenge) = self.discover(scope, upstream).await?;
        let wanted = choose_scope(oauth, &challenge, &row, &sealed, &found)?;
        self.client_credentials_with(scope, upstream, &found, wanted)
            .await
    }

    async fn client_credentials_with(
        &self,
        scope: &TenantScope,
        upstream: &Upstream,
        found: &Discovered,
        wanted: Option<String>,
    ) -> Result<(), UpstreamAuthError> {
        let oauth =
            settings(upstream).ok_or_else(|| UpstreamAuthError::NotOAuth(upstream.name.clone()))?;
        let (mut row, mut sealed) = self.load(scope, upstream.id).await?;
        let id = oauth.client_id.clone().ok_or_else(|| {
            UpstreamAuthError::Refused(
                "the client_credentials grant needs connection.oauth.client_id".into(),
            )
        })?;
        let client = Client::preregistered(
            id,
            sealed.preregistered_secret.clone(),
            assertion(oauth, &sealed, found),
            &found.auth_methods,
        );
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("resource", found.resource.as_str()),
        ];
        if let Some(wanted) = &wanted {
            form.push(("scope", wanted));
        }
        let http = self.http.for_upstream(&found.resource).await;
        match exchange::token(&http, &found.token_endpoint, &client, &form).await {
            Ok(tokens) => {
                sealed.client = Some(client);
                sealed.token_endpoint = Some(found.token_endpoint.clone());
                sealed.resource = Some(found.resource.clone());
                granted(&mut row, &mut sealed, tokens, wanted);
                row.authorized_at = Some(Utc::now());
                self.metrics.upstream_oauth("authorized");
                self.save(scope, upstream.id, row, &sealed).await
            }
            Err(error) => {
                row.last_error = Some(error.to_string());
                self.save(scope, upstream.id, row, &sealed).await?;
                Err(error.into())
            }
        }
    }

    /// The upstream's challenge to a request without a token, then discovery from it.
    async fn discover(
        &self,
        scope: &TenantScope,
        upstream: &Upstream,
    ) -> Result<(Discovered, Challenge), UpstreamAuthError> {
        let app::api::Connection::StreamableHttp { url, headers, .. } = &upstream.connection else {
            return Err(UpstreamAuthError::NotOAuth(upstream.name.clone()));
        };
        let url = Url::parse(url)
            .map_err(|_| UpstreamAuthError::Upstream(format!("`{url}` is not a URL")))?;
        let secrets = open_secrets(&self.store, &self.vault, scope, upstream.id)
            .await
            .map_err(|error| match error {
                RegistryError::Store(e) => UpstreamAuthError::Store(e),
                RegistryError::Vault(e) => UpstreamAuthError::Vault(e),
                _ => UpstreamAuthError::Corrupt(upstream.id),
            })?;
        let http = self.http.for_upstream(url.as_str()).await;
        let challenge = Challenge::probe(&http, &url, headers.iter().chain(&secrets)).await;
        let found = discovery::discover(&http, &url, &challenge).await?;
        Ok((found, challenge))
    }

    /// Who the gateway is at the server: the pre-registered client, its metadata document's
    /// URL, the client registered there before, or a new registration.
    async fn client_for(
        &self,
        oauth: &UpstreamOAuth,
        found: &Discovered,
        sealed: &Sealed,
        redirect_uri: &str,
    ) -> Result<Client, UpstreamAuthError> {
        if let Some(id) = &oauth.client_id {
            return Ok(Client::preregistered(
                id.clone(),
                sealed.preregistered_secret.clone(),
                assertion(oauth, sealed, found),
                &found.auth_methods,
            ));
        }
        if found.client_id_metadata_documents && !self.client_metadata_url.is_empty() {
            return Ok(Client {
                id: self.client_metadata_url.to_string(),
                secret: None,
                auth_method: "none".into(),
                assertion: None,
            });
        }
        if let Some(client) = &sealed.client
            && sealed.registered_at.as_deref() == Some(found.token_endpoint.as_str())
        {
            return Ok(client.clone());
        }
        let Some(endpoint) = &found.registration_endpoint else {
            return Err(UpstreamAuthError::Refused(
                "the upstream's authorization server takes no registrations and no client is \
                 configured: register the gateway there and set connection.oauth.client_id"
                    .into(),
            ));
        };
        let http = self.http.for_upstream(&found.resource).await;
        Ok(exchange::register(&http, endpoint, redirect_uri, &found.auth_methods).await?)
    }
}

/// What a pre-registered client with a key signs with, addressed to the server found.
fn assertion(oauth: &UpstreamOAuth, sealed: &Sealed, found: &Discovered) -> Option<Assertion> {
    Some(Assertion {
        key: sealed.preregistered_key.clone()?,
        algorithm: oauth
            .signing_algorithm
            .clone()
            .unwrap_or_else(|| "ES256".into()),
        audience: found
            .issuer
            .clone()
            .unwrap_or_else(|| found.token_endpoint.clone()),
    })
}

/// The callback's query (RFC 6749 §4.1.2, RFC 9207).
#[derive(Debug, Default, Deserialize)]
pub struct CallbackAnswer {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Stores what a token endpoint granted; `asked` stands for the scope when the answer names
/// none (RFC 6749 §5.1: then it is what was asked).
fn granted(row: &mut UpstreamOAuthRow, sealed: &mut Sealed, tokens: Tokens, asked: Option<String>) {
    sealed.access_token = Some(tokens.access_token);
    if tokens.refresh_token.is_some() {
        sealed.refresh_token = tokens.refresh_token;
    }
    row.scope = tokens.scope.or(asked);
    // Bounded at ten years: a token said to live longer is not believed further.
    let lifetime = tokens
        .expires_in
        .map(|s| i64::try_from(s).unwrap_or(i64::MAX).min(10 * 365 * 86_400));
    row.expires_at = lifetime.map(|s| Utc::now() + chrono::Duration::seconds(s));
    sealed.refresh_after = lifetime.map(refresh_after);
    row.required_scope = None;
    row.last_error = None;
}
