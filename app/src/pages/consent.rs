//! `/oauth/consent?request=…`: an MCP client asks to use the signed-in user's MCP endpoint.
//! The page names the client, where the answer goes and what it is for, and sends the
//! browser back to the client with the answer. The server refuses to let any site frame it
//! (clickjacking), and signing in first is the console's own login.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::ProblemBanner;
use crate::api::{ApiClient, OAuthRequest, Problem, sendable};

/// Sends the browser to `to` (the client's redirect URI: another origin, or an app scheme).
fn leave_for(to: &str) {
    #[cfg(feature = "hydrate")]
    {
        let _ = window().location().set_href(to);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = to;
}

/// `path` as a query value for the login page's `next`.
fn query_value(path: &str) -> String {
    path.replace('%', "%25")
        .replace('&', "%26")
        .replace('=', "%3D")
        .replace('?', "%3F")
        .replace('#', "%23")
}

#[component]
pub fn ConsentPage() -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let query = use_query_map();
    let id = move || query.with_untracked(|q| q.get("request").unwrap_or_default());
    let problem = RwSignal::new(None::<Problem>);
    let load = Action::new({
        let api = api.clone();
        move |id: &String| {
            let (api, id) = (api.clone(), id.clone());
            sendable(async move { api.oauth_request(&id).await })
        }
    });
    let answer = Action::new(move |(id, allow): &(String, bool)| {
        let (api, id, allow) = (api.clone(), id.clone(), *allow);
        sendable(async move { api.answer_oauth_request(&id, allow).await })
    });
    // Read once hydrated: the request belongs to the browser's session.
    Effect::new(move |_| load.dispatch(id()));
    Effect::new(move |_| match answer.value().get() {
        Some(Ok(redirect)) => leave_for(&redirect.redirect_to),
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    let login = move || {
        format!(
            "/login?next={}",
            query_value(&format!("/oauth/consent?request={}", id()))
        )
    };
    view! {
        <section class="login consent" aria-label="Allow access">
            <h1>"Allow access?"</h1>
            {move || match load.value().get() {
                None => view! { <p class="loading">"Reading the request…"</p> }.into_any(),
                Some(Err(p)) if p.status == 401 => view! {
                    <p data-testid="consent-sign-in">
                        "An application asks to use your Switchyard MCP tools. "
                        <a href=login()>"Sign in"</a> " to answer."
                    </p>
                }
                .into_any(),
                Some(Err(p)) => view! { <ProblemBanner problem=Some(p)/> }.into_any(),
                Some(Ok(request)) => view! { <Request request answer id=Signal::derive(id) problem/> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn Request(
    request: OAuthRequest,
    answer: Action<(String, bool), Result<crate::api::OAuthRedirect, Problem>>,
    id: Signal<String>,
    problem: RwSignal<Option<Problem>>,
) -> impl IntoView {
    let OAuthRequest {
        client_id,
        client_name,
        metadata_document,
        redirect_uri,
        scopes,
        resource,
        user_email,
        tenant_slug,
    } = request;
    let vouched = if metadata_document {
        "Its identity is published at the address above."
    } else {
        "It registered itself with this server; its name is its own claim."
    };
    view! {
        <p data-testid="consent-client">
            <strong>{client_name}</strong> " wants to use your MCP tools as "
            <strong>{user_email}</strong> " (tenant " <code>{tenant_slug}</code> ")."
        </p>
        <dl class="card consent-facts">
            <dt>"Client"</dt><dd><code data-testid="consent-client-id">{client_id}</code> " " <span class="hint">{vouched}</span></dd>
            <dt>"Answer goes to"</dt><dd><code data-testid="consent-redirect">{redirect_uri}</code></dd>
            <dt>"Access"</dt><dd data-testid="consent-scopes">{scopes.join(", ")} " — call the tools your roles allow, nothing more"</dd>
            <dt>"Endpoint"</dt><dd><code>{resource}</code></dd>
        </dl>
        <div class="actions">
            <button type="button" data-testid="consent-allow" disabled=move || answer.pending().get()
                on:click=move |_| { answer.dispatch((id.get_untracked(), true)); }>"Allow"</button>
            <button type="button" class="secondary" data-testid="consent-deny" disabled=move || answer.pending().get()
                on:click=move |_| { answer.dispatch((id.get_untracked(), false)); }>"Deny"</button>
        </div>
        <ProblemBanner problem=problem/>
    }
}
