//! The JSON error body every LearnFlow API answers with.
//!
//! Shape: `{"error": {"code": "...", "message": "...", "trace_id": "...", "details": [...]}}`.
//! `code` is stable and machine-readable; `message` is for people; `details`
//! lists field-level problems for validation errors; `trace_id` lets an operator
//! find the request. Server errors never carry internals; [`Chain`] puts a cause and
//! its sources into the log instead.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Displays an error followed by its sources, `outer: inner: innermost`, for the logs. A
/// source whose text the message already ends with (thiserror's `"…: {0}"` with
/// `#[source]`) is not repeated.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut text = self.0.to_string();
        let mut source = self.0.source();
        while let Some(cause) = source {
            let said = cause.to_string();
            if !text.ends_with(&said) {
                text.push_str(": ");
                text.push_str(&said);
            }
            source = cause.source();
        }
        f.write_str(&text)
    }
}

/// One field-level problem in a request.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    /// JSON pointer-ish path of the field, e.g. `score` or `body`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// The error object inside the body.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorObject {
    /// Stable machine-readable code, e.g. `validation_failed`.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// Trace id of the request, when one is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// Field-level problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldError>,
}

/// A complete error response: status, body and an optional `Retry-After`.
#[derive(Debug, Clone)]
pub struct ErrorResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// The body's error object.
    pub error: ErrorObject,
    /// Seconds for `Retry-After`, on 429 and 503.
    pub retry_after_secs: Option<u64>,
}

impl ErrorResponse {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            error: ErrorObject {
                code,
                message: message.into(),
                trace_id: None,
                details: Vec::new(),
            },
            retry_after_secs: None,
        }
    }

    /// 500 `internal`. The cause is logged and never sent to the client.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(cause = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }

    /// 503 `unavailable` with `Retry-After: 1`, for a storage outage the caller may
    /// retry. The cause is logged, not sent.
    pub fn storage_unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(cause = %cause, "storage unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "storage is unavailable; retry shortly",
        )
        .with_retry_after(1)
    }

    /// Adds field-level details.
    pub fn with_details(mut self, details: Vec<FieldError>) -> Self {
        self.error.details = details;
        self
    }

    /// Adds the request's trace id.
    pub fn with_trace_id(mut self, trace_id: Option<String>) -> Self {
        self.error.trace_id = trace_id;
        self
    }

    /// Adds a `Retry-After` header.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a ErrorObject,
}

impl IntoResponse for ErrorResponse {
    fn into_response(mut self) -> Response {
        if self.error.trace_id.is_none() {
            self.error.trace_id = lf_telemetry::trace::current_trace_id();
        }
        let mut response = (self.status, Json(Body { error: &self.error })).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn body_has_code_message_and_retry_after() {
        let r = ErrorResponse::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", "try later")
            .with_retry_after(2)
            .into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }

    #[test]
    fn serialises_without_empty_parts() {
        let e = ErrorResponse::new(StatusCode::BAD_REQUEST, "bad", "m");
        let v = serde_json::to_value(Body { error: &e.error }).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": {"code": "bad", "message": "m"}})
        );
    }
}

#[cfg(test)]
mod chain_tests {
    use super::Chain;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("database unavailable")]
        Bare(#[source] std::io::Error),
        #[error("sidecar unreachable: {0}")]
        Said(#[source] std::io::Error),
    }

    #[test]
    fn every_source_is_shown_once() {
        let io = || std::io::Error::other("connection refused");
        assert_eq!(
            Chain(&Outer::Bare(io())).to_string(),
            "database unavailable: connection refused"
        );
        assert_eq!(
            Chain(&Outer::Said(io())).to_string(),
            "sidecar unreachable: connection refused"
        );
    }
}
