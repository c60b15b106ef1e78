//! Who a client is: one registered with the tenant (Dynamic Client Registration, RFC 7591),
//! or one whose `client_id` is the HTTPS URL of its metadata document (Client ID Metadata
//! Documents, MCP 2025-11-25 basic/authorization §Client Registration). Either way a public
//! client with exact redirect URIs.

use std::net::IpAddr;
use std::time::Duration;

use chrono::Utc;
use reqwest::Url;
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use super::{AuthorizationServer, OAuthError};
use crate::audit::{self, Origin, Outcome};
use crate::store::OAuthClientRow;
use crate::tenancy::TenantScope;

/// The largest metadata document read, and how long fetching it may take.
const DOCUMENT_LIMIT: usize = 64 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_REDIRECT_URIS: usize = 10;

/// A client, as the authorization endpoint needs it.
#[derive(Clone, Debug)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    /// Named by its metadata document's URL rather than registered here.
    pub metadata_document: bool,
}

/// Client metadata (RFC 7591 §2): the body of a registration, and a metadata document.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Registration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl Registration {
    /// The checks RFC 7591 §2 leaves to the server, for a public authorization-code client.
    fn check(&self) -> Result<(), OAuthError> {
        let metadata = OAuthError::InvalidClientMetadata;
        if self.redirect_uris.is_empty() {
            return Err(OAuthError::InvalidRedirectUri(
                "redirect_uris must name at least one URI".into(),
            ));
        }
        if self.redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(OAuthError::InvalidRedirectUri(format!(
                "at most {MAX_REDIRECT_URIS} redirect_uris"
            )));
        }
        for uri in &self.redirect_uris {
            check_redirect_uri(uri)?;
        }
        match self.token_endpoint_auth_method.as_deref() {
            None | Some("none") => {}
            Some(other) => {
                return Err(metadata(format!(
                    "token_endpoint_auth_method `{other}` is not supported: clients here are public (`none`) and use PKCE"
                )));
            }
        }
        if let Some(grants) = &self.grant_types
            && let Some(g) = grants
                .iter()
                .find(|g| !matches!(g.as_str(), "authorization_code" | "refresh_token"))
        {
            return Err(metadata(format!("grant type `{g}` is not supported")));
        }
        if let Some(types) = &self.response_types
            && let Some(t) = types.iter().find(|t| t.as_str() != "code")
        {
            return Err(metadata(format!("response type `{t}` is not supported")));
        }
        if let Some(name) = &self.client_name
            && app::api::validate_name("client_name", name).is_err()
        {
            return Err(metadata(
                "client_name must be 1 to 200 characters without control characters".into(),
            ));
        }
        Ok(())
    }
}

/// A redirect URI a client may register: absolute, without a fragment (RFC 6749 §3.1.2);
/// `https`, or `http` on a loopback address only (OAuth 2.1 §2.3.1; RFC 8252 §7.3), or an
/// app's private-use scheme (RFC 8252 §7.1) that is not one a browser runs.
pub(super) fn check_redirect_uri(uri: &str) -> Result<(), OAuthError> {
    let bad = |why: &str| OAuthError::InvalidRedirectUri(format!("redirect URI `{uri}` {why}"));
    let url = Url::parse(uri).map_err(|_| bad("is not an absolute URI"))?;
    if url.fragment().is_some() {
        return Err(bad("must not have a fragment"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" => match url.host_str() {
            Some("localhost" | "127.0.0.1" | "[::1]") => Ok(()),
            _ => Err(bad("may use http only on a loopback address")),
        },
        "javascript" | "data" | "file" | "vbscript" | "blob" | "about" => {
            Err(bad("uses a scheme that is not allowed"))
        }
        _ => Ok(()),
    }
}

impl AuthorizationServer {
    /// Registers a client (RFC 7591 §3.1); answers its metadata with the new `client_id`.
    pub async fn register(
        &self,
        scope: &TenantScope,
        mut registration: Registration,
        origin: &Origin,
    ) -> Result<serde_json::Value, OAuthError> {
        registration.check()?;
        let client_id = format!("syc_{}", crate::identity::random_token(18));
        let name = registration
            .client_name
            .clone()
            .unwrap_or_else(|| "Unnamed client".into());
        let now = Utc::now();
        self.store
            .insert_oauth_client(
                scope,
                &OAuthClientRow {
                    client_id: client_id.clone(),
                    client_name: name.clone(),
                    redirect_uris: Json(registration.redirect_uris.clone()),
                    client_uri: registration.client_uri.clone(),
                    created_at: now,
                },
            )
            .await?;
        let event = origin
            .event("anonymous", "oauth.client.register", Outcome::Success)
            .target(format!("oauth-client:{client_id}"))
            .detail(serde_json::json!({
                "client_name": name,
                "redirect_uris": registration.redirect_uris,
            }));
        audit::record(&self.store, scope.tenant_id(), event).await?;
        registration.client_id = Some(client_id);
        registration.client_name = Some(name);
        registration.token_endpoint_auth_method = Some("none".into());
        registration
            .grant_types
            .get_or_insert_with(|| vec!["authorization_code".into(), "refresh_token".into()]);
        registration
            .response_types
            .get_or_insert_with(|| vec!["code".into()]);
        let mut answer =
            serde_json::to_value(&registration).map_err(|e| OAuthError::Internal(e.to_string()))?;
        answer["client_id_issued_at"] = now.timestamp().into();
        Ok(answer)
    }

    /// The client a `client_id` names, or why it cannot be used.
    pub(super) async fn client(
        &self,
        scope: &TenantScope,
        client_id: &str,
    ) -> Result<Client, OAuthError> {
        if client_id.starts_with("https://") || client_id.starts_with("http://") {
            return self.metadata_document(client_id).await;
        }
        let row = self
            .store
            .oauth_client(scope, client_id)
            .await?
            .ok_or_else(|| OAuthError::InvalidClient(format!("unknown client `{client_id}`")))?;
        Ok(Client {
            client_id: row.client_id,
            name: row.client_name,
            redirect_uris: row.redirect_uris.0,
            metadata_document: false,
        })
    }

    /// Fetches and checks a client metadata document. The URL must be `https` with a path and
    /// resolve to public addresses only (no request of ours reaches an internal service),
    /// unless its host is in `client_metadata_allowed_hosts`; the document must name itself
    /// as `client_id`. No redirects are followed.
    async fn metadata_document(&self, client_id: &str) -> Result<Client, OAuthError> {
        let invalid = |why: String| OAuthError::InvalidClient(why);
        let url = Url::parse(client_id)
            .map_err(|_| invalid(format!("client_id `{client_id}` is not a valid URL")))?;
        let host = url
            .host_str()
            .ok_or_else(|| invalid("the client_id URL has no host".into()))?
            .to_owned();
        let allowed = self
            .settings
            .client_metadata_allowed_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&host));
        if url.scheme() != "https" && !allowed {
            return Err(invalid("a client_id URL must use https".into()));
        }
        if url.path() == "/" || url.fragment().is_some() || !url.username().is_empty() {
            return Err(invalid(
                "a client_id URL needs a path and no fragment or credentials".into(),
            ));
        }
        let port = url.port_or_known_default().unwrap_or(443);
        let addresses: Vec<std::net::SocketAddr> =
            tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
                .await
                .map_err(|_| invalid(format!("cannot resolve `{host}`")))?
                .collect();
        let Some(first) = addresses.first().copied() else {
            return Err(invalid(format!("cannot resolve `{host}`")));
        };
        if !allowed && addresses.iter().any(|a| !is_public(a.ip())) {
            return Err(invalid(format!(
                "`{host}` resolves to a non-public address"
            )));
        }
        // Connect to the address just vetted, not to whatever a second lookup returns.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FETCH_TIMEOUT)
            .resolve(&host, first)
            .build()
            .map_err(|e| OAuthError::Internal(e.to_string()))?;
        let fetch_failed = |why: String| invalid(format!("the client metadata document {why}"));
        let mut response = http
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|_| fetch_failed("could not be fetched".into()))?;
        if !response.status().is_success() {
            return Err(fetch_failed(format!(
                "answered HTTP {}",
                response.status().as_u16()
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|_| fetch_failed("could not be read".into()))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > DOCUMENT_LIMIT {
                return Err(fetch_failed(format!(
                    "is larger than {DOCUMENT_LIMIT} bytes"
                )));
            }
        }
        let document: Registration = serde_json::from_slice(&body)
            .map_err(|e| fetch_failed(format!("is not valid client metadata: {e}")))?;
        if document.client_id.as_deref() != Some(client_id) {
            return Err(fetch_failed(
                "does not name its own URL as client_id".into(),
            ));
        }
        document.check().map_err(|e| fetch_failed(e.to_string()))?;
        Ok(Client {
            client_id: client_id.to_owned(),
            name: document.client_name.unwrap_or_else(|| host.clone()),
            redirect_uris: document.redirect_uris,
            metadata_document: true,
        })
    }
}

/// Whether an address is on the public internet (`outbound` has the one classification).
fn is_public(ip: IpAddr) -> bool {
    crate::outbound::kind(ip) == crate::outbound::Kind::Public
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_https_loopback_http_or_an_app_scheme() {
        for ok in [
            "https://claude.ai/api/mcp/auth_callback",
            "http://127.0.0.1:33418/callback",
            "http://localhost/cb",
            "http://[::1]:8080/cb",
            "cursor://anysphere.cursor-retrieval/oauth/callback",
        ] {
            assert!(check_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com/cb",
            "https://app.example.com/cb#frag",
            "/relative/cb",
            "javascript:alert(1)",
            "data:text/html,hi",
            "not a uri",
        ] {
            assert!(
                matches!(
                    check_redirect_uri(bad),
                    Err(OAuthError::InvalidRedirectUri(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn only_public_addresses_are_fetched() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(internal.parse().unwrap()), "{internal}");
        }
        for public in ["93.184.216.34", "2606:2800:220:1::1"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn registrations_are_for_public_code_clients() {
        let ok = Registration {
            redirect_uris: vec!["http://127.0.0.1:9/cb".into()],
            ..Default::default()
        };
        assert!(ok.check().is_ok());
        let secret = Registration {
            token_endpoint_auth_method: Some("client_secret_basic".into()),
            ..ok.clone()
        };
        assert!(matches!(
            secret.check(),
            Err(OAuthError::InvalidClientMetadata(_))
        ));
        let implicit = Registration {
            grant_types: Some(vec!["implicit".into()]),
            ..ok.clone()
        };
        assert!(matches!(
            implicit.check(),
            Err(OAuthError::InvalidClientMetadata(_))
        ));
        let none = Registration::default();
        assert!(matches!(
            none.check(),
            Err(OAuthError::InvalidRedirectUri(_))
        ));
    }
}
