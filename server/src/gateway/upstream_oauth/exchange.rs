//! The gateway's requests to an upstream's authorization server: Dynamic Client Registration
//! (RFC 7591) and the token endpoint (RFC 6749 §4.1.3, §4.4, §6), authenticating as the
//! client registered (`none`, `client_secret_basic` or `client_secret_post`, RFC 6749 §2.3).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Url;
use serde::{Deserialize, Serialize};

use super::discovery::{DiscoveryError, Http};

/// The gateway's identity at one authorization server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// How it authenticates at the token endpoint.
    pub auth_method: String,
    /// For `private_key_jwt`: the key that signs its assertions, and for whom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assertion: Option<Assertion>,
}

/// What a `private_key_jwt` client signs its assertions with (RFC 7523 §3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assertion {
    /// PKCS#8 PEM.
    pub key: String,
    /// `ES256` (the one supported).
    pub algorithm: String,
    /// The `aud`: the authorization server's issuer (else its token endpoint).
    pub audience: String,
}

impl Client {
    /// A client registered beforehand. With a key, and a server that takes them, it signs
    /// assertions (RFC 7523 §2.2); with a secret it authenticates the way the server prefers
    /// of the two secret methods (RFC 8414 §2 default: `client_secret_basic`).
    pub fn preregistered(
        id: String,
        secret: Option<String>,
        assertion: Option<Assertion>,
        supported: &[String],
    ) -> Self {
        let takes = |m: &str| supported.iter().any(|s| s == m);
        if let Some(assertion) = assertion
            && (takes("private_key_jwt") || secret.is_none())
        {
            return Self {
                id,
                secret: None,
                auth_method: "private_key_jwt".into(),
                assertion: Some(assertion),
            };
        }
        let auth_method = match &secret {
            None => "none",
            Some(_) if takes("client_secret_basic") => "client_secret_basic",
            Some(_) if takes("client_secret_post") => "client_secret_post",
            Some(_) => "client_secret_basic",
        };
        Self {
            id,
            secret,
            auth_method: auth_method.into(),
            assertion: None,
        }
    }
}

/// A signed client assertion: `iss` and `sub` the client, `aud` the server, one minute of
/// life and a unique `jti` (RFC 7523 §3).
fn assertion_jwt(client_id: &str, assertion: &Assertion) -> Result<String, DiscoveryError> {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let bad = |e: jsonwebtoken::errors::Error| {
        DiscoveryError::Invalid(format!("the client's private key cannot sign: {e}"))
    };
    if assertion.algorithm != "ES256" {
        return Err(DiscoveryError::Invalid(format!(
            "client assertions are signed with ES256 only, not {}",
            assertion.algorithm
        )));
    }
    let key = EncodingKey::from_ec_der(&pkcs8_der(&assertion.key)?);
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({
        "iss": client_id, "sub": client_id, "aud": assertion.audience,
        "iat": now, "exp": now + 60, "jti": uuid::Uuid::new_v4().to_string(),
    });
    jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &key).map_err(bad)
}

/// The DER inside a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, RFC 7468 §10).
fn pkcs8_der(pem: &str) -> Result<Vec<u8>, DiscoveryError> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .skip_while(|l| *l != "-----BEGIN PRIVATE KEY-----")
        .skip(1)
        .take_while(|l| *l != "-----END PRIVATE KEY-----")
        .collect();
    STANDARD
        .decode(body)
        .ok()
        .filter(|der| !der.is_empty())
        .ok_or_else(|| {
            DiscoveryError::Invalid("the client's private key is not a PKCS#8 PEM".into())
        })
}

/// What a token endpoint granted (RFC 6749 §5.1).
#[derive(Clone, Debug, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    #[serde(default)]
    pub token_type: String,
    pub expires_in: Option<u64>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
}

#[derive(Deserialize)]
struct Registered {
    client_id: String,
    client_secret: Option<String>,
    token_endpoint_auth_method: Option<String>,
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    error_description: Option<String>,
}

/// Registers the gateway as a client (RFC 7591 §3.1): a public one where the server allows,
/// else one with a secret, for the code grant with refresh tokens (SEP-2207).
pub async fn register(
    http: &Http,
    endpoint: &str,
    redirect_uri: &str,
    supported: &[String],
) -> Result<Client, DiscoveryError> {
    let requested = ["none", "client_secret_basic", "client_secret_post"]
        .into_iter()
        .find(|m| supported.iter().any(|s| s == m))
        .unwrap_or("client_secret_basic");
    let body = serde_json::json!({
        "client_name": "Switchyard gateway",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": requested,
    });
    let request = http.client().post(endpoint).json(&body);
    let (status, _, body) = http.send(request, "client registration").await?;
    if !status.is_success() {
        return Err(DiscoveryError::Invalid(format!(
            "client registration at {endpoint} was refused: {}",
            refusal(status, &body)
        )));
    }
    let registered: Registered = serde_json::from_slice(&body).map_err(|e| {
        DiscoveryError::Invalid(format!(
            "client registration at {endpoint} answered badly: {e}"
        ))
    })?;
    let mut auth_method = registered
        .token_endpoint_auth_method
        .unwrap_or_else(|| requested.to_string());
    // A secret method without a secret cannot authenticate: be the public client instead.
    if registered.client_secret.is_none() {
        auth_method = "none".into();
    }
    Ok(Client {
        id: registered.client_id,
        secret: registered.client_secret,
        auth_method,
        assertion: None,
    })
}

/// A token request with `form` (grant type and its parameters), authenticated as `client`.
pub async fn token(
    http: &Http,
    endpoint: &str,
    client: &Client,
    form: &[(&str, &str)],
) -> Result<Tokens, DiscoveryError> {
    let mut fields: Vec<(&str, &str)> = form.to_vec();
    let mut request = http.client().post(endpoint);
    let signed;
    match (client.auth_method.as_str(), &client.secret) {
        ("private_key_jwt", _) if client.assertion.is_some() => {
            let assertion = client.assertion.as_ref().expect("checked above");
            signed = assertion_jwt(&client.id, assertion)?;
            fields.push(("client_id", &client.id));
            fields.push((
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ));
            fields.push(("client_assertion", &signed));
        }
        ("client_secret_basic", Some(secret)) => {
            // RFC 6749 §2.3.1: each part form-encoded before the Base64 of `id:secret`.
            let pair = format!("{}:{}", form_encode(&client.id), form_encode(secret));
            request = request.header("authorization", format!("Basic {}", STANDARD.encode(pair)));
        }
        ("client_secret_post", Some(secret)) => {
            fields.push(("client_id", &client.id));
            fields.push(("client_secret", secret));
        }
        _ => fields.push(("client_id", &client.id)),
    }
    let request = request
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(encode(&fields));
    let (status, _, body) = http.send(request, "token request").await?;
    if !status.is_success() {
        return Err(DiscoveryError::Invalid(format!(
            "the token endpoint refused: {}",
            refusal(status, &body)
        )));
    }
    let tokens: Tokens = serde_json::from_slice(&body)
        .map_err(|e| DiscoveryError::Invalid(format!("the token endpoint answered badly: {e}")))?;
    if !tokens.token_type.is_empty() && !tokens.token_type.eq_ignore_ascii_case("bearer") {
        return Err(DiscoveryError::Invalid(format!(
            "the token endpoint issued a `{}` token; only Bearer tokens are used (RFC 6750)",
            tokens.token_type
        )));
    }
    Ok(tokens)
}

/// `application/x-www-form-urlencoded` of the pairs (the URL Standard's serializer).
pub fn encode(pairs: &[(&str, &str)]) -> String {
    let mut url = Url::parse("http://form.invalid/").expect("a constant URL");
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or_default().to_string()
}

fn form_encode(value: &str) -> String {
    let encoded = encode(&[("", value)]);
    encoded.trim_start_matches('=').to_string()
}

/// The error an authorization server gave (RFC 6749 §5.2), or its status.
fn refusal(status: reqwest::StatusCode, body: &[u8]) -> String {
    match serde_json::from_slice::<OAuthErrorBody>(body) {
        Ok(e) => match e.error_description {
            Some(d) => format!("{} ({d})", e.error),
            None => e.error,
        },
        Err(_) => format!("HTTP {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_encode_as_the_url_standard_says() {
        assert_eq!(encode(&[("a", "b c"), ("x", "&=")]), "a=b+c&x=%26%3D");
        assert_eq!(form_encode("id:1"), "id%3A1");
    }

    #[test]
    fn preregistered_clients_pick_a_secret_method_the_server_takes() {
        let post = ["client_secret_post".to_string()];
        assert_eq!(
            Client::preregistered("c".into(), Some("s".into()), None, &post).auth_method,
            "client_secret_post"
        );
        assert_eq!(
            Client::preregistered("c".into(), Some("s".into()), None, &[]).auth_method,
            "client_secret_basic"
        );
        assert_eq!(
            Client::preregistered("c".into(), None, None, &post).auth_method,
            "none"
        );
    }
}
