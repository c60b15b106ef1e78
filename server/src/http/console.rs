//! The Leptos console, rendered on the server and hydrated in the browser. During rendering
//! the console reads data through the same API router, called in process.

use app::api::ApiClient;
use app::{App, shell};
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};

/// The console routes plus the static assets (`/pkg/…`) as the fallback.
pub fn router(options: LeptosOptions, api: Router) -> Router {
    let routes = generate_route_list(App);
    let context = move || provide_context(ApiClient::in_process(api.clone()));
    Router::new()
        .leptos_routes_with_context(&options, routes, context, {
            let options = options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler(shell))
        .with_state(options)
}
