//! The gateway's call path, shared by every way in (the MCP endpoint, REST, and next the
//! chat and workflows): the catalog a caller may see, and every `tools/call`,
//! `resources/read` and `prompts/get` decided by `access::decide`, rate limited, sent
//! through the pool, and audited whatever its outcome. A thing the caller may not use is
//! answered exactly as a thing that does not exist.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rmcp::model::{CallToolResult, ResultType};
use serde_json::{Map, Value, json};

use super::arguments::{digest, kept};
use super::asks::Asked;
use super::catalog::split;
use super::config::Configs;
use super::pool::{CallError, Pool};
use super::registry::{Registry, RegistryError};
use super::relay::Control;
use super::rounds::{self, Answer, Exchange, Resend, RoundsError};
use super::upstream_oauth::UpstreamAuthError;
use super::views::Item;
use crate::access::{self, Decision, Subject};
use crate::audit::{self, Origin, Outcome};
use crate::identity::{Credential, Principal};
use crate::kv::{Kv, KvError, RateLimit};
use crate::store::{Store, StoreError};
use crate::telemetry::Metrics;
use crate::tenancy::TenantScope;
use crate::vault::Vault;

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The caller's calls to this tool are over the per-tool rate; retry after the seconds.
    #[error("too many calls to `{0}`; retry in {1} s")]
    RateLimited(String, u64),
    /// Not in the caller's catalog: no such upstream or item, or the caller may not use it
    /// (the same answer, so a caller cannot probe for what it may not see).
    #[error("unknown {0} `{1}`")]
    Unknown(&'static str, String),
    /// Rule `{1}` allows the tool only once the user confirms the call, and this call was
    /// not confirmed (only the chat can ask the user).
    #[error("`{0}` is allowed only once the user confirms the call (rule `{1}`)")]
    Unconfirmed(String, String),
    #[error(transparent)]
    Call(#[from] CallError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// An upstream's questions could not be put to the caller, or its answers were not ours.
    #[error(transparent)]
    Rounds(#[from] RoundsError),

    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Kv(#[from] KvError),
}

/// Who is asking, from where: every governed request carries it.
pub struct Caller<'a> {
    pub scope: &'a TenantScope,
    pub principal: &'a Principal,
    pub origin: &'a Origin,
    /// The tenant's configuration version, when the caller's layer read it with the tenant
    /// for this request (the MCP endpoint does); otherwise the gateway reads it.
    pub config_version: Option<i64>,
    /// The virtual server whose endpoint the request came to; `None`: the tenant's own.
    pub server: Option<&'a str>,
}

impl<'a> Caller<'a> {
    /// A caller of the REST API: the tenant's own endpoint, the version read by the gateway.
    pub fn rest(scope: &'a TenantScope, principal: &'a Principal, origin: &'a Origin) -> Self {
        Self {
            scope,
            principal,
            origin,
            config_version: None,
            server: None,
        }
    }
}

/// A tool call's answer (or its upstream's questions for the caller) with what decided it.
pub struct Called {
    pub result: Answer<CallToolResult>,
    pub rule: String,
    pub latency_ms: u64,
}

/// One governed request as its audit record names it: who, what kind, which item, since when.
#[derive(Clone, Copy)]
pub(super) struct Request<'a> {
    caller: &'a Caller<'a>,
    kind: Item,
    name: &'a str,
    started: Instant,
}

impl<'a> Request<'a> {
    pub(super) fn new(caller: &'a Caller<'a>, kind: Item, name: &'a str, started: Instant) -> Self {
        Self {
            caller,
            kind,
            name,
            started,
        }
    }
}

/// Cheap to clone (one `Arc`): the MCP endpoint makes a server with one for every request.
#[derive(Clone)]
pub struct Gateway(std::sync::Arc<Parts>);

impl std::ops::Deref for Gateway {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.0
    }
}

/// What a [`Gateway`] holds.
pub struct Parts {
    store: Store,
    pub(super) kv: Kv,
    /// Calls per second per caller and tool; 0 = none.
    tool_rate: u32,
    configs: Configs,
    pub(super) pool: Pool,
    pub(super) metrics: Metrics,
    /// Seals the `requestState` handed to 2026-07-28 callers ([`rounds`]).
    pub(super) vault: Vault,
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
        let vault = registry.vault().clone();
        Self(std::sync::Arc::new(Parts {
            vault,
            configs: Configs::new(store.clone(), registry),
            store,
            kv,
            tool_rate,
            pool,
            metrics,
        }))
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub(super) fn configs(&self) -> &Configs {
        &self.configs
    }

    /// Calls `name` (`upstream.tool`): decided, rate limited, forwarded, audited. An upstream
    /// that asks for input first is answered as [`rounds`](super::rounds) describes.
    #[tracing::instrument(name = "gateway.tool_call", skip_all, fields(tool = name))]
    pub async fn call(
        &self,
        caller: &Caller<'_>,
        name: &str,
        arguments: Map<String, Value>,
        control: Control,
    ) -> Result<Called, GatewayError> {
        let control = control.traced();
        let started = Instant::now();
        let name = &self.resolve(caller, Item::Tool, name).await?;
        let (upstream, tool) = split(name).ok_or_else(|| unknown(Item::Tool, name))?;
        let request = Request::new(caller, Item::Tool, name, started);
        let confirmed = control.confirmed;
        let governed = self.govern(&request, name, upstream, &arguments, confirmed);
        let governed = governed.await?;
        let (upstream, decision, mut detail) = governed;
        let keys = (&self.vault, &self.kv, &self.metrics);
        let argued = digest(&arguments);
        let exchange = Exchange::new(keys, caller, Item::Tool, name, &argued, &upstream, &control);
        let retried = Arc::new(AtomicBool::new(false));
        // Owned, so a call parked for its caller's answer can outlive this request.
        let send = |resend: Resend, control: Control| {
            let (gateway, scope, upstream) = (self.clone(), *caller.scope, upstream.clone());
            let (tool, arguments, retried) = (tool.to_owned(), arguments.clone(), retried.clone());
            async move {
                let sent =
                    gateway.send_tool(&scope, &upstream, &tool, &arguments, resend, &control);
                let (answer, again) = sent.await;
                if again {
                    retried.store(true, Ordering::Relaxed);
                }
                answer
            }
        };
        let outcome = exchange.run(send).await;
        let latency_ms = elapsed_ms(started);
        if retried.load(Ordering::Relaxed) {
            detail["retried"] = json!(true);
        }
        let ok = noted(&outcome, &mut detail, |r| r.is_error.unwrap_or(false));
        self.settle(&request, &decision, detail, ok).await?;
        let result = match outcome? {
            Answer::Complete(mut result) => {
                // A session-era upstream's result has no `resultType`; 2026-07-28 clients
                // need one (rmcp removes it again for older clients).
                result.result_type.get_or_insert(ResultType::COMPLETE);
                Answer::Complete(result)
            }
            asked => asked,
        };
        Ok(Called {
            result,
            rule: decision.rule_label(),
            latency_ms,
        })
    }

    /// One send of a tool call. A lost connection is retried once, on a new session, only
    /// for a tool its upstream marks read-only or idempotent: calling it twice cannot do
    /// harm twice. A call the upstream refused for its token (a 401: not served) is sent
    /// again with the renewed one. Says whether it sent twice.
    async fn send_tool(
        &self,
        scope: &TenantScope,
        upstream: &app::api::Upstream,
        tool: &str,
        arguments: &Map<String, Value>,
        resend: Resend,
        control: &Control,
    ) -> (Result<Answer<CallToolResult>, CallError>, bool) {
        let send = |resend: Resend| {
            self.pool.call_tool(
                scope,
                upstream,
                tool,
                arguments.clone(),
                resend,
                control.clone(),
            )
        };
        match send(resend.clone()).await {
            Err(CallError::Unavailable(..)) if self.safe_to_retry(scope, upstream, tool).await => {
                (send(resend).await, true)
            }
            Err(CallError::Unauthorized(UpstreamAuthError::Renewed(_))) => {
                (send(resend).await, true)
            }
            other => (other, false),
        }
    }

    /// The rule that allows a call of `name` with `arguments` only once the user confirms
    /// it, if one decides it: the chat asks the user before it calls. Nothing is audited
    /// here; the call itself is.
    pub async fn confirmation_rule(
        &self,
        caller: &Caller<'_>,
        name: &str,
        arguments: &Map<String, Value>,
    ) -> Result<Option<String>, GatewayError> {
        let name = &self.resolve(caller, Item::Tool, name).await?;
        let config = (self.configs)
            .get(caller.scope, caller.config_version)
            .await?;
        let arguments = Value::Object(arguments.clone());
        let subject = subject(caller.principal);
        let decision = access::decide(&config.rules, &subject, name, &arguments);
        Ok((decision.allowed && decision.confirm).then(|| decision.rule_label()))
    }

    /// Whether the upstream says `tool` is read-only or idempotent (MCP 2025-11-25
    /// server/tools §Tool Annotations), from its cached list.
    async fn safe_to_retry(
        &self,
        scope: &TenantScope,
        upstream: &app::api::Upstream,
        tool: &str,
    ) -> bool {
        let Ok(lists) = self.pool.lists(scope, upstream).await else {
            return false;
        };
        lists
            .tools
            .iter()
            .find(|t| t.name == tool)
            .and_then(|t| t.annotations.as_ref())
            .is_some_and(|a| a.read_only_hint == Some(true) || a.idempotent_hint == Some(true))
    }

    /// Everything before forwarding: the upstream (enabled), the decision (on `policy_name`),
    /// the user's confirmation when the deciding rule wants one (`confirmed`: given; resource
    /// reads and prompts pass `true`, as confirmation is asked for tool calls) and the rate.
    /// A refusal is audited here and answered as unknown (policy), unconfirmed or rate
    /// limited.
    pub(super) async fn govern(
        &self,
        request: &Request<'_>,
        policy_name: &str,
        upstream_name: &str,
        arguments: &Map<String, Value>,
        confirmed: bool,
    ) -> Result<(app::api::Upstream, Decision, Value), GatewayError> {
        let Request {
            caller, kind, name, ..
        } = *request;
        let config = self
            .configs
            .get(caller.scope, caller.config_version)
            .await?;
        let upstream = config
            .enabled(upstream_name)
            .cloned()
            .ok_or_else(|| unknown(kind, name))?;
        // The upstream's tool filter: what it filters out does not exist here, whoever asks.
        let own = split(policy_name).map_or("", |(_, own)| own);
        if kind == Item::Tool && !config.offers(&upstream, own) {
            return Err(unknown(kind, name));
        }
        let subject = subject(caller.principal);
        let arguments_value = Value::Object(arguments.clone());
        let decision = access::decide(&config.rules, &subject, policy_name, &arguments_value);
        // Every outcome leaves one record: who, what and which upstream, the deciding rule,
        // and the arguments only as a digest.
        let mut detail = json!({ "upstream": upstream.name, "argument_digest": digest(arguments) });
        if config.store_arguments {
            match kept(arguments) {
                Some(kept) => detail["arguments"] = kept,
                None => detail["arguments_omitted"] = json!("over 16 KiB"),
            }
        }
        if let Some(server) = caller.server {
            detail["virtual_server"] = json!(server);
        }
        if !decision.allowed {
            detail["reason"] = json!(decision.reason);
            let rule = decision.rule_label();
            self.record(request, Outcome::Denied, rule, detail).await?;
            return Err(unknown(kind, name));
        }
        if decision.confirm && !confirmed {
            let rule = decision.rule_label();
            detail["reason"] = json!(format!("rule `{rule}` wants the user's confirmation"));
            self.record(request, Outcome::Denied, rule.clone(), detail)
                .await?;
            return Err(GatewayError::Unconfirmed(name.to_owned(), rule));
        }
        if let Some(retry) = self.over_rate(caller.scope, caller.principal, name).await? {
            detail["retry_after_s"] = json!(retry);
            let rule = "rate-limit:tool".to_owned();
            self.record(request, Outcome::Denied, rule, detail).await?;
            return Err(GatewayError::RateLimited(name.to_owned(), retry));
        }
        Ok((upstream, decision, detail))
    }

    /// Audits a forwarded request's outcome: `Ok(true)` answered, `Ok(false)` answered
    /// with a tool error, `Err` not answered.
    pub(super) async fn settle(
        &self,
        request: &Request<'_>,
        decision: &Decision,
        mut detail: Value,
        ok: Result<bool, &CallError>,
    ) -> Result<(), GatewayError> {
        detail["latency_ms"] = json!(elapsed_ms(request.started));
        let outcome = match ok {
            Ok(true) => Outcome::Success,
            Ok(false) => Outcome::Failure,
            Err(e) => {
                detail["error"] = json!(e.to_string());
                Outcome::Failure
            }
        };
        let rule = decision.rule_label();
        self.record(request, outcome, rule, detail).await
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

    /// Writes the audit record and counts the request in the metrics.
    async fn record(
        &self,
        request: &Request<'_>,
        outcome: Outcome,
        rule: String,
        detail: Value,
    ) -> Result<(), GatewayError> {
        let Request {
            caller,
            kind,
            name,
            started,
        } = *request;
        let event = caller
            .origin
            .event(caller.principal.actor(), kind.action(), outcome)
            .target(format!("{}:{name}", kind.noun()))
            .rule(rule)
            .detail(detail);
        audit::record(&self.store, caller.scope.tenant_id(), event).await?;
        self.metrics
            .gateway_request(kind.noun(), outcome.as_str(), started.elapsed());
        Ok(())
    }
}

impl Gateway {
    /// Audits what upstreams asked of the caller while its request ran (`mcp.sampling`,
    /// `mcp.elicitation`), each against the request it was asked for (`target`, e.g.
    /// `tool:upstream.name`). What was asked and answered is the caller's and is not kept.
    pub async fn record_asks(
        &self,
        caller: &Caller<'_>,
        target: &str,
        asked: Vec<Asked>,
    ) -> Result<(), GatewayError> {
        for ask in asked {
            let (action, outcome) = match (ask.kind, ask.ok) {
                ("sampling", true) => ("mcp.sampling", Outcome::Success),
                ("sampling", false) => ("mcp.sampling", Outcome::Failure),
                (_, true) => ("mcp.elicitation", Outcome::Success),
                (_, false) => ("mcp.elicitation", Outcome::Failure),
            };
            let latency = u64::try_from(ask.elapsed.as_millis()).unwrap_or(u64::MAX);
            let event = caller
                .origin
                .event(caller.principal.actor(), action, outcome)
                .target(target)
                .detail(json!({ "upstream": ask.upstream, "latency_ms": latency }));
            audit::record(&self.store, caller.scope.tenant_id(), event).await?;
            self.metrics
                .gateway_request(ask.kind, outcome.as_str(), ask.elapsed);
        }
        Ok(())
    }
}

pub(super) fn subject(principal: &Principal) -> Subject<'_> {
    Subject {
        roles: &principal.roles,
        permissions: principal.permissions,
    }
}

pub(super) fn unknown(kind: Item, name: &str) -> GatewayError {
    GatewayError::Unknown(kind.noun(), name.to_owned())
}

/// Notes in `detail` how a governed request ended, and whether that was a success for its
/// audit record: a failed send keeps its error, questions for the caller their kinds.
pub(super) fn noted<'a, T>(
    outcome: &'a Result<Answer<T>, GatewayError>,
    detail: &mut Value,
    is_error: impl Fn(&T) -> bool,
) -> Result<bool, &'a CallError> {
    match outcome {
        Ok(Answer::Complete(result)) => {
            let failed = is_error(result);
            detail["is_error"] = json!(failed);
            Ok(!failed)
        }
        Ok(Answer::InputRequired(asked)) => {
            let requests = asked.input_requests.clone().unwrap_or_default();
            detail["input_required"] = json!(rounds::kinds(&requests));
            Ok(true)
        }
        Err(GatewayError::Call(error)) => Err(error),
        Err(other) => {
            detail["error"] = json!(other.to_string());
            Ok(false)
        }
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
