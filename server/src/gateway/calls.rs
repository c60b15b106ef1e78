//! The gateway's call path, shared by every way in (the MCP endpoint, REST, and next the
//! chat and workflows): the catalog a caller may see, and every `tools/call`,
//! `resources/read` and `prompts/get` decided by `access::decide`, rate limited, sent
//! through the pool, and audited whatever its outcome. A thing the caller may not use is
//! answered exactly as a thing that does not exist.

use std::time::Instant;

use app::api::{CatalogTool, ToolList, UpstreamFault};
use rmcp::model::{
    CallToolResult, GetPromptResult, Prompt, ReadResourceResult, Resource, ResourceTemplate,
    ResultType, Tool,
};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::catalog::{self, qualified, split, split_resource};
use super::pool::{CallError, Pool};
use super::registry::{Registry, RegistryError};
use super::relay::Control;
use crate::access::{self, Decision, Subject};
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
    /// Not in the caller's catalog: no such upstream or item, or the caller may not use it
    /// (the same answer, so a caller cannot probe for what it may not see).
    #[error("unknown {0} `{1}`")]
    Unknown(&'static str, String),
    #[error(transparent)]
    Call(#[from] CallError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Kv(#[from] KvError),
}

/// SHA-256 of the arguments' JSON, so the trail can tell calls apart without keeping them.
fn digest(arguments: &Map<String, Value>) -> String {
    let bytes = serde_json::to_vec(arguments).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

/// What the caller may use, in the gateway's names, and the upstreams that did not answer.
#[derive(Debug, Default)]
pub struct Catalog {
    pub tools: Vec<Tool>,
    pub resources: Vec<Resource>,
    pub templates: Vec<ResourceTemplate>,
    pub prompts: Vec<Prompt>,
    pub unavailable: Vec<UpstreamFault>,
}

/// Who is asking, from where: every governed request carries it.
pub struct Caller<'a> {
    pub scope: &'a TenantScope,
    pub principal: &'a Principal,
    pub origin: &'a Origin,
}

/// A tool call's answer with what decided it.
pub struct Called {
    pub result: CallToolResult,
    pub rule: String,
    pub latency_ms: u64,
}

/// One governed request as its audit record names it: who, what kind, which item, since when.
#[derive(Clone, Copy)]
struct Request<'a> {
    caller: &'a Caller<'a>,
    kind: Kind,
    name: &'a str,
    started: Instant,
}

impl<'a> Request<'a> {
    fn new(caller: &'a Caller<'a>, kind: Kind, name: &'a str, started: Instant) -> Self {
        Self {
            caller,
            kind,
            name,
            started,
        }
    }
}

/// The three kinds of governed request, as the audit trail and errors name them.
#[derive(Clone, Copy)]
enum Kind {
    Tool,
    Resource,
    Prompt,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Tool => "tool",
            Kind::Resource => "resource",
            Kind::Prompt => "prompt",
        }
    }

    fn action(self) -> &'static str {
        match self {
            Kind::Tool => "tool.call",
            Kind::Resource => "resource.read",
            Kind::Prompt => "prompt.get",
        }
    }
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

    /// Everything of the tenant's enabled upstreams that `principal` may use.
    pub async fn catalog(
        &self,
        scope: &TenantScope,
        principal: &Principal,
    ) -> Result<Catalog, GatewayError> {
        let rules = access::load_rules(&self.store, scope).await?;
        let subject = subject(principal);
        let visible = |name: &str| access::visible(&rules, &subject, name);
        let upstreams: Vec<_> = self
            .registry
            .list(scope)
            .await?
            .into_iter()
            .filter(|u| u.enabled)
            .collect();
        // Every upstream at once: the slowest, not the sum, bounds the answer.
        let listed =
            futures::future::join_all(upstreams.iter().map(|u| self.pool.lists(scope, u))).await;
        let mut out = Catalog::default();
        for (upstream, lists) in upstreams.iter().zip(listed) {
            let lists = match lists {
                Ok(lists) => lists,
                Err(e) => {
                    out.unavailable.push(UpstreamFault {
                        upstream: upstream.name.clone(),
                        error: e.to_string(),
                    });
                    continue;
                }
            };
            let name = upstream.name.as_str();
            let tools = lists.tools.iter().map(|t| catalog::gateway_tool(name, t));
            out.tools.extend(tools.filter(|t| visible(&t.name)));
            let prompts = lists
                .prompts
                .iter()
                .map(|p| catalog::gateway_prompt(name, p));
            out.prompts.extend(prompts.filter(|p| visible(&p.name)));
            let resources = lists.resources.iter();
            let resources = resources.filter(|r| visible(&qualified(name, &r.uri)));
            out.resources
                .extend(resources.map(|r| catalog::gateway_resource(name, r)));
            let templates = lists.templates.iter();
            let templates = templates.filter(|t| visible(&qualified(name, &t.uri_template)));
            out.templates
                .extend(templates.map(|t| catalog::gateway_template(name, t)));
        }
        Ok(out)
    }

    /// The caller's tools in the REST API's form.
    pub async fn tools(
        &self,
        scope: &TenantScope,
        principal: &Principal,
    ) -> Result<ToolList, GatewayError> {
        let catalog = self.catalog(scope, principal).await?;
        let items = catalog
            .tools
            .into_iter()
            .map(|tool| CatalogTool {
                upstream: split(&tool.name).map_or("", |(u, _)| u).to_owned(),
                description: tool.description.map(|d| d.to_string()).unwrap_or_default(),
                input_schema: Value::Object((*tool.input_schema).clone()),
                read_only: tool
                    .annotations
                    .and_then(|a| a.read_only_hint)
                    .unwrap_or(false),
                name: tool.name.to_string(),
            })
            .collect();
        Ok(ToolList {
            items,
            unavailable: catalog.unavailable,
        })
    }

    /// Calls `name` (`upstream.tool`): decided, rate limited, forwarded, audited.
    pub async fn call(
        &self,
        caller: &Caller<'_>,
        name: &str,
        arguments: Map<String, Value>,
        control: Control,
    ) -> Result<Called, GatewayError> {
        let started = Instant::now();
        let (upstream, tool) = split(name).ok_or_else(|| unknown(Kind::Tool, name))?;
        let request = Request::new(caller, Kind::Tool, name, started);
        let governed = self.govern(&request, name, upstream, &arguments).await?;
        let (upstream, decision, mut detail) = governed;
        let outcome = self
            .pool
            .call_tool(
                caller.scope,
                &upstream,
                tool,
                arguments.clone(),
                control.clone(),
            )
            .await;
        // A lost connection is retried once, on a new session, only for a tool its upstream
        // marks read-only or idempotent: calling it twice cannot do harm twice.
        let outcome = match outcome {
            Err(CallError::Unavailable(..))
                if self.safe_to_retry(caller.scope, &upstream, tool).await =>
            {
                detail["retried"] = json!(true);
                self.pool
                    .call_tool(caller.scope, &upstream, tool, arguments, control)
                    .await
            }
            other => other,
        };
        let latency_ms = elapsed_ms(started);
        let ok = outcome.as_ref().map(|r| !r.is_error.unwrap_or(false));
        if let Ok(result) = &outcome {
            detail["is_error"] = json!(result.is_error.unwrap_or(false));
        }
        self.settle(&request, &decision, detail, ok).await?;
        let mut result = outcome?;
        // A session-era upstream's result has no `resultType`; 2026-07-28 clients need one
        // (rmcp removes it again for older clients).
        result.result_type.get_or_insert(ResultType::COMPLETE);
        Ok(Called {
            result,
            rule: decision.rule_label(),
            latency_ms,
        })
    }

    /// Reads `uri` (`switchyard://upstream/original`): decided as `upstream.original` (so
    /// `upstream.*` covers an upstream's tools, prompts and resources alike), audited.
    pub async fn read_resource(
        &self,
        caller: &Caller<'_>,
        uri: &str,
        control: Control,
    ) -> Result<ReadResourceResult, GatewayError> {
        let started = Instant::now();
        let (upstream, original) =
            split_resource(uri).ok_or_else(|| unknown(Kind::Resource, uri))?;
        let none = Map::new();
        let policy_name = qualified(upstream, original);
        let request = Request::new(caller, Kind::Resource, uri, started);
        let governed = self.govern(&request, &policy_name, upstream, &none).await?;
        let (upstream, decision, detail) = governed;
        let outcome = self
            .pool
            .read_resource(caller.scope, &upstream, original, control)
            .await;
        let ok = outcome.as_ref().map(|_| true);
        self.settle(&request, &decision, detail, ok).await?;
        let mut result = outcome?;
        result.result_type.get_or_insert(ResultType::COMPLETE);
        // The contents name the resource as the caller knows it.
        for content in &mut result.contents {
            rename_content(content, &upstream.name);
        }
        Ok(result)
    }

    /// Gets prompt `name` (`upstream.prompt`) with `arguments`: decided, audited.
    pub async fn get_prompt(
        &self,
        caller: &Caller<'_>,
        name: &str,
        arguments: Map<String, Value>,
        control: Control,
    ) -> Result<GetPromptResult, GatewayError> {
        let started = Instant::now();
        let (upstream, prompt) = split(name).ok_or_else(|| unknown(Kind::Prompt, name))?;
        let request = Request::new(caller, Kind::Prompt, name, started);
        let governed = self.govern(&request, name, upstream, &arguments).await?;
        let (upstream, decision, detail) = governed;
        let outcome = self
            .pool
            .get_prompt(caller.scope, &upstream, prompt, arguments, control)
            .await;
        let ok = outcome.as_ref().map(|_| true);
        self.settle(&request, &decision, detail, ok).await?;
        let mut result = outcome?;
        result.result_type.get_or_insert(ResultType::COMPLETE);
        Ok(result)
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

    /// Everything before forwarding: the upstream (enabled), the decision (on `policy_name`)
    /// and the rate. A refusal is audited here and answered as unknown (policy) or rate
    /// limited.
    async fn govern(
        &self,
        request: &Request<'_>,
        policy_name: &str,
        upstream_name: &str,
        arguments: &Map<String, Value>,
    ) -> Result<(app::api::Upstream, Decision, Value), GatewayError> {
        let Request {
            caller, kind, name, ..
        } = *request;
        let upstream = self
            .registry
            .list(caller.scope)
            .await?
            .into_iter()
            .find(|u| u.name == upstream_name && u.enabled)
            .ok_or_else(|| unknown(kind, name))?;
        let rules = access::load_rules(&self.store, caller.scope).await?;
        let subject = subject(caller.principal);
        let arguments_value = Value::Object(arguments.clone());
        let decision = access::decide(&rules, &subject, policy_name, &arguments_value);
        // Every outcome leaves one record: who, what and which upstream, the deciding rule,
        // and the arguments only as a digest.
        let mut detail = json!({ "upstream": upstream.name, "argument_digest": digest(arguments) });
        if !decision.allowed {
            detail["reason"] = json!(decision.reason);
            let rule = decision.rule_label();
            self.record(request, Outcome::Denied, rule, detail).await?;
            return Err(unknown(kind, name));
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
    async fn settle(
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

fn subject(principal: &Principal) -> Subject<'_> {
    Subject {
        roles: &principal.roles,
        permissions: principal.permissions,
    }
}

fn unknown(kind: Kind, name: &str) -> GatewayError {
    GatewayError::Unknown(kind.noun(), name.to_owned())
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn rename_content(content: &mut rmcp::model::ResourceContents, upstream: &str) {
    use rmcp::model::ResourceContents;
    let uri = match content {
        ResourceContents::TextResourceContents { uri, .. }
        | ResourceContents::BlobResourceContents { uri, .. } => uri,
        // A kind of content this version does not know keeps its upstream URI.
        _ => return,
    };
    *uri = catalog::resource_uri(upstream, uri);
}
