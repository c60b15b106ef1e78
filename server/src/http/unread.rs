//! Connection reuse after an answer given before the request body was read.
//!
//! Many refusals come before a handler reads the body: a 401 from the MCP endpoint's
//! authentication (the first step of every OAuth client's flow), a 403 for a foreign
//! `Origin`, a 429 from the rate limiter. hyper then drains what already arrived and, if the
//! body is not all there yet, stops reading and closes the connection once the answer is
//! written — without saying so. A client that keeps the connection for its next request
//! (every HTTP client pools) races that close and gets "server disconnected without sending a
//! response" for a request the server never saw: seen with the MCP Python SDK's OAuth client.
//!
//! So an answer given while the request body was still unread says `Connection: close`
//! (RFC 9112 §9.6): the client opens a new connection for its next request instead of
//! guessing. Answers to requests whose body was read to its end are untouched.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};

/// Middleware: marks the answer `Connection: close` when the request body was left unread.
pub(super) async fn close_if_unread(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    if body.is_end_stream() {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let read = Arc::new(AtomicBool::new(false));
    let body = Body::new(Watched {
        inner: body,
        read: read.clone(),
    });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if !read.load(Ordering::Acquire) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A request body that notes when it has been read to its end.
struct Watched {
    inner: Body,
    read: Arc<AtomicBool>,
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.read.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        let end = self.inner.is_end_stream();
        if end {
            self.read.store(true, Ordering::Release);
        }
        end
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
