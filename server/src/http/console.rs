//! The Leptos console, rendered on the server and hydrated in the browser. During rendering
//! the console reads data through the same API router, called in process.

use app::api::ApiClient;
use app::{App, shell};
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};

/// The console routes plus the static assets (`/pkg/…`) as the fallback. No other site may
/// frame a console page (clickjacking: the OAuth consent page above all).
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
        .layer(axum::middleware::map_response(|r| async {
            refuse_framing(r)
        }))
}

/// Forbids every site to frame `response` (X-Frame-Options, and CSP `frame-ancestors`).
pub(super) fn refuse_framing(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    response
}
