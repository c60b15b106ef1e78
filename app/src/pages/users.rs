//! The users page: pick a tenant, then list, search, create and edit its users.

use leptos::prelude::*;
use uuid::Uuid;

use super::invitations::{InviteForm, InviteLink, PendingInvitations};
use super::pager::{Pager, PagerControls};
use super::tenant_picker::TenantPage;
use super::{ProblemBanner, short_time};
use crate::api::{
    ApiClient, CreatedInvitation, NewUser, Problem, User, UserPatch, UserQuery, UserRoles, sendable,
};

const PAGE_SIZE: u32 = 20;

#[component]
pub fn UsersPage() -> impl IntoView {
    view! {
        <TenantPage
            title="Users"
            path="/users"
            loading="Loading users…"
            body=|tenant| view! { <TenantUsers tenant/> }
        />
    }
}

#[component]
fn TenantUsers(tenant: Uuid) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let search = RwSignal::new(String::new());
    let pager = Pager::new();
    let reload = RwSignal::new(0u32);
    let roles = Resource::new(|| (), {
        let api = api.clone();
        move |_| {
            let api = api.clone();
            sendable(async move { api.list_roles(tenant).await })
        }
    });
    let invited = RwSignal::new(None::<CreatedInvitation>);
    let invitations = Resource::new(move || reload.get(), {
        let api = api.clone();
        move |_| {
            let api = api.clone();
            sendable(async move { api.list_invitations(tenant).await })
        }
    });
    let users = Resource::new(
        move || (search.get(), pager.cursor.get(), reload.get()),
        move |(q, cursor, _): (String, Option<Uuid>, u32)| {
            let api = api.clone();
            let query = UserQuery {
                limit: Some(PAGE_SIZE),
                cursor,
                q: (!q.trim().is_empty()).then(|| q.trim().to_string()),
                disabled: None,
            };
            sendable(async move { api.list_users(tenant, &query).await })
        },
    );

    view! {
        <input
            class="search"
            type="search"
            placeholder="Search users"
            aria-label="Search users"
            prop:value=move || search.get()
            on:input=move |ev| {
                search.set(event_target_value(&ev));
                pager.reset();
            }
        />
        <CreateUser tenant on_created=move || reload.update(|n| *n += 1)/>
        <InviteLink invited/>
        <Transition fallback=|| view! { <p class="loading">"Loading users…"</p> }>
            {move || {
                let names: Vec<String> = roles
                    .get()
                    .and_then(Result::ok)
                    .map(|list| list.items.into_iter().map(|r| r.name).collect())
                    .unwrap_or_default();
                users
                    .get()
                    .map(|result| match result {
                        Ok(page) => {
                            let next = page.next_cursor;
                            let pending = invitations
                                .get()
                                .and_then(Result::ok)
                                .map(|list| list.items)
                                .unwrap_or_default();
                            view! {
                                <InviteForm tenant roles=names.clone() invited reload/>
                                <UserTable users=page.items roles=names.clone() reload/>
                                <PagerControls pager next/>
                                <PendingInvitations tenant items=pending reload/>
                            }
                                .into_any()
                        }
                        Err(problem) => view! { <ProblemBanner problem=Some(problem)/> }.into_any(),
                    })
            }}
        </Transition>
    }
}

#[component]
fn CreateUser(
    tenant: Uuid,
    on_created: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let email = RwSignal::new(String::new());
    let display_name = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<Problem>);
    let create = Action::new(move |input: &NewUser| {
        let api = api.clone();
        let input = input.clone();
        sendable(async move { api.create_user(tenant, &input).await })
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(_)) => {
            email.set(String::new());
            display_name.set(String::new());
            problem.set(None);
            on_created();
        }
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });

    view! {
        <form
            class="card form-row"
            aria-label="New user"
            on:submit=move |ev| {
                ev.prevent_default();
                create.dispatch(NewUser { email: email.get(), display_name: display_name.get() });
            }
        >
            <label>
                "Email" <input name="email" type="email" required placeholder="ada@example.com" bind:value=email/>
            </label>
            <label>
                "Name" <input name="display_name" required placeholder="Ada Lovelace" bind:value=display_name/>
            </label>
            <button type="submit" disabled=move || create.pending().get()>"Create user"</button>
            <ProblemBanner problem=problem/>
        </form>
    }
}

#[component]
fn UserTable(users: Vec<User>, roles: Vec<String>, reload: RwSignal<u32>) -> impl IntoView {
    if users.is_empty() {
        return view! { <p class="empty">"No users match."</p> }.into_any();
    }
    view! {
        <table class="table">
            <thead>
                <tr>
                    <th>"Name"</th>
                    <th>"Email"</th>
                    <th>"Status"</th>
                    <th>"Roles"</th>
                    <th class="hide-narrow">"Created"</th>
                    <th></th>
                </tr>
            </thead>
            <tbody>
                {users
                    .into_iter()
                    .map(|user| view! { <UserRow user all_roles=roles.clone() reload/> })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn UserRow(user: User, all_roles: Vec<String>, reload: RwSignal<u32>) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let roles = RwSignal::new(user.roles.clone());
    let password = RwSignal::new(String::new());
    let editing = RwSignal::new(false);
    let email = RwSignal::new(user.email.clone());
    let display_name = RwSignal::new(user.display_name.clone());
    let disabled = RwSignal::new(user.disabled);
    let problem = RwSignal::new(None::<Problem>);
    let (tenant, id) = (user.tenant_id, user.id);
    let original_roles = user.roles.clone();
    let save = Action::new({
        let api = api.clone();
        move |(patch, new_roles, new_password): &(UserPatch, Vec<String>, String)| {
            let (api, patch) = (api.clone(), patch.clone());
            let new_roles = (*new_roles != original_roles).then(|| new_roles.clone());
            let new_password = (!new_password.is_empty()).then(|| new_password.clone());
            sendable(async move {
                if let Some(roles) = new_roles {
                    api.set_user_roles(tenant, id, &UserRoles { roles }).await?;
                }
                if let Some(password) = new_password {
                    api.reset_password(tenant, id, &password).await?;
                }
                api.update_user(tenant, id, &patch).await
            })
        }
    });
    let unlock = Action::new(move |_: &()| {
        let api = api.clone();
        sendable(async move { api.unlock_user(tenant, id).await })
    });
    Effect::new(move |_| {
        if unlock.value().get().is_some() {
            reload.update(|n| *n += 1);
        }
    });
    let locked = user.locked_until.is_some();
    Effect::new(move |_| match save.value().get() {
        Some(Ok(_)) => {
            editing.set(false);
            reload.update(|n| *n += 1);
        }
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    let status = if user.disabled {
        "disabled"
    } else if locked {
        "locked"
    } else {
        "active"
    };
    let admin = user.platform_admin;
    let created = short_time(&user.created_at);

    view! {
        <tr data-user=user.email.clone()>
            <Show
                when=move || editing.get()
                fallback=move || {
                    view! {
                        <td>{move || display_name.get()}</td>
                        <td>{move || email.get()}</td>
                    }
                }
            >
                <td><input aria-label="User name" bind:value=display_name/></td>
                <td><input aria-label="User email" bind:value=email/></td>
            </Show>
            <td>
                <Show when=move || editing.get() fallback=move || view! { <span class=format!("status {status}")>{status}</span> }>
                    <label class="inline">
                        <input type="checkbox" aria-label="Disabled" bind:checked=disabled/>
                        "disabled"
                    </label>
                </Show>
                {admin.then(|| view! { <span class="badge">"platform admin"</span> })}
            </td>
            <td class="wrap">
                <Show
                    when=move || editing.get()
                    fallback=move || view! { <span data-testid="user-roles">{move || roles.get().join(", ")}</span> }
                >
                    <div class="checks">
                        {all_roles
                            .clone()
                            .into_iter()
                            .map(|name| {
                                let (label, key) = (name.clone(), name.clone());
                                view! {
                                    <label class="inline">
                                        <input
                                            type="checkbox"
                                            aria-label=format!("Role {name}")
                                            prop:checked=move || roles.with(|r| r.contains(&key))
                                            on:change=move |ev| {
                                                let on = event_target_checked(&ev);
                                                let name = name.clone();
                                                roles.update(|r| {
                                                    r.retain(|x| *x != name);
                                                    if on {
                                                        r.push(name);
                                                        r.sort();
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
                    <input type="password" aria-label="New password" placeholder="new password (optional)" bind:value=password/>
                </Show>
            </td>
            <td class="hide-narrow">{created.clone()}</td>
            <td class="actions-cell">
                <div class="actions">
                <Show
                    when=move || editing.get()
                    fallback=move || {
                        view! {
                            <button type="button" on:click=move |_| editing.set(true)>"Edit"</button>
                            {locked.then(|| view! {
                                <button type="button" on:click=move |_| { unlock.dispatch(()); }>"Unlock"</button>
                            })}
                        }
                    }
                >
                    <button
                        type="button"
                        on:click=move |_| {
                            save.dispatch((
                                UserPatch {
                                    email: Some(email.get()),
                                    display_name: Some(display_name.get()),
                                    disabled: Some(disabled.get()),
                                },
                                roles.get(),
                                password.get(),
                            ));
                        }
                    >
                        "Save"
                    </button>
                    <button type="button" on:click=move |_| editing.set(false)>"Cancel"</button>
                </Show>
                <ProblemBanner problem=problem/>
            </div>
            </td>
        </tr>
    }
}
