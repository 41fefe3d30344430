//! The HTTP server span of every request, following OpenTelemetry's HTTP conventions.
//!
//! It continues an incoming `traceparent` (which is how daprd hands a trace to our
//! apps) — except at the public edge ([`make_edge_span`]), where it starts a new trace
//! and only links the client's — is named `{method} {route}` with the route template (never the raw path),
//! records the status, and carries `trace_id`/`span_id` fields so JSON log lines
//! written inside the request name their trace, its own access-log line included.
//! Health and metrics routes get no span.

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, Response};
use axum::middleware::Next;
use tracing::Span;

/// Paths probed every few seconds: not worth a trace.
fn is_probe(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// `MakeSpan` for `tower_http::trace::TraceLayer` behind a sidecar: the request's span
/// continues the incoming `traceparent`.
pub fn make_span<B>(request: &axum::http::Request<B>) -> Span {
    server_span(request, Incoming::Continue)
}

/// `MakeSpan` for the public edge (the gateway's API port): the request's span is a new
/// root; a client's `traceparent` becomes a span link, so a client can neither pick the
/// trace id nor force sampling. Inside, propagation goes on as before.
pub fn make_edge_span<B>(request: &axum::http::Request<B>) -> Span {
    server_span(request, Incoming::Link)
}

/// What a server span does with an incoming trace context.
#[derive(Debug, Clone, Copy)]
enum Incoming {
    Continue,
    Link,
}

fn server_span<B>(request: &axum::http::Request<B>, incoming: Incoming) -> Span {
    let path = request.uri().path();
    if is_probe(path) {
        return Span::none();
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().as_str().to_owned();
    let span = tracing::info_span!(
        "http.server",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = %route,
        url.path = %path,
        http.response.status_code = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
    );
    // Parent (or link) first, before anything enters or reads the span's context.
    match incoming {
        Incoming::Continue => {
            lf_telemetry::trace::set_parent_from_headers(&span, request.headers())
        }
        Incoming::Link => lf_telemetry::trace::link_from_headers(&span, request.headers()),
    }
    if let Some((trace_id, span_id)) = ids(&span) {
        span.record("trace_id", trace_id.as_str());
        span.record("span_id", span_id.as_str());
    }
    span
}

fn ids(span: &Span) -> Option<(String, String)> {
    let tp = lf_telemetry::trace::traceparent(span)?;
    let mut parts = tp.split('-');
    let (_, trace, span_id) = (parts.next()?, parts.next()?, parts.next()?);
    Some((trace.to_owned(), span_id.to_owned()))
}

/// `OnResponse`: records the status on the span; 5xx marks it as an error. Writes one
/// access-log line inside the span, so every traced request leaves a line that names its
/// trace in the log backend (ADR 0030); probes have no span and leave none.
pub fn on_response<B>(response: &Response<B>, latency: std::time::Duration, span: &Span) {
    let status = response.status().as_u16();
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    if !span.is_disabled() {
        tracing::info!(
            http.response.status_code = status,
            latency_ms = latency.as_secs_f64() * 1000.0,
            "request served"
        );
    }
}

/// Middleware (inside the trace layer): answers every traced request with `x-trace-id`.
pub async fn trace_id_header(request: Request, next: Next) -> axum::response::Response {
    let mut response = next.run(request).await;
    if let Some(id) = lf_telemetry::trace::current_trace_id()
        && let Ok(value) = HeaderValue::from_str(&id)
    {
        response.headers_mut().insert("x-trace-id", value);
    }
    response
}
