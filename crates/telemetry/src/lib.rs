//! Telemetry for LearnFlow services.
//!
//! Layout:
//! - [`init`] sets up JSON logs (env-filtered), OpenTelemetry tracing over OTLP
//!   (when `OTEL_EXPORTER_OTLP_ENDPOINT` is set) and the W3C propagator, once per
//!   process, and returns a [`TelemetryGuard`] that flushes spans on shutdown;
//! - [`trace`]: extracting and injecting trace context (HTTP headers, stored
//!   `traceparent`s) and reading the current trace id;
//! - [`process`]: process CPU time, memory, threads and descriptors (`metrics-process`);
//! - [`metrics_recorder`] installs the process-wide Prometheus recorder once and
//!   keeps its histograms trimmed; [`render_metrics`] is the `/metrics` text;
//! - [`http_metrics`] is an axum middleware recording request counts and
//!   durations by route template, method and status class;
//! - [`names`] holds every metric name this crate emits.

pub mod names;
pub mod process;
pub mod trace;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Deserialize;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Telemetry settings shared by every service (`[telemetry]` in its config).
#[derive(Debug, Clone, Deserialize)]
pub struct TelemetryConfig {
    /// `tracing` filter directive, e.g. `info,sqlx=warn`.
    pub log_filter: String,
    /// `json` (default; one JSON object per line) or `text`.
    pub log_format: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_filter: "info".into(),
            log_format: "json".into(),
        }
    }
}

/// Why telemetry could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP exporter could not be built.
    #[error("OTLP trace exporter: {0}")]
    Exporter(String),
    /// The log filter directive does not parse.
    #[error("invalid log filter {filter:?}: {reason}")]
    Filter {
        /// The directive given.
        filter: String,
        /// What the parser said.
        reason: String,
    },
}

/// Flushes telemetry when the service stops; keep it alive for the process's lifetime.
#[must_use = "dropping the guard early stops telemetry export"]
pub struct TelemetryGuard {
    service: &'static str,
    tracing: Option<trace::Tracing>,
}

impl std::fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("service", &self.service)
            .field("exporting", &self.tracing.is_some())
            .finish()
    }
}

impl TelemetryGuard {
    /// Flushes buffered spans. Call once, after the server has stopped; it blocks
    /// until the exporter thread is done (bounded by the exporter's timeout).
    pub fn shutdown(self) {
        if let Some(t) = self.tracing
            && let Err(e) = t.provider.shutdown()
        {
            eprintln!("{}: flushing spans failed: {e}", self.service);
        }
        tracing::info!(service = self.service, "telemetry flushed");
    }
}

/// Sets up logging and tracing for `service` from `config` and the `OTEL_*` entries
/// of `env`, and records its build info. Safe to call more than once per process
/// (tests): later calls keep the first subscriber.
pub fn init(
    service: &'static str,
    config: &TelemetryConfig,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<TelemetryGuard, TelemetryError> {
    let filter = EnvFilter::try_new(&config.log_filter).map_err(|e| TelemetryError::Filter {
        filter: config.log_filter.clone(),
        reason: e.to_string(),
    })?;
    trace::install_propagator();
    let env: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("OTEL_"))
        .collect();
    let exporting = trace::provider(service, &env).map_err(TelemetryError::Exporter)?;
    let otel = exporting.as_ref().map(|t| trace::layer(t, service));
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    // A second init in one process (tests) finds a subscriber already set; that is fine.
    let _ = if config.log_format == "text" {
        registry.with(tracing_subscriber::fmt::layer()).try_init()
    } else {
        // Request spans carry trace_id/span_id fields, so every log line inside a
        // request names its trace.
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init()
    };
    metrics_recorder();
    metrics::gauge!(
        names::BUILD_INFO,
        "service" => service,
        "version" => env!("CARGO_PKG_VERSION"),
    )
    .set(1.0);
    Ok(TelemetryGuard {
        service,
        tracing: exporting,
    })
}

/// Bucket bounds (seconds) for request and flow latencies: 1 ms to 10 s.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide Prometheus recorder, installed on first use.
///
/// A global recorder can be set only once per process, so every caller (each
/// `App::build` in a test binary too) shares this one.
pub fn metrics_recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .unwrap_or_else(|e| panic!("prometheus buckets: {e}"))
                .build_recorder();
            let handle = recorder.handle();
            // Without upkeep the histogram buffers grow without bound while nobody scrapes.
            // The builder runs upkeep itself only beside its own HTTP listener
            // (`install`/`build`); `/metrics` is served by the admin router instead.
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                })
                .unwrap_or_else(|e| panic!("metrics upkeep thread: {e}"));
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!(
                    "a metrics recorder was already installed; LearnFlow metrics go there"
                );
            }
            names::describe();
            handle
        })
        .clone()
}

/// The Prometheus text for `/metrics`, with the process metrics collected just before.
pub fn render_metrics() -> String {
    let handle = metrics_recorder();
    process::collect();
    handle.render()
}

/// Axum middleware: counts requests and records their duration, labelled by
/// route template (never the raw path), method and status class.
pub async fn http_metrics(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = status_class(response.status().as_u16());
    let labels = [
        ("http_route", route),
        ("http_request_method", method),
        ("http_response_status_class", status.to_owned()),
    ];
    metrics::counter!(names::HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(names::HTTP_DURATION, &labels).record(started.elapsed().as_secs_f64());
    response
}

fn status_class(code: u16) -> &'static str {
    match code {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        assert_eq!(status_class(201), "2xx");
        assert_eq!(status_class(404), "4xx");
        assert_eq!(status_class(503), "5xx");
    }

    #[test]
    fn bad_filter_is_reported() {
        let err = init(
            "t",
            &TelemetryConfig {
                log_filter: "info,=[".into(),
                log_format: "json".into(),
            },
            Vec::new(),
        )
        .err();
        assert!(matches!(err, Some(TelemetryError::Filter { .. })));
    }

    #[test]
    fn build_info_is_rendered() {
        let _guard = init("unit-test", &TelemetryConfig::default(), Vec::new());
        let text = metrics_recorder().render();
        assert!(text.contains("learnflow_build_info"), "{text}");
        assert!(text.contains("service=\"unit-test\""), "{text}");
    }
}
