//! The effective-permissions explorer on the access page: who may call a tool, and what one
//! user may do and why.

use leptos::prelude::*;
use uuid::Uuid;

use super::ProblemBanner;
use crate::api::{ApiClient, EffectiveAccess, Problem, ToolAccessList, UserList, sendable};

#[component]
pub fn WhoMayCall(tenant: Uuid) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let tool = RwSignal::new(String::new());
    let answer = RwSignal::new(None::<Result<ToolAccessList, Problem>>);
    let ask = Action::new(move |tool: &String| {
        let (api, tool) = (api.clone(), tool.clone());
        sendable(async move { api.who_may_call(tenant, &tool).await })
    });
    Effect::new(move |_| {
        if let Some(result) = ask.value().get() {
            answer.set(Some(result));
        }
    });
    view! {
        <form
            class="card form-row"
            aria-label="Who may call"
            on:submit=move |ev| {
                ev.prevent_default();
                ask.dispatch(tool.get());
            }
        >
            <label>"Tool" <input name="who_tool" required placeholder="files.read" bind:value=tool/></label>
            <button type="submit" disabled=move || ask.pending().get()>"Show"</button>
        </form>
        {move || {
            answer
                .get()
                .map(|result| match result {
                    Ok(list) => {
                        view! {
                            <table class="table" aria-label="Who may call">
                                <thead>
                                    <tr>
                                        <th>"User"</th>
                                        <th>"Allowed"</th>
                                        <th>"Deciding rule"</th>
                                        <th class="hide-narrow">"Only for some arguments"</th>
                                    </tr>
                                </thead>
                                <tbody>
                                    {list
                                        .items
                                        .into_iter()
                                        .map(|u| {
                                            let email = u.email.clone();
                                            view! {
                                                <tr data-who=email>
                                                    <td>{u.email}</td>
                                                    <td>{if u.allowed { "yes" } else { "no" }}</td>
                                                    <td><code>{u.rule}</code></td>
                                                    <td class="hide-narrow">{u.conditional.join(", ")}</td>
                                                </tr>
                                            }
                                        })
                                        .collect_view()}
                                </tbody>
                            </table>
                        }
                            .into_any()
                    }
                    Err(problem) => view! { <ProblemBanner problem=Some(problem)/> }.into_any(),
                })
        }}
    }
}

#[component]
pub fn Effective(tenant: Uuid, users: Resource<Result<UserList, Problem>>) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let answer = RwSignal::new(None::<Result<EffectiveAccess, Problem>>);
    let ask = Action::new(move |user: &Uuid| {
        let (api, user) = (api.clone(), *user);
        sendable(async move { api.effective_access(tenant, user).await })
    });
    Effect::new(move |_| {
        if let Some(result) = ask.value().get() {
            answer.set(Some(result));
        }
    });
    view! {
        <Transition fallback=|| ()>
            {move || {
                users
                    .get()
                    .and_then(Result::ok)
                    .map(|list| {
                        view! {
                            <label class="card">
                                "User"
                                <select
                                    name="effective_user"
                                    on:change=move |ev| {
                                        if let Ok(id) = Uuid::parse_str(&event_target_value(&ev)) {
                                            ask.dispatch(id);
                                        }
                                    }
                                >
                                    <option value="">"choose a user"</option>
                                    {list
                                        .items
                                        .into_iter()
                                        .map(|u| view! { <option value=u.id.to_string()>{u.email}</option> })
                                        .collect_view()}
                                </select>
                            </label>
                        }
                    })
            }}
        </Transition>
        {move || {
            answer
                .get()
                .map(|result| match result {
                    Ok(access) => {
                        view! {
                            <div class="card" data-testid="effective">
                                <p>
                                    "Roles: " {access.roles.join(", ")}
                                    {access.platform_admin.then_some(" · platform administrator")}
                                </p>
                                <ul>
                                    {access
                                        .permissions
                                        .into_iter()
                                        .map(|g| view! { <li><code>{g.permission}</code>" from " {g.granted_by.join(", ")}</li> })
                                        .collect_view()}
                                </ul>
                                <p>"Tool rules that apply: "
                                    {access
                                        .tool_rules
                                        .iter()
                                        .map(|r| format!("{} ({} {})", r.name, r.effect, r.tool_pattern))
                                        .collect::<Vec<_>>()
                                        .join("; ")}
                                </p>
                            </div>
                        }
                            .into_any()
                    }
                    Err(problem) => view! { <ProblemBanner problem=Some(problem)/> }.into_any(),
                })
        }}
    }
}
