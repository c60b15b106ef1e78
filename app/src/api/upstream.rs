//! Upstream MCP servers registered in a tenant (the gateway's registry).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{FieldError, validate_identifier, validate_name};

/// How the gateway reaches an upstream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(tag = "transport", rename_all = "snake_case", deny_unknown_fields)]
pub enum Connection {
    /// A child process speaking MCP over stdin/stdout.
    Stdio {
        command: String,
        #[serde(default)]
        args: Vec<String>,
        /// Non-secret environment; secret variables go in `secrets`.
        #[serde(default)]
        env: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        working_dir: Option<String>,
        /// Resident memory the child and its descendants may use, in MiB (16–65536); over
        /// it they are killed and restarted. Absent: the server's default; 0: unlimited.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        memory_mb: Option<u32>,
        /// CPU time the child and its descendants may use, in seconds (1–604800), likewise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cpu_seconds: Option<u32>,
    },
    /// An MCP server at a Streamable HTTP endpoint.
    StreamableHttp {
        url: String,
        /// Non-secret headers; credentials go in `secrets`.
        #[serde(default)]
        headers: BTreeMap<String, String>,
        /// The upstream is an OAuth 2.1 protected resource (MCP 2025-11-25
        /// basic/authorization): the gateway is its client and sends the tokens it was granted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        oauth: Option<UpstreamOAuth>,
    },
    /// One of Switchyard's own MCP servers, run inside the server process: no command, no
    /// URL, no credentials. Its tools are governed and audited like any upstream's.
    Builtin { server: BuiltinServer },
}

/// Switchyard's own MCP servers (also served alone by `switchyard serve-tool NAME`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BuiltinServer {
    /// Expression evaluation, statistics and unit conversion.
    Math,
    /// Vector indexes: upsert, fetch and nearest-neighbour queries with metadata filters.
    Vectors,
}

/// Body of `POST …/upstreams/builtin`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BuiltinRegistration {
    pub server: BuiltinServer,
}

impl BuiltinServer {
    pub const ALL: [BuiltinServer; 2] = [BuiltinServer::Math, BuiltinServer::Vectors];

    /// The name on the command line and in the API.
    pub fn name(self) -> &'static str {
        match self {
            BuiltinServer::Math => "math",
            BuiltinServer::Vectors => "vectors",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            BuiltinServer::Math => {
                "Exact arithmetic and expressions, statistics over lists, unit conversion"
            }
            BuiltinServer::Vectors => {
                "Vector indexes: similarity search over embeddings, with metadata filters"
            }
        }
    }
}

/// How the gateway obtains tokens for an OAuth-protected upstream.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpstreamOAuth {
    #[serde(default)]
    pub grant: OAuthGrant,
    /// A client registered with the upstream's authorization server beforehand. Absent: the
    /// gateway's Client ID Metadata Document where the server supports them, else Dynamic
    /// Client Registration (RFC 7591).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Write-only: the pre-registered client's secret, stored encrypted and never returned.
    /// On `PUT`, absent keeps the stored one.
    #[serde(default, skip_serializing)]
    pub client_secret: Option<String>,
    /// Write-only: the pre-registered client's private key (PKCS#8 PEM), for
    /// `private_key_jwt` client authentication (RFC 7523 §2.2) where the server offers it;
    /// stored encrypted, never returned, kept on `PUT` when absent.
    #[serde(default, skip_serializing)]
    pub private_key: Option<String>,
    /// The key's algorithm: `ES256` (the default, and the one supported: a P-256 key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_algorithm: Option<String>,
    /// The scopes to ask for. Absent: those the upstream's challenge names, else all its
    /// metadata lists (MCP 2025-11-25 §Scope Selection Strategy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// The OAuth grant the gateway uses with an upstream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OAuthGrant {
    /// A person authorizes the gateway once, in the browser (code + PKCE S256); refresh
    /// tokens keep it authorized.
    #[default]
    AuthorizationCode,
    /// Machine to machine (RFC 6749 §4.4, MCP SEP-1046): the pre-registered client's own
    /// credentials, no person involved.
    ClientCredentials,
}

/// Where an upstream's OAuth authorization stands (never a token).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UpstreamAuthorization {
    /// `required` (no usable token: someone must authorize), `authorized`, or `step_up`
    /// (the upstream asked for more scope than was granted).
    pub state: String,
    /// The scopes granted, as the authorization server reported them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The scopes the upstream last asked for in a challenge (RFC 6750 §3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether a refresh token is held, so expiry needs no person.
    pub refreshable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorized_by: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorized_at: Option<DateTime<Utc>>,
    /// Why the last authorization, refresh or token use failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// The answer of `POST …/upstreams/{id}/authorize`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuthorizationStart {
    /// Where to send the person who authorizes (authorization code grant); absent when the
    /// grant needed no one (client credentials) and the upstream is authorized already.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_url: Option<String>,
    pub authorization: UpstreamAuthorization,
}

/// Body of `POST …/upstreams` and `PUT …/upstreams/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpstreamInput {
    /// The namespace of its tools (`name.tool`): lowercase letters, digits, `-`, `_`.
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub connection: Connection,
    /// Write-only credentials: environment variables (stdio) or headers (HTTP), stored
    /// encrypted and never returned. On `PUT`, absent keeps the stored ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<BTreeMap<String, String>>,
    /// Per-call timeout, 100 ms to 10 min.
    #[serde(default = "default_call_timeout")]
    pub call_timeout_ms: u32,
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Which of its tools the gateway offers at all (apart from who may call them).
    #[serde(default)]
    pub tool_filter: ToolFilter,
}

/// An upstream's tool filter: globs over the upstream's own tool names. Empty `include`
/// offers every tool; `exclude` wins over `include`. A filtered-out tool is absent from every
/// catalog and unknown on call, whatever the policies say.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ToolFilter {
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
}

impl ToolFilter {
    pub fn is_empty(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }
}

fn default_call_timeout() -> u32 {
    30_000
}

fn default_enabled() -> bool {
    true
}

/// A registered upstream; secrets appear by name only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Upstream {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub description: String,
    pub connection: Connection,
    /// Names of the stored secrets (their values are never returned).
    pub secret_names: Vec<String>,
    pub call_timeout_ms: u32,
    pub enabled: bool,
    pub tags: Vec<String>,
    #[serde(default)]
    pub tool_filter: ToolFilter,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// This replica's view of the connection: whether a session is open, and the circuit
    /// breaker (`closed`, `open`, `half_open`) with its count of consecutive failures.
    #[serde(default)]
    pub status: UpstreamStatus,
    /// OAuth upstreams only: whether the gateway holds a usable grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<UpstreamAuthorization>,
}

/// How the gateway's connection to an upstream fares (on the replica that answered).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UpstreamStatus {
    pub connected: bool,
    /// Median and 95th-percentile answer time of the last 256 answered requests, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p50_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p95_ms: Option<f64>,
    pub breaker: String,
    pub consecutive_failures: u32,
    /// The last connection or call failure, if the breaker has counted any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UpstreamList {
    pub items: Vec<Upstream>,
}

/// The answer of "test connection": what the upstream said it offers, or why it failed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UpstreamProbe {
    pub ok: bool,
    /// Why the connection or a listing failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub server_name: String,
    pub server_version: String,
    /// The MCP revision agreed with the upstream.
    pub protocol_version: String,
    pub tools: Vec<ProbedItem>,
    pub resources: Vec<ProbedItem>,
    pub resource_templates: Vec<ProbedItem>,
    pub prompts: Vec<ProbedItem>,
    pub elapsed_ms: u64,
}

/// A tool, resource (by URI), resource template or prompt, with its description.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ProbedItem {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

impl UpstreamInput {
    /// Every problem with the input, each naming its field.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut errors: Vec<FieldError> = Vec::new();
        errors.extend(validate_identifier("name", &self.name).err());
        if self.description.chars().count() > 1000 {
            errors.push(FieldError::new(
                "description",
                "must be at most 1000 characters long",
            ));
        }
        if !(100..=600_000).contains(&self.call_timeout_ms) {
            errors.push(FieldError::new(
                "call_timeout_ms",
                "must be between 100 and 600000",
            ));
        }
        if self.tags.len() > 20 {
            errors.push(FieldError::new("tags", "at most 20 tags"));
        }
        for tag in &self.tags {
            errors.extend(validate_identifier("tags", tag).err());
        }
        let filter = &self.tool_filter;
        errors.extend(super::pattern_list_problems(
            "tool_filter.include",
            &filter.include,
        ));
        errors.extend(super::pattern_list_problems(
            "tool_filter.exclude",
            &filter.exclude,
        ));
        match &self.connection {
            Connection::Stdio {
                command,
                args,
                env,
                working_dir,
                memory_mb,
                cpu_seconds,
            } => {
                if memory_mb.is_some_and(|m| m != 0 && !(16..=65_536).contains(&m)) {
                    errors.push(FieldError::new(
                        "connection.memory_mb",
                        "must be 0 (unlimited) or between 16 and 65536",
                    ));
                }
                if cpu_seconds.is_some_and(|c| c > 604_800) {
                    errors.push(FieldError::new(
                        "connection.cpu_seconds",
                        "must be 0 (unlimited) or at most 604800",
                    ));
                }
                errors.extend(validate_name("connection.command", command).err());
                if args.len() > 100 || args.iter().any(|a| a.len() > 4096 || a.contains('\0')) {
                    errors.push(FieldError::new(
                        "connection.args",
                        "at most 100 arguments of 4096 bytes, without NUL",
                    ));
                }
                for name in env.keys() {
                    errors.extend(env_name("connection.env", name).err());
                }
                if let Some(dir) = working_dir
                    && !dir.starts_with('/')
                {
                    errors.push(FieldError::new(
                        "connection.working_dir",
                        "must be an absolute path",
                    ));
                }
                for name in self.secrets.iter().flat_map(BTreeMap::keys) {
                    errors.extend(env_name("secrets", name).err());
                }
            }
            Connection::StreamableHttp {
                url,
                headers,
                oauth,
            } => {
                if let Some(oauth) = oauth {
                    errors.extend(oauth.problems());
                }
                let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
                let host_ok = url.split("://").nth(1).is_some_and(|rest| {
                    rest.split(['/', '?', '#'])
                        .next()
                        .is_some_and(|h| !h.is_empty())
                });
                if !scheme_ok
                    || !host_ok
                    || url.len() > 2048
                    || url.chars().any(char::is_whitespace)
                {
                    errors.push(FieldError::new(
                        "connection.url",
                        "must be an http:// or https:// URL with a host",
                    ));
                }
                for name in headers.keys() {
                    errors.extend(header_name("connection.headers", name).err());
                }
                for name in self.secrets.iter().flat_map(BTreeMap::keys) {
                    errors.extend(header_name("secrets", name).err());
                }
            }
            Connection::Builtin { .. } => {
                if self.secrets.as_ref().is_some_and(|s| !s.is_empty()) {
                    errors.push(FieldError::new(
                        "secrets",
                        "a built-in server takes no credentials",
                    ));
                }
            }
        }
        errors
    }
}

impl UpstreamOAuth {
    fn problems(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let printable =
            |v: &str| !v.is_empty() && v.len() <= 2048 && !v.chars().any(char::is_control);
        if self.client_id.as_deref().is_some_and(|v| !printable(v)) {
            errors.push(FieldError::new(
                "connection.oauth.client_id",
                "must be 1 to 2048 printable characters",
            ));
        }
        if self
            .private_key
            .as_deref()
            .is_some_and(|k| k.len() > 16_384 || !k.contains("-----BEGIN PRIVATE KEY-----"))
        {
            errors.push(FieldError::new(
                "connection.oauth.private_key",
                "must be a PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----) of at most 16 KiB",
            ));
        }
        if self
            .signing_algorithm
            .as_deref()
            .is_some_and(|a| a != "ES256")
        {
            errors.push(FieldError::new(
                "connection.oauth.signing_algorithm",
                "must be ES256",
            ));
        }
        if self.client_secret.as_deref().is_some_and(|v| !printable(v)) {
            errors.push(FieldError::new(
                "connection.oauth.client_secret",
                "must be 1 to 2048 printable characters",
            ));
        }
        // RFC 6749 §3.3: scope tokens are printable ASCII without space, `"` or `\\`.
        let scope_ok = |s: &str| {
            s.len() <= 1024
                && s.split(' ').all(|t| {
                    !t.is_empty()
                        && t.bytes().all(|b| {
                            b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
                        })
                })
        };
        if self.scope.as_deref().is_some_and(|s| !scope_ok(s)) {
            errors.push(FieldError::new(
                "connection.oauth.scope",
                "must be scope tokens separated by single spaces (RFC 6749 §3.3)",
            ));
        }
        if self.grant == OAuthGrant::ClientCredentials && self.client_id.is_none() {
            errors.push(FieldError::new(
                "connection.oauth.client_id",
                "the client_credentials grant needs a pre-registered client",
            ));
        }
        errors
    }
}

fn env_name(field: &str, name: &str) -> Result<(), FieldError> {
    let ok = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("`{name}` is not an environment variable name"),
        ))
    }
}

fn header_name(field: &str, name: &str) -> Result<(), FieldError> {
    // RFC 9110 §5.1: a field name is a token.
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if !name.is_empty() && name.bytes().all(token) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("`{name}` is not a header name"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(url: &str) -> UpstreamInput {
        UpstreamInput {
            name: "github".into(),
            description: String::new(),
            connection: Connection::StreamableHttp {
                url: url.into(),
                headers: BTreeMap::new(),
                oauth: None,
            },
            secrets: Some(BTreeMap::from([(
                "Authorization".into(),
                "Bearer x".into(),
            )])),
            call_timeout_ms: 30_000,
            enabled: true,
            tags: vec![],
            tool_filter: ToolFilter::default(),
        }
    }

    #[test]
    fn inputs_are_checked_field_by_field() {
        assert!(http("https://mcp.example.com/mcp").problems().is_empty());
        let fields = |i: &UpstreamInput| {
            i.problems()
                .into_iter()
                .map(|e| e.field)
                .collect::<Vec<_>>()
        };
        assert_eq!(fields(&http("ftp://x")), ["connection.url"]);
        assert_eq!(fields(&http("https:///nohost")), ["connection.url"]);
        let mut bad = http("https://x");
        bad.name = "Has.Dot".into();
        bad.call_timeout_ms = 5;
        bad.secrets = Some(BTreeMap::from([("bad header".into(), "v".into())]));
        bad.tool_filter.exclude = vec!["has space".into()];
        assert_eq!(
            fields(&bad),
            ["name", "call_timeout_ms", "tool_filter.exclude", "secrets"]
        );
        let stdio = UpstreamInput {
            connection: Connection::Stdio {
                command: "npx".into(),
                args: vec!["-y".into()],
                env: BTreeMap::from([("1BAD".into(), "x".into())]),
                working_dir: Some("relative".into()),
                memory_mb: Some(8),
                cpu_seconds: None,
            },
            secrets: Some(BTreeMap::from([("NOT-A-NAME".into(), "x".into())])),
            ..http("https://x")
        };
        assert_eq!(
            fields(&stdio),
            [
                "connection.memory_mb",
                "connection.env",
                "connection.working_dir",
                "secrets"
            ]
        );
    }
}
