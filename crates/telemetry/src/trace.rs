//! OpenTelemetry tracing: the OTLP exporter, W3C propagation and span helpers.
//!
//! Configured by the standard variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (no exporter,
//! and no trace ids, when unset), `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER_ARG`
//! (ratio for a parent-based ratio sampler, default 1). Spans are exported over
//! OTLP/HTTP by a batch processor on its own thread (blocking reqwest client: the
//! async clients need a reactor that thread does not have).

use axum::http::HeaderMap;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry::{Context, global};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The exporter side of tracing, to shut down at exit.
pub(crate) struct Tracing {
    pub(crate) provider: SdkTracerProvider,
}

/// Builds the provider from `env` when an OTLP endpoint is configured.
pub(crate) fn provider(service: &str, env: &[(String, String)]) -> Result<Option<Tracing>, String> {
    let var = |k: &str| env.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    let Some(endpoint) = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| {
        var("OTEL_EXPORTER_OTLP_ENDPOINT").map(|e| format!("{}/v1/traces", e.trim_end_matches('/')))
    }) else {
        return Ok(None);
    };
    let ratio = var("OTEL_TRACES_SAMPLER_ARG")
        .and_then(|r| r.parse::<f64>().ok())
        .unwrap_or(1.0);
    let name = var("OTEL_SERVICE_NAME").unwrap_or_else(|| service.to_owned());
    use opentelemetry_otlp::WithExportConfig;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .with_timeout(std::time::Duration::from_secs(3))
        .build()
        .map_err(|e| e.to_string())?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            ratio,
        ))))
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name(name)
                .build(),
        )
        .build();
    global::set_tracer_provider(provider.clone());
    Ok(Some(Tracing { provider }))
}

/// The tracing layer bridging spans to OpenTelemetry.
pub(crate) fn layer<S>(
    tracing: &Tracing,
    service: &'static str,
) -> tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::SdkTracer>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_opentelemetry::layer().with_tracer(tracing.provider.tracer(service))
}

/// Installs the W3C TraceContext propagator (once per process is enough; idempotent).
pub(crate) fn install_propagator() {
    global::set_text_map_propagator(TraceContextPropagator::new());
}

/// The context carried by `traceparent`/`tracestate` in `headers`.
pub fn extract(headers: &HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// Makes `span` a child of the context in `headers` (call before entering the span).
pub fn set_parent_from_headers(span: &tracing::Span, headers: &HeaderMap) {
    let cx = extract(headers);
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// Links `span` to the context in `headers` without continuing it: what a public edge
/// does with a client's `traceparent`, so that clients neither choose our trace ids nor
/// force sampling, while the client's trace stays findable from ours.
pub fn link_from_headers(span: &tracing::Span, headers: &HeaderMap) {
    let cx = extract(headers);
    let linked = cx.span().span_context().clone();
    if linked.is_valid() {
        span.add_link(linked);
    }
}

/// Makes `span` a child of a stored `traceparent` string (the outbox keeps one per event).
pub fn set_parent_from_traceparent(span: &tracing::Span, traceparent: &str) {
    let mut headers = HeaderMap::new();
    if let Ok(v) = traceparent.parse() {
        headers.insert("traceparent", v);
        set_parent_from_headers(span, &headers);
    }
}

/// Writes the context of `span` into `headers` as `traceparent`/`tracestate`.
pub fn inject(span: &tracing::Span, headers: &mut HeaderMap) {
    let cx = span.context();
    TraceContextPropagator::new().inject_context(&cx, &mut HeaderInjector(headers));
}

/// The `traceparent` of `span`, if it is being traced.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let mut headers = HeaderMap::new();
    inject(span, &mut headers);
    headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The trace id of the current span (32 hex digits), if it is being traced.
pub fn current_trace_id() -> Option<String> {
    let cx = tracing::Span::current().context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| sc.trace_id().to_string())
}

/// The span id of the current span, if it is being traced.
pub fn current_span_id() -> Option<String> {
    let cx = tracing::Span::current().context();
    let sc = cx.span().span_context().clone();
    sc.is_valid().then(|| sc.span_id().to_string())
}
