//! The approvals inbox: every run of the tenant that waits for a person, each approval with
//! its prompt rendered from the run's state and its form, decided in place. Read again after
//! each decision and on Refresh (not on a timer, which would clear a form being filled in).

use leptos::prelude::*;
use uuid::Uuid;

use super::runs::ApprovalForm;
use super::tenant_picker::TenantPage;
use super::{ProblemBanner, short_time};
use crate::api::{ApiClient, Problem, RunQuery, RunStatus, sendable};

#[component]
pub fn ApprovalsPage() -> impl IntoView {
    view! {
        <TenantPage
            title="Approvals"
            path="/approvals"
            loading="Loading approvals…"
            body=|tenant| view! { <Inbox tenant/> }
        />
    }
}

#[component]
fn Inbox(tenant: Uuid) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let reload = RwSignal::new(0u32);
    let waiting = Resource::new(
        move || reload.get(),
        move |_| {
            let api = api.clone();
            sendable(async move {
                let query = RunQuery {
                    status: Some(RunStatus::Waiting.as_str().to_owned()),
                    ..Default::default()
                };
                let runs = api.list_runs(tenant, &query).await?.items;
                // Each run's definition at its own version, for its prompts and forms.
                let mut found = Vec::with_capacity(runs.len());
                for run in runs {
                    let definition = api
                        .workflow_version(tenant, run.workflow_id, run.version)
                        .await?;
                    found.push((run, definition));
                }
                Ok::<_, Problem>(found)
            })
        },
    );
    view! {
        <button type="button" on:click=move |_| reload.update(|n| *n += 1)>"Refresh"</button>
        <Transition fallback=|| view! { <p class="loading">"Loading approvals…"</p> }>
            {move || waiting.get().map(|result| match result {
                Ok(found) if found.is_empty() => {
                    view! { <p class="empty">"Nothing waits for a decision."</p> }.into_any()
                }
                Ok(found) => view! {
                    <ul class="inbox" aria-label="Waiting approvals">
                        {found.into_iter().flat_map(|(run, definition)| {
                            run.waiting_on.clone().into_iter().map(move |node| {
                                let link = format!("/runs?tenant={tenant}&run={}", run.id);
                                let (run, definition) = (run.clone(), definition.clone());
                                let label = format!("{}:{node}", run.id);
                                view! {
                                    <li data-approval=label>
                                        <p class="hint">
                                            <a href=link>{format!("run {}", &run.id.to_string()[..8])}</a>
                                            {format!(" · step {} · waiting since {}", run.step, short_time(&run.updated_at))}
                                        </p>
                                        <ApprovalForm run node definition reload/>
                                    </li>
                                }
                            }).collect::<Vec<_>>()
                        }).collect_view()}
                    </ul>
                }.into_any(),
                Err(problem) => view! { <ProblemBanner problem=Some(problem)/> }.into_any(),
            })}
        </Transition>
    }
}
