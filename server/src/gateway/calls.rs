//! The gateway's call path, shared by every way in (REST today; the MCP endpoint, the chat
//! and workflows next): the catalog a caller may see, and a tool call decided by
//! `access::decide`, sent through the pool, and audited whatever its outcome.

use std::time::Instant;

use app::api::{CatalogTool, ToolCallResult, ToolList, UpstreamFault};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::pool::{CallError, Pool};
use super::registry::{Registry, RegistryError};
use crate::access::{self, Subject};
use crate::audit::{self, Origin, Outcome};
use crate::identity::{Credential, Principal};
use crate::kv::{Kv, KvError, RateLimit};
use crate::store::{Store, StoreError};
use crate::telemetry::Metrics;
use crate::tenancy::TenantScope;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The caller's calls to this tool are over the per-tool rate; retry after the seconds.
    #[error("too many calls to `{0}`; retry in {1} s")]
    RateLimited(String, u64),
    /// Not in the caller's catalog: no such upstream or tool, or the caller may not use it
    /// (the same answer, so a caller cannot probe for tools it may not see).
    #[error("unknown tool `{0}`")]
    UnknownTool(String),
    #[error(transparent)]
    Call(#[from] CallError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Kv(#[from] KvError),
}

/// Splits `upstream.tool` at the first dot: upstream names have none, tool names may.
fn split(name: &str) -> Option<(&str, &str)> {
    name.split_once('.')
        .filter(|(u, t)| !u.is_empty() && !t.is_empty())
}

/// SHA-256 of the arguments' JSON, so the trail can tell calls apart without keeping them.
fn digest(arguments: &Map<String, Value>) -> String {
    let bytes = serde_json::to_vec(arguments).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

#[derive(Clone)]
pub struct Gateway {
    store: Store,
    kv: Kv,
    /// Calls per second per caller and tool; 0 = none.
    tool_rate: u32,
    registry: Registry,
    pool: Pool,
    metrics: Metrics,
}

impl Gateway {
    pub fn new(
        store: Store,
        kv: Kv,
        tool_rate: u32,
        registry: Registry,
        pool: Pool,
        metrics: Metrics,
    ) -> Self {
        Self {
            store,
            kv,
            tool_rate,
            registry,
            pool,
            metrics,
        }
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The tools of the tenant's enabled upstreams that `principal` may use.
    pub async fn tools(
        &self,
        scope: &TenantScope,
        principal: &Principal,
    ) -> Result<ToolList, GatewayError> {
        let rules = access::load_rules(&self.store, scope).await?;
        let subject = Subject {
            roles: &principal.roles,
            permissions: principal.permissions,
        };
        let mut list = ToolList {
            items: Vec::new(),
            unavailable: Vec::new(),
        };
        // Every upstream at once: the slowest, not the sum, bounds the answer.
        let upstreams: Vec<_> = self
            .registry
            .list(scope)
            .await?
            .into_iter()
            .filter(|u| u.enabled)
            .collect();
        let listed =
            futures::future::join_all(upstreams.iter().map(|u| self.pool.tools(scope, u))).await;
        for (upstream, outcome) in upstreams.iter().zip(listed) {
            match outcome {
                Ok(tools) => {
                    for tool in tools {
                        let name = format!("{}.{}", upstream.name, tool.name);
                        if !access::visible(&rules, &subject, &name) {
                            continue;
                        }
                        list.items.push(CatalogTool {
                            name,
                            upstream: upstream.name.clone(),
                            description: tool
                                .description
                                .map(|d| d.to_string())
                                .unwrap_or_default(),
                            input_schema: Value::Object((*tool.input_schema).clone()),
                            read_only: tool
                                .annotations
                                .and_then(|a| a.read_only_hint)
                                .unwrap_or(false),
                        });
                    }
                }
                Err(e) => list.unavailable.push(UpstreamFault {
                    upstream: upstream.name.clone(),
                    error: e.to_string(),
                }),
            }
        }
        Ok(list)
    }

    /// Seconds to wait when the caller is over its rate for this tool (per user, or per API
    /// key when it used one, as for the API's own limits).
    async fn over_rate(
        &self,
        scope: &TenantScope,
        principal: &Principal,
        tool: &str,
    ) -> Result<Option<u64>, GatewayError> {
        if self.tool_rate == 0 {
            return Ok(None);
        }
        let who = match principal.credential {
            Credential::ApiKey { id } => format!("key:{id}"),
            _ => format!("user:{}", principal.user_id),
        };
        let key = format!("t:{}:rl:tool:{who}:{tool}", scope.tenant_id());
        let decision = self
            .kv
            .rate_limit(&key, &RateLimit::per_second(self.tool_rate))
            .await?;
        Ok((!decision.allowed).then(|| decision.retry_after.as_secs_f64().ceil().max(1.0) as u64))
    }

    /// Calls `name` (`upstream.tool`) for `principal`: decided, forwarded, audited.
    pub async fn call(
        &self,
        scope: &TenantScope,
        principal: &Principal,
        name: &str,
        arguments: Map<String, Value>,
        origin: &Origin,
    ) -> Result<ToolCallResult, GatewayError> {
        let started = Instant::now();
        let unknown = || GatewayError::UnknownTool(name.to_owned());
        let (upstream_name, tool) = split(name).ok_or_else(unknown)?;
        let upstream = self
            .registry
            .list(scope)
            .await?
            .into_iter()
            .find(|u| u.name == upstream_name && u.enabled)
            .ok_or_else(unknown)?;
        let rules = access::load_rules(&self.store, scope).await?;
        let subject = Subject {
            roles: &principal.roles,
            permissions: principal.permissions,
        };
        let decision = access::decide(&rules, &subject, name, &Value::Object(arguments.clone()));
        // Every outcome leaves one record: who, which tool and upstream, the deciding rule,
        // and the arguments only as a digest.
        let call = Call {
            scope,
            principal,
            origin,
            name,
            started,
        };
        let mut detail =
            json!({ "upstream": upstream.name, "argument_digest": digest(&arguments) });
        if !decision.allowed {
            detail["reason"] = json!(decision.reason);
            let rule = decision.rule_label();
            self.record(&call, Outcome::Denied, rule, detail).await?;
            return Err(unknown());
        }
        if let Some(retry) = self.over_rate(scope, principal, name).await? {
            detail["retry_after_s"] = json!(retry);
            let rule = "rate-limit:tool".to_owned();
            self.record(&call, Outcome::Denied, rule, detail).await?;
            return Err(GatewayError::RateLimited(name.to_owned(), retry));
        }
        let outcome = self.pool.call_tool(scope, &upstream, tool, arguments).await;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        detail["latency_ms"] = json!(latency_ms);
        match outcome {
            Ok(result) => {
                let is_error = result.is_error.unwrap_or(false);
                detail["is_error"] = json!(is_error);
                let outcome = if is_error {
                    Outcome::Failure
                } else {
                    Outcome::Success
                };
                self.record(&call, outcome, decision.rule_label(), detail)
                    .await?;
                Ok(ToolCallResult {
                    result: serde_json::to_value(&result).unwrap_or(Value::Null),
                    is_error,
                    rule: decision.rule_label(),
                    latency_ms,
                })
            }
            Err(e) => {
                detail["error"] = json!(e.to_string());
                self.record(&call, Outcome::Failure, decision.rule_label(), detail)
                    .await?;
                Err(e.into())
            }
        }
    }

    /// Writes the `tool.call` record and counts the call in the metrics.
    async fn record(
        &self,
        call: &Call<'_>,
        outcome: Outcome,
        rule: String,
        detail: Value,
    ) -> Result<(), GatewayError> {
        let event = call
            .origin
            .event(call.principal.actor(), "tool.call", outcome)
            .target(format!("tool:{}", call.name))
            .rule(rule)
            .detail(detail);
        audit::record(&self.store, call.scope.tenant_id(), event).await?;
        self.metrics
            .tool_call(outcome.as_str(), call.started.elapsed());
        Ok(())
    }
}

/// One call in progress, as its audit record names it.
struct Call<'a> {
    scope: &'a TenantScope,
    principal: &'a Principal,
    origin: &'a Origin,
    name: &'a str,
    started: Instant,
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn names_split_at_the_first_dot() {
        assert_eq!(split("files.read"), Some(("files", "read")));
        assert_eq!(split("web.search.news"), Some(("web", "search.news")));
        assert_eq!(split("nodot"), None);
        assert_eq!(split(".x"), None);
        assert_eq!(split("x."), None);
    }
}
