//! Logs and metrics. Logs are one JSON object per line (or pretty text in development);
//! metrics are kept in a Prometheus recorder owned by the server, not a process global, so
//! several servers in one test process keep separate counts.

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub mod otel;

use crate::config::{LogFormat, LogSettings, TraceSettings};

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("invalid log filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled(#[from] tracing_subscriber::util::TryInitError),
    #[error("invalid histogram buckets: {0}")]
    Buckets(#[from] metrics_exporter_prometheus::BuildError),
    #[error(transparent)]
    Traces(#[from] otel::TraceError),
}

/// Installs the process's log subscriber, and the trace exporter when `trace` names a
/// collector (returned, to be shut down at exit). Called once, from `main`. Logs and traces
/// each have their own filter.
pub fn init_logging(
    settings: &LogSettings,
    trace: &TraceSettings,
) -> Result<Option<otel::Exporter>, TelemetryError> {
    use tracing_subscriber::Layer;
    let filter = EnvFilter::builder().parse(&settings.filter)?;
    let exporter = otel::exporter(trace)?;
    let traces = match &exporter {
        Some(exporter) => Some(
            exporter
                .layer()
                .with_filter(EnvFilter::builder().parse(&trace.filter)?),
        ),
        None => None,
    };
    let registry = tracing_subscriber::registry().with(traces);
    match settings.format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_filter(filter),
            )
            .try_init()?,
        LogFormat::Pretty => registry
            .with(tracing_subscriber::fmt::layer().with_filter(filter))
            .try_init()?,
    }
    Ok(exporter)
}

/// Latency buckets from 1 ms to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The server's metric registry, rendered at `/metrics`.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
}

impl Metrics {
    pub fn new() -> Result<Self, TelemetryError> {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)?
            .build_recorder();
        let handle = recorder.handle();
        Ok(Self {
            recorder: Arc::new(recorder),
            handle,
        })
    }

    /// Runs `f` with this registry as the recorder for the `metrics` macros.
    pub fn record(&self, f: impl FnOnce()) {
        metrics::with_local_recorder(self.recorder.as_ref(), f);
    }

    /// One finished HTTP request, labelled by route template (never the raw path, whose ids
    /// would make the label set unbounded).
    pub fn http_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let labels = [
            ("method", method.to_string()),
            ("route", route.to_string()),
            ("status", status.to_string()),
        ];
        self.record(|| {
            metrics::counter!("http_requests_total", &labels).increment(1);
            metrics::histogram!("http_request_duration_seconds", &labels)
                .record(elapsed.as_secs_f64());
        });
    }

    /// A session stream resumed from `Last-Event-ID` (`outcome`: resumed, refused).
    pub fn sse_resume(&self, outcome: &'static str) {
        self.record(|| {
            metrics::counter!("mcp_sse_resumes_total", "outcome" => outcome).increment(1);
        });
    }

    /// An upstream's questions for a caller (SEP-2322) taken one `way`: passed_on (to a
    /// 2026-07-28 caller), asked (of a session-era caller), parked (a mid-call question to a
    /// 2026-07-28 caller), resumed (a parked call's answer arrived).
    pub fn input_required(&self, way: &'static str) {
        self.record(|| {
            metrics::counter!("mcp_input_required_total", "way" => way).increment(1);
        });
    }

    /// A call parked for its caller's answer started (`+1`) or ended (`-1`).
    pub fn parked_calls(&self, change: f64) {
        self.record(|| {
            metrics::gauge!("mcp_parked_calls").increment(change);
        });
    }

    /// The gateway's OAuth grants at upstreams (`event`: authorized, refreshed,
    /// refresh_failed, challenged).
    pub fn upstream_oauth(&self, event: &'static str) {
        self.record(|| {
            metrics::counter!("upstream_oauth_events_total", "event" => event).increment(1);
        });
    }

    /// A governed request through the gateway (`kind`: tool, resource or prompt).
    pub fn gateway_request(&self, kind: &'static str, outcome: &'static str, elapsed: Duration) {
        self.record(|| {
            let labels = [("kind", kind), ("outcome", outcome)];
            metrics::counter!("gateway_requests_total", &labels).increment(1);
            metrics::histogram!("gateway_request_duration_seconds", &labels)
                .record(elapsed.as_secs_f64());
        });
    }

    /// A stdio upstream's process tree was killed for going over its limits.
    pub fn upstream_killed(&self) {
        self.record(|| metrics::counter!("gateway_upstream_killed_total").increment(1));
    }

    /// An upstream's circuit breaker opened.
    pub fn breaker_opened(&self) {
        self.record(|| metrics::counter!("gateway_breaker_opened_total").increment(1));
    }

    /// The authorization server answered a token request (`grant`: `authorization_code` or
    /// `refresh_token`; `outcome`: `issued` or the RFC 6749 §5.2 error code).
    pub fn oauth_token(&self, grant: &'static str, outcome: &'static str) {
        let labels = [("grant", grant), ("outcome", outcome)];
        self.record(|| metrics::counter!("oauth_token_requests_total", &labels).increment(1));
    }

    /// A workflow run started (`how`: started, forked) or resumed by an executor
    /// (`how`: resumed).
    pub fn workflow_run(&self, how: &'static str) {
        self.record(|| metrics::counter!("workflow_runs_total", "how" => how).increment(1));
    }

    /// A workflow run ended, or paused at an approval (`status`: succeeded, failed,
    /// cancelled, waiting).
    pub fn workflow_run_ended(&self, status: &'static str) {
        self.record(|| {
            metrics::counter!("workflow_runs_ended_total", "status" => status).increment(1);
        });
    }

    /// One committed workflow step (its nodes, their reduction and its checkpoint).
    pub fn workflow_step(&self, elapsed: Duration) {
        self.record(|| {
            metrics::counter!("workflow_steps_total").increment(1);
            metrics::histogram!("workflow_step_duration_seconds").record(elapsed.as_secs_f64());
        });
    }

    /// One node attempt (`kind`: the node kind; `outcome`: ok, failed, paused).
    pub fn workflow_node(&self, kind: &'static str, outcome: &'static str) {
        let labels = [("kind", kind), ("outcome", outcome)];
        self.record(|| metrics::counter!("workflow_node_attempts_total", &labels).increment(1));
    }

    /// Runs this replica is executing now: `+1` when one starts, `-1` when it stops.
    pub fn workflow_active(&self, change: f64) {
        self.record(|| metrics::gauge!("workflow_active_runs").increment(change));
    }

    /// The Prometheus text exposition of every metric.
    /// One request to an LLM provider (`kind`: chat, stream, embed; `outcome`: ok, error,
    /// refused when the budget was spent) and how long it took.
    pub fn llm_request(&self, kind: &'static str, outcome: &'static str, elapsed: Duration) {
        self.record(|| {
            let labels = [("kind", kind), ("outcome", outcome)];
            metrics::counter!("llm_requests_total", &labels).increment(1);
            metrics::histogram!("llm_request_duration_seconds", "kind" => kind)
                .record(elapsed.as_secs_f64());
        });
    }

    /// A chat turn ended (`by`: agent, workflow; `outcome`: answered, waiting for the
    /// user's approval, failed, stopped) and how long it ran.
    pub fn chat_turn(&self, by: &'static str, outcome: &'static str, elapsed: Duration) {
        self.record(|| {
            let labels = [("by", by), ("outcome", outcome)];
            metrics::counter!("chat_turns_total", &labels).increment(1);
            metrics::histogram!("chat_turn_duration_seconds", "by" => by)
                .record(elapsed.as_secs_f64());
        });
    }

    /// A vectors search answered (`backend`: embedded, pinecone; `path`: exact, graph,
    /// remote) and how long it took.
    pub fn vector_query(&self, backend: &'static str, path: &'static str, elapsed: Duration) {
        self.record(|| {
            let labels = [("backend", backend), ("path", path)];
            metrics::counter!("vector_queries_total", &labels).increment(1);
            metrics::histogram!("vector_query_duration_seconds", "backend" => backend)
                .record(elapsed.as_secs_f64());
        });
    }

    /// An index's copy loaded into a replica's memory: how many records, how long.
    pub fn vector_load(&self, records: usize, elapsed: Duration) {
        self.record(|| {
            metrics::counter!("vector_index_loads_total").increment(1);
            metrics::counter!("vector_records_loaded_total").increment(records as u64);
            metrics::histogram!("vector_load_duration_seconds").record(elapsed.as_secs_f64());
        });
    }

    /// How many indexes have a copy in this replica's memory.
    pub fn vector_copies(&self, loaded: usize) {
        self.record(|| metrics::gauge!("vector_indexes_in_memory").set(loaded as f64));
    }

    /// Tokens an LLM provider reported (`kind`: prompt, completion).
    pub fn llm_tokens(&self, kind: &'static str, tokens: u64) {
        self.record(|| metrics::counter!("llm_tokens_total", "kind" => kind).increment(tokens));
    }

    pub fn render(&self) -> String {
        self.handle.run_upkeep();
        self.handle.render()
    }
}
