//! Accept calls only from our own sidecar.
//!
//! daprd sends its `APP_API_TOKEN` in the `dapr-api-token` header on every call
//! to the app (invocations and pub/sub deliveries). Internal routes wrapped in
//! [`require_app_token`] answer 401 with a JSON error to anyone else.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};

use crate::TOKEN_HEADER;

/// Why a service that daprd calls must not start.
#[derive(Debug, thiserror::Error)]
pub enum AppTokenError {
    /// No app token, and the dev switch is off.
    #[error(
        "LEARNFLOW_DAPR__APP_TOKEN is empty: every internal route would take calls from anyone. \
         Give this service its own token (the APP_API_TOKEN of its daprd, e.g. from \
         `openssl rand -hex 32`), or set LEARNFLOW_DAPR__ALLOW_NO_APP_TOKEN=true on a dev machine"
    )]
    Missing,
}

/// Middleware state: the expected token (empty = checks off: only when
/// `allow_no_app_token` let the service start without one).
#[derive(Clone)]
pub struct AppToken(pub SecretString);

/// Rejects requests whose `dapr-api-token` is not the app token.
pub async fn require_app_token(
    State(expected): State<AppToken>,
    request: Request,
    next: Next,
) -> Response {
    let expected = expected.0.expose_secret();
    if expected.is_empty() {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({
                "error": {"code": "unauthenticated", "message": "internal endpoint: calls are accepted only from this service's Dapr sidecar"}
            })),
        )
            .into_response()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
