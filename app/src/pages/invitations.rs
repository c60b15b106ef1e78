//! Invitations: on the users page, the invite form, the link shown once and the pending
//! list; and `/invite`, where the invitee chooses a password. The link's token travels in the
//! URL fragment, which browsers never send to a server, so it stays out of logs.

use leptos::prelude::*;
use uuid::Uuid;

use super::{ProblemBanner, origin, short_time};
use crate::api::{
    AcceptInvitation, ApiClient, CreatedInvitation, Invitation, InvitationInfo, NewInvitation,
    Problem, sendable,
};

/// The invite form: address, optional name, roles.
#[component]
pub fn InviteForm(
    tenant: Uuid,
    roles: Vec<String>,
    invited: RwSignal<Option<CreatedInvitation>>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let email = RwSignal::new(String::new());
    let display_name = RwSignal::new(String::new());
    let chosen = RwSignal::new(Vec::<String>::new());
    let problem = RwSignal::new(None::<Problem>);
    let invite = Action::new(move |input: &NewInvitation| {
        let (api, input) = (api.clone(), input.clone());
        sendable(async move { api.invite(tenant, &input).await })
    });
    Effect::new(move |_| match invite.value().get() {
        Some(Ok(created)) => {
            invited.set(Some(created));
            problem.set(None);
            reload.update(|n| *n += 1);
        }
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    view! {
        <form
            class="card form-row"
            aria-label="Invite user"
            on:submit=move |ev| {
                ev.prevent_default();
                invite.dispatch(NewInvitation {
                    email: email.get(),
                    display_name: display_name.get(),
                    roles: chosen.get(),
                });
            }
        >
            <label>"Invite email" <input name="invite_email" type="email" required bind:value=email/></label>
            <label>"Name" <input name="invite_name" placeholder="optional" bind:value=display_name/></label>
            <div class="checks">
                {roles
                    .into_iter()
                    .map(|name| {
                        let label = name.clone();
                        view! {
                            <label class="inline">
                                <input
                                    type="checkbox"
                                    aria-label=format!("Invite as {name}")
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        let name = name.clone();
                                        chosen.update(|r| {
                                            r.retain(|x| *x != name);
                                            if on {
                                                r.push(name);
                                            }
                                        });
                                    }
                                />
                                {label}
                            </label>
                        }
                    })
                    .collect_view()}
            </div>
            <button type="submit" disabled=move || invite.pending().get()>"Invite"</button>
            <ProblemBanner problem=problem/>
        </form>
    }
}

/// The link of the invitation just made, shown this once.
#[component]
pub fn InviteLink(invited: RwSignal<Option<CreatedInvitation>>) -> impl IntoView {
    move || {
        invited.get().map(|created| {
            let link = format!("{}{}", origin(), created.accept_path);
            view! {
                <div class="card" role="status">
                    <p>
                        "Invitation for " <strong>{created.invitation.email}</strong>
                        ". Send this link; it works once, until "
                        {short_time(&created.invitation.expires_at)} ", and is not shown again:"
                    </p>
                    <input class="wide" readonly aria-label="Invitation link" data-testid="invite-link" prop:value=link/>
                    <button type="button" class="link" on:click=move |_| invited.set(None)>"Done"</button>
                </div>
            }
        })
    }
}

/// Pending invitations, each withdrawable.
#[component]
pub fn PendingInvitations(
    tenant: Uuid,
    items: Vec<Invitation>,
    reload: RwSignal<u32>,
) -> impl IntoView {
    if items.is_empty() {
        return ().into_any();
    }
    let api = expect_context::<ApiClient>();
    let withdraw = Action::new(move |id: &Uuid| {
        let (api, id) = (api.clone(), *id);
        sendable(async move { api.withdraw_invitation(tenant, id).await })
    });
    Effect::new(move |_| {
        if withdraw.value().get().is_some() {
            reload.update(|n| *n += 1);
        }
    });
    view! {
        <h2>"Pending invitations"</h2>
        <table class="table" aria-label="Pending invitations">
            <thead><tr><th>"Email"</th><th>"Invited by"</th><th>"Expires"</th><th></th></tr></thead>
            <tbody>
                {items
                    .into_iter()
                    .map(|i| {
                        let (id, email) = (i.id, i.email.clone());
                        view! {
                            <tr data-invitation=email>
                                <td>{i.email}</td>
                                <td>{i.invited_by}</td>
                                <td>{short_time(&i.expires_at)}</td>
                                <td><button type="button" on:click=move |_| { withdraw.dispatch(id); }>"Withdraw"</button></td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// `/invite#<token>`: who the invitation is for, and a password to accept it with.
#[component]
pub fn InvitePage() -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let token = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<Problem>);
    let mismatch = RwSignal::new(false);
    let inspect = Action::new({
        let api = api.clone();
        move |t: &String| {
            let (api, t) = (api.clone(), t.clone());
            sendable(async move { api.inspect_invitation(&t).await })
        }
    });
    let accept = Action::new(move |body: &AcceptInvitation| {
        let (api, body) = (api.clone(), body.clone());
        sendable(async move { api.accept_invitation(&body).await })
    });
    // The fragment exists only in the browser: read it once hydrated.
    Effect::new(move |_| {
        let t = fragment();
        if !t.is_empty() {
            token.set(t.clone());
            inspect.dispatch(t);
        }
    });
    Effect::new(move |_| {
        if let Some(Err(p)) = accept.value().get() {
            problem.set(Some(p));
        }
    });
    let info = move || inspect.value().get();
    let accepted = move || matches!(accept.value().get(), Some(Ok(())));
    view! {
        <section class="login" aria-label="Accept invitation">
            <h1>"Join Switchyard"</h1>
            {move || match info() {
                None => view! { <p class="loading">"Reading the invitation…"</p> }.into_any(),
                Some(Err(p)) => view! { <ProblemBanner problem=Some(p)/> }.into_any(),
                Some(Ok(InvitationInfo { tenant_slug, tenant_name, email, .. })) if accepted() => view! {
                    <p role="status" data-testid="invite-accepted">
                        "Your password is set. " <a href="/login">"Sign in"</a> " to " {tenant_name}
                        " (tenant " <code>{tenant_slug}</code> ") as " {email} "."
                    </p>
                }
                .into_any(),
                Some(Ok(i)) => view! {
                    <p data-testid="invite-for">
                        "Invitation for " <strong>{i.email}</strong> " to " {i.tenant_name}
                        " (tenant " <code>{i.tenant_slug}</code> "). Choose a password."
                    </p>
                    <form
                        class="card"
                        on:submit=move |ev| {
                            ev.prevent_default();
                            mismatch.set(password.get() != confirm.get());
                            if !mismatch.get() {
                                accept.dispatch(AcceptInvitation { token: token.get(), password: password.get() });
                            }
                        }
                    >
                        <label>"Password" <input name="password" type="password" autocomplete="new-password" required bind:value=password/></label>
                        <label>"Repeat password" <input name="confirm" type="password" autocomplete="new-password" required bind:value=confirm/></label>
                        <button type="submit" disabled=move || accept.pending().get()>"Set password"</button>
                    </form>
                    <Show when=move || mismatch.get()>
                        <p class="problem" role="alert">"The passwords differ."</p>
                    </Show>
                    <ProblemBanner problem=problem/>
                }
                .into_any(),
            }}
        </section>
    }
}

/// The page's URL fragment without `#` (browser only).
fn fragment() -> String {
    #[cfg(feature = "hydrate")]
    {
        let hash = window().location().hash().unwrap_or_default();
        hash.trim_start_matches('#').to_string()
    }
    #[cfg(not(feature = "hydrate"))]
    String::new()
}
