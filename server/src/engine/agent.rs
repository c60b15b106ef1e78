//! The `llm` node: a chat completion through one of the tenant's providers, and when the
//! node offers tools, an agent loop: each tool the model calls goes through the gateway as
//! the run's principal (decided, rate limited, audited like any client's call), its result
//! goes back to the model, until the model answers or the rounds run out. The model is
//! offered only tools the principal may call, so what it cannot see it cannot ask for.

use std::time::Instant;

use app::api::TokenCount;
use app::api::workflow::compile::{LlmAction, Messages, ToolChoiceSpec};
use app::api::workflow::definition::FailureKind;
use serde_json::{Map, Value, json};

use super::llm::tools::{Offered, model_text};
use super::llm::wire::{ChatRequest, Message, Role, ToolCall, ToolChoice};
use super::llm::{LlmError, Purpose};
use super::nodes::{Context, Failure, call};
use crate::gateway::Caller;

/// What the node produced: the answer's text, and the trace's account of how.
pub(super) struct Answered {
    pub text: String,
    pub trace: Value,
}

/// Runs the node's completions and tool calls.
pub(super) async fn run(
    cx: &Context<'_>,
    node: &str,
    action: &LlmAction,
    vars: &[(&str, &Value)],
    stop: &tokio_util::sync::CancellationToken,
) -> Result<Answered, Failure> {
    let endpoint = cx
        .llm
        .provider(cx.scope, action.provider.as_deref())
        .await
        .map_err(failure)?;
    let mut messages = opening(action, vars)?;
    let offered = offer(cx, action).await?;
    let purpose = Purpose {
        kind: "workflow",
        run_id: Some(cx.run),
        user_id: Some(cx.principal.user_id),
    };
    let mut usage = TokenCount::default();
    let mut estimated = false;
    let mut calls = Vec::new();
    let mut rounds = 0;
    let text = loop {
        rounds += 1;
        let last = rounds >= action.max_rounds;
        let tools = if last {
            Vec::new()
        } else {
            offered.specs.clone()
        };
        let tool_choice = match (&action.tool_choice, rounds) {
            _ if tools.is_empty() => None,
            (ToolChoiceSpec::None, 1) => Some(ToolChoice::None),
            (ToolChoiceSpec::Tool(name), 1) => offered.wire_name(name).map(ToolChoice::Function),
            _ => Some(ToolChoice::Auto),
        };
        let request = ChatRequest {
            model: action.model.clone(),
            messages: messages.clone(),
            tools,
            tool_choice,
            temperature: action.temperature,
            max_tokens: action.max_tokens,
            // Streamed: each piece of text is a `tokens` event for the run's listeners.
            stream: true,
            ..ChatRequest::default()
        };
        let step = cx.step.load(std::sync::atomic::Ordering::Relaxed);
        let mut on_text = |text: &str| {
            cx.events.emit(app::api::RunEventKind::Tokens {
                step,
                node: node.to_owned(),
                text: text.to_owned(),
            });
        };
        let completion = cx
            .llm
            .chat(cx.scope, &endpoint, purpose, request, &mut on_text, stop)
            .await
            .map_err(failure)?;
        if let Some(used) = completion.usage {
            usage.add(used);
        }
        estimated |= completion.usage_estimated;
        let requested = completion.message.tool_calls.clone();
        if requested.is_empty() || last {
            break completion.message.content;
        }
        messages.push(completion.message);
        for request in requested {
            let started = Instant::now();
            let (result, record) = use_tool(cx, node, &offered, &request, stop).await?;
            calls.push(json!({
                "tool": record.0,
                "arguments": record.1,
                "result": result.chars().take(2_000).collect::<String>(),
                "error": record.2,
                "ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            }));
            messages.push(Message::tool_result(&request.id, result));
        }
    };
    let trace = json!({
        "provider": endpoint.name,
        "model": action.model.as_deref().unwrap_or(&endpoint.model),
        "text": text,
        "rounds": rounds,
        "tool_calls": calls,
        "usage": usage,
        "usage_estimated": estimated,
    });
    Ok(Answered { text, trace })
}

/// The conversation the node opens with.
fn opening(action: &LlmAction, vars: &[(&str, &Value)]) -> Result<Vec<Message>, Failure> {
    let render = |template: &app::api::workflow::state::Template| {
        template
            .render_with(vars)
            .map_err(|e| Failure::new(FailureKind::Expression, e.to_string()))
    };
    let as_text = |v: Value| match v {
        Value::String(s) => s,
        other => other.to_string(),
    };
    let mut messages = Vec::new();
    if let Some(system) = &action.system {
        messages.push(Message::new(Role::System, as_text(render(system)?)));
    }
    match &action.messages {
        Messages::Prompt(prompt) => {
            messages.push(Message::new(Role::User, as_text(render(prompt)?)))
        }
        Messages::Conversation(template) => {
            let Value::Array(items) = render(template)? else {
                return Err(Failure::new(
                    FailureKind::Expression,
                    "`messages` did not render to an array",
                ));
            };
            for (i, item) in items.into_iter().enumerate() {
                let role = item
                    .get("role")
                    .and_then(Value::as_str)
                    .and_then(Role::parse);
                let content = item.get("content").cloned().map(as_text);
                match (role, content) {
                    (Some(role @ (Role::System | Role::User | Role::Assistant)), Some(content)) => {
                        messages.push(Message::new(role, content));
                    }
                    _ => {
                        return Err(Failure::new(
                            FailureKind::Expression,
                            format!(
                                "messages[{i}] is not {{\"role\": \"system\" | \"user\" | \"assistant\", \"content\": …}}"
                            ),
                        ));
                    }
                }
            }
        }
    }
    Ok(messages)
}

/// The node's tools that the principal may call, as the gateway's catalog has them.
async fn offer(cx: &Context<'_>, action: &LlmAction) -> Result<Offered, Failure> {
    if action.tools.is_empty() {
        return Ok(Offered::default());
    }
    let origin = crate::audit::Origin {
        request_id: Some(format!("workflow-run:{}", cx.run)),
        client_addr: None,
    };
    let caller = Caller::rest(cx.scope, cx.principal, &origin);
    let wanted = |name: &str| app::api::any_matches(&action.tools, name);
    let offered = Offered::from_catalog(cx.gateway, &caller, wanted)
        .await
        .map_err(|e| Failure::new(FailureKind::Upstream, format!("the tool catalog: {e}")))?;
    if let ToolChoiceSpec::Tool(name) = &action.tool_choice
        && offered.wire_name(name).is_none()
    {
        return Err(Failure::new(
            FailureKind::Refused,
            format!("unknown tool `{name}` (tool_choice)"),
        ));
    }
    Ok(offered)
}

/// One tool call the model asked for. Whatever goes wrong with it (an unknown name,
/// arguments that are not JSON, a refusal, the tool's own error) goes back to the model as
/// the tool's result, as agents expect; only the run's cancellation ends the node.
/// Returns the text for the model and (gateway name, arguments, error) for the trace.
async fn use_tool(
    cx: &Context<'_>,
    node: &str,
    offered: &Offered,
    request: &ToolCall,
    stop: &tokio_util::sync::CancellationToken,
) -> Result<(String, (String, Value, Option<String>)), Failure> {
    let name = request.function.name.as_str();
    let Some(gateway_name) = offered.gateway_names.get(name) else {
        let error = format!("error: there is no tool `{name}`");
        return Ok((error.clone(), (name.to_owned(), Value::Null, Some(error))));
    };
    let raw = request.function.arguments.trim();
    let arguments: Map<String, Value> =
        match serde_json::from_str(if raw.is_empty() { "{}" } else { raw }) {
            Ok(Value::Object(map)) => map,
            _ => {
                let error = format!("error: the arguments are not a JSON object: {raw}");
                let record = (
                    gateway_name.clone(),
                    Value::String(raw.to_owned()),
                    Some(error.clone()),
                );
                return Ok((error, record));
            }
        };
    let shown = Value::Object(arguments.clone());
    match call(cx, node, gateway_name, arguments, stop).await {
        Ok(result) => {
            let text = model_text(&result);
            Ok((text, (gateway_name.clone(), shown, None)))
        }
        Err(_) if stop.is_cancelled() => {
            Err(Failure::new(FailureKind::Refused, "the run was cancelled"))
        }
        Err(failure) => {
            let error = format!("error: {}", failure.message);
            Ok((
                error.clone(),
                (gateway_name.clone(), shown, Some(failure.message)),
            ))
        }
    }
}

/// A provider's failure as the node's: transient ones may be retried.
fn failure(e: LlmError) -> Failure {
    let kind = match &e {
        LlmError::Cancelled => FailureKind::Refused,
        e if e.transient() => FailureKind::Upstream,
        LlmError::Malformed { .. } | LlmError::Store(_) | LlmError::Vault(_) => {
            FailureKind::Upstream
        }
        _ => FailureKind::Refused,
    };
    Failure::new(kind, e.to_string())
}
