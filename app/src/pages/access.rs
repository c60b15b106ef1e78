//! The access page of a tenant: roles (built-in and custom), tool rules, and a live "would
//! this call be allowed?" tester.

use leptos::prelude::*;
use uuid::Uuid;

use super::ProblemBanner;
use super::roles::{NewRoleForm, RoleTable};
use super::tenant_picker::TenantPage;
use crate::api::{
    ApiClient, GatewaySettings, NewToolPolicy, PolicyAnswer, PolicyQuestion, Problem, ToolPolicy,
    UserQuery, sendable,
};

#[component]
pub fn AccessPage() -> impl IntoView {
    view! {
        <TenantPage
            title="Roles & policies"
            path="/access"
            loading="Loading roles and rules…"
            body=|tenant| view! { <TenantAccess tenant/> }
        />
    }
}

#[component]
fn TenantAccess(tenant: Uuid) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let reload = RwSignal::new(0u32);
    let roles = Resource::new(move || reload.get(), {
        let api = api.clone();
        move |_| {
            let api = api.clone();
            sendable(async move { api.list_roles(tenant).await })
        }
    });
    let rules = Resource::new(move || reload.get(), {
        let api = api.clone();
        move |_| {
            let api = api.clone();
            sendable(async move { api.list_policies(tenant).await })
        }
    });
    let arguments = Resource::new(|| (), {
        let api = api.clone();
        move |_| {
            let api = api.clone();
            sendable(async move { api.gateway_settings(tenant).await })
        }
    });
    // Created here, beside the others, so server and browser create resources in one order.
    let users = Resource::new(
        || (),
        move |_| {
            let api = api.clone();
            let query = UserQuery {
                limit: Some(crate::api::MAX_PAGE_SIZE),
                ..Default::default()
            };
            sendable(async move { api.list_users(tenant, &query).await })
        },
    );
    let bump = move || reload.update(|n| *n += 1);

    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                match (roles.get(), rules.get()) {
                    (Some(Ok(roles)), Some(Ok(rules))) => {
                        let names: Vec<String> = roles.items.iter().map(|r| r.name.clone()).collect();
                        view! {
                            <h2>"Roles"</h2>
                            <RoleTable tenant roles=roles.items reload/>
                            <NewRoleForm tenant on_created=bump/>
                            <h2>"Tool rules"</h2>
                            <p class="hint">
                                "Deny wins; otherwise the highest-priority allow rule decides; with none, the call is refused."
                            </p>
                            <RuleTable tenant rules=rules.items reload/>
                            <NewRuleForm tenant roles=names.clone() on_created=bump/>
                            <ArgumentsSetting tenant current=arguments/>
                            <h2>"Would this call be allowed?"</h2>
                            <Tester tenant roles=names/>
                            <h2>"Who may call a tool"</h2>
                            <super::explorer::WhoMayCall tenant/>
                            <h2>"What a user may do"</h2>
                            <super::explorer::Effective tenant users/>
                        }
                            .into_any()
                    }
                    (Some(Err(problem)), _) | (_, Some(Err(problem))) => {
                        view! { <ProblemBanner problem=Some(problem)/> }.into_any()
                    }
                    _ => view! { <p class="loading">"Loading…"</p> }.into_any(),
                }
            }}
        </Transition>
    }
}

#[component]
fn RuleTable(tenant: Uuid, rules: Vec<ToolPolicy>, reload: RwSignal<u32>) -> impl IntoView {
    if rules.is_empty() {
        return view! { <p class="empty">"No tool rules yet: every tool call is refused."</p> }
            .into_any();
    }
    let api = expect_context::<ApiClient>();
    let remove = Action::new(move |id: &Uuid| {
        let (api, id) = (api.clone(), *id);
        sendable(async move { api.delete_policy(tenant, id).await })
    });
    Effect::new(move |_| {
        if remove.value().get().is_some() {
            reload.update(|n| *n += 1);
        }
    });
    view! {
        <table class="table">
            <thead>
                <tr>
                    <th>"Rule"</th>
                    <th>"Effect"</th>
                    <th>"Tools"</th>
                    <th class="hide-narrow">"Role"</th>
                    <th class="hide-narrow">"Conditions"</th>
                    <th></th>
                </tr>
            </thead>
            <tbody>
                {rules
                    .into_iter()
                    .map(|rule| {
                        let id = rule.id;
                        let conditions = rule
                            .conditions
                            .iter()
                            .map(|c| c.to_string())
                            .collect::<Vec<_>>()
                            .join(", ");
                        let (name, effect_class) = (rule.name.clone(), format!("effect {}", rule.effect));
                        view! {
                            <tr data-rule=name>
                                <td>{rule.name}</td>
                                <td class=effect_class>
                                    {rule.effect}
                                    {rule.confirm.then(|| view! { <span class="muted">" after confirmation"</span> })}
                                </td>
                                <td><code>{rule.tool_pattern}</code></td>
                                <td class="hide-narrow">{rule.role.unwrap_or_else(|| "everyone".into())}</td>
                                <td class="hide-narrow wrap"><code>{conditions}</code></td>
                                <td>
                                    <button type="button" on:click=move |_| { remove.dispatch(id); }>"Delete"</button>
                                </td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn NewRuleForm(
    tenant: Uuid,
    roles: Vec<String>,
    on_created: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let name = RwSignal::new(String::new());
    let effect = RwSignal::new("allow".to_string());
    let pattern = RwSignal::new(String::new());
    let role = RwSignal::new(String::new());
    let prefix_path = RwSignal::new(String::new());
    let prefix = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<Problem>);
    let create = Action::new(move |body: &NewToolPolicy| {
        let (api, body) = (api.clone(), body.clone());
        sendable(async move { api.create_policy(tenant, &body).await })
    });
    Effect::new(move |_| match create.value().get() {
        Some(Ok(_)) => {
            for s in [name, pattern, prefix_path, prefix] {
                s.set(String::new());
            }
            problem.set(None);
            on_created();
        }
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let path = prefix_path.get();
        let conditions = if path.trim().is_empty() {
            Vec::new()
        } else {
            vec![serde_json::json!({ "op": "prefix", "path": path.trim(), "value": prefix.get() })]
        };
        let role = role.get();
        // "confirm" in the form: an allow rule that waits for the user's confirmation.
        let (effect, confirm) = match effect.get().as_str() {
            "confirm" => ("allow".to_owned(), true),
            other => (other.to_owned(), false),
        };
        create.dispatch(NewToolPolicy {
            name: name.get(),
            effect,
            confirm,
            tool_pattern: pattern.get(),
            role: (!role.is_empty()).then_some(role),
            conditions,
            priority: 0,
        });
    };
    view! {
        <form class="card form-grid" aria-label="New tool rule" on:submit=submit>
            <label>"Rule name" <input name="rule_name" required placeholder="analysts-read-reports" bind:value=name/></label>
            <label>
                "Effect"
                <select name="effect" prop:value=move || effect.get() on:change=move |ev| effect.set(event_target_value(&ev))>
                    <option value="allow">"allow"</option>
                    <option value="confirm">"allow after the user confirms"</option>
                    <option value="deny">"deny"</option>
                </select>
            </label>
            <label>"Tools (glob)" <input name="tool_pattern" required placeholder="files.*" bind:value=pattern/></label>
            <label>
                "Role"
                <select name="role" prop:value=move || role.get() on:change=move |ev| role.set(event_target_value(&ev))>
                    <option value="">"everyone"</option>
                    {roles.into_iter().map(|r| view! { <option value=r.clone()>{r.clone()}</option> }).collect_view()}
                </select>
            </label>
            <label>"Only when argument" <input name="condition_path" placeholder="/path" bind:value=prefix_path/></label>
            <label>"starts with" <input name="condition_prefix" placeholder="/srv/reports/" bind:value=prefix/></label>
            <button type="submit" disabled=move || create.pending().get()>"Add rule"</button>
            <ProblemBanner problem=problem/>
        </form>
    }
}

#[component]
fn Tester(tenant: Uuid, roles: Vec<String>) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let tool = RwSignal::new(String::new());
    let role = RwSignal::new(String::new());
    let arguments = RwSignal::new("{}".to_string());
    let problem = RwSignal::new(None::<Problem>);
    let answer = RwSignal::new(None::<PolicyAnswer>);
    let ask = Action::new(move |question: &PolicyQuestion| {
        let (api, question) = (api.clone(), question.clone());
        sendable(async move { api.evaluate_policy(tenant, &question).await })
    });
    Effect::new(move |_| match ask.value().get() {
        Some(Ok(a)) => {
            answer.set(Some(a));
            problem.set(None);
        }
        Some(Err(p)) => {
            answer.set(None);
            problem.set(Some(p));
        }
        None => {}
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let parsed = match serde_json::from_str::<serde_json::Value>(&arguments.get()) {
            Ok(v) => v,
            Err(e) => {
                problem.set(Some(Problem::client(format!(
                    "arguments are not JSON: {e}"
                ))));
                return;
            }
        };
        let role = role.get();
        ask.dispatch(PolicyQuestion {
            user_id: None,
            roles: (!role.is_empty()).then(|| vec![role]),
            tool: tool.get(),
            arguments: parsed,
        });
    };
    view! {
        <form class="card form-grid" aria-label="Policy tester" on:submit=submit>
            <label>"Tool" <input name="tool" required placeholder="files.read" bind:value=tool/></label>
            <label>
                "As role"
                <select name="as_role" prop:value=move || role.get() on:change=move |ev| role.set(event_target_value(&ev))>
                    <option value="">"me"</option>
                    {roles.into_iter().map(|r| view! { <option value=r.clone()>{r.clone()}</option> }).collect_view()}
                </select>
            </label>
            <label class="wide">"Arguments (JSON)" <textarea name="arguments" rows="3" bind:value=arguments></textarea></label>
            <button type="submit" disabled=move || ask.pending().get()>"Check"</button>
            <ProblemBanner problem=problem/>
        </form>
        {move || {
            answer
                .get()
                .map(|a| {
                    let verdict = match (a.allowed, a.confirm) {
                        (true, true) => "Allowed once the user confirms",
                        (true, false) => "Allowed",
                        _ => "Denied",
                    };
                    view! {
                        <div class=format!("card verdict {}", verdict.to_lowercase()) role="status">
                            <strong>{verdict}</strong>
                            " — "
                            {a.reason.clone()}
                            <ul class="trace">
                                {a
                                    .trace
                                    .into_iter()
                                    .map(|t| view! { <li><code>{t.rule}</code>" (" {t.effect} "): " {t.outcome.replace('_', " ")}</li> })
                                    .collect_view()}
                            </ul>
                        </div>
                    }
                })
        }}
    }
}

/// Whether the trail keeps tool-call arguments (redacted), not only their digest.
#[component]
fn ArgumentsSetting(
    tenant: Uuid,
    current: Resource<Result<GatewaySettings, Problem>>,
) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let problem = RwSignal::new(None::<Problem>);
    let save = Action::new(move |on: &bool| {
        let (api, body) = (
            api.clone(),
            GatewaySettings {
                store_arguments: *on,
            },
        );
        sendable(async move { api.set_gateway_settings(tenant, &body).await })
    });
    Effect::new(move |_| match save.value().get() {
        Some(Ok(_)) => problem.set(None),
        Some(Err(p)) => problem.set(Some(p)),
        None => {}
    });
    view! {
        {move || current.get().map(|result| match result {
                Ok(settings) => view! {
                    <label class="card check-line">
                        <input
                            type="checkbox"
                            name="store_arguments"
                            prop:checked=settings.store_arguments
                            on:change=move |ev| { save.dispatch(event_target_checked(&ev)); }
                        />
                        " Keep tool-call and prompt arguments in the audit trail (values under names like password, token or key are redacted; off: a digest only)"
                    </label>
                    <ProblemBanner problem/>
                }
                .into_any(),
                // Reading it needs policies:read; without it there is nothing to show.
                Err(_) => ().into_any(),
            })}
    }
}
