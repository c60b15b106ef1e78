//! Signing in and out of the console: the login page (password, then a TOTP step when the
//! account has MFA), the gate around pages that need a session, and the account menu.

use leptos::prelude::*;

use super::ProblemBanner;
use crate::api::{ApiClient, Me, Problem, SignIn, sendable};

/// The caller, read once per page load and shared through the context.
pub type MeResource = Resource<Result<Me, Problem>>;

/// Sends the browser to `path` with a full load, so the server renders with the new cookies.
fn go(path: &str) {
    #[cfg(feature = "hydrate")]
    {
        let _ = leptos::prelude::window().location().set_href(path);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}

/// Where to go after signing in: `next` when it is a path on this site (never another
/// origin: `//host` and `/\\host` are one to a browser), else the start page.
fn next_page(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/') && !path.starts_with("//") && !path.starts_with("/\\") =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let tenant = RwSignal::new("default".to_string());
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let code = RwSignal::new(String::new());
    let need_code = RwSignal::new(false);
    let problem = RwSignal::new(None::<Problem>);

    let query = leptos_router::hooks::use_query_map();
    let submit = Action::new(move |body: &SignIn| {
        let (api, body) = (api.clone(), body.clone());
        sendable(async move { api.sign_in(&body).await })
    });
    Effect::new(move |_| match submit.value().get() {
        Some(Ok(_)) => go(&query.with_untracked(|q| next_page(q.get("next").as_deref()))),
        Some(Err(p)) if p.kind.ends_with("/mfa-required") => {
            need_code.set(true);
            problem.set(None);
        }
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let mfa = code.get_untracked();
        submit.dispatch(SignIn {
            tenant: tenant.get_untracked(),
            email: email.get_untracked(),
            password: password.get_untracked(),
            mfa_code: (!mfa.trim().is_empty()).then(|| mfa.trim().to_string()),
        });
    };

    view! {
        <section class="page login">
            <h1>"Sign in"</h1>
            <form class="form" on:submit=on_submit>
                <label>
                    "Tenant"
                    <input name="tenant" autocomplete="organization" required
                        prop:value=move || tenant.get()
                        on:input=move |ev| tenant.set(event_target_value(&ev))/>
                </label>
                <label>
                    "Email"
                    <input name="email" type="email" autocomplete="username" required
                        prop:value=move || email.get()
                        on:input=move |ev| email.set(event_target_value(&ev))/>
                </label>
                <label>
                    "Password"
                    <input name="password" type="password" autocomplete="current-password" required
                        prop:value=move || password.get()
                        on:input=move |ev| password.set(event_target_value(&ev))/>
                </label>
                <Show when=move || need_code.get()>
                    <label>
                        "Authentication code"
                        <input name="mfa_code" inputmode="numeric" autocomplete="one-time-code"
                            placeholder="123456 or a recovery code"
                            prop:value=move || code.get()
                            on:input=move |ev| code.set(event_target_value(&ev))/>
                    </label>
                </Show>
                <button type="submit" disabled=move || submit.pending().get()>
                    {move || if need_code.get() { "Verify" } else { "Sign in" }}
                </button>
            </form>
            <ProblemBanner problem/>
        </section>
    }
}

/// Puts a sign-in prompt above `children` for signed-out visitors. The children always
/// render (their own requests then show the API's 401): creating a page's resources inside a
/// Transition over another resource would make server and browser create them in different
/// orders, and hydration would not match.
#[component]
pub fn Gate(children: Children) -> impl IntoView {
    let me = expect_context::<MeResource>();
    view! {
        <Transition fallback=|| ()>
            {move || {
                me.get()
                    .and_then(|result| match result {
                        Err(_) => Some(view! {
                            <p class="empty signed-out">
                                "You are signed out. " <a href="/login">"Sign in"</a>
                                " to use the console."
                            </p>
                        }
                        .into_any()),
                        Ok(me) if me.mfa_enrolment_required => Some(view! {
                            <p class="problem" role="alert">
                                "A role you hold requires a second factor. "
                                <a href="/account">"Set one up"</a>
                                " to use the console."
                            </p>
                        }
                        .into_any()),
                        Ok(_) => None,
                    })
            }}
        </Transition>
        {children()}
    }
}

/// The signed-in user and a sign-out button, or a sign-in link.
#[component]
pub fn AccountMenu() -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let me = expect_context::<MeResource>();
    let sign_out = Action::new(move |_: &()| {
        let api = api.clone();
        sendable(async move { api.sign_out().await })
    });
    Effect::new(move |_| {
        if sign_out.value().get().is_some() {
            go("/login");
        }
    });
    view! {
        <div class="account">
            <Transition fallback=|| ()>
                {move || {
                    me.get()
                        .map(|result| match result {
                            Ok(me) => {
                                view! {
                                    <a class="who" href="/account" data-testid="signed-in-as">{me.email}</a>
                                    <button class="link" on:click=move |_| { sign_out.dispatch(()); }>
                                        "Sign out"
                                    </button>
                                }
                                    .into_any()
                            }
                            Err(_) => view! { <a href="/login">"Sign in"</a> }.into_any(),
                        })
                }}
            </Transition>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::next_page;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(
            next_page(Some("/oauth/consent?request=abc")),
            "/oauth/consent?request=abc"
        );
        for away in [
            None,
            Some(""),
            Some("https://evil.example"),
            Some("//evil.example"),
            Some("/\\evil.example"),
        ] {
            assert_eq!(next_page(away), "/", "{away:?}");
        }
    }
}
