//! Keep one caller's mistakes from opening a circuit breaker for every caller.
//!
//! daprd 1.18.3 counts every non-2xx answer of an invoked app as a failure of that app
//! (`pkg/api/http/directmessaging.go` turns it into an error, the breaker counts it), and
//! there is no resiliency setting to exempt 4xx. A learner repeating a refused request —
//! an unknown topic (422), a second completion (409), a missing lesson (404) — would open
//! the breaker of course-agent or user-progress, and everyone would get 503s.
//!
//! So refusals cross the sidecar as successes: [`HttpDapr::invoke`](crate::HttpDapr)
//! asks for it with [`CARRY_REFUSALS_HEADER`]; the callee's [`carry_refusals`] layer
//! answers such a request's 4xx as 200 with the real status in [`REFUSAL_STATUS_HEADER`]
//! (body unchanged); the client puts the real status back. Only real failures (5xx,
//! timeouts, unreachable apps) reach the breaker. Requests without the header — Dapr's
//! pub/sub deliveries, whose status is a delivery verdict, and direct calls in tests —
//! are left alone.

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

/// Request header by which the caller asks for refusals to be carried as 200.
pub const CARRY_REFUSALS_HEADER: &str = "x-learnflow-carry-refusals";
/// Response header holding the real 4xx status of a carried refusal.
pub const REFUSAL_STATUS_HEADER: &str = "x-learnflow-refusal-status";

/// Answers a 4xx as 200 + [`REFUSAL_STATUS_HEADER`] when the request asked for it.
pub async fn carry_refusals(request: Request, next: Next) -> Response {
    let asked = request.headers().contains_key(CARRY_REFUSALS_HEADER);
    let mut response = next.run(request).await;
    let status = response.status();
    if asked && status.is_client_error() {
        response
            .headers_mut()
            .insert(REFUSAL_STATUS_HEADER, HeaderValue::from(status.as_u16()));
        *response.status_mut() = StatusCode::OK;
    }
    response
}

/// The status the callee really answered: the carried refusal's, else the HTTP status.
pub fn real_status(status: u16, headers: &reqwest::header::HeaderMap) -> u16 {
    headers
        .get(REFUSAL_STATUS_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u16>().ok())
        .filter(|carried| status == 200 && (400..500).contains(carried))
        .unwrap_or(status)
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    fn app() -> Router {
        Router::new()
            .route(
                "/refuse",
                get(|| async { (StatusCode::CONFLICT, "{\"error\":{}}") }),
            )
            .route("/fail", get(|| async { StatusCode::INTERNAL_SERVER_ERROR }))
            .layer(axum::middleware::from_fn(carry_refusals))
    }

    async fn call(path: &str, ask: bool) -> (u16, Option<String>) {
        let mut request = Request::get(path);
        if ask {
            request = request.header(CARRY_REFUSALS_HEADER, "1");
        }
        let response = app()
            .oneshot(request.body(Body::empty()).expect("request"))
            .await
            .expect("response");
        let carried = response
            .headers()
            .get(REFUSAL_STATUS_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (response.status().as_u16(), carried)
    }

    #[tokio::test]
    async fn a_refusal_is_carried_only_when_asked_and_failures_never_are() {
        assert_eq!(call("/refuse", true).await, (200, Some("409".into())));
        assert_eq!(call("/refuse", false).await, (409, None));
        assert_eq!(call("/fail", true).await, (500, None));
    }

    #[test]
    fn the_client_restores_only_plausible_refusals() {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(REFUSAL_STATUS_HEADER, HeaderValue::from_static("422"));
        assert_eq!(real_status(200, &headers), 422);
        assert_eq!(real_status(503, &headers), 503);
        headers.insert(REFUSAL_STATUS_HEADER, HeaderValue::from_static("500"));
        assert_eq!(real_status(200, &headers), 200);
        assert_eq!(real_status(201, &reqwest::header::HeaderMap::new()), 201);
    }
}
