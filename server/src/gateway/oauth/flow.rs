//! The authorization code flow with PKCE (OAuth 2.1 §4.1): the authorization request, the
//! user's consent, the single-use code, and the token endpoint's two grants.

use std::time::Duration;

use base64::Engine;
use chrono::Utc;
use reqwest::Url;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::clients::Client;
use super::{AuthorizationServer, Issuer, OAuthError, SCOPE};
use crate::audit::{self, Origin, Outcome};
use crate::identity::{ClientBinding, Principal};
use crate::store::ConsentRow;
use crate::tenancy::TenantScope;

/// The query of `GET /oauth/{tenant}/authorize` (OAuth 2.1 §4.1.1, RFC 8707 §2).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub resource: Option<String>,
}

/// Where the authorization endpoint sends the browser.
#[derive(Debug)]
pub enum Authorized {
    /// To the consent page, for this pending request.
    Consent(String),
    /// Back to the client, with a code or an error.
    Redirect(String),
}

/// A request waiting for the user's answer, in `kv`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Pending {
    tenant_id: Uuid,
    issuer: String,
    client_id: String,
    client_name: String,
    metadata_document: bool,
    redirect_uri: String,
    scopes: Vec<String>,
    state: Option<String>,
    code_challenge: String,
    resource: String,
}

/// What the consent page shows.
#[derive(Clone, Debug, Serialize)]
pub struct PendingView {
    pub client_id: String,
    pub client_name: String,
    /// The client is named by its metadata document's URL; its name is its own claim.
    pub metadata_document: bool,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub resource: String,
}

/// What an authorization code stands for, in `kv` under its hash.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Grant {
    user_id: Uuid,
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    scopes: Vec<String>,
    resource: String,
}

/// The form of `POST /oauth/{tenant}/token` (OAuth 2.1 §4.1.3, §4.3.1).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct TokenParams {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub client_id: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub resource: Option<String>,
    pub scope: Option<String>,
}

/// A successful token response (OAuth 2.1 §3.2.3).
#[derive(Clone, Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub refresh_token: String,
    pub scope: String,
}

fn pending_key(id: &str) -> String {
    format!("oauth:req:{id}")
}

fn code_key(code: &str) -> String {
    format!(
        "oauth:code:{}",
        hex::encode(Sha256::digest(code.as_bytes()))
    )
}

/// `redirect_uri` with `pairs` added to its query (RFC 6749 §4.1.2: keeping its own query).
fn redirect_with(redirect_uri: &str, pairs: &[(&str, Option<&str>)]) -> String {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return redirect_uri.to_owned();
    };
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in pairs {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
    }
    url.into()
}

fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, OAuthError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::InvalidRequest(format!("`{name}` is required")))
}

/// The requested scopes: always `mcp`, plus `offline_access` when asked (SEP-2207; refresh
/// tokens are issued either way). Anything else is refused.
fn scopes(scope: Option<&str>) -> Result<Vec<String>, OAuthError> {
    let asked: Vec<&str> = scope.unwrap_or_default().split_whitespace().collect();
    if let Some(unknown) = asked.iter().find(|s| !super::SCOPES.contains(s)) {
        return Err(OAuthError::InvalidScope(format!(
            "scope `{unknown}` is not offered; the scopes are {}",
            super::SCOPES.join(", ")
        )));
    }
    let mut granted = vec![SCOPE.to_owned()];
    if asked.contains(&"offline_access") {
        granted.push("offline_access".to_owned());
    }
    Ok(granted)
}

impl AuthorizationServer {
    /// Checks an authorization request (OAuth 2.1 §4.1.1). Until the client and its redirect
    /// URI are known to be genuine, errors are returned for the browser to show, never sent
    /// to the URI (§4.1.2.1: an open redirector otherwise). After that, errors go back to
    /// the client. A user already signed in who consented to this client before gets the
    /// code straight away.
    pub async fn authorize(
        &self,
        issuer: &Issuer,
        params: &AuthorizeParams,
        signed_in: Option<&Principal>,
        origin: &Origin,
    ) -> Result<Authorized, OAuthError> {
        let scope = TenantScope::verified(issuer.tenant_id);
        let client_id = required(&params.client_id, "client_id")?;
        let client: Client = self.client(&scope, client_id).await?;
        let redirect_uri = required(&params.redirect_uri, "redirect_uri")?;
        if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
            return Err(OAuthError::InvalidRequest(format!(
                "redirect_uri `{redirect_uri}` is not one the client registered"
            )));
        }
        let back = |error: OAuthError| {
            let description = error.to_string();
            Authorized::Redirect(redirect_with(
                redirect_uri,
                &[
                    ("error", error.code()),
                    ("error_description", Some(&description)),
                    ("state", params.state.as_deref()),
                    ("iss", Some(&issuer.url())),
                ],
            ))
        };
        match params.response_type.as_deref() {
            Some("code") => {}
            Some(other) => {
                return Ok(back(OAuthError::UnsupportedResponseType(format!(
                    "response_type `{other}` is not supported; use `code`"
                ))));
            }
            None => {
                return Ok(back(OAuthError::InvalidRequest(
                    "`response_type` is required".into(),
                )));
            }
        }
        // PKCE is required of every client, with S256 only (OAuth 2.1 §4.1.1, §7.5.2).
        let challenge = match (
            params.code_challenge.as_deref(),
            params.code_challenge_method.as_deref(),
        ) {
            (Some(c), Some("S256")) if (43..=128).contains(&c.len()) => c.to_owned(),
            (None, _) => {
                return Ok(back(OAuthError::InvalidRequest(
                    "`code_challenge` is required (PKCE)".into(),
                )));
            }
            (Some(_), Some("S256")) => {
                return Ok(back(OAuthError::InvalidRequest(
                    "`code_challenge` must be 43 to 128 characters".into(),
                )));
            }
            (Some(_), _) => {
                return Ok(back(OAuthError::InvalidRequest(
                    "`code_challenge_method` must be `S256`".into(),
                )));
            }
        };
        let scopes = match scopes(params.scope.as_deref()) {
            Ok(scopes) => scopes,
            Err(e) => return Ok(back(e)),
        };
        let resource = params.resource.clone().unwrap_or_else(|| issuer.resource());
        if !issuer.serves(&resource) {
            return Ok(back(OAuthError::InvalidTarget(format!(
                "`{resource}` is not an MCP endpoint of this tenant"
            ))));
        }
        let pending = Pending {
            tenant_id: issuer.tenant_id,
            issuer: issuer.url(),
            client_id: client.client_id,
            client_name: client.name,
            metadata_document: client.metadata_document,
            redirect_uri: redirect_uri.to_owned(),
            scopes,
            state: params.state.clone(),
            code_challenge: challenge,
            resource,
        };
        if let Some(user) = signed_in.filter(|p| p.tenant_id == issuer.tenant_id) {
            let remembered = self
                .store
                .consent(&scope, user.user_id, &pending.client_id)
                .await?;
            if remembered.is_some_and(|c| {
                let granted: Vec<&str> = c.scopes.split(' ').collect();
                pending.scopes.iter().all(|s| granted.contains(&s.as_str()))
            }) {
                let to = self.issue_code(&pending, user, origin, true).await?;
                return Ok(Authorized::Redirect(to));
            }
        }
        let id = crate::identity::random_token(24);
        let value =
            serde_json::to_vec(&pending).map_err(|e| OAuthError::Internal(e.to_string()))?;
        let ttl = Duration::from_secs(self.settings.request_ttl_secs.max(1));
        self.kv.set(&pending_key(&id), &value, Some(ttl)).await?;
        Ok(Authorized::Consent(id))
    }

    /// The request behind a consent page, for a user of its tenant.
    pub async fn pending(
        &self,
        principal: &Principal,
        request: &str,
    ) -> Result<PendingView, OAuthError> {
        let pending = self.pending_for(principal, request).await?;
        Ok(PendingView {
            client_id: pending.client_id,
            client_name: pending.client_name,
            metadata_document: pending.metadata_document,
            redirect_uri: pending.redirect_uri,
            scopes: pending.scopes,
            resource: pending.resource,
        })
    }

    async fn pending_for(
        &self,
        principal: &Principal,
        request: &str,
    ) -> Result<Pending, OAuthError> {
        let raw = self
            .kv
            .get(&pending_key(request))
            .await?
            .ok_or(OAuthError::UnknownRequest)?;
        let pending: Pending =
            serde_json::from_slice(&raw).map_err(|e| OAuthError::Internal(e.to_string()))?;
        if pending.tenant_id != principal.tenant_id {
            return Err(OAuthError::UnknownRequest);
        }
        Ok(pending)
    }

    /// The user's answer. Either way the request is spent; the answer is where the browser
    /// goes next: the client's redirect URI with a code, or with `access_denied`.
    pub async fn answer(
        &self,
        principal: &Principal,
        request: &str,
        allow: bool,
        origin: &Origin,
    ) -> Result<String, OAuthError> {
        self.pending_for(principal, request).await?;
        let raw = self
            .kv
            .take(&pending_key(request))
            .await?
            .ok_or(OAuthError::UnknownRequest)?;
        let pending: Pending =
            serde_json::from_slice(&raw).map_err(|e| OAuthError::Internal(e.to_string()))?;
        if !allow {
            let event = origin
                .event(principal.actor(), "oauth.consent", Outcome::Denied)
                .target(format!("oauth-client:{}", pending.client_id))
                .detail(serde_json::json!({ "client_name": pending.client_name }));
            audit::record(&self.store, principal.tenant_id, event).await?;
            let description = OAuthError::AccessDenied.to_string();
            return Ok(redirect_with(
                &pending.redirect_uri,
                &[
                    ("error", Some("access_denied")),
                    ("error_description", Some(&description)),
                    ("state", pending.state.as_deref()),
                    ("iss", Some(&pending.issuer)),
                ],
            ));
        }
        let scope = TenantScope::verified(principal.tenant_id);
        // A consent only widens: what was allowed before stays allowed.
        let mut scopes = pending.scopes.clone();
        if let Some(before) = self
            .store
            .consent(&scope, principal.user_id, &pending.client_id)
            .await?
        {
            for s in before.scopes.split_whitespace() {
                if !scopes.iter().any(|have| have == s) {
                    scopes.push(s.to_owned());
                }
            }
        }
        let consent = ConsentRow {
            id: Uuid::now_v7(),
            client_id: pending.client_id.clone(),
            client_name: pending.client_name.clone(),
            scopes: scopes.join(" "),
            granted_at: Utc::now(),
        };
        self.store
            .grant_consent(&scope, principal.user_id, &consent)
            .await?;
        self.issue_code(&pending, principal, origin, false).await
    }

    /// A single-use code for `pending`, and the redirect that delivers it with `state` and
    /// `iss` (RFC 9207 §2).
    async fn issue_code(
        &self,
        pending: &Pending,
        principal: &Principal,
        origin: &Origin,
        remembered: bool,
    ) -> Result<String, OAuthError> {
        let code = crate::identity::random_token(32);
        let grant = Grant {
            user_id: principal.user_id,
            client_id: pending.client_id.clone(),
            redirect_uri: pending.redirect_uri.clone(),
            code_challenge: pending.code_challenge.clone(),
            scopes: pending.scopes.clone(),
            resource: pending.resource.clone(),
        };
        let value = serde_json::to_vec(&grant).map_err(|e| OAuthError::Internal(e.to_string()))?;
        let ttl = Duration::from_secs(self.settings.code_ttl_secs.max(1));
        self.kv.set(&code_key(&code), &value, Some(ttl)).await?;
        let event = origin
            .event(principal.actor(), "oauth.consent", Outcome::Success)
            .target(format!("oauth-client:{}", pending.client_id))
            .detail(serde_json::json!({
                "client_name": pending.client_name,
                "redirect_uri": pending.redirect_uri,
                "resource": pending.resource,
                "scopes": pending.scopes,
                "remembered": remembered,
            }));
        audit::record(&self.store, principal.tenant_id, event).await?;
        Ok(redirect_with(
            &pending.redirect_uri,
            &[
                ("code", Some(&code)),
                ("state", pending.state.as_deref()),
                ("iss", Some(&pending.issuer)),
            ],
        ))
    }

    /// The token endpoint (OAuth 2.1 §3.2): an authorization code or a refresh token for
    /// tokens bound to the client and resource.
    pub async fn token(
        &self,
        issuer: &Issuer,
        params: &TokenParams,
        origin: &Origin,
    ) -> Result<TokenResponse, OAuthError> {
        let grant = params.grant_type.as_deref().unwrap_or_default();
        let label = match grant {
            "authorization_code" => "authorization_code",
            "refresh_token" => "refresh_token",
            _ => "other",
        };
        let answer = match grant {
            "authorization_code" => self.redeem_code(issuer, params, origin).await,
            "refresh_token" => self.refresh(issuer, params, origin).await,
            "" => Err(OAuthError::InvalidRequest(
                "`grant_type` is required".into(),
            )),
            other => Err(OAuthError::UnsupportedGrantType(format!(
                "grant_type `{other}` is not supported"
            ))),
        };
        let outcome = match &answer {
            Ok(_) => "issued",
            Err(e) => e.code().unwrap_or("server_error"),
        };
        self.metrics.oauth_token(label, outcome);
        answer
    }

    async fn redeem_code(
        &self,
        issuer: &Issuer,
        params: &TokenParams,
        origin: &Origin,
    ) -> Result<TokenResponse, OAuthError> {
        let code = required(&params.code, "code")?;
        let client_id = required(&params.client_id, "client_id")?;
        let verifier = required(&params.code_verifier, "code_verifier")?;
        let redirect_uri = required(&params.redirect_uri, "redirect_uri")?;
        // Taken, not read: a second use finds nothing, even concurrently.
        let grant: Grant = match self.kv.take(&code_key(code)).await? {
            Some(raw) => {
                serde_json::from_slice(&raw).map_err(|e| OAuthError::Internal(e.to_string()))?
            }
            None => {
                return Err(OAuthError::InvalidGrant(
                    "the authorization code is invalid, expired or already used".into(),
                ));
            }
        };
        if grant.client_id != client_id {
            return Err(OAuthError::InvalidGrant(
                "the authorization code was issued to another client".into(),
            ));
        }
        if grant.redirect_uri != redirect_uri {
            return Err(OAuthError::InvalidGrant(
                "redirect_uri differs from the authorization request's".into(),
            ));
        }
        // RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) == code_challenge.
        let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes()));
        let verifier_ok = (43..=128).contains(&verifier.len())
            && subtle::ConstantTimeEq::ct_eq(computed.as_bytes(), grant.code_challenge.as_bytes())
                .into();
        if !verifier_ok {
            return Err(OAuthError::InvalidGrant(
                "code_verifier does not match the code_challenge".into(),
            ));
        }
        if let Some(resource) = params.resource.as_deref()
            && resource != grant.resource
        {
            return Err(OAuthError::InvalidTarget(
                "resource differs from the authorization request's".into(),
            ));
        }
        let scope = TenantScope::verified(issuer.tenant_id);
        let binding = ClientBinding {
            client_id: grant.client_id.clone(),
            audience: grant.resource.clone(),
        };
        let (pair, principal) = self
            .identity
            .start_client_family(&scope, grant.user_id, &binding)
            .await?;
        let event = origin
            .event(principal.actor(), "oauth.token", Outcome::Success)
            .target(format!("oauth-client:{}", grant.client_id))
            .detail(serde_json::json!({ "grant_type": "authorization_code", "resource": grant.resource }));
        audit::record(&self.store, issuer.tenant_id, event).await?;
        Ok(TokenResponse {
            access_token: pair.access_token,
            token_type: "Bearer",
            expires_in: pair.expires_in,
            refresh_token: pair.refresh_token,
            scope: grant.scopes.join(" "),
        })
    }

    async fn refresh(
        &self,
        issuer: &Issuer,
        params: &TokenParams,
        origin: &Origin,
    ) -> Result<TokenResponse, OAuthError> {
        let token = required(&params.refresh_token, "refresh_token")?;
        let client_id = required(&params.client_id, "client_id")?;
        let scopes = scopes(params.scope.as_deref())?;
        if let Some(resource) = params.resource.as_deref()
            && !issuer.serves(resource)
        {
            return Err(OAuthError::InvalidTarget(format!(
                "`{resource}` is not an MCP endpoint of this tenant"
            )));
        }
        let (pair, _) = self
            .identity
            .refresh_as(
                token,
                origin,
                Some((issuer.tenant_id, client_id, params.resource.as_deref())),
            )
            .await?;
        Ok(TokenResponse {
            access_token: pair.access_token,
            token_type: "Bearer",
            expires_in: pair.expires_in,
            refresh_token: pair.refresh_token,
            scope: scopes.join(" "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_keep_the_clients_query_and_escape_values() {
        let to = redirect_with(
            "https://app.example.com/cb?session=1",
            &[
                ("code", Some("a b&c")),
                ("state", None),
                ("iss", Some("https://x/oauth/t")),
            ],
        );
        assert_eq!(
            to,
            "https://app.example.com/cb?session=1&code=a+b%26c&iss=https%3A%2F%2Fx%2Foauth%2Ft"
        );
    }

    #[test]
    fn scopes_are_mcp_and_offline_access() {
        assert_eq!(scopes(None).unwrap(), ["mcp"]);
        assert_eq!(scopes(Some("mcp")).unwrap(), ["mcp"]);
        assert_eq!(
            scopes(Some("offline_access mcp")).unwrap(),
            ["mcp", "offline_access"]
        );
        assert!(matches!(
            scopes(Some("mcp admin")),
            Err(OAuthError::InvalidScope(_))
        ));
    }
}
