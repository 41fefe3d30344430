//! Talking to the Dapr sidecar.
//!
//! Layout:
//! - [`DaprConfig`]: where the sidecar is and which tokens to use (`[dapr]` in service configs);
//! - [`DaprPort`]: the operations services need (invoke, publish, bulk publish, health),
//!   as a trait so per-service tests can inject `fake::FakeSidecar` (feature `fake`);
//! - [`HttpDapr`]: the real implementation over daprd's HTTP API — it sets the
//!   Dapr API token, the trace context and a timeout on every call;
//! - [`app_token`]: middleware that accepts calls only from our own sidecar;
//! - [`refusals`]: 4xx answers cross the sidecar as 200 + a header, so one caller's
//!   refused requests do not open Dapr's circuit breaker for everyone;
//! - [`sidecar_facing`]: both of those layered onto an internal service's router.
//!
//! Why HTTP and not the `dapr` crate's gRPC client: see `docs/adr/0005-dapr-client.md`.

pub mod app_token;
#[cfg(feature = "fake")]
pub mod fake;
mod http;
pub mod refusals;

pub use http::HttpDapr;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// An internal service's routes as its sidecar should reach them: only with the app
/// token ([`app_token`]), and with refusals carried as 200 ([`refusals`]; outermost, so a
/// wrong token's 401 is carried too). Fails closed: without an app token the service
/// must not start, unless `allow_no_app_token` (dev only) says so.
pub fn sidecar_facing(
    router: axum::Router,
    config: &DaprConfig,
) -> Result<axum::Router, app_token::AppTokenError> {
    if config.app_token.expose_secret().is_empty() && !config.allow_no_app_token {
        return Err(app_token::AppTokenError::Missing);
    }
    Ok(router
        .layer(axum::middleware::from_fn_with_state(
            app_token::AppToken(config.app_token.clone()),
            app_token::require_app_token,
        ))
        .layer(axum::middleware::from_fn(refusals::carry_refusals)))
}

/// Header carrying the Dapr API token (app → sidecar) and the app token (sidecar → app).
pub const TOKEN_HEADER: &str = "dapr-api-token";

/// `[dapr]` settings.
#[derive(Debug, Clone, Deserialize)]
pub struct DaprConfig {
    /// daprd's HTTP port on loopback.
    pub http_port: u16,
    /// Token presented to daprd (its `DAPR_API_TOKEN`); empty = none.
    pub api_token: SecretString,
    /// Token daprd presents to this app (its `APP_API_TOKEN`), this service's own: no
    /// other service's sidecar holds it. Required by every service daprd calls.
    pub app_token: SecretString,
    /// Dev only: serve the internal routes to any caller when `app_token` is empty
    /// (otherwise such a service refuses to start).
    #[serde(default)]
    pub allow_no_app_token: bool,
}

/// The cause of an [`DaprError::Unreachable`], kept whole for the logs.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a sidecar call failed. Only [`DaprError::is_transient`] failures are worth retrying;
/// the others are the caller's settings or data and would fail the same way again.
#[derive(Debug, thiserror::Error)]
pub enum DaprError {
    /// The sidecar could not be reached or did not answer in time.
    #[error("dapr sidecar unreachable: {0}")]
    Unreachable(#[source] BoxError),
    /// The sidecar (or the app behind it) answered with an error status.
    #[error("dapr answered {status}: {body}")]
    Status {
        /// HTTP status.
        status: u16,
        /// Response body (truncated).
        body: String,
    },
    /// The configured Dapr API token cannot be sent as an HTTP header.
    #[error("the Dapr API token (dapr.api_token) is not a valid HTTP header value")]
    InvalidToken(#[source] reqwest::header::InvalidHeaderValue),
    /// The HTTP client for the sidecar could not be built.
    #[error("cannot build the HTTP client for the sidecar: {0}")]
    Client(#[source] reqwest::Error),
    /// What was to be sent cannot be encoded as JSON.
    #[error("cannot encode the request body as JSON: {0}")]
    Encode(#[source] serde_json::Error),
}

impl DaprError {
    /// True when a retry later may succeed (unreachable, 5xx, 429).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable(_) => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429,
            Self::InvalidToken(_) | Self::Client(_) | Self::Encode(_) => false,
        }
    }

    /// [`DaprError::Unreachable`] from whatever the transport reported.
    pub fn unreachable(cause: impl Into<BoxError>) -> Self {
        Self::Unreachable(cause.into())
    }
}

/// The response of a service invocation.
#[derive(Debug, Clone)]
pub struct InvokeResponse {
    /// HTTP status the target app (or daprd) answered.
    pub status: u16,
    /// Response headers (daprd passes the app's on).
    pub headers: HeaderMap,
    /// Response body.
    pub body: Vec<u8>,
}

impl InvokeResponse {
    /// An answer with `status` and `body` as JSON, and no headers (for fakes and tests).
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body: serde_json::to_vec(body).unwrap_or_default(),
        }
    }
}

/// One event of a bulk publish.
#[derive(Debug, Clone, Serialize)]
pub struct BulkEntry {
    /// Unique within the request; reported back for failed entries.
    #[serde(rename = "entryId")]
    pub entry_id: String,
    /// The event (published as the CloudEvent's data).
    pub event: serde_json::Value,
    /// Content type of `event`.
    #[serde(rename = "contentType")]
    pub content_type: String,
    /// Per-entry metadata, e.g. `partitionKey`, `cloudevent.traceparent`.
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// Result of a bulk publish: ids of entries that failed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BulkOutcome {
    /// Entries the sidecar could not publish.
    #[serde(rename = "failedEntries", default)]
    pub failed_entries: Vec<FailedEntry>,
}

/// A failed bulk entry.
#[derive(Debug, Clone, Deserialize)]
pub struct FailedEntry {
    /// The entry's id.
    #[serde(rename = "entryId")]
    pub entry_id: String,
    /// Why it failed.
    #[serde(default)]
    pub error: String,
}

/// A boxed future, so [`DaprPort`] stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What services ask of their sidecar.
pub trait DaprPort: Send + Sync + 'static {
    /// Invokes `method` (a path, e.g. `internal/lessons`) on `app_id` with an optional JSON body.
    fn invoke<'a>(
        &'a self,
        app_id: &'a str,
        http_method: reqwest::Method,
        method: &'a str,
        body: Option<serde_json::Value>,
        headers: HeaderMap,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<InvokeResponse, DaprError>>;

    /// Publishes the CloudEvent `event` (sent as `application/cloudevents+json`, so its
    /// `id` and `traceparent` are kept) to `topic` on `pubsub`, keyed by `partition_key`;
    /// `traceparent` also parents daprd's publish span.
    fn publish<'a>(
        &'a self,
        pubsub: &'a str,
        topic: &'a str,
        event: &'a serde_json::Value,
        partition_key: &'a str,
        traceparent: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), DaprError>>;

    /// Publishes several events in one call.
    fn bulk_publish<'a>(
        &'a self,
        pubsub: &'a str,
        topic: &'a str,
        entries: Vec<BulkEntry>,
    ) -> BoxFuture<'a, Result<BulkOutcome, DaprError>>;

    /// True when the sidecar reports itself healthy.
    fn healthy(&self) -> BoxFuture<'_, bool>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_token_or_an_unencodable_body_is_not_transient() {
        let token = SecretString::from("line\nbreak");
        let bad_token = HttpDapr::with_base("http://127.0.0.1:1".into(), &token)
            .expect_err("a token with a newline is refused");
        assert!(
            matches!(bad_token, DaprError::InvalidToken(_)),
            "{bad_token:?}"
        );
        assert!(!bad_token.is_transient());
        let encode = serde_json::from_str::<serde_json::Value>("{").expect_err("invalid json");
        assert!(!DaprError::Encode(encode).is_transient());
        // The transport's error stays the source, for the logs.
        let refused =
            DaprError::unreachable(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(refused.is_transient());
        assert!(std::error::Error::source(&refused).is_some());
    }

    #[test]
    fn transient_errors() {
        assert!(DaprError::Unreachable("x".into()).is_transient());
        assert!(
            DaprError::Status {
                status: 503,
                body: String::new()
            }
            .is_transient()
        );
        assert!(
            DaprError::Status {
                status: 429,
                body: String::new()
            }
            .is_transient()
        );
        assert!(
            !DaprError::Status {
                status: 400,
                body: String::new()
            }
            .is_transient()
        );
    }
}
