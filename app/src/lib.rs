//! Switchyard's web UI: the admin console (and, later, the end-user chat), rendered on the
//! server and hydrated in the browser, plus the shared API types in [`api`].

pub mod api;
mod pages;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::components::{A, Route, Router, Routes};
use leptos_router::path;

use api::ApiClient;

/// The HTML document around the app; the server renders it for every console route.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                // No favicon yet; an empty one spares every page load a 404.
                <link rel="icon" href="data:,"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The console: a layout with navigation around the routed pages.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // The server puts an in-process client in the context; the browser uses fetch.
    if use_context::<ApiClient>().is_none() {
        provide_context(ApiClient::default());
    }
    // Effects run only in the browser, after hydration: tests wait for this marker.
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    let api = expect_context::<ApiClient>();
    let me: pages::MeResource = Resource::new(
        || (),
        move |_| {
            let api = api.clone();
            api::sendable(async move { api.me().await })
        },
    );
    provide_context(me);

    view! {
        <Stylesheet id="leptos" href="/pkg/switchyard.css"/>
        <Title text="Switchyard console"/>
        <Router>
            <div class="layout" data-hydrated=move || hydrated.get().to_string()>
                <header class="topbar">
                    <a class="brand" href="/">"Switchyard"</a>
                    <nav class="nav" aria-label="Main">
                        <A href="/chat">"Chat"</A>
                        <A href="/tenants">"Tenants"</A>
                        <A href="/users">"Users"</A>
                        <A href="/access">"Access"</A>
                        <A href="/upstreams">"Upstreams"</A>
                        <A href="/catalog">"Catalog"</A>
                        <A href="/virtual-servers">"Virtual servers"</A>
                        <A href="/vectors">"Vectors"</A>
                        <A href="/workflows">"Workflows"</A>
                        <A href="/runs">"Runs"</A>
                        <A href="/approvals">"Approvals"</A>
                        <A href="/models">"Models"</A>
                        <A href="/audit">"Audit"</A>
                        <a href="/api/docs/" rel="external">"API"</a>
                    </nav>
                    <pages::AccountMenu/>
                </header>
                <main class="content">
                    <Routes fallback=|| view! { <p class="empty">"Page not found."</p> }>
                        <Route path=path!("/login") view=pages::LoginPage/>
                        <Route path=path!("/invite") view=pages::InvitePage/>
                        <Route path=path!("/oauth/consent") view=pages::ConsentPage/>
                        <Route path=path!("/") view=|| view! { <pages::Gate><pages::TenantsPage/></pages::Gate> }/>
                        <Route path=path!("/tenants") view=|| view! { <pages::Gate><pages::TenantsPage/></pages::Gate> }/>
                        <Route path=path!("/users") view=|| view! { <pages::Gate><pages::UsersPage/></pages::Gate> }/>
                        <Route path=path!("/account") view=|| view! { <pages::Gate><pages::AccountPage/></pages::Gate> }/>
                        <Route path=path!("/upstreams") view=|| view! { <pages::Gate><pages::UpstreamsPage/></pages::Gate> }/>
                        <Route path=path!("/catalog") view=|| view! { <pages::Gate><pages::CatalogPage/></pages::Gate> }/>
                        <Route path=path!("/virtual-servers") view=|| view! { <pages::Gate><pages::VirtualServersPage/></pages::Gate> }/>
                        <Route path=path!("/vectors") view=|| view! { <pages::Gate><pages::VectorIndexesPage/></pages::Gate> }/>
                        <Route path=path!("/workflows") view=|| view! { <pages::Gate><pages::WorkflowsPage/></pages::Gate> }/>
                        <Route path=path!("/runs") view=|| view! { <pages::Gate><pages::RunsPage/></pages::Gate> }/>
                        <Route path=path!("/approvals") view=|| view! { <pages::Gate><pages::ApprovalsPage/></pages::Gate> }/>
                        <Route path=path!("/models") view=|| view! { <pages::Gate><pages::ModelsPage/></pages::Gate> }/>
                        <Route path=path!("/chat") view=|| view! { <pages::Gate><pages::ChatPage/></pages::Gate> }/>
                        <Route path=path!("/access") view=|| view! { <pages::Gate><pages::AccessPage/></pages::Gate> }/>
                        <Route path=path!("/audit") view=|| view! { <pages::Gate><pages::AuditPage/></pages::Gate> }/>
                    </Routes>
                </main>
            </div>
        </Router>
    }
}
