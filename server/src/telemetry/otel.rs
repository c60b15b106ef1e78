//! OpenTelemetry traces: spans exported over OTLP/HTTP (protobuf) in batches from a thread
//! of the SDK's own, and W3C trace context (www.w3.org/TR/trace-context) for the calls the
//! gateway makes to upstreams.
//!
//! A workflow run's spans share one trace whose id is the run's id, however many executors
//! on however many replicas take it up (after a pause or a crash): each execution's
//! `workflow.run` span names the run as its remote parent, so finding a run's trace needs
//! nothing but the run.

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use uuid::Uuid;

use crate::config::TraceSettings;

/// Why traces cannot be exported.
#[derive(Debug, thiserror::Error)]
#[error("cannot export traces to {endpoint}: {message}")]
pub struct TraceError {
    endpoint: String,
    message: String,
}

/// The exporter's provider; flushes what is buffered when shut down.
pub struct Exporter(SdkTracerProvider);

impl Exporter {
    /// Sends the spans still buffered and stops. Blocks: call it off the async runtime.
    pub fn shutdown(self) {
        if let Err(error) = self.0.shutdown() {
            eprintln!("switchyard: traces not all exported at shutdown: {error}");
        }
    }
}

/// The exporter for `settings`, or `None` when no endpoint is set.
///
/// Builds on a thread of its own: the blocking HTTP client runs its own small runtime, which
/// must not be made (or dropped) on a thread of the server's.
pub fn exporter(settings: &TraceSettings) -> Result<Option<Exporter>, TraceError> {
    let endpoint = settings.otlp_endpoint.trim_end_matches('/');
    if endpoint.is_empty() {
        return Ok(None);
    }
    let url = format!("{endpoint}/v1/traces");
    let name = settings.service_name.clone();
    let fail = |message: String| TraceError {
        endpoint: url.clone(),
        message,
    };
    let built = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                use opentelemetry_otlp::WithExportConfig;
                let exporter = opentelemetry_otlp::SpanExporter::builder()
                    .with_http()
                    .with_endpoint(url.clone())
                    .build()
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>(
                    SdkTracerProvider::builder()
                        .with_batch_exporter(exporter)
                        .with_resource(Resource::builder().with_service_name(name).build())
                        .build(),
                )
            })
            .join()
            .map_err(|_| "the exporter's thread panicked".to_owned())?
    });
    built.map(|provider| Some(Exporter(provider))).map_err(fail)
}

impl Exporter {
    /// The tracing layer that hands spans to this exporter.
    pub fn layer<S>(&self) -> impl tracing_subscriber::Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        tracing_opentelemetry::layer().with_tracer(self.0.tracer("switchyard"))
    }
}

/// Makes `span` a child of run `run`'s trace (trace id = the run id).
pub fn join_run_trace(span: &tracing::Span, run: Uuid) {
    let bytes = run.as_bytes();
    let mut parent = [0u8; 8];
    parent.copy_from_slice(&bytes[8..]);
    let context = SpanContext::new(
        TraceId::from_bytes(*bytes),
        SpanId::from_bytes(parent),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(context));
}

/// Makes `span` continue the trace a caller sent: `traceparent` (and `tracestate`) as W3C
/// Trace Context §3.2 and §3.3 define them, from an HTTP header or an MCP request's `_meta`
/// (SEP-414). A malformed value is ignored (§4.3: the span starts a trace of its own).
pub fn continue_trace(span: &tracing::Span, traceparent: &str, tracestate: Option<&str>) {
    if let Some(parent) = parse_traceparent(traceparent, tracestate) {
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(parent));
    }
}

fn parse_traceparent(traceparent: &str, tracestate: Option<&str>) -> Option<SpanContext> {
    let mut parts = traceparent.trim().split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    // Version 00 has exactly four fields; ff is invalid (§3.2.2.1).
    if version.len() != 2 || version == "ff" || (version == "00" && parts.next().is_some()) {
        return None;
    }
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if !hex(version, 2) || !hex(trace, 32) || !hex(span, 16) || !hex(flags, 2) {
        return None;
    }
    let trace = TraceId::from_hex(trace).ok()?;
    let span = SpanId::from_hex(span).ok()?;
    let flags = TraceFlags::new(u8::from_str_radix(flags, 16).ok()? & 1);
    let state = tracestate
        .and_then(|s| s.parse::<TraceState>().ok())
        .unwrap_or_default();
    let context = SpanContext::new(trace, span, flags, true, state);
    context.is_valid().then_some(context)
}

/// W3C trace context of the current span, to send with a call: (`traceparent`,
/// `tracestate`); `None` when no span is exported.
pub fn current_trace_context() -> Option<(String, String)> {
    let context = tracing::Span::current().context();
    let span = context.span();
    let span = span.span_context();
    if !span.is_valid() {
        return None;
    }
    let traceparent = format!(
        "00-{}-{}-{:02x}",
        span.trace_id(),
        span.span_id(),
        span.trace_flags().to_u8()
    );
    Some((traceparent, span.trace_state().header()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents_are_read_as_the_w3c_specification_writes_them() {
        let good = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let context = parse_traceparent(good, Some("congo=t61rcWkgMzE")).unwrap();
        assert_eq!(
            context.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(context.span_id().to_string(), "b7ad6b7169203331");
        assert!(context.is_sampled() && context.is_remote());
        assert_eq!(context.trace_state().header(), "congo=t61rcWkgMzE");
        for bad in [
            "",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01",
            "00-zzf7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ] {
            assert!(parse_traceparent(bad, None).is_none(), "{bad:?}");
        }
        // A later version may add fields: the first four are read.
        assert!(parse_traceparent(&format!("01-{}-x", &good[3..]), None).is_some());
    }
}
