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
}

impl Default for OAuthSettings {
    fn default() -> Self {
        Self {
            public_url: String::new(),
            code_ttl_secs: 60,
            request_ttl_secs: 600,
            client_metadata_allowed_hosts: Vec::new(),
        }
    }
}
