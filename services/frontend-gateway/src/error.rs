//! `ApiError`: every way the public API fails, the status and stable code of each.
//!
//! | variant | status | code |
//! |---|---|---|
//! | `Unauthenticated` | 401 (+ `WWW-Authenticate`) | `unauthenticated` |
//! | `Forbidden` | 403 | `forbidden` |
//! | `BadRequest` | 400 | `bad_request` |
//! | `Validation` | 422 | `validation_failed` |
//! | `NotFound` | 404 | `not_found` |
//! | `Conflict` | 409 | `conflict` |
//! | `RateLimited` | 429 (+ `Retry-After`) | `rate_limited` |
//! | `TooManyInFlight` | 429 (+ `Retry-After: 1`) | `too_many_in_flight` |
//! | `Unavailable` | 503 (+ `Retry-After`) | `unavailable` |
//! | `Internal` | 500 | `internal` |
//!
//! 5xx bodies carry no internals; the cause is logged.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lf_http::error::{Chain, ErrorResponse, FieldError};

/// What went wrong in a request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: no, malformed, expired or wrongly signed bearer token.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// 403: the resource belongs to another learner.
    #[error("forbidden")]
    Forbidden,
    /// 400: a path parameter is malformed.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 422: fields failed validation.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// 404: no such resource.
    #[error("not found")]
    NotFound,
    /// 409: the action was already done (e.g. a lesson completed twice).
    #[error("conflict: {0}")]
    Conflict(String),
    /// 429: the learner exceeded the rate limit.
    #[error("rate limited")]
    RateLimited {
        /// Seconds until a request would be allowed.
        retry_after_secs: u64,
    },
    /// 429: the learner already has the most requests in flight one learner may have.
    #[error("too many requests in flight")]
    TooManyInFlight,
    /// 503: an internal service is unreachable, failing or its circuit is open.
    #[error("{service} unavailable: {cause}")]
    Unavailable {
        /// Which service.
        service: &'static str,
        /// Why (logged, not sent).
        cause: String,
    },
    /// 500: anything else. The cause, with its sources, is logged, never sent.
    #[error("internal: {0}")]
    Internal(#[source] lf_dapr::BoxError),
}

impl ApiError {
    /// 500 for `source`, saying what we were doing (`context`) when it happened.
    pub fn internal(context: impl Into<String>, source: impl Into<lf_dapr::BoxError>) -> Self {
        Self::Internal(Box::new(Context {
            context: context.into(),
            source: source.into(),
        }))
    }
}

/// What was being done when an internal error happened; the error is its source.
#[derive(Debug, thiserror::Error)]
#[error("{context}")]
struct Context {
    context: String,
    #[source]
    source: lf_dapr::BoxError,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = match &self {
            Self::Unauthenticated(why) => {
                let mut r =
                    ErrorResponse::new(StatusCode::UNAUTHORIZED, "unauthenticated", why.clone())
                        .into_response();
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return r;
            }
            Self::Forbidden => ErrorResponse::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this belongs to another learner",
            ),
            Self::BadRequest(m) => {
                ErrorResponse::new(StatusCode::BAD_REQUEST, "bad_request", m.clone())
            }
            Self::Validation(details) => ErrorResponse::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "the request is not valid",
            )
            .with_details(details.clone()),
            Self::NotFound => {
                ErrorResponse::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
            }
            Self::Conflict(m) => ErrorResponse::new(StatusCode::CONFLICT, "conflict", m.clone()),
            Self::RateLimited { retry_after_secs } => ErrorResponse::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests; slow down",
            )
            .with_retry_after(*retry_after_secs),
            Self::TooManyInFlight => ErrorResponse::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_in_flight",
                "too many of your requests are in flight; wait for them",
            )
            .with_retry_after(1),
            Self::Unavailable { service, cause } => {
                tracing::warn!(service, cause, "upstream unavailable");
                ErrorResponse::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    format!("{service} is unavailable; retry shortly"),
                )
                .with_retry_after(2)
            }
            Self::Internal(cause) => ErrorResponse::internal(&Chain(cause.as_ref())),
        };
        error.into_response()
    }
}
