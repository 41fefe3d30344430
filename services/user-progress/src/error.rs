//! `ApiError`: every way user-progress's internal API fails, and the status each maps to.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lf_http::error::{ErrorResponse, FieldError};

/// What went wrong in a request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 422: a field is out of range (score outside 0–1, invalid learner id).
    #[error("unprocessable: {0:?}")]
    Unprocessable(Vec<FieldError>),
    /// 409: the lesson's completion was already recorded.
    #[error("already completed")]
    AlreadyCompleted,
    /// 503: the database is unavailable (the caller may retry).
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// 500: anything else; details are logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if lf_db::is_transient(&e) {
            Self::Unavailable(e)
        } else {
            Self::Internal(e.to_string())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let response = match &self {
            Self::Unprocessable(details) => ErrorResponse::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "invalid request",
            )
            .with_details(details.clone()),
            Self::AlreadyCompleted => ErrorResponse::new(
                StatusCode::CONFLICT,
                "already_completed",
                "this lesson's completion is already recorded",
            ),
            Self::Unavailable(e) => ErrorResponse::storage_unavailable(e),
            Self::Internal(e) => ErrorResponse::internal(e),
        };
        response.into_response()
    }
}
