//! The Leptos console, rendered on the server and hydrated in the browser. During rendering
//! the console reads data through the same API router, called in process.

use app::api::ApiClient;
use app::{App, shell};
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};
use std::time::Duration;
use tower_http::timeout::ResponseBodyTimeoutLayer;

/// The console routes plus the static assets (`/pkg/…`) as the fallback. No other site may
/// frame a console page (clickjacking: the OAuth consent page above all).
///
/// A page streams: its shell goes out first and each `Suspense` follows when its data is in,
/// so the request timeout (which ends at the response's head) does not bound it. A page whose
/// body stops for `render_timeout` is cut off instead of holding its connection open forever
/// (the trace layer logs the error); a slow API call inside it has the same timeout anyway.
pub fn router(options: LeptosOptions, api: Router, render_timeout: Duration) -> Router {
    let routes = generate_route_list(App);
    // leptos_axum provides the request's parts before this runs.
    let context = move || {
        let parts = use_context::<axum::http::request::Parts>();
        provide_context(ApiClient::in_process(api.clone(), parts.as_ref()));
    };
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
        .layer(ResponseBodyTimeoutLayer::new(render_timeout))
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    /// A page that sends its shell and then nothing more: its last `Suspense` never resolves.
    fn stalled() -> Body {
        let shell = futures::stream::once(async { Ok::<_, std::io::Error>("<html>") });
        Body::from_stream(futures::StreamExt::chain(shell, futures::stream::pending()))
    }

    #[tokio::test]
    async fn a_page_that_stops_streaming_is_cut_off() {
        let page = Router::new()
            .route("/", axum::routing::get(|| async { stalled() }))
            .layer(ResponseBodyTimeoutLayer::new(Duration::from_millis(200)));
        let request = axum::http::Request::get("/").body(Body::empty()).unwrap();
        let response = page.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200, "the head goes out before the stall");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX);
        let read = tokio::time::timeout(Duration::from_secs(5), body).await;
        let read = read.expect("the stalled page was not cut off");
        assert!(
            read.is_err(),
            "a stalled page ends with an error, not a short page"
        );
    }
}
