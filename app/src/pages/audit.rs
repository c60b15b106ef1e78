//! The audit page: a tenant's trail, newest first, with filters, export and chain verification.

use leptos::prelude::*;
use uuid::Uuid;

use super::pager::{Pager, PagerControls};
use super::tenant_picker::TenantPage;
use super::{ProblemBanner, short_time};
use crate::api::{ApiClient, AuditQuery, AuditRecord, sendable};

const PAGE_SIZE: u32 = 25;

#[component]
pub fn AuditPage() -> impl IntoView {
    view! {
        <TenantPage
            title="Audit trail"
            path="/audit"
            loading="Loading audit records…"
            body=|tenant| view! { <TenantAudit tenant/> }
        />
    }
}

/// The filter inputs as the API's query (empty inputs mean "any").
fn filters(action: &str, actor: &str, outcome: &str, q: &str) -> AuditQuery {
    let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
    AuditQuery {
        action: some(action),
        actor: some(actor),
        outcome: some(outcome),
        q: some(q),
        ..Default::default()
    }
}

#[component]
fn TenantAudit(tenant: Uuid) -> impl IntoView {
    let api = expect_context::<ApiClient>();
    let (action, actor, outcome, q) = (
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
        RwSignal::new(String::new()),
    );
    let query = Memo::new(move |_| filters(&action.get(), &actor.get(), &outcome.get(), &q.get()));
    let pager = Pager::<i64>::new();
    let records = Resource::new(move || (query.get(), pager.cursor.get()), {
        let api = api.clone();
        move |(query, cursor): (AuditQuery, Option<i64>)| {
            let api = api.clone();
            let query = AuditQuery {
                limit: Some(PAGE_SIZE),
                cursor,
                ..query
            };
            sendable(async move { api.list_audit(tenant, &query).await })
        }
    });
    let verify = Action::new(move |_: &()| {
        let api = api.clone();
        sendable(async move { api.verify_audit(tenant).await })
    });
    let input = move |label: &'static str, signal: RwSignal<String>| {
        view! {
            <label>
                {label}
                <input
                    prop:value=move || signal.get()
                    on:change=move |ev| {
                        signal.set(event_target_value(&ev));
                        pager.reset();
                    }
                />
            </label>
        }
    };

    view! {
        <form class="card form-row" aria-label="Audit filters" on:submit=|ev| ev.prevent_default()>
            {input("Action", action)}
            {input("Actor", actor)}
            <label>
                "Outcome"
                <select on:change=move |ev| {
                    outcome.set(event_target_value(&ev));
                    pager.reset();
                }>
                    <option value="">"any"</option>
                    <option value="success">"success"</option>
                    <option value="failure">"failure"</option>
                    <option value="denied">"denied"</option>
                </select>
            </label>
            {input("Text", q)}
        </form>
        <div class="toolbar">
            <button type="button" on:click=move |_| { verify.dispatch(()); }>"Verify chain"</button>
            <a href=move || ApiClient::audit_export_url(tenant, &AuditQuery { format: Some("csv".into()), ..query.get() })>
                "Export CSV"
            </a>
            <a href=move || ApiClient::audit_export_url(tenant, &query.get())>"Export JSON"</a>
            {move || verify.value().get().map(|result| match result {
                Ok(v) if v.intact => view! {
                    <span class="status active" role="status">{format!("Chain intact: {} records verified", v.checked)}</span>
                }.into_any(),
                Ok(v) => view! {
                    <span class="status disabled" role="status">
                        {format!("Chain broken at record {}: {}", v.broken_at.unwrap_or_default(), v.reason.unwrap_or_default())}
                    </span>
                }.into_any(),
                Err(problem) => view! { <ProblemBanner problem=Some(problem)/> }.into_any(),
            })}
        </div>
        <Transition fallback=|| view! { <p class="loading">"Loading audit records…"</p> }>
            {move || {
                records
                    .get()
                    .map(|result| match result {
                        Ok(page) => {
                            let next = page.next_cursor;
                            view! {
                                <AuditTable records=page.items/>
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
fn AuditTable(records: Vec<AuditRecord>) -> impl IntoView {
    if records.is_empty() {
        return view! { <p class="empty">"No audit records match."</p> }.into_any();
    }
    view! {
        <table class="table">
            <thead>
                <tr>
                    <th>"#"</th>
                    <th>"Action"</th>
                    <th>"Actor"</th>
                    <th>"Target"</th>
                    <th>"Outcome"</th>
                    <th class="hide-narrow">"Time"</th>
                </tr>
            </thead>
            <tbody>
                {records
                    .into_iter()
                    .map(|r| {
                        let outcome_class = format!("status {}", if r.outcome == "success" { "active" } else { "disabled" });
                        view! {
                            <tr data-seq=r.seq.to_string() title=r.detail.to_string()>
                                <td>{r.seq}</td>
                                <td><code>{r.action}</code></td>
                                <td>{r.actor}</td>
                                <td><code>{r.target}</code></td>
                                <td><span class=outcome_class>{r.outcome}</span></td>
                                <td class="hide-narrow">{short_time(&r.at)}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
