//! Typed, layered settings: defaults → TOML file → `SWITCHYARD_*` environment variables
//! (`__` separates nesting levels: `SWITCHYARD_DATABASE__URL`). Unknown keys are errors that
//! name the key. Every key is documented in `deploy/switchyard.example.toml`.

mod oauth;
mod secret;
mod tools;

pub use oauth::OAuthSettings;
pub use secret::Secret;
pub use tools::{ToolsSettings, VectorSettings};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The config file is not valid TOML.
    #[error("config file {path} is not valid TOML: {source}")]
    Syntax {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    /// A key is unknown or a value has the wrong type; `key` is the dotted path.
    #[error("invalid setting `{key}`: {message}")]
    Invalid { key: String, message: String },
}

/// All of Switchyard's settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Directory for the embedded database and other local state.
    pub data_dir: PathBuf,
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub log: LogSettings,
    pub trace: TraceSettings,
    pub bootstrap: BootstrapSettings,
    pub site: SiteSettings,
    pub auth: AuthSettings,
    pub vault: VaultSettings,
    pub gateway: GatewaySettings,
    pub oauth: OAuthSettings,
    pub engine: EngineSettings,
    pub tools: ToolsSettings,
}

/// The workflow engine's executors.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSettings {
    /// How long a replica's hold on a run lasts unless renewed (every third of it). A run
    /// whose replica died is resumed by another this long after its last renewal.
    pub lease_secs: u64,
    /// Every this many seconds each replica looks for runs no executor holds.
    pub sweep_secs: u64,
    /// The most runs one replica executes at once; more wait for a free executor.
    pub max_active_runs: usize,
    /// A run's event stream that hears nothing this long reads the store itself, so an event
    /// whose publication was lost arrives late, never not at all.
    pub events_poll_secs: u64,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            lease_secs: 30,
            sweep_secs: 5,
            max_active_runs: 1000,
            events_poll_secs: 5,
        }
    }
}

/// The MCP gateway's connections to upstreams.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySettings {
    /// Every this many seconds each open upstream session is pinged; one that does not
    /// answer is closed and counted against the upstream's breaker. 0 = never.
    pub health_check_secs: u64,
    /// An MCP session unused this long ends (on every replica); its client initializes again.
    pub session_idle_secs: u64,
    /// Browser origins (`https://app.example.com`) allowed to call the MCP endpoint besides
    /// the endpoint's own; any other `Origin` is refused with 403 (MCP Streamable HTTP
    /// §Security Warning: DNS rebinding).
    pub allowed_origins: Vec<String>,
    /// Host names (`gateway.example.com`, or with a port to match only that port) the MCP
    /// endpoint answers to; a request for any other `Host` is refused with 403 (DNS
    /// rebinding: a hostile name resolving to this server). Empty: loopback names only when
    /// listening on a loopback address, any name otherwise — set it in production.
    pub allowed_hosts: Vec<String>,
    /// Resident memory a stdio upstream (its child and their descendants) may use, in MiB,
    /// unless the upstream sets its own; over it the tree is killed and restarted. 0 = none.
    pub stdio_memory_mb: u32,
    /// CPU seconds a stdio upstream's process tree may use, likewise. 0 = none.
    pub stdio_cpu_seconds: u32,
    /// A session's SSE answer still open after this many milliseconds is closed between two
    /// events, and the client resumes it with `Last-Event-ID` on any replica (SEP-1699), so
    /// long calls hold no connection through proxies that cut long responses. 0 = never.
    pub sse_poll_ms: u64,
    /// How long a session stream's events stay resumable with `Last-Event-ID`.
    pub sse_resume_secs: u64,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            health_check_secs: 30,
            session_idle_secs: 3600,
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            stdio_memory_mb: 1024,
            stdio_cpu_seconds: 0,
            sse_poll_ms: 0,
            sse_resume_secs: 300,
        }
    }
}

/// Sign-in, tokens and console sessions.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// The `iss` of every token this server signs, and the only one it accepts.
    pub issuer: String,
    /// The `aud` of API access tokens, and the only one `/api/v1` accepts (RFC 7519 §4.1.3).
    pub audience: String,
    /// Lifetime of a JWT access token.
    pub access_token_ttl_secs: u64,
    /// How long a refresh token may go unused before it lapses.
    pub refresh_token_ttl_secs: u64,
    /// A refresh-token family (one sign-in) ends this long after the sign-in, however used.
    pub refresh_family_max_secs: u64,
    /// A new signing key replaces the active one this often; old keys keep verifying until
    /// the tokens they signed have expired.
    pub signing_key_rotation_days: u64,
    /// A console session ends after this long without a request…
    pub session_idle_secs: u64,
    /// …and this long after sign-in in any case.
    pub session_absolute_secs: u64,
    /// Mark session cookies `Secure` with the `__Host-` prefix. Browsers accept both on
    /// `http://localhost`; turn off only for plain-HTTP access by another host name.
    pub secure_cookies: bool,
    /// Sign-in attempts per minute for one account before further attempts are refused with
    /// 429 (whether or not the account exists, so the answer reveals nothing).
    pub login_attempts_per_minute: u32,
    /// Consecutive failed sign-ins after which the account locks; each further failure
    /// doubles the lock, from one minute up to an hour. An administrator can unlock.
    pub lockout_after_failures: u32,
    /// Minimum password length (NIST SP 800-63B §5.1.1.2: at least 8; no composition rules).
    pub password_min_length: usize,
}

/// Encryption of secrets at rest (signing keys, TOTP secrets, upstream credentials).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct VaultSettings {
    /// Base64 of 32 random bytes (AES-256-GCM). Empty: a key is generated once into
    /// `<data_dir>/master.key`. Replicas sharing a database must share this key.
    pub master_key: Secret,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// Requests running longer than this are answered 408.
    pub request_timeout_secs: u64,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace_secs: u64,
    /// API requests per second per client address (a full second's worth may come at once);
    /// 0 turns the limit off.
    pub rate_limit_per_second: u32,
    /// Default API requests per second for a whole tenant (each tenant can have its own);
    /// 0 = none.
    pub tenant_rate_limit_per_second: u32,
    /// Default API requests per second per user or API key; 0 = none.
    pub principal_rate_limit_per_second: u32,
    /// Tool calls per second through the gateway, per caller and tool; 0 = none.
    pub tool_rate_limit_per_second: u32,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://path` or `postgres://…`; empty means `sqlite://<data_dir>/switchyard.db`.
    pub url: Secret,
    pub max_connections: u32,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSettings {
    /// `redis://…`; empty means in-process shared state (one replica only).
    pub url: Secret,
    /// Prefix of every key and channel this server uses.
    pub prefix: String,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `json` (one object per line) or `pretty`.
    pub format: LogFormat,
    /// A tracing `EnvFilter` directive such as `info` or `switchyard=debug,info`.
    pub filter: String,
}

/// OpenTelemetry traces, sent over OTLP/HTTP (protobuf) when an endpoint is set.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceSettings {
    /// The collector's OTLP/HTTP base URL (`http://collector:4318`; spans go to
    /// `…/v1/traces`). Empty: no traces are exported.
    pub otlp_endpoint: String,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// Which spans are exported, as a tracing `EnvFilter` directive.
    pub filter: String,
}

impl Default for TraceSettings {
    fn default() -> Self {
        Self {
            otlp_endpoint: String::new(),
            service_name: "switchyard".into(),
            filter: "switchyard=info".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// What the first start on an empty database creates.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BootstrapSettings {
    pub tenant_slug: String,
    pub tenant_name: String,
    pub admin_email: String,
    /// Empty means: generate one and print it once to the log.
    pub admin_password: Secret,
}

/// Where the built console assets live (cargo-leptos output).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SiteSettings {
    pub root: PathBuf,
    pub pkg_dir: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            http: HttpSettings::default(),
            database: DatabaseSettings {
                url: Secret::default(),
                max_connections: 10,
            },
            redis: RedisSettings {
                url: Secret::default(),
                prefix: "switchyard:".into(),
            },
            log: LogSettings {
                format: LogFormat::Json,
                filter: "info".into(),
            },
            trace: TraceSettings::default(),
            bootstrap: BootstrapSettings::default(),
            site: SiteSettings::default(),
            auth: AuthSettings::default(),
            vault: VaultSettings::default(),
            gateway: GatewaySettings::default(),
            oauth: OAuthSettings::default(),
            engine: EngineSettings::default(),
            tools: ToolsSettings::default(),
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 3000)),
            body_limit_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            shutdown_grace_secs: 30,
            rate_limit_per_second: 100,
            tenant_rate_limit_per_second: 500,
            principal_rate_limit_per_second: 50,
            tool_rate_limit_per_second: 20,
        }
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Settings::default().database
    }
}

impl Default for RedisSettings {
    fn default() -> Self {
        Settings::default().redis
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        Settings::default().log
    }
}

impl Default for BootstrapSettings {
    fn default() -> Self {
        Self {
            tenant_slug: "default".into(),
            tenant_name: "Default".into(),
            admin_email: "admin@localhost".into(),
            admin_password: Secret::default(),
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            issuer: "switchyard".into(),
            audience: "switchyard-api".into(),
            access_token_ttl_secs: 600,
            refresh_token_ttl_secs: 14 * 24 * 3600,
            refresh_family_max_secs: 30 * 24 * 3600,
            signing_key_rotation_days: 30,
            session_idle_secs: 30 * 60,
            session_absolute_secs: 12 * 3600,
            secure_cookies: true,
            login_attempts_per_minute: 5,
            lockout_after_failures: 10,
            password_min_length: 12,
        }
    }
}

impl Default for SiteSettings {
    fn default() -> Self {
        Self {
            root: PathBuf::from("target/site"),
            pkg_dir: "pkg".into(),
        }
    }
}

impl Settings {
    /// Loads defaults, then `file` (if any), then the `SWITCHYARD_*` variables of `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read(path).map_err(|source| ConfigError::Read {
                    path: path.into(),
                    source,
                })?;
                let text = String::from_utf8_lossy(&text);
                toml::from_str::<toml::Table>(&text).map_err(|source| ConfigError::Syntax {
                    path: path.into(),
                    source: Box::new(source),
                })?
            }
            None => toml::Table::new(),
        };
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("SWITCHYARD_") else {
                continue;
            };
            if rest == "CONFIG" {
                continue;
            }
            let path: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
            overlay(&mut table, &path, env_value(&value), &name)?;
        }
        let settings: Settings = serde_path_to_error::deserialize(toml::Value::Table(table))
            .map_err(|e| ConfigError::Invalid {
                key: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        Ok(settings)
    }

    /// The database URL, defaulting to a SQLite file in the data directory.
    pub fn database_url(&self) -> Secret {
        if self.database.url.is_empty() {
            let path = self.data_dir.join("switchyard.db");
            Secret::new(format!("sqlite://{}", path.display()))
        } else {
            self.database.url.clone()
        }
    }
}

/// An environment value as TOML: booleans, integers and arrays (`["a", "b"]`) keep their
/// type, the rest is text.
fn env_value(value: &str) -> toml::Value {
    if value.starts_with('[')
        && let Ok(mut table) = toml::from_str::<toml::Table>(&format!("v = {value}"))
        && let Some(array) = table.remove("v")
    {
        return array;
    }
    match value {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => match value.parse::<i64>() {
            Ok(n) => toml::Value::Integer(n),
            Err(_) => toml::Value::String(value.to_string()),
        },
    }
}

fn overlay(
    table: &mut toml::Table,
    path: &[String],
    value: toml::Value,
    var: &str,
) -> Result<(), ConfigError> {
    let (last, parents) = path
        .split_last()
        .expect("split yields at least one segment");
    let mut current = table;
    for key in parents {
        let entry = current
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(Default::default()));
        current = match entry {
            toml::Value::Table(t) => t,
            _ => {
                return Err(ConfigError::Invalid {
                    key: path.join("."),
                    message: format!("{var} nests under `{key}`, which is not a table"),
                });
            }
        };
    }
    current.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_then_file_then_env() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.toml");
        std::fs::write(
            &file,
            "data_dir = \"/srv\"\n[http]\nbind = \"0.0.0.0:8080\"\nbody_limit_bytes = 10\n",
        )
        .unwrap();
        let s = Settings::load(
            Some(&file),
            env(&[("SWITCHYARD_HTTP__BODY_LIMIT_BYTES", "20"), ("OTHER", "x")]),
        )
        .unwrap();
        assert_eq!(s.data_dir, PathBuf::from("/srv"));
        assert_eq!(s.http.bind.port(), 8080);
        assert_eq!(s.http.body_limit_bytes, 20);
        assert_eq!(s.http.request_timeout_secs, 30);
        assert_eq!(s.database_url().expose(), "sqlite:///srv/switchyard.db");
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = Settings::load(None, env(&[("SWITCHYARD_HTTP__BIDN", "x")])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("http") && text.contains("bidn"), "{text}");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.toml");
        std::fs::write(&file, "[database]\nurll = \"x\"\n").unwrap();
        let text = Settings::load(Some(&file), []).unwrap_err().to_string();
        assert!(text.contains("urll"), "{text}");
    }

    #[test]
    fn wrong_types_name_the_key() {
        let text = Settings::load(None, env(&[("SWITCHYARD_HTTP__BODY_LIMIT_BYTES", "lots")]))
            .unwrap_err()
            .to_string();
        assert!(text.contains("http.body_limit_bytes"), "{text}");
    }

    /// Every key has a documented default in the example file, and the file has no stray keys.
    #[test]
    fn example_config_documents_every_key() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../deploy/switchyard.example.toml"
        );
        let example = Settings::load(Some(Path::new(path)), []).expect("example config loads");
        let (example, defaults) = (format!("{example:?}"), format!("{:?}", Settings::default()));
        assert_eq!(example, defaults, "example values differ from the defaults");
        let text = String::from_utf8(std::fs::read(path).unwrap()).unwrap();
        let documented = dotted_keys(&toml::from_str(&text).unwrap());
        let settings = dotted_keys(&toml::Table::try_from(Settings::default()).unwrap());
        assert_eq!(
            documented, settings,
            "deploy/switchyard.example.toml and Settings disagree"
        );
    }

    fn dotted_keys(table: &toml::Table) -> Vec<String> {
        let mut keys = Vec::new();
        for (key, value) in table {
            match value {
                toml::Value::Table(section) => keys.extend(
                    dotted_keys(section)
                        .into_iter()
                        .map(|k| format!("{key}.{k}")),
                ),
                _ => keys.push(key.clone()),
            }
        }
        keys.sort();
        keys
    }

    #[test]
    fn secrets_are_redacted_and_numeric_env_secrets_stay_text() {
        let s = Settings::load(
            None,
            env(&[
                ("SWITCHYARD_DATABASE__URL", "postgres://u:hunter2@db/x"),
                ("SWITCHYARD_BOOTSTRAP__ADMIN_PASSWORD", "123456789012"),
            ]),
        )
        .unwrap();
        let printed = format!("{s:?}");
        assert!(
            !printed.contains("hunter2") && !printed.contains("123456789012"),
            "{printed}"
        );
        assert!(printed.contains("[redacted]"));
        assert_eq!(s.bootstrap.admin_password.expose(), "123456789012");
    }
}
