//! One node's attempt(s): what it computes from the state, where the run goes next, and why
//! it failed. Tool nodes call through the gateway as the run's principal, so the call is
//! decided, rate limited and audited exactly as a client's would be.

use std::time::Duration;

use app::api::Decision;
use app::api::workflow::compile::{Action, Graph, GraphNode};
use app::api::workflow::definition::{FailureKind, RetrySpec};
use app::api::workflow::expr::{self, Expr};
use rand::Rng;
use rmcp::model::CallToolResult;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

pub(super) use super::llm::tools::result_value;
use crate::audit::Origin;
use crate::gateway::rounds::Answer;
use crate::gateway::{Caller, Control, Gateway, GatewayError};
use crate::identity::Principal;
use crate::tenancy::TenantScope;

/// A finished node's result: recorded for a parallel step as soon as it finishes, and part
/// of the step's checkpoint.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(super) struct Write {
    /// State key → value, each through its key's reducer.
    pub update: Map<String, Value>,
    /// The nodes this one leads to.
    pub routes: Vec<String>,
    /// What the node produced, for the trace (a tool's result, a decision, a failure).
    pub output: Value,
}

pub(super) enum Outcome {
    Done(Write),
    /// An approval without a decision yet.
    Paused,
    Failed(Failure),
}

#[derive(Clone, Debug)]
pub(super) struct Failure {
    pub kind: FailureKind,
    pub message: String,
    pub attempts: u32,
}

impl Failure {
    pub(super) fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            attempts: 1,
        }
    }

    pub fn to_json(&self, node: &str) -> Value {
        json!({
            "node": node,
            "kind": self.kind.as_str(),
            "message": self.message,
            "attempts": self.attempts,
        })
    }
}

/// What a node needs from its run.
pub(super) struct Context<'a> {
    pub engine: &'a super::Engine,
    /// Where the run's events go (issue #5 point 3).
    pub events: &'a super::events::RunEvents,
    pub gateway: &'a Gateway,
    pub llm: &'a super::llm::Llm,
    pub scope: &'a TenantScope,
    pub principal: &'a Principal,
    pub run: uuid::Uuid,
    /// The step the run is taking (a subgraph's child run is named by it).
    pub step: std::sync::atomic::AtomicI64,
    /// How many subgraph nodes deep the run is.
    pub depth: i32,
    /// Fired when the run is cancelled: tool calls in flight are withdrawn.
    pub stop: tokio_util::sync::CancellationToken,
}

pub(super) fn kind_name(action: &Action) -> &'static str {
    match action {
        Action::Transform(_) => "transform",
        Action::Condition { .. } => "condition",
        Action::Tool { .. } => "tool",
        Action::Approval { .. } => "approval",
        Action::Llm(_) => "llm",
        Action::Map(_) => "map",
        Action::Subgraph(_) => "subgraph",
    }
}

/// Runs `node` over `state`, retrying as its policy says. A timeout or the run's
/// cancellation stops an attempt through its call's cancel signal, never by dropping it,
/// so the gateway withdraws the call at its upstream and still audits it.
pub(super) async fn run(cx: &Context<'_>, name: &str, node: &GraphNode, state: &Value) -> Outcome {
    let attempts = node.retry.as_ref().map_or(1, |r| r.attempts.max(1));
    let mut attempt = 1;
    loop {
        if cx.stop.is_cancelled() {
            return cancelled();
        }
        let stop = cx.stop.child_token();
        let timer = node.timeout_secs.map(|secs| {
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(secs)).await;
                stop.cancel();
            })
        });
        let outcome = once(cx, name, node, state, &stop).await;
        let timed_out = timer.is_some_and(|timer| {
            timer.abort();
            stop.is_cancelled() && !cx.stop.is_cancelled()
        });
        let Outcome::Failed(mut failure) = outcome else {
            return outcome;
        };
        if cx.stop.is_cancelled() {
            return cancelled();
        }
        if timed_out {
            let secs = node.timeout_secs.unwrap_or_default();
            failure = Failure::new(FailureKind::Timeout, format!("took longer than {secs} s"));
        }
        failure.attempts = attempt;
        let retry = node.retry.as_ref().filter(|r| r.on.contains(&failure.kind));
        match retry {
            Some(policy) if attempt < attempts => {
                tokio::select! {
                    () = tokio::time::sleep(backoff(policy, attempt)) => {}
                    () = cx.stop.cancelled() => return cancelled(),
                }
                attempt += 1;
            }
            _ => return Outcome::Failed(failure),
        }
    }
}

fn cancelled() -> Outcome {
    Outcome::Failed(Failure::new(FailureKind::Refused, "the run was cancelled"))
}

/// Exponential from `backoff_ms`, capped; with jitter, a uniform pick below that ("full
/// jitter"), so retries of many runs do not arrive together.
fn backoff(policy: &RetrySpec, attempt: u32) -> Duration {
    let exp = policy
        .backoff_ms
        .saturating_mul(1u64 << (attempt - 1).min(20))
        .min(policy.max_backoff_ms);
    let ms = if policy.jitter && exp > 0 {
        rand::rng().random_range(0..=exp)
    } else {
        exp
    };
    Duration::from_millis(ms)
}

async fn once(
    cx: &Context<'_>,
    name: &str,
    node: &GraphNode,
    state: &Value,
    stop: &tokio_util::sync::CancellationToken,
) -> Outcome {
    let vars: [(&str, &Value); 1] = [("state", state)];
    let eval = |e: &Expr| {
        e.eval(&vars[..]).map_err(|err| {
            Failure::new(
                FailureKind::Expression,
                format!("`{}`: {}", e.source(), err.message),
            )
        })
    };
    let done = |update: Map<String, Value>, output: Value| {
        Outcome::Done(Write {
            update,
            routes: node.next.clone(),
            output,
        })
    };
    // A result goes to the node's `output` key, if it has one; the trace keeps all of it.
    let written = |key: &Option<String>, result: Result<(Value, Value), Failure>| match result {
        Ok((value, trace)) => {
            let mut update = Map::new();
            if let Some(key) = key {
                update.insert(key.clone(), value);
            }
            done(update, trace)
        }
        Err(f) => Outcome::Failed(f),
    };
    match &node.action {
        Action::Transform(sets) => {
            let mut update = Map::new();
            for (key, expr) in sets {
                match eval(expr) {
                    Ok(value) => update.insert(key.clone(), value),
                    Err(f) => return Outcome::Failed(f),
                };
            }
            let output = Value::Object(update.clone());
            done(update, output)
        }
        Action::Condition { routes, otherwise } => {
            for (when, to) in routes {
                match eval(when) {
                    Ok(v) if app::api::workflow::expr::truthy(&v) => {
                        return Outcome::Done(Write {
                            update: Map::new(),
                            routes: vec![to.clone()],
                            output: json!({ "route": to, "when": when.source() }),
                        });
                    }
                    Ok(_) => {}
                    Err(f) => return Outcome::Failed(f),
                }
            }
            Outcome::Done(Write {
                update: Map::new(),
                routes: otherwise.iter().cloned().collect(),
                output: json!({ "route": otherwise }),
            })
        }
        Action::Tool { output, .. } => {
            written(output, act(cx, name, &node.action, &vars, stop).await)
        }
        Action::Llm(action) => written(
            &action.output,
            act(cx, name, &node.action, &vars, stop).await,
        ),
        Action::Map(map) => {
            let result = super::fanout::run(cx, name, map, state, stop).await;
            written(
                &map.output,
                result.map(|(values, trace)| (Value::Array(values), trace)),
            )
        }
        Action::Subgraph(sub) => match super::subgraph::run(cx, name, sub, state, stop).await {
            // The child waits for a person: so does this run, its executor freed.
            Ok(None) => Outcome::Paused,
            Ok(Some(result)) => written(&sub.output, Ok(result)),
            Err(f) => Outcome::Failed(f),
        },
        Action::Approval { .. } => Outcome::Paused,
    }
}

/// A tool or llm action over `vars`: the value it puts into the state (a tool's structured
/// content or text; an answer's text) and what the trace shows of it.
pub(super) async fn act(
    cx: &Context<'_>,
    name: &str,
    action: &Action,
    vars: &[(&str, &Value)],
    stop: &tokio_util::sync::CancellationToken,
) -> Result<(Value, Value), Failure> {
    match action {
        Action::Tool {
            tool, arguments, ..
        } => {
            let arguments = match arguments.render_with(vars) {
                Ok(Value::Object(map)) => map,
                Ok(other) => {
                    return Err(Failure::new(
                        FailureKind::Expression,
                        format!("the arguments rendered as {other}, not an object"),
                    ));
                }
                Err(e) => return Err(Failure::new(FailureKind::Expression, e.to_string())),
            };
            let result = call(cx, name, tool, arguments, stop).await?;
            let trace = serde_json::to_value(&result).unwrap_or(Value::Null);
            Ok((result_value(&result), trace))
        }
        Action::Llm(action) => {
            let answer = super::agent::run(cx, name, action, vars, stop).await?;
            Ok((Value::String(answer.text), answer.trace))
        }
        _ => Err(Failure::new(
            FailureKind::Expression,
            "only tool and llm nodes act on their own",
        )),
    }
}

/// One tool call through the gateway, as the run's principal.
pub(super) async fn call(
    cx: &Context<'_>,
    node: &str,
    tool: &str,
    arguments: Map<String, Value>,
    stop: &tokio_util::sync::CancellationToken,
) -> Result<CallToolResult, Failure> {
    // The audit record names the run and node in place of an HTTP request id.
    let origin = Origin {
        request_id: Some(format!("workflow-run:{}:{node}", cx.run)),
        client_addr: None,
    };
    let caller = Caller::rest(cx.scope, cx.principal, &origin);
    // A cancelled run withdraws the call at its upstream; the gateway audits it as failed.
    let control = Control {
        cancel: stop.clone(),
        ..Control::default()
    };
    let started = std::time::Instant::now();
    let called = cx.gateway.call(&caller, tool, arguments, control).await;
    let error = match &called {
        Ok(called) => match &called.result {
            Answer::Complete(result) if result.is_error == Some(true) => Some(text_of(result)),
            Answer::Complete(_) => None,
            Answer::InputRequired(_) => Some("asked for input".to_owned()),
        },
        Err(e) => Some(e.to_string()),
    };
    cx.events.emit(app::api::RunEventKind::ToolCall {
        step: cx.step.load(std::sync::atomic::Ordering::Relaxed),
        node: node.to_owned(),
        tool: tool.to_owned(),
        ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        ok: error.is_none(),
        error,
    });
    let called = called.map_err(|e| {
        let kind = match &e {
            GatewayError::Unknown(..)
            | GatewayError::Unconfirmed(..)
            | GatewayError::RateLimited(..)
            | GatewayError::Rounds(_) => FailureKind::Refused,
            GatewayError::Call(crate::gateway::CallError::Timeout(..)) => FailureKind::Timeout,
            _ => FailureKind::Upstream,
        };
        Failure::new(kind, e.to_string())
    })?;
    match called.result {
        Answer::Complete(result) if result.is_error == Some(true) => Err(Failure::new(
            FailureKind::ToolError,
            format!("`{tool}` answered with an error: {}", text_of(&result)),
        )),
        Answer::Complete(result) => Ok(result),
        Answer::InputRequired(_) => Err(Failure::new(
            FailureKind::Refused,
            format!(
                "`{tool}` asked for input (elicitation or sampling), which a workflow cannot give"
            ),
        )),
    }
}

fn text_of(result: &CallToolResult) -> String {
    match result_value(result) {
        Value::String(s) => s.chars().take(500).collect(),
        other => other.to_string().chars().take(500).collect(),
    }
}

/// The write a decision on approval node `decision.node` makes: its form checked against the
/// node's fields, its output under the node's `output` key, approve → `next`, reject →
/// `rejected` (or the branch ends).
pub(super) fn decision_write(
    graph: &Graph,
    principal: &Principal,
    decision: &Decision,
) -> Result<Write, String> {
    let Some(node) = graph.nodes.get(&decision.node) else {
        return Err(format!("the workflow has no node `{}`", decision.node));
    };
    let Action::Approval {
        form,
        output,
        rejected,
        ..
    } = &node.action
    else {
        return Err(format!("`{}` is not an approval", decision.node));
    };
    for (key, value) in &decision.form {
        let Some(field) = form.iter().find(|f| &f.name == key) else {
            return Err(format!("the form has no field `{key}`"));
        };
        if !field.kind.admits(value) {
            return Err(format!(
                "form field `{key}` is {}, not {}",
                field.kind.name(),
                expr::kind(value)
            ));
        }
    }
    if decision.approve
        && let Some(missing) = form
            .iter()
            .find(|f| f.required && decision.form.get(&f.name).is_none_or(Value::is_null))
    {
        return Err(format!("form field `{}` is required", missing.name));
    }
    let value = super::decision_output(principal, decision);
    Ok(Write {
        update: output.iter().map(|k| (k.clone(), value.clone())).collect(),
        routes: if decision.approve {
            node.next.clone()
        } else {
            rejected.iter().cloned().collect()
        },
        output: value,
    })
}
