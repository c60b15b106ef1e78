//! Finding an upstream's authorization server (MCP 2025-11-25 basic/authorization
//! §Authorization Server Discovery): its Protected Resource Metadata (RFC 9728) from the
//! challenge or the well-known URIs, then the server's metadata (RFC 8414, or OpenID
//! Connect Discovery) at the locations the spec lists, in its order. An upstream without
//! resource metadata is a 2025-03-26 server: its origin is the authorization server, with
//! metadata at the root or, lacking that, the default `/authorize`, `/token`, `/register`.

use std::time::Duration;

use reqwest::Url;
use serde::Deserialize;

use super::challenge::Challenge;
use crate::outbound::Reach;

/// How long one metadata, registration or token request may take, and how much it may say.
const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BODY: usize = 256 * 1024;

/// What the gateway needs to know to authorize with an upstream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovered {
    /// The `resource` to ask tokens for (RFC 8707).
    pub resource: String,
    /// The issuer the answer must name (RFC 9207), when metadata gave one.
    pub issuer: Option<String>,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub registration_endpoint: Option<String>,
    /// The scopes the resource says it supports (RFC 9728 §2).
    pub resource_scopes: Vec<String>,
    /// The scopes the authorization server lists (RFC 8414 §2), for `offline_access`.
    pub server_scopes: Vec<String>,
    /// Absent in the metadata: the RFC 8414 §2 default, `client_secret_basic`.
    pub auth_methods: Vec<String>,
    pub client_id_metadata_documents: bool,
    pub iss_parameter: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("{0}")]
    Unreachable(String),
    #[error("{0}")]
    Invalid(String),
}

/// The HTTP client of every OAuth exchange: no redirects followed, bounded in time and size,
/// and reaching no further into the network than the upstream it is for
/// ([`crate::outbound`]): the upstream names the metadata, authorization and token URLs, and
/// must not be able to send the gateway to its cloud metadata service or to an inner
/// address the upstream is not on itself.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    reach: Reach,
}

impl Http {
    fn new(reach: Reach) -> Result<Self, String> {
        let client = reach
            .guard(reqwest::Client::builder())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        Ok(Self { client, reach })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Status and body (at most [`MAX_BODY`]) of a request.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<(reqwest::StatusCode, reqwest::header::HeaderMap, Vec<u8>), DiscoveryError> {
        let (client, request) = request.build_split();
        let request = request.map_err(|e| DiscoveryError::Invalid(format!("{what}: {e}")))?;
        // An IP-literal host meets no resolver: it is judged here.
        if let Some(why) = self.reach.refusal_of_url(request.url()) {
            return Err(DiscoveryError::Unreachable(format!("{what}: {why}")));
        }
        let mut response = client
            .execute(request)
            .await
            .map_err(|e| DiscoveryError::Unreachable(format!("{what}: {}", chain(&e))))?;
        let (status, headers) = (response.status(), response.headers().clone());
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| DiscoveryError::Unreachable(format!("{what}: {e}")))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(DiscoveryError::Invalid(format!(
                    "{what}: the answer is over {MAX_BODY} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, headers, body))
    }

    /// A JSON document at `url`; `None` when the server has none there (any 4xx).
    async fn document<T: for<'de> Deserialize<'de>>(
        &self,
        url: &Url,
        what: &str,
    ) -> Result<Option<T>, DiscoveryError> {
        let request = self
            .client
            .get(url.as_str())
            .header("accept", "application/json");
        let (status, _, body) = self.send(request, &format!("{what} at {url}")).await?;
        if status.is_client_error() {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(DiscoveryError::Unreachable(format!(
                "{what} at {url}: HTTP {status}"
            )));
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| DiscoveryError::Invalid(format!("{what} at {url} is not valid: {e}")))
    }
}

/// An error with its causes: reqwest's own message alone says only "error sending request".
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    text
}

/// A guarded client for each [`Reach`], given out by the upstream's own.
#[derive(Clone)]
pub struct Clients {
    public: Http,
    private: Http,
    loopback: Http,
}

impl Clients {
    pub fn new() -> Result<Self, String> {
        Ok(Self {
            public: Http::new(Reach::Public)?,
            private: Http::new(Reach::Private)?,
            loopback: Http::new(Reach::Loopback)?,
        })
    }

    /// The client for exchanges on behalf of the upstream at `upstream` (its URL, or the
    /// resource it is): as far in as that host is; public addresses only if it is no URL.
    pub async fn for_upstream(&self, upstream: &str) -> Http {
        let reach = match Url::parse(upstream) {
            Ok(url) => Reach::of(&url).await,
            Err(_) => Reach::Public,
        };
        match reach {
            Reach::Public => self.public.clone(),
            Reach::Private => self.private.clone(),
            Reach::Loopback => self.loopback.clone(),
        }
    }
}

#[derive(Deserialize)]
struct ResourceMetadata {
    resource: Option<String>,
    #[serde(default)]
    authorization_servers: Vec<String>,
    #[serde(default)]
    scopes_supported: Vec<String>,
}

#[derive(Deserialize)]
struct ServerMetadata {
    issuer: Option<String>,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    registration_endpoint: Option<String>,
    #[serde(default)]
    scopes_supported: Vec<String>,
    code_challenge_methods_supported: Option<Vec<String>>,
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    client_id_metadata_document_supported: bool,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

/// Discovers how to authorize with the upstream at `upstream` (its MCP endpoint URL).
pub async fn discover(
    http: &Http,
    upstream: &Url,
    challenge: &Challenge,
) -> Result<Discovered, DiscoveryError> {
    let mut candidates = Vec::new();
    if let Some(url) = &challenge.resource_metadata {
        candidates.push(parse(url, "the challenge's resource_metadata")?);
    } else {
        // RFC 9728 §3.1: the well-known suffix goes between host and path; then the root.
        let path = upstream.path().trim_end_matches('/');
        if !path.is_empty() {
            candidates.push(at(
                upstream,
                &format!("/.well-known/oauth-protected-resource{path}"),
            ));
        }
        candidates.push(at(upstream, "/.well-known/oauth-protected-resource"));
    }
    let mut metadata = None;
    for url in &candidates {
        if let Some(found) = http
            .document::<ResourceMetadata>(url, "protected resource metadata")
            .await?
        {
            metadata = Some(found);
            break;
        }
    }
    let Some(metadata) = metadata else {
        return legacy(http, upstream).await;
    };
    let resource = match &metadata.resource {
        Some(resource) => {
            let named = parse(resource, "the metadata's resource")?;
            // RFC 9728 §3.3 and §7.3: metadata naming another resource must not be used, or
            // a hostile server could have the gateway ask for tokens meant for another.
            if !covers(&named, upstream) {
                return Err(DiscoveryError::Invalid(format!(
                    "the upstream's protected resource metadata is for {resource}, not for \
                     {upstream} (RFC 9728 §3.3); refusing to authorize"
                )));
            }
            resource.clone()
        }
        None => canonical(upstream),
    };
    let issuer = metadata.authorization_servers.first().ok_or_else(|| {
        DiscoveryError::Invalid(
            "the protected resource metadata names no authorization server".into(),
        )
    })?;
    let issuer_url = parse(issuer, "the authorization server")?;
    let server = server_metadata(http, &issuer_url).await?.ok_or_else(|| {
        DiscoveryError::Invalid(format!(
            "the authorization server {issuer} publishes no metadata (RFC 8414, OpenID Discovery)"
        ))
    })?;
    // RFC 8414 §3.3: the metadata must be the issuer's own.
    let named = server.issuer.as_deref().map(|i| i.trim_end_matches('/'));
    if named != Some(issuer.trim_end_matches('/')) {
        return Err(DiscoveryError::Invalid(format!(
            "the authorization server's metadata names issuer {}, not {issuer} (RFC 8414 §3.3)",
            server.issuer.as_deref().unwrap_or("none")
        )));
    }
    // MCP 2025-11-25 §Authorization Code Protection: no advertised S256, no authorization.
    if !server
        .code_challenge_methods_supported
        .as_ref()
        .is_some_and(|m| m.iter().any(|m| m == "S256"))
    {
        return Err(DiscoveryError::Invalid(format!(
            "the authorization server {issuer} does not advertise PKCE with S256; refusing to \
             authorize without it"
        )));
    }
    finish(server, resource, metadata.scopes_supported)
}

/// A 2025-03-26 upstream: its origin's metadata, else the default endpoints there.
async fn legacy(http: &Http, upstream: &Url) -> Result<Discovered, DiscoveryError> {
    let origin = at(upstream, "/");
    let resource = canonical(upstream);
    match server_metadata(http, &origin).await? {
        Some(mut server) => {
            // The 2025-03-26 revision names no issuer check: the origin is the server.
            server.issuer = None;
            finish(server, resource, Vec::new())
        }
        None => {
            let endpoint = |path: &str| at(upstream, path).to_string();
            Ok(Discovered {
                resource,
                issuer: None,
                authorization_endpoint: endpoint("/authorize"),
                token_endpoint: endpoint("/token"),
                registration_endpoint: Some(endpoint("/register")),
                resource_scopes: Vec::new(),
                server_scopes: Vec::new(),
                auth_methods: vec!["client_secret_basic".into()],
                client_id_metadata_documents: false,
                iss_parameter: false,
            })
        }
    }
}

fn finish(
    server: ServerMetadata,
    resource: String,
    resource_scopes: Vec<String>,
) -> Result<Discovered, DiscoveryError> {
    let endpoint = |value: Option<String>, name: &str| -> Result<String, DiscoveryError> {
        let value = value.ok_or_else(|| {
            DiscoveryError::Invalid(format!("the authorization server's metadata has no {name}"))
        })?;
        vetted(&value, name)?;
        Ok(value)
    };
    let registration_endpoint = match server.registration_endpoint {
        Some(url) => Some(endpoint(Some(url), "registration_endpoint")?),
        None => None,
    };
    Ok(Discovered {
        resource,
        issuer: server.issuer,
        authorization_endpoint: endpoint(server.authorization_endpoint, "authorization_endpoint")?,
        token_endpoint: endpoint(server.token_endpoint, "token_endpoint")?,
        registration_endpoint,
        resource_scopes,
        server_scopes: server.scopes_supported,
        auth_methods: server
            .token_endpoint_auth_methods_supported
            .unwrap_or_else(|| vec!["client_secret_basic".into()]),
        client_id_metadata_documents: server.client_id_metadata_document_supported,
        iss_parameter: server.authorization_response_iss_parameter_supported,
    })
}

/// The server's metadata, tried where MCP 2025-11-25 says, in that order: for an issuer with
/// a path, RFC 8414 and OpenID path insertion, then OpenID path appending; without, the two
/// well-known documents at the root.
async fn server_metadata(
    http: &Http,
    issuer: &Url,
) -> Result<Option<ServerMetadata>, DiscoveryError> {
    let path = issuer.path().trim_end_matches('/');
    let candidates = if path.is_empty() {
        vec![
            at(issuer, "/.well-known/oauth-authorization-server"),
            at(issuer, "/.well-known/openid-configuration"),
        ]
    } else {
        vec![
            at(
                issuer,
                &format!("/.well-known/oauth-authorization-server{path}"),
            ),
            at(issuer, &format!("/.well-known/openid-configuration{path}")),
            at(issuer, &format!("{path}/.well-known/openid-configuration")),
        ]
    };
    for url in candidates {
        if let Some(found) = http
            .document::<ServerMetadata>(&url, "authorization server metadata")
            .await?
        {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

fn parse(value: &str, what: &str) -> Result<Url, DiscoveryError> {
    Url::parse(value).map_err(|_| DiscoveryError::Invalid(format!("{what} `{value}` is not a URL")))
}

/// `path` on the origin of `base`.
fn at(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    url.set_path(path);
    url.set_query(None);
    url.set_fragment(None);
    url
}

/// The canonical form of the upstream's URL as a resource indicator (RFC 8707 §2: no
/// fragment; the url crate lowercases scheme and host).
pub fn canonical(url: &Url) -> String {
    let mut url = url.clone();
    url.set_fragment(None);
    let text = url.to_string();
    match text.strip_suffix('/') {
        Some(stripped) if url.path() == "/" && url.query().is_none() => stripped.to_string(),
        _ => text,
    }
}

/// Whether the resource `named` covers the URL: the same origin, and a path that is the URL's
/// or a parent of it, segment by segment.
fn covers(named: &Url, url: &Url) -> bool {
    if named.origin() != url.origin() {
        return false;
    }
    let parent = named.path().trim_end_matches('/');
    let path = url.path();
    path == parent || path.starts_with(&format!("{parent}/")) || parent.is_empty()
}

/// OAuth 2.1 §1.5: endpoints are `https`, save loopback ones (RFC 8252 §8.3), which keeps a
/// token endpoint from being a plain-text hop anywhere else.
fn vetted(value: &str, name: &str) -> Result<(), DiscoveryError> {
    let url = parse(value, name)?;
    let loopback = url.host_str().is_some_and(|host| {
        host.eq_ignore_ascii_case("localhost")
            || host
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    if url.scheme() == "https" || (url.scheme() == "http" && loopback) {
        Ok(())
    } else {
        Err(DiscoveryError::Invalid(format!(
            "the authorization server's {name} `{value}` is neither https nor on loopback"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn a_resource_covers_its_own_path_and_below_only() {
        let mcp = url("https://a.example/mcp");
        assert!(covers(&url("https://a.example/mcp"), &mcp));
        assert!(covers(&url("https://a.example"), &mcp));
        assert!(covers(
            &url("https://a.example/"),
            &url("https://a.example/mcp/x")
        ));
        assert!(!covers(&url("https://evil.example.com/mcp"), &mcp));
        assert!(!covers(&url("https://a.example/mc"), &mcp));
        assert!(!covers(&url("http://a.example/mcp"), &mcp));
        assert!(!covers(&url("https://a.example:8443/mcp"), &mcp));
    }

    #[test]
    fn canonical_resources_drop_fragments_and_a_bare_slash() {
        assert_eq!(
            canonical(&url("HTTPS://A.example/mcp#x")),
            "https://a.example/mcp"
        );
        assert_eq!(canonical(&url("https://a.example/")), "https://a.example");
        assert_eq!(
            canonical(&url("https://a.example/mcp/")),
            "https://a.example/mcp/"
        );
    }

    #[test]
    fn endpoints_must_be_https_or_loopback() {
        assert!(vetted("https://as.example/token", "token_endpoint").is_ok());
        assert!(vetted("http://localhost:9/token", "token_endpoint").is_ok());
        assert!(vetted("http://127.0.0.1:9/token", "token_endpoint").is_ok());
        assert!(vetted("http://as.example/token", "token_endpoint").is_err());
        assert!(vetted("javascript:alert(1)", "token_endpoint").is_err());
    }
}
