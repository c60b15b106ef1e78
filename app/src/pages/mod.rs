//! Console pages. Each reads and writes only through [`crate::api::ApiClient`].

mod access;
mod account;
mod approvals;
mod audit;
mod builtin;
mod catalog;
mod chat;
mod chat_live;
mod connect;
mod connected_apps;
mod consent;
mod explorer;
mod invitations;
mod models;
mod pager;
mod roles;
mod run_live;
mod runs;
mod session;
mod tenant_picker;
mod tenants;
mod try_tool;
mod upstreams;
mod users;
mod vector_indexes;
mod virtual_servers;
mod workflow_graph;
mod workflows;

pub use access::AccessPage;
pub use account::AccountPage;
pub use approvals::ApprovalsPage;
pub use audit::AuditPage;
pub use catalog::CatalogPage;
pub use chat::ChatPage;
pub use consent::ConsentPage;
pub use invitations::InvitePage;
pub use models::ModelsPage;
pub use runs::RunsPage;
pub use session::{AccountMenu, Gate, LoginPage, MeResource};
pub use tenants::TenantsPage;
pub use upstreams::UpstreamsPage;
pub use users::UsersPage;
pub use vector_indexes::VectorIndexesPage;
pub use virtual_servers::VirtualServersPage;
pub use workflows::WorkflowsPage;

use leptos::prelude::*;

use crate::api::Problem;

/// An error banner for a failed request; renders nothing when there is no error.
#[component]
pub fn ProblemBanner(#[prop(into)] problem: Signal<Option<Problem>>) -> impl IntoView {
    move || {
        problem.get().map(|p| {
            view! { <div class="problem" role="alert">{p.message()}</div> }
        })
    }
}

/// The console's origin, for absolute links (browser only; empty while rendering, so the
/// server's and the browser's first render agree).
pub fn origin() -> String {
    #[cfg(feature = "hydrate")]
    {
        leptos::prelude::window()
            .location()
            .origin()
            .unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    String::new()
}

/// Formats a timestamp for tables, in UTC so server and browser render the same text.
pub fn short_time(at: &chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}
