//! Switchyard's own MCP servers on the upstreams page: the ones a tenant can add, each
//! registered with a policy letting everyone use it (`builtin-NAME`, editable under Access
//! like any rule).

use leptos::prelude::*;
use uuid::Uuid;

use super::ProblemBanner;
use crate::api::{ApiClient, BuiltinRegistration, BuiltinServer, Problem, sendable};

/// Adds one of the built-in servers; one already registered is refused by the API (409),
/// and the refusal is shown. The form reads no resource of the page, so it needs no
/// `Suspense` of its own.
#[component]
pub fn NewBuiltin(tenant: Uuid, reload: RwSignal<u32>) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let chosen = RwSignal::new(BuiltinServer::ALL[0].name().to_string());
    let problem = RwSignal::new(None::<Problem>);
    let add = Action::new(move |server: &BuiltinServer| {
        let (api, body) = (api.clone(), BuiltinRegistration { server: *server });
        sendable(async move { api.create_builtin_upstream(tenant, &body).await })
    });
    Effect::new(move |_| match add.value().get() {
        Some(Ok(_)) => {
            problem.set(None);
            reload.update(|n| *n += 1);
        }
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let name = chosen.get();
        if let Some(server) = BuiltinServer::ALL.into_iter().find(|s| s.name() == name) {
            add.dispatch(server);
        }
    };
    view! {
        <form class="card form-row" aria-label="Built-in servers" on:submit=submit>
            <label>
                "Built-in server"
                <select name="builtin" on:change=move |ev| chosen.set(event_target_value(&ev))>
                    {BuiltinServer::ALL.into_iter().map(|s| view! {
                        <option value=s.name()>{format!("{} — {}", s.name(), s.description())}</option>
                    }).collect_view()}
                </select>
            </label>
            <button type="submit" disabled=move || add.pending().get()>"Add built-in server"</button>
            <p class="hint">"Runs inside Switchyard; everyone in the tenant may use its tools until you change its rule."</p>
            <ProblemBanner problem=problem/>
        </form>
    }
}
