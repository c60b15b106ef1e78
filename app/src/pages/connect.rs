//! How to connect an MCP client to the signed-in user's tenant: the endpoint's URL, the
//! header Streamable HTTP clients send, and the Claude Desktop / Cursor configuration that
//! starts the stdio bridge (`switchyard connect`). The key itself is made above, once.

use leptos::prelude::*;

use super::session::MeResource;
use super::{ProblemBanner, origin};

/// The desktop clients' `mcpServers` entry for `endpoint`, keys in the order people read
/// them (command, then its arguments, then its environment).
pub fn desktop_config(endpoint: &str) -> String {
    let endpoint = serde_json::Value::from(endpoint);
    format!(
        r#"{{
  "mcpServers": {{
    "switchyard": {{
      "command": "switchyard",
      "args": ["connect", {endpoint}],
      "env": {{ "SWITCHYARD_API_KEY": "sy_… (an API key from above)" }}
    }}
  }}
}}"#
    )
}

#[component]
pub fn ConnectClient() -> impl IntoView {
    let me = expect_context::<MeResource>();
    // The origin is known only in the browser; it fills in after hydration.
    let base = RwSignal::new(String::new());
    Effect::new(move |_| base.set(origin()));
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                me.get()
                    .map(|result| match result {
                        Ok(me) => {
                            let path = format!("/mcp/{}", me.tenant_slug);
                            let endpoint = Memo::new(move |_| format!("{}{path}", base.get()));
                            view! {
                                <div class="card connect" data-testid="connect-client">
                                    <p>
                                        "Your tenant's MCP endpoint (Streamable HTTP; the 2026-07-28 and 2025 revisions): "
                                        <code data-testid="mcp-endpoint">{move || endpoint.get()}</code>
                                    </p>
                                    <p>
                                        "Clients that speak HTTP send "
                                        <code>"Authorization: Bearer sy_…"</code>
                                        " with an API key. You see, and may call, only the tools your roles and the tenant's policies allow."
                                    </p>
                                    <p>"Claude Desktop, Cursor and other clients that start a command use the bridge in the switchyard binary:"</p>
                                    <pre data-testid="desktop-config">{move || desktop_config(&endpoint.get())}</pre>
                                </div>
                            }
                                .into_any()
                        }
                        Err(problem) => view! { <ProblemBanner problem=Some(problem)/> }.into_any(),
                    })
            }}
        </Transition>
    }
}

#[cfg(test)]
mod tests {
    use super::desktop_config;

    #[test]
    fn the_desktop_snippet_is_json_naming_the_endpoint() {
        let endpoint = r#"https://gw.example.com/mcp/acme"quoted"#;
        let config: serde_json::Value = serde_json::from_str(&desktop_config(endpoint)).unwrap();
        let server = &config["mcpServers"]["switchyard"];
        assert_eq!(server["command"], "switchyard");
        assert_eq!(server["args"][1], endpoint);
    }
}
