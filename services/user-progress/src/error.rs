//! `ApiError`: every way user-progress's internal API fails, and the status each maps to.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lf_http::error::{Chain, ErrorResponse, FieldError};

/// What went wrong in a request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 422: a field is out of range (score outside 0–1, invalid learner id).
    #[error("unprocessable: {0:?}")]
    Unprocessable(Vec<FieldError>),
    /// 409: the lesson's completion was already recorded.
    #[error("already completed")]
    AlreadyCompleted,
    /// 503 when the database is unavailable (the caller may retry), 500 otherwise
    /// ([`lf_db::DbError`] decides); the cause is logged with its sources, never sent.
    #[error(transparent)]
    Database(#[from] lf_db::DbError),
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.into())
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
            Self::Database(e @ lf_db::DbError::Unavailable(_)) => {
                ErrorResponse::storage_unavailable(&Chain(e))
            }
            Self::Database(e @ lf_db::DbError::Failed(_)) => ErrorResponse::internal(&Chain(e)),
        };
        response.into_response()
    }
}
