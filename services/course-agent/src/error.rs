//! `ApiError`: every way course-agent's API fails, and the status each maps to.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lf_http::error::{Chain, ErrorResponse, FieldError};

/// What went wrong in a request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: a path parameter is not what it should be (e.g. not a UUID).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 422: the request names a course or topic that does not exist, or an invalid learner.
    #[error("unprocessable: {message}")]
    Unprocessable {
        /// Summary.
        message: String,
        /// Field-level problems.
        details: Vec<FieldError>,
    },
    /// 404: no such lesson.
    #[error("not found")]
    NotFound,
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
            Self::BadRequest(m) => {
                ErrorResponse::new(StatusCode::BAD_REQUEST, "bad_request", m.clone())
            }
            Self::Unprocessable { message, details } => ErrorResponse::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                message.clone(),
            )
            .with_details(details.clone()),
            Self::NotFound => {
                ErrorResponse::new(StatusCode::NOT_FOUND, "not_found", "no such lesson")
            }
            Self::Database(e @ lf_db::DbError::Unavailable(_)) => {
                ErrorResponse::storage_unavailable(&Chain(e))
            }
            Self::Database(e @ lf_db::DbError::Failed(_)) => ErrorResponse::internal(&Chain(e)),
        };
        response.into_response()
    }
}
