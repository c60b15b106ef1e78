//! The signed-in user's own account: two-factor enrolment (QR code, then a code, then the
//! recovery codes shown once), API keys (created and shown once, listed, revoked), how to
//! connect an MCP client, and the apps allowed through OAuth.

use leptos::prelude::*;
use uuid::Uuid;

use super::connect::ConnectClient;
use super::connected_apps::ConnectedApps;
use super::session::MeResource;
use super::{ProblemBanner, short_time};
use crate::api::{ApiClient, ApiKey, MfaCode, MfaEnrolment, NewApiKey, Problem, sendable};

#[component]
pub fn AccountPage() -> impl IntoView {
    view! {
        <section class="page">
            <div class="page-head">
                <h1>"Your account"</h1>
            </div>
            <h2>"Two-factor authentication"</h2>
            <TwoFactor/>
            <h2>"API keys"</h2>
            <ApiKeys/>
            <h2>"Connect an MCP client"</h2>
            <ConnectClient/>
            <h2>"Connected apps"</h2>
            <ConnectedApps/>
        </section>
    }
}

#[component]
fn TwoFactor() -> impl IntoView {
    let me = expect_context::<MeResource>();
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                me.get()
                    .map(|result| match result {
                        Ok(me) if me.mfa_enabled => {
                            view! {
                                <p class="card" data-testid="mfa-status">
                                    "TOTP is on: sign-in asks for a code from your authenticator app."
                                </p>
                            }
                                .into_any()
                        }
                        Ok(me) => view! { <Enrol required=me.mfa_enrolment_required/> }.into_any(),
                        Err(problem) => view! { <ProblemBanner problem=Some(problem)/> }.into_any(),
                    })
            }}
        </Transition>
    }
}

#[component]
fn Enrol(required: bool) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let enrolment = RwSignal::new(None::<MfaEnrolment>);
    let recovery = RwSignal::new(None::<Vec<String>>);
    let code = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<Problem>);
    let begin = Action::new({
        let api = api.clone();
        move |_: &()| {
            let api = api.clone();
            sendable(async move { api.begin_totp().await })
        }
    });
    let confirm = Action::new(move |body: &MfaCode| {
        let (api, body) = (api.clone(), body.clone());
        sendable(async move { api.confirm_totp(&body).await })
    });
    Effect::new(move |_| match begin.value().get() {
        Some(Ok(e)) => {
            enrolment.set(Some(e));
            problem.set(None);
        }
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    Effect::new(move |_| match confirm.value().get() {
        Some(Ok(codes)) => {
            recovery.set(Some(codes.recovery_codes));
            problem.set(None);
        }
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    view! {
        <div class="card">
            {required.then(|| view! {
                <p class="problem" role="alert">
                    "A role you hold requires a second factor: set one up to use the console."
                </p>
            })}
            <Show
                when=move || recovery.with(Option::is_some)
                fallback=move || {
                    view! {
                        <Show
                            when=move || enrolment.with(Option::is_some)
                            fallback=move || {
                                view! {
                                    <p>"Sign-in asks only for your password."</p>
                                    <button type="button" on:click=move |_| { begin.dispatch(()); }>
                                        "Set up an authenticator app"
                                    </button>
                                }
                            }
                        >
                            {move || {
                                enrolment
                                    .get()
                                    .map(|e| {
                                        view! {
                                            <p>"Scan this code with your authenticator app, or type the key."</p>
                                            <div class="qr" inner_html=e.qr_svg></div>
                                            <p>"Key: " <code data-testid="totp-secret">{e.secret}</code></p>
                                        }
                                    })
                            }}
                            <form
                                class="form-row"
                                aria-label="Confirm authenticator"
                                on:submit=move |ev| {
                                    ev.prevent_default();
                                    confirm.dispatch(MfaCode { code: code.get() });
                                }
                            >
                                <label>"Code from the app" <input name="code" inputmode="numeric" autocomplete="one-time-code" bind:value=code/></label>
                                <button type="submit" disabled=move || confirm.pending().get()>"Turn on"</button>
                            </form>
                        </Show>
                    }
                }
            >
                <p role="status">"TOTP is on. Keep these recovery codes somewhere safe; each works once, and they are not shown again."</p>
                <ul class="codes" data-testid="recovery-codes">
                    {move || {
                        recovery
                            .get()
                            .unwrap_or_default()
                            .into_iter()
                            .map(|c| view! { <li><code>{c}</code></li> })
                            .collect_view()
                    }}
                </ul>
            </Show>
            <ProblemBanner problem=problem/>
        </div>
    }
}

#[component]
fn ApiKeys() -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let reload = RwSignal::new(0u32);
    let keys = Resource::new(move || reload.get(), {
        let api = api.clone();
        move |_| {
            let api = api.clone();
            sendable(async move { api.list_api_keys().await })
        }
    });
    let name = RwSignal::new(String::new());
    let shown = RwSignal::new(None::<String>);
    let problem = RwSignal::new(None::<Problem>);
    let create = Action::new({
        let api = api.clone();
        move |body: &NewApiKey| {
            let (api, body) = (api.clone(), body.clone());
            sendable(async move { api.create_api_key(&body).await })
        }
    });
    let revoke = Action::new(move |id: &Uuid| {
        let (api, id) = (api.clone(), *id);
        sendable(async move { api.revoke_api_key(id).await })
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(created)) => {
            shown.set(Some(created.key));
            name.set(String::new());
            problem.set(None);
            reload.update(|n| *n += 1);
        }
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    Effect::new(move |_| {
        if revoke.value().get().is_some() {
            reload.update(|n| *n += 1);
        }
    });
    view! {
        <form
            class="card form-row"
            aria-label="New API key"
            on:submit=move |ev| {
                ev.prevent_default();
                create.dispatch(NewApiKey { name: name.get(), permissions: None, expires_at: None });
            }
        >
            <label>"Key name" <input name="key_name" required placeholder="laptop MCP client" bind:value=name/></label>
            <button type="submit" disabled=move || create.pending().get()>"Create key"</button>
            <ProblemBanner problem=problem/>
        </form>
        {move || {
            shown
                .get()
                .map(|key| {
                    view! {
                        <p class="card" role="status">
                            "Copy this key now; it is not shown again: " <code data-testid="new-key">{key}</code>
                        </p>
                    }
                })
        }}
        <Transition fallback=|| view! { <p class="loading">"Loading keys…"</p> }>
            {move || {
                keys.get()
                    .map(|result| match result {
                        Ok(list) if list.items.is_empty() => {
                            view! { <p class="empty">"No API keys."</p> }.into_any()
                        }
                        Ok(list) => view! { <KeyTable keys=list.items revoke/> }.into_any(),
                        Err(problem) => view! { <ProblemBanner problem=Some(problem)/> }.into_any(),
                    })
            }}
        </Transition>
    }
}

#[component]
fn KeyTable(keys: Vec<ApiKey>, revoke: Action<Uuid, Result<(), Problem>>) -> impl IntoView {
    view! {
        <table class="table">
            <thead>
                <tr>
                    <th>"Name"</th>
                    <th>"Key"</th>
                    <th class="hide-narrow">"Last used"</th>
                    <th>"Status"</th>
                    <th></th>
                </tr>
            </thead>
            <tbody>
                {keys
                    .into_iter()
                    .map(|key| {
                        let id = key.id;
                        let revoked = key.revoked_at.is_some();
                        let name = key.name.clone();
                        view! {
                            <tr data-key=name>
                                <td>{key.name}</td>
                                <td><code>{format!("sy_{}_…", key.prefix)}</code></td>
                                <td class="hide-narrow">{key.last_used_at.as_ref().map_or_else(|| "never".to_string(), short_time)}</td>
                                <td>{if revoked { "revoked" } else { "active" }}</td>
                                <td>
                                    {(!revoked).then(|| view! {
                                        <button type="button" on:click=move |_| { revoke.dispatch(id); }>"Revoke"</button>
                                    })}
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
