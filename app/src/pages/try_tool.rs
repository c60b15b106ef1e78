//! "Try this tool", on the upstreams page: the tools the signed-in user may call (searchable),
//! and a call through the gateway with their rights, showing the result, the rule that
//! allowed it and the latency. The same path, policy and audit as any MCP client's call.

use leptos::prelude::*;
use uuid::Uuid;

use super::ProblemBanner;
use crate::api::{ApiClient, CatalogTool, Problem, ToolCall, ToolStatsList, sendable};

#[component]
pub fn TryTool(
    tenant: Uuid,
    tools: Vec<CatalogTool>,
    unavailable: Vec<String>,
    /// Bumped after each call, so the usage table can refresh.
    called: RwSignal<u32>,
) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let search = RwSignal::new(String::new());
    let chosen = RwSignal::new(None::<CatalogTool>);
    let arguments = RwSignal::new("{}".to_string());
    let problem = RwSignal::new(None::<Problem>);
    let call = Action::new(move |body: &ToolCall| {
        let (api, body) = (api.clone(), body.clone());
        sendable(async move { api.call_tool(tenant, &body).await })
    });
    Effect::new(move |_| match call.value().get() {
        Some(Err(p)) => {
            problem.set(Some(p));
            called.update(|n| *n += 1);
        }
        Some(Ok(_)) => called.update(|n| *n += 1),
        None => {}
    });
    let total = tools.len();
    let tools = StoredValue::new(tools);
    let shown = move || {
        let q = search.get().to_lowercase();
        tools.with_value(|all| {
            all.iter()
                .filter(|t| {
                    q.is_empty()
                        || t.name.to_lowercase().contains(&q)
                        || t.description.to_lowercase().contains(&q)
                })
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        problem.set(None);
        let Some(tool) = chosen.get() else { return };
        match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&arguments.get()) {
            Ok(arguments) => {
                call.dispatch(ToolCall {
                    tool: tool.name,
                    arguments,
                });
            }
            Err(e) => problem.set(Some(Problem::client(format!(
                "arguments: not a JSON object ({e})"
            )))),
        }
    };
    view! {
        <h2>"Tools you may call"</h2>
        {(!unavailable.is_empty()).then(|| view! {
            <p class="problem" role="alert">"Not answering: " {unavailable.join(", ")}</p>
        })}
        <p class="hint">{total} " tools, as the policies let you use them."</p>
        <input class="search" type="search" placeholder="Search tools" aria-label="Search tools" bind:value=search/>
        <ul class="tool-list" aria-label="Tools">
            {move || shown().into_iter().map(|tool| {
                let name = tool.name.clone();
                let pick = tool.clone();
                view! {
                    <li>
                        <button type="button" class="link" on:click=move |_| { chosen.set(Some(pick.clone())); arguments.set("{}".into()); }>
                            {name}
                        </button>
                        " " <span class="hint">{tool.description.clone()}</span>
                    </li>
                }
            }).collect_view()}
        </ul>
        {move || chosen.get().map(|tool| view! {
            <form class="card" aria-label="Try tool" on:submit=submit>
                <p><strong data-testid="chosen-tool">{tool.name.clone()}</strong> " " {tool.description.clone()}</p>
                <details>
                    <summary>"Input schema"</summary>
                    <pre>{serde_json::to_string_pretty(&tool.input_schema).unwrap_or_default()}</pre>
                </details>
                <label>"Arguments (JSON)" <textarea name="arguments" rows="4" bind:value=arguments></textarea></label>
                <button type="submit" disabled=move || call.pending().get()>"Call"</button>
            </form>
        })}
        <ProblemBanner problem=problem/>
        {move || call.value().get().and_then(Result::ok).map(|answer| view! {
            <div class="card" role="status" data-testid="tool-result">
                <p>
                    {if answer.is_error { "The tool reported an error" } else { "Done" }}
                    " in " {answer.latency_ms} " ms, allowed by rule " <code>{answer.rule.clone()}</code> "."
                </p>
                <pre class="wrap">{serde_json::to_string_pretty(&answer.result).unwrap_or_default()}</pre>
            </div>
        })}
    }
}

/// Calls per tool in the window, with error and refusal rates.
#[component]
pub fn ToolUsage(stats: ToolStatsList) -> impl IntoView {
    if stats.items.is_empty() {
        return view! { <p class="empty">"No tool calls in the last " {stats.hours} " hours."</p> }
            .into_any();
    }
    let rate = |part: u64, whole: u64| {
        if whole == 0 {
            "0 %".to_string()
        } else {
            format!("{:.0} %", part as f64 * 100.0 / whole as f64)
        }
    };
    view! {
        <table class="table" aria-label="Tool usage">
            <thead>
                <tr><th>"Tool"</th><th>"Calls"</th><th>"Errors"</th><th>"Refused"</th></tr>
            </thead>
            <tbody>
                {stats.items.into_iter().map(|s| view! {
                    <tr data-tool=s.tool.clone()>
                        <td>{s.tool.clone()}</td>
                        <td data-testid="tool-calls">{s.calls}</td>
                        <td>{rate(s.failures, s.calls)}</td>
                        <td>{rate(s.denied, s.calls)}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
