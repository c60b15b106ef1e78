//! The users page: pick a tenant, then list, search, create and edit its users.

use leptos::prelude::*;
use uuid::Uuid;

use super::pager::{Pager, PagerControls};
use super::tenant_picker::TenantPage;
use super::{ProblemBanner, short_time};
use crate::api::{ApiClient, NewUser, Problem, User, UserPatch, UserQuery, sendable};

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
        <Transition fallback=|| view! { <p class="loading">"Loading users…"</p> }>
            {move || {
                users
                    .get()
                    .map(|result| match result {
                        Ok(page) => {
                            let next = page.next_cursor;
                            view! {
                                <UserTable users=page.items reload/>
                                <PagerControls pager next/>
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
fn UserTable(users: Vec<User>, reload: RwSignal<u32>) -> impl IntoView {
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
                    <th class="hide-narrow">"Created"</th>
                    <th></th>
                </tr>
            </thead>
            <tbody>
                {users.into_iter().map(|user| view! { <UserRow user reload/> }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn UserRow(user: User, reload: RwSignal<u32>) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let editing = RwSignal::new(false);
    let email = RwSignal::new(user.email.clone());
    let display_name = RwSignal::new(user.display_name.clone());
    let disabled = RwSignal::new(user.disabled);
    let problem = RwSignal::new(None::<Problem>);
    let (tenant, id) = (user.tenant_id, user.id);
    let save = Action::new(move |patch: &UserPatch| {
        let api = api.clone();
        let patch = patch.clone();
        sendable(async move { api.update_user(tenant, id, &patch).await })
    });
    Effect::new(move |_| match save.value().get() {
        Some(Ok(_)) => {
            editing.set(false);
            reload.update(|n| *n += 1);
        }
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    let status = if user.disabled { "disabled" } else { "active" };
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
            <td class="hide-narrow">{created.clone()}</td>
            <td class="actions-cell">
                <div class="actions">
                <Show
                    when=move || editing.get()
                    fallback=move || {
                        view! { <button type="button" on:click=move |_| editing.set(true)>"Edit"</button> }
                    }
                >
                    <button
                        type="button"
                        on:click=move |_| {
                            save.dispatch(UserPatch {
                                email: Some(email.get()),
                                display_name: Some(display_name.get()),
                                disabled: Some(disabled.get()),
                            });
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
