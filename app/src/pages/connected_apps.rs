//! The apps (MCP clients) the signed-in user allowed through OAuth, each withdrawable: the
//! app's tokens stop working and it must ask again.

use leptos::prelude::*;
use uuid::Uuid;

use super::{ProblemBanner, short_time};
use crate::api::{ApiClient, OAuthConsent, Problem, sendable};

#[component]
pub fn ConnectedApps() -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let reload = RwSignal::new(0u32);
    let consents = Resource::new(move || reload.get(), {
        let api = api.clone();
        move |_| {
            let api = api.clone();
            sendable(async move { api.oauth_consents().await })
        }
    });
    let withdraw = Action::new(move |id: &Uuid| {
        let (api, id) = (api.clone(), *id);
        sendable(async move { api.withdraw_oauth_consent(id).await })
    });
    Effect::new(move |_| {
        if withdraw.value().get().is_some() {
            reload.update(|n| *n += 1);
        }
    });
    let problem = Signal::derive(move || withdraw.value().get().and_then(Result::err));
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading apps…"</p> }>
            {move || {
                consents.get().map(|result| match result {
                    Ok(list) if list.items.is_empty() => view! {
                        <p class="empty">"No apps. An MCP client that signs in with OAuth asks you once, and appears here."</p>
                    }
                    .into_any(),
                    Ok(list) => view! { <AppTable apps=list.items withdraw/> }.into_any(),
                    Err(problem) => view! { <ProblemBanner problem=Some(problem)/> }.into_any(),
                })
            }}
        </Transition>
        <ProblemBanner problem/>
    }
}

#[component]
fn AppTable(apps: Vec<OAuthConsent>, withdraw: Action<Uuid, Result<(), Problem>>) -> impl IntoView {
    view! {
        <table class="table" aria-label="Connected apps">
            <thead><tr><th>"App"</th><th class="hide-narrow">"Client"</th><th>"Allowed"</th><th></th></tr></thead>
            <tbody>
                {apps
                    .into_iter()
                    .map(|app| {
                        let id = app.id;
                        let name = app.client_name.clone();
                        view! {
                            <tr data-app=name>
                                <td>{app.client_name}</td>
                                <td class="hide-narrow"><code>{app.client_id}</code></td>
                                <td>{short_time(&app.granted_at)}</td>
                                <td><button type="button" on:click=move |_| { withdraw.dispatch(id); }>"Withdraw"</button></td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
