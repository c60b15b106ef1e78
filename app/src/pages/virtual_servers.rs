//! The virtual servers page: bundles of the tenant's tools (and prompts and resources), each
//! served at its own MCP endpoint. The editor takes one pattern per line and previews which
//! of the tools the signed-in user can see it selects.

use leptos::prelude::*;
use uuid::Uuid;

use super::tenant_picker::TenantPage;
use super::{ProblemBanner, origin};
use crate::api::{
    ApiClient, CatalogTool, Problem, VirtualServer, VirtualServerInput, any_matches, sendable,
};

#[component]
pub fn VirtualServersPage() -> impl IntoView {
    view! {
        <TenantPage
            title="Virtual servers"
            path="/virtual-servers"
            loading="Loading virtual servers…"
            body=|tenant| view! { <TenantVirtualServers tenant/> }
        />
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[component]
fn TenantVirtualServers(tenant: Uuid) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let reload = RwSignal::new(0u32);
    let servers = Resource::new(move || reload.get(), {
        let api = api.clone();
        move |_| {
            let api = api.clone();
            sendable(async move { api.list_virtual_servers(tenant).await })
        }
    });
    let slug = Resource::new(|| (), {
        let api = api.clone();
        move |_| {
            let api = api.clone();
            sendable(async move { api.get_tenant(tenant).await.map(|t| t.slug) })
        }
    });
    let tools = Resource::new(
        || (),
        move |_| {
            let api = api.clone();
            sendable(async move { api.list_tools(tenant).await.map(|l| l.items) })
        },
    );
    // The server being edited; `None` with the form open is a new one.
    let editing = RwSignal::new(None::<VirtualServer>);
    let base = RwSignal::new(String::new());
    Effect::new(move |_| base.set(origin()));
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading tools…"</p> }>
            {move || {
                let tools = tools.get().and_then(Result::ok).unwrap_or_default();
                view! { <ServerForm tenant tools editing reload/> }
            }}
        </Transition>
        <Transition fallback=|| view! { <p class="loading">"Loading virtual servers…"</p> }>
            {move || {
                let slug = slug.get().and_then(Result::ok).unwrap_or_default();
                servers.get().map(|result| match result {
                    Ok(list) if list.items.is_empty() => {
                        view! { <p class="empty">"No virtual servers yet."</p> }.into_any()
                    }
                    Ok(list) => view! {
                        <table class="table" aria-label="Virtual servers">
                            <thead>
                                <tr><th>"Name"</th><th>"Endpoint"</th><th>"Selects"</th><th>"Status"</th><th></th></tr>
                            </thead>
                            <tbody>
                                {list.items.into_iter().map(|server| {
                                    let path = format!("/mcp/{slug}/{}", server.name);
                                    view! { <ServerRow server path base editing reload/> }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }
                    .into_any(),
                    Err(problem) => view! { <ProblemBanner problem=Some(problem)/> }.into_any(),
                })
            }}
        </Transition>
    }
}

#[component]
fn ServerRow(
    server: VirtualServer,
    path: String,
    base: RwSignal<String>,
    editing: RwSignal<Option<VirtualServer>>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let problem = RwSignal::new(None::<Problem>);
    let (tenant, id) = (server.tenant_id, server.id);
    let remove = Action::new(move |_: &()| {
        let api = api.clone();
        sendable(async move { api.delete_virtual_server(tenant, id).await })
    });
    Effect::new(move |_| match remove.value().get() {
        Some(Ok(())) => reload.update(|n| *n += 1),
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    let selects = [
        ("tools", &server.tools),
        ("prompts", &server.prompts),
        ("resources", &server.resources),
    ]
    .into_iter()
    .filter(|(_, patterns)| !patterns.is_empty())
    .map(|(kind, patterns)| format!("{kind}: {}", patterns.join(", ")))
    .collect::<Vec<_>>()
    .join("; ");
    let naming = if server.bare_names {
        ", upstreams' own names"
    } else {
        ""
    };
    let status = if server.enabled {
        "enabled"
    } else {
        "disabled"
    };
    let (name, label) = (server.name.clone(), server.name.clone());
    view! {
        <tr data-virtual-server=label>
            <td>{name}</td>
            <td><code data-testid="vs-endpoint">{move || format!("{}{path}", base.get())}</code></td>
            <td>{selects}{naming}</td>
            <td>{status}</td>
            <td class="actions">
                <button type="button" on:click=move |_| editing.set(Some(server.clone()))>"Edit"</button>
                <button type="button" class="danger" on:click=move |_| { remove.dispatch(()); }>"Delete"</button>
                <ProblemBanner problem/>
            </td>
        </tr>
    }
}

/// Create or edit (when `editing` holds a server) with a live preview of the tools selected.
#[component]
fn ServerForm(
    tenant: Uuid,
    tools: Vec<CatalogTool>,
    editing: RwSignal<Option<VirtualServer>>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let name = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let tool_patterns = RwSignal::new(String::new());
    let prompt_patterns = RwSignal::new(String::new());
    let resource_patterns = RwSignal::new(String::new());
    let bare_names = RwSignal::new(false);
    let enabled = RwSignal::new(true);
    let problem = RwSignal::new(None::<Problem>);
    let clear = move || {
        for field in [
            name,
            description,
            tool_patterns,
            prompt_patterns,
            resource_patterns,
        ] {
            field.set(String::new());
        }
        bare_names.set(false);
        enabled.set(true);
        problem.set(None);
    };
    // Opening a server for editing fills the form with it.
    Effect::new(move |_| {
        if let Some(server) = editing.get() {
            name.set(server.name.clone());
            description.set(server.description.clone());
            tool_patterns.set(server.tools.join("\n"));
            prompt_patterns.set(server.prompts.join("\n"));
            resource_patterns.set(server.resources.join("\n"));
            bare_names.set(server.bare_names);
            enabled.set(server.enabled);
        }
    });
    let save = Action::new(move |input: &(Option<Uuid>, VirtualServerInput)| {
        let (api, (id, input)) = (api.clone(), input.clone());
        sendable(async move {
            match id {
                Some(id) => api.replace_virtual_server(tenant, id, &input).await,
                None => api.create_virtual_server(tenant, &input).await,
            }
        })
    });
    Effect::new(move |_| match save.value().get() {
        Some(Ok(_)) => {
            clear();
            editing.set(None);
            reload.update(|n| *n += 1);
        }
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let input = VirtualServerInput {
            name: name.get().trim().to_owned(),
            description: description.get(),
            tools: lines(&tool_patterns.get()),
            prompts: lines(&prompt_patterns.get()),
            resources: lines(&resource_patterns.get()),
            bare_names: bare_names.get(),
            enabled: enabled.get(),
        };
        let id = editing.with_untracked(|e| e.as_ref().map(|s| s.id));
        save.dispatch((id, input));
    };
    let preview = move || {
        let patterns = lines(&tool_patterns.get());
        let picked: Vec<String> = tools
            .iter()
            .filter(|t| any_matches(&patterns, &t.name))
            .map(|t| t.name.clone())
            .collect();
        match picked.len() {
            0 => "Selects none of the tools you can see.".to_owned(),
            n => format!(
                "Selects {n} of the tools you can see: {}",
                picked.join(", ")
            ),
        }
    };
    let heading = move || {
        editing.with(|e| match e {
            Some(server) => format!("Edit {}", server.name),
            None => "New virtual server".to_owned(),
        })
    };
    view! {
        <form class="card form-grid" aria-label="Virtual server" on:submit=submit>
            <h2>{heading}</h2>
            <label>"Name" <input name="name" required placeholder="research" bind:value=name/></label>
            <label>"Description" <input name="description" bind:value=description/></label>
            <label class="wide">"Tools, one name or pattern per line (upstream.tool, github.*)"
                <textarea name="tools" rows="4" bind:value=tool_patterns></textarea>
            </label>
            <p class="hint" data-testid="vs-preview">{preview}</p>
            <label class="wide">"Prompts (upstream.prompt, patterns)"
                <textarea name="prompts" rows="2" bind:value=prompt_patterns></textarea>
            </label>
            <label class="wide">"Resources (upstream.original-uri, patterns)"
                <textarea name="resources" rows="2" bind:value=resource_patterns></textarea>
            </label>
            <label class="check"><input type="checkbox" name="bare_names" bind:checked=bare_names/>"Offer the upstreams' own names"</label>
            <label class="check"><input type="checkbox" name="enabled" bind:checked=enabled/>"Enabled"</label>
            <div class="actions">
                <button type="submit">"Save virtual server"</button>
                <button type="button" on:click=move |_| { clear(); editing.set(None); }>"Clear"</button>
            </div>
            <ProblemBanner problem/>
        </form>
    }
}
