//! The OAuth 2.1 authorization server each tenant offers MCP clients (MCP 2025-11-25
//! basic/authorization).

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OAuthSettings {
    /// The server's public origin (`https://gateway.example.com`), from which resource and
    /// issuer URLs are formed. Empty: `http://` and the request's `Host`, which the MCP
    /// endpoint's `allowed_hosts` check has vetted. Set it behind a TLS-terminating proxy.
    pub public_url: String,
    /// Lifetime of an authorization code (RFC 6749 §4.1.2 recommends at most 10 minutes).
    pub code_ttl_secs: u64,
    /// How long a user has to sign in and answer the consent page.
    pub request_ttl_secs: u64,
    /// Hosts whose client metadata documents may be fetched although they resolve to a
    /// loopback or private address (and may then be served over plain HTTP); for tests and
    /// internal clients. Every other document must be `https` on a public address.
    pub client_metadata_allowed_hosts: Vec<String>,
    /// The URL of the gateway's own Client ID Metadata Document, its `client_id` at upstream
    /// authorization servers that take such documents. Empty: `{public_url}/oauth/upstream-client.json`
    /// (served there) when `public_url` is https; otherwise the gateway registers with
    /// Dynamic Client Registration instead.
    pub upstream_client_metadata_url: String,
}

impl OAuthSettings {
    /// The gateway's client metadata document URL, if it has one.
    pub fn upstream_client_id(&self) -> String {
        if !self.upstream_client_metadata_url.is_empty() {
            return self.upstream_client_metadata_url.clone();
        }
        if self.public_url.starts_with("https://") {
            let base = self.public_url.trim_end_matches('/');
            return format!(
                "{base}{}",
                crate::gateway::upstream_oauth::CLIENT_METADATA_PATH
            );
        }
        String::new()
    }
}

impl Default for OAuthSettings {
    fn default() -> Self {
        Self {
            public_url: String::new(),
            code_ttl_secs: 60,
            request_ttl_secs: 600,
            client_metadata_allowed_hosts: Vec::new(),
            upstream_client_metadata_url: String::new(),
        }
    }
}
