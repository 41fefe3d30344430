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
use subtle::ConstantTimeEq;

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
    // Constant time in the token's bytes: the answer's timing does not tell how much of a
    // guess was right.
    if bool::from(presented.as_bytes().ct_eq(expected.as_bytes())) {
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

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt as _;

    use super::*;

    async fn status_with(token: Option<&str>) -> StatusCode {
        let app = Router::new()
            .route("/internal", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(
                AppToken(SecretString::from("s3cret-token")),
                require_app_token,
            ));
        let mut request = Request::builder().uri("/internal");
        if let Some(token) = token {
            request = request.header(TOKEN_HEADER, token);
        }
        let request = request
            .body(Body::empty())
            .unwrap_or_else(|e| panic!("{e}"));
        app.oneshot(request)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .status()
    }

    #[tokio::test]
    async fn only_the_exact_token_passes() {
        assert_eq!(status_with(Some("s3cret-token")).await, StatusCode::OK);
        for wrong in [
            None,
            Some(""),
            Some("s3cret-tokeN"),
            Some("s3cret"),
            Some("s3cret-token-and-more"),
        ] {
            assert_eq!(
                status_with(wrong).await,
                StatusCode::UNAUTHORIZED,
                "{wrong:?}"
            );
        }
    }
}
