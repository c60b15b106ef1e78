//! The roles editor on the access page: every role with its permissions and whether it
//! requires a second factor; custom roles edited in place or removed; a form for new ones.

use leptos::prelude::*;
use uuid::Uuid;

use super::ProblemBanner;
use crate::api::{ApiClient, NewRole, PERMISSIONS, Problem, Role, sendable};

#[component]
pub fn RoleTable(tenant: Uuid, roles: Vec<Role>, reload: RwSignal<u32>) -> impl IntoView {
    view! {
        <table class="table" aria-label="Roles">
            <thead>
                <tr>
                    <th>"Role"</th>
                    <th>"Permissions"</th>
                    <th>"MFA"</th>
                    <th class="hide-narrow">"Kind"</th>
                    <th></th>
                </tr>
            </thead>
            <tbody>
                {roles.into_iter().map(|role| view! { <RoleRow tenant role reload/> }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn RoleRow(tenant: Uuid, role: Role, reload: RwSignal<u32>) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let id = role.id;
    let editing = RwSignal::new(false);
    let chosen = RwSignal::new(role.permissions.clone());
    let problem = RwSignal::new(None::<Problem>);
    let (name, description) = (role.name.clone(), role.description.clone());
    let save = Action::new({
        let api = api.clone();
        move |permissions: &Vec<String>| {
            let api = api.clone();
            let body = NewRole {
                name: name.clone(),
                description: description.clone(),
                permissions: permissions.clone(),
            };
            sendable(async move { api.replace_role(tenant, id, &body).await.map(|_| ()) })
        }
    });
    let remove = Action::new({
        let api = api.clone();
        move |_: &()| {
            let api = api.clone();
            sendable(async move { api.delete_role(tenant, id).await })
        }
    });
    let mfa = Action::new(move |required: &bool| {
        let (api, required) = (api.clone(), *required);
        sendable(async move { api.set_role_mfa(tenant, id, required).await.map(|_| ()) })
    });
    Effect::new(move |_| {
        for done in [save.value().get(), remove.value().get(), mfa.value().get()]
            .into_iter()
            .flatten()
        {
            match done {
                Ok(()) => {
                    editing.set(false);
                    reload.update(|n| *n += 1);
                }
                Err(p) => problem.set(Some(p)),
            }
        }
    });
    let (builtin, require_mfa) = (role.builtin, role.require_mfa);
    let shown = role.permissions.join(" ");
    view! {
        <tr data-role=role.name.clone()>
            <td>{role.name.clone()}</td>
            <td class="wrap">
                <Show when=move || editing.get() fallback=move || view! { <code>{shown.clone()}</code> }>
                    <PermissionChecks chosen/>
                </Show>
            </td>
            <td>
                <label class="inline">
                    <input
                        type="checkbox"
                        aria-label=format!("Require MFA for {}", role.name)
                        prop:checked=require_mfa
                        on:change=move |ev| { mfa.dispatch(event_target_checked(&ev)); }
                    />
                    "required"
                </label>
            </td>
            <td class="hide-narrow">{if builtin { "built-in" } else { "custom" }}</td>
            <td class="actions-cell">
                <div class="actions">
                    {(!builtin).then(|| view! {
                        <Show
                            when=move || editing.get()
                            fallback=move || view! {
                                <button type="button" on:click=move |_| editing.set(true)>"Edit"</button>
                                <button type="button" on:click=move |_| { remove.dispatch(()); }>"Delete"</button>
                            }
                        >
                            <button type="button" on:click=move |_| { save.dispatch(chosen.get()); }>"Save"</button>
                            <button type="button" on:click=move |_| editing.set(false)>"Cancel"</button>
                        </Show>
                    })}
                    <ProblemBanner problem=problem/>
                </div>
            </td>
        </tr>
    }
}

/// A checkbox per permission, bound to `chosen`.
#[component]
fn PermissionChecks(chosen: RwSignal<Vec<String>>) -> impl IntoView {
    view! {
        <div class="checks">
            {PERMISSIONS
                .into_iter()
                .map(|p| {
                    view! {
                        <label class="inline">
                            <input
                                type="checkbox"
                                aria-label=format!("Permission {p}")
                                prop:checked=move || chosen.with(|c| c.iter().any(|x| x == p))
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    chosen.update(|c| {
                                        c.retain(|x| x != p);
                                        if on {
                                            c.push(p.to_string());
                                        }
                                    });
                                }
                            />
                            {p}
                        </label>
                    }
                })
                .collect_view()}
        </div>
    }
}

#[component]
pub fn NewRoleForm(
    tenant: Uuid,
    on_created: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let name = RwSignal::new(String::new());
    let chosen = RwSignal::new(Vec::<String>::new());
    let problem = RwSignal::new(None::<Problem>);
    let create = Action::new(move |body: &NewRole| {
        let (api, body) = (api.clone(), body.clone());
        sendable(async move { api.create_role(tenant, &body).await })
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(_)) => {
            name.set(String::new());
            chosen.set(Vec::new());
            problem.set(None);
            on_created();
        }
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    view! {
        <form
            class="card"
            aria-label="New role"
            on:submit=move |ev| {
                ev.prevent_default();
                create.dispatch(NewRole {
                    name: name.get(),
                    description: String::new(),
                    permissions: chosen.get(),
                });
            }
        >
            <label>"Role name" <input name="role_name" required placeholder="analyst" bind:value=name/></label>
            <fieldset>
                <legend>"Permissions"</legend>
                <PermissionChecks chosen/>
            </fieldset>
            <button type="submit" disabled=move || create.pending().get()>"Create role"</button>
            <ProblemBanner problem=problem/>
        </form>
    }
}
