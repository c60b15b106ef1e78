//! The upstreams page: the tenant's upstream MCP servers, registering one (Streamable HTTP
//! URL or stdio command, with an optional secret, or as an OAuth-protected resource),
//! enabling, disabling and removing them, and authorizing the gateway at OAuth upstreams.
//! Switchyard's own servers are added from [`super::builtin`].

use std::collections::BTreeMap;

use leptos::prelude::*;
use uuid::Uuid;

use super::ProblemBanner;
use super::builtin::NewBuiltin;
use super::tenant_picker::TenantPage;
use super::try_tool::{ToolUsage, TryTool};
use crate::api::{
    ApiClient, Connection, Problem, Upstream, UpstreamAuthorization, UpstreamInput, UpstreamOAuth,
    UpstreamProbe, sendable,
};

/// Sends the browser to the upstream's authorization server.
fn leave_for(to: &str) {
    #[cfg(feature = "hydrate")]
    {
        let _ = window().location().set_href(to);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = to;
}

#[component]
pub fn UpstreamsPage() -> impl IntoView {
    view! {
        <TenantPage
            title="Upstreams"
            path="/upstreams"
            loading="Loading upstreams…"
            body=|tenant| view! { <TenantUpstreams tenant/> }
        />
    }
}

#[component]
fn TenantUpstreams(tenant: Uuid) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let reload = RwSignal::new(0u32);
    let upstreams = Resource::new(move || reload.get(), {
        let api = api.clone();
        move |_| {
            let api = api.clone();
            sendable(async move { api.list_upstreams(tenant).await })
        }
    });
    // Created beside the other, so server and browser create resources in one order.
    let tools = Resource::new(move || reload.get(), {
        let api = api.clone();
        move |_| {
            let api = api.clone();
            sendable(async move { api.list_tools(tenant).await })
        }
    });
    let called = RwSignal::new(0u32);
    let usage = Resource::new(
        move || (reload.get(), called.get()),
        move |_| {
            let api = api.clone();
            sendable(async move { api.tool_stats(tenant, 24).await })
        },
    );
    view! {
        <NewUpstream tenant reload/>
        <NewBuiltin tenant reload/>
        <Transition fallback=|| view! { <p class="loading">"Loading upstreams…"</p> }>
            {move || {
                upstreams.get().map(|result| match result {
                    Ok(list) if list.items.is_empty() => {
                        view! { <p class="empty">"No upstreams yet."</p> }.into_any()
                    }
                    Ok(list) => view! {
                        <table class="table" aria-label="Upstreams">
                            <thead>
                                <tr>
                                    <th>"Name"</th><th>"Transport"</th><th>"Target"</th>
                                    <th class="hide-narrow">"Secrets"</th><th>"Status"</th><th></th>
                                </tr>
                            </thead>
                            <tbody>
                                {list.items.into_iter().map(|u| view! { <UpstreamRow upstream=u reload/> }).collect_view()}
                            </tbody>
                        </table>
                    }
                    .into_any(),
                    Err(problem) => view! { <ProblemBanner problem=Some(problem)/> }.into_any(),
                })
            }}
        </Transition>
        <Transition fallback=|| view! { <p class="loading">"Loading tools…"</p> }>
            {move || {
                tools.get().map(|result| match result {
                    Ok(list) => {
                        let unavailable = list.unavailable.iter().map(|u| format!("{} ({})", u.upstream, u.error)).collect();
                        view! { <TryTool tenant tools=list.items unavailable called/> }.into_any()
                    }
                    Err(problem) => view! { <ProblemBanner problem=Some(problem)/> }.into_any(),
                })
            }}
        </Transition>
        <h2>"Tool usage, last 24 hours"</h2>
        <Transition fallback=|| view! { <p class="loading">"Loading usage…"</p> }>
            {move || {
                usage.get().map(|result| match result {
                    Ok(stats) => view! { <ToolUsage stats/> }.into_any(),
                    // Usage needs audit:read; without it the table is simply not shown.
                    Err(_) => ().into_any(),
                })
            }}
        </Transition>
    }
}

#[component]
fn NewUpstream(tenant: Uuid, reload: RwSignal<u32>) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let name = RwSignal::new(String::new());
    let transport = RwSignal::new("streamable_http".to_string());
    let target = RwSignal::new(String::new());
    let args = RwSignal::new(String::new());
    let secret_name = RwSignal::new(String::new());
    let secret_value = RwSignal::new(String::new());
    let oauth = RwSignal::new(false);
    let problem = RwSignal::new(None::<Problem>);
    let create = Action::new(move |input: &UpstreamInput| {
        let (api, input) = (api.clone(), input.clone());
        sendable(async move { api.create_upstream(tenant, &input).await })
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(_)) => {
            for field in [name, target, args, secret_name, secret_value] {
                field.set(String::new());
            }
            problem.set(None);
            reload.update(|n| *n += 1);
        }
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let connection = if transport.get() == "stdio" {
            Connection::Stdio {
                command: target.get(),
                args: args.get().split_whitespace().map(str::to_string).collect(),
                memory_mb: None,
                cpu_seconds: None,
                env: BTreeMap::new(),
                working_dir: None,
            }
        } else {
            Connection::StreamableHttp {
                url: target.get(),
                headers: BTreeMap::new(),
                oauth: oauth.get().then(UpstreamOAuth::default),
            }
        };
        let secrets = (!secret_name.get().trim().is_empty())
            .then(|| BTreeMap::from([(secret_name.get().trim().to_string(), secret_value.get())]));
        create.dispatch(UpstreamInput {
            name: name.get(),
            description: String::new(),
            connection,
            secrets,
            call_timeout_ms: 30_000,
            enabled: true,
            tags: Vec::new(),
            tool_filter: Default::default(),
        });
    };
    let stdio = move || transport.get() == "stdio";
    view! {
        <form class="card form-row" aria-label="New upstream" on:submit=submit>
            <label>"Name" <input name="name" required placeholder="github" bind:value=name/></label>
            <label>
                "Transport"
                <select name="transport" on:change=move |ev| transport.set(event_target_value(&ev))>
                    <option value="streamable_http" selected>"Streamable HTTP"</option>
                    <option value="stdio">"stdio"</option>
                </select>
            </label>
            <label>
                {move || if stdio() { "Command" } else { "URL" }}
                <input name="target" required bind:value=target
                    placeholder=move || if stdio() { "npx" } else { "https://mcp.example.com/mcp" }/>
            </label>
            <Show when=stdio>
                <label>"Arguments" <input name="args" placeholder="-y @modelcontextprotocol/server-everything" bind:value=args/></label>
            </Show>
            <label>
                {move || if stdio() { "Secret variable" } else { "Secret header" }}
                <input name="secret_name" placeholder=move || if stdio() { "API_TOKEN" } else { "Authorization" } bind:value=secret_name/>
            </label>
            <label>"Secret value" <input name="secret_value" type="password" autocomplete="off" bind:value=secret_value/></label>
            <Show when=move || !stdio()>
                <label class="check">
                    <input name="oauth" type="checkbox" bind:checked=oauth/>
                    "OAuth (authorize after adding)"
                </label>
            </Show>
            <button type="submit" disabled=move || create.pending().get()>"Add upstream"</button>
            <ProblemBanner problem=problem/>
        </form>
    }
}

#[component]
fn UpstreamRow(upstream: Upstream, reload: RwSignal<u32>) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let problem = RwSignal::new(None::<Problem>);
    let (tenant, id) = (upstream.tenant_id, upstream.id);
    let toggled = UpstreamInput {
        name: upstream.name.clone(),
        description: upstream.description.clone(),
        connection: upstream.connection.clone(),
        secrets: None,
        call_timeout_ms: upstream.call_timeout_ms,
        enabled: !upstream.enabled,
        tags: upstream.tags.clone(),
        tool_filter: upstream.tool_filter.clone(),
    };
    let toggle = Action::new({
        let api = api.clone();
        move |_: &()| {
            let (api, input) = (api.clone(), toggled.clone());
            sendable(async move { api.replace_upstream(tenant, id, &input).await.map(|_| ()) })
        }
    });
    let remove = Action::new({
        let api = api.clone();
        move |_: &()| {
            let api = api.clone();
            sendable(async move { api.delete_upstream(tenant, id).await })
        }
    });
    let test = Action::new({
        let api = api.clone();
        move |_: &()| {
            let api = api.clone();
            sendable(async move { api.test_upstream(tenant, id).await })
        }
    });
    let authorize = Action::new(move |_: &()| {
        let api = api.clone();
        sendable(async move { api.authorize_upstream(tenant, id).await })
    });
    Effect::new(move |_| match authorize.value().get() {
        Some(Ok(start)) => match start.authorization_url {
            Some(url) => leave_for(&url),
            None => reload.update(|n| *n += 1),
        },
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    let authorization = upstream.authorization.clone();
    Effect::new(move |_| {
        if let Some(Err(p)) = test.value().get() {
            problem.set(Some(p));
        }
    });
    Effect::new(move |_| {
        for done in [toggle.value().get(), remove.value().get()]
            .into_iter()
            .flatten()
        {
            match done {
                Ok(()) => reload.update(|n| *n += 1),
                Err(p) => problem.set(Some(p)),
            }
        }
    });
    let (kind, target) = match &upstream.connection {
        Connection::Stdio { command, args, .. } => {
            ("stdio", format!("{command} {}", args.join(" ")))
        }
        Connection::StreamableHttp { url, .. } => ("Streamable HTTP", url.clone()),
        Connection::Builtin { server } => ("built-in", server.name().to_string()),
    };
    let status = if upstream.enabled {
        "enabled"
    } else {
        "disabled"
    };
    let health = match (upstream.enabled, upstream.status.breaker.as_str()) {
        (false, _) => String::new(),
        (true, "open") => format!(
            "circuit open after {} failures",
            upstream.status.consecutive_failures
        ),
        (true, "half_open") => "probing".into(),
        (true, _) if upstream.status.connected => "connected".into(),
        (true, _) => "idle".into(),
    };
    let last_error = upstream.status.last_error.clone().unwrap_or_default();
    let latency = match (
        upstream.status.latency_p50_ms,
        upstream.status.latency_p95_ms,
    ) {
        (Some(p50), Some(p95)) => format!("p50 {p50} ms · p95 {p95} ms"),
        _ => String::new(),
    };
    view! {
        <tr data-upstream=upstream.name.clone()>
            <td>{upstream.name.clone()}</td>
            <td>{kind}</td>
            <td class="wrap"><code>{target}</code></td>
            <td class="hide-narrow">{upstream.secret_names.join(", ")}</td>
            <td>
                <span class=format!("status {status}")>{status}</span>
                " " <span class="hint" data-testid="upstream-health" title=last_error>{health}</span>
                " " <span class="hint" data-testid="upstream-latency">{latency}</span>
                {authorization.clone().map(|a| view! { <AuthorizationState authorization=a/> })}
            </td>
            <td class="actions-cell">
                <div class="actions">
                    <button type="button" on:click=move |_| { toggle.dispatch(()); }>
                        {if upstream.enabled { "Disable" } else { "Enable" }}
                    </button>
                    <button type="button" on:click=move |_| { test.dispatch(()); } disabled=move || test.pending().get()>
                        {move || if test.pending().get() { "Testing…" } else { "Test" }}
                    </button>
                    <Show when={
                        let oauth = authorization.is_some();
                        move || oauth
                    }>
                        <button type="button" on:click=move |_| { authorize.dispatch(()); } disabled=move || authorize.pending().get()>
                            "Authorize"
                        </button>
                    </Show>
                    <button type="button" on:click=move |_| { remove.dispatch(()); }>"Remove"</button>
                    <ProblemBanner problem=problem/>
                </div>
            </td>
        </tr>
        {move || test.value().get().and_then(Result::ok).map(|report| view! { <ProbeResult report/> })}
    }
}

/// Where an OAuth upstream's grant stands: authorized (with its scopes and expiry), needing
/// someone to authorize, or needing more scope.
#[component]
fn AuthorizationState(authorization: UpstreamAuthorization) -> impl IntoView {
    let (class, text) = match authorization.state.as_str() {
        "authorized" => (
            "status enabled",
            format!(
                "OAuth: authorized{}{}",
                authorization
                    .scope
                    .as_deref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default(),
                if authorization.refreshable {
                    ", refreshable"
                } else {
                    ""
                },
            ),
        ),
        "step_up" => (
            "status disabled",
            format!(
                "OAuth: needs more scope ({})",
                authorization.required_scope.clone().unwrap_or_default()
            ),
        ),
        _ => (
            "status disabled",
            "OAuth: authorization required".to_string(),
        ),
    };
    let title = authorization.last_error.clone().unwrap_or_default();
    view! {
        <div><span class=class data-testid="upstream-authorization" title=title>{text}</span></div>
    }
}

/// The outcome of "test connection", as a row under the upstream's.
#[component]
fn ProbeResult(report: UpstreamProbe) -> impl IntoView {
    let body = if report.ok {
        let names = |items: &[crate::api::ProbedItem]| {
            items
                .iter()
                .map(|i| i.name.clone())
                .collect::<Vec<_>>()
                .join(", ")
        };
        view! {
            <p role="status">
                "Connected to " <strong>{report.server_name.clone()}</strong> " " {report.server_version.clone()}
                " (MCP " {report.protocol_version.clone()} ") in " {report.elapsed_ms} " ms: "
                {report.tools.len()} " tools, " {report.resources.len()} " resources, "
                {report.resource_templates.len()} " resource templates, " {report.prompts.len()} " prompts."
            </p>
            <p class="wrap" data-testid="probe-tools">"Tools: " {names(&report.tools)}</p>
            <p class="wrap">"Prompts: " {names(&report.prompts)}</p>
        }
        .into_any()
    } else {
        view! {
            <p class="problem" role="alert">
                "Could not connect: " {report.error.clone().unwrap_or_default()} " (" {report.elapsed_ms} " ms)"
            </p>
        }
        .into_any()
    };
    view! { <tr class="probe"><td colspan="6">{body}</td></tr> }
}
