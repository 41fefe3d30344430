//! Liveness and readiness routes.
//!
//! `/healthz` answers 200 while the process serves HTTP at all. `/readyz`
//! answers 200 only when every registered check passes, and 503 with the
//! failing checks named otherwise, so orchestrators and the native stack
//! harness wait for real readiness.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::json;

type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A named asynchronous readiness check.
#[derive(Clone)]
pub struct ReadinessCheck {
    name: &'static str,
    check: Arc<dyn Fn() -> CheckFuture + Send + Sync>,
}

impl ReadinessCheck {
    /// A check called `name` that runs `check` on every `/readyz` request.
    pub fn new<F, Fut>(name: &'static str, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self {
            name,
            check: Arc::new(move || Box::pin(check())),
        }
    }
}

/// The set of checks behind `/readyz`.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Vec<ReadinessCheck>,
}

impl Readiness {
    /// No checks: ready as soon as the server listens.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a check.
    pub fn with(mut self, check: ReadinessCheck) -> Self {
        self.checks.push(check);
        self
    }

    /// Runs every check; returns the failures as `(name, reason)`.
    pub async fn failures(&self) -> Vec<(&'static str, String)> {
        let mut failed = Vec::new();
        for c in &self.checks {
            if let Err(reason) = (c.check)().await {
                failed.push((c.name, reason));
            }
        }
        failed
    }
}

/// `/healthz` and `/readyz`.
pub fn router(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .with_state(readiness)
}

async fn readyz(State(readiness): State<Readiness>) -> (StatusCode, Json<serde_json::Value>) {
    let failed = readiness.failures().await;
    if failed.is_empty() {
        (StatusCode::OK, Json(json!({"status": "ready"})))
    } else {
        let checks: serde_json::Map<_, _> = failed
            .into_iter()
            .map(|(name, reason)| (name.to_owned(), json!(reason)))
            .collect();
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "not ready", "failed": checks})),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn status_of(router: Router, path: &str) -> StatusCode {
        router
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
            .status()
    }

    #[tokio::test]
    async fn ready_when_all_checks_pass_and_not_when_one_fails() {
        let ok = Readiness::new().with(ReadinessCheck::new("db", || async { Ok(()) }));
        assert_eq!(status_of(router(ok), "/readyz").await, StatusCode::OK);

        let failing = Readiness::new()
            .with(ReadinessCheck::new("db", || async { Ok(()) }))
            .with(ReadinessCheck::new("dapr", || async {
                Err("down".to_owned())
            }));
        assert_eq!(
            status_of(router(failing.clone()), "/readyz").await,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(failing.failures().await, vec![("dapr", "down".to_owned())]);
        assert_eq!(status_of(router(failing), "/healthz").await, StatusCode::OK);
    }
}
