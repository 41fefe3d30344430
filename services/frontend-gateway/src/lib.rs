//! frontend-gateway: the public edge of LearnFlow.
//!
//! Layout: [`config`] → [`FrontendGateway`] (its part of the shared skeleton, [`App`]: wires listeners, the sidecar port and the edge
//! stack) → [`routes`] (the `/api/v1` handlers) → [`upstream`] (calls through
//! daprd). [`auth`] verifies learner tokens, [`ratelimit`] limits each learner,
//! [`error`] maps failures to statuses and stable codes.
//!
//! Connections first: at most `max_connections` held (the oldest idle one is closed to
//! make room; 503 when all are busy) and a request head within `header_read_timeout_ms`
//! (also the keep-alive idle timeout). Then the edge stack, outermost first: panic → 500 JSON; request id (`x-request-id`, set
//! and echoed); CORS (from config); load shedding over a concurrency limit
//! (503 + `Retry-After`) and a request deadline (504); body size limit (413);
//! then, on learner routes, authentication (401), the per-learner rate limit (429) and
//! the per-learner in-flight cap ([`inflight`], 429).
//!
//! Besides the API: [`web`] serves the learner page at `/`, and [`dev`] adds
//! `POST /dev/token` when `[dev] enabled` is set (dev stacks only).

pub mod auth;
pub mod config;
pub mod dev;
pub mod error;
pub mod inflight;
pub mod ratelimit;
pub mod routes;
pub mod upstream;
pub mod web;

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lf_dapr::DaprPort;
use lf_http::error::ErrorResponse;
use lf_http::{Background, Listeners, Readiness, ReadinessCheck, ServeLimits, Servers};
use lf_service::{BoxError, Parts};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

pub use config::Config;

/// The service name (Dapr app id, telemetry service name).
pub const SERVICE: &str = "frontend-gateway";

/// What the app needs from outside; tests hand in their own.
pub struct Deps {
    /// The public API listener and the admin listener.
    pub listeners: Listeners,
    /// The Dapr sidecar.
    pub dapr: Arc<dyn DaprPort>,
}

/// Why the gateway cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The JWT secret is missing or too short.
    #[error(transparent)]
    JwtSecret(#[from] auth::SecretError),
    /// A CORS origin is not a valid header value.
    #[error("invalid CORS origin {0:?}")]
    BadCorsOrigin(String),
}

/// frontend-gateway, for the shared skeleton ([`lf_service`]).
pub struct FrontendGateway;

/// The built application.
pub type App = lf_service::App<FrontendGateway>;

impl lf_service::Service for FrontendGateway {
    const NAME: &'static str = SERVICE;
    type Settings = config::Settings;
    type Deps = Deps;
    type Error = StartupError;

    async fn connect(config: &Config, listeners: Listeners) -> Result<Deps, BoxError> {
        Ok(Deps {
            listeners,
            dapr: Arc::new(lf_dapr::HttpDapr::new(&config.dapr)?),
        })
    }

    /// Wires routes, the edge stack and listeners; no background tasks.
    fn build(config: &Config, deps: Deps) -> Result<Parts, StartupError> {
        let verifier = Arc::new(auth::Verifier::new(&config.auth)?);
        let limiter = ratelimit::limiter(config.limits.rate_per_second, config.limits.rate_burst);
        let upstream =
            upstream::Upstream::new(deps.dapr, Duration::from_millis(config.upstream.timeout_ms));

        let learner_routes = routes::learner_routes(upstream.clone())
            // Before the layers, so a wrong method still needs a valid token.
            .method_not_allowed_fallback(method_not_allowed)
            // Layers run bottom-up: authenticate first, then rate-limit by learner, then
            // cap the learner's requests in flight.
            .route_layer(axum::middleware::from_fn_with_state(
                inflight::cap(config.limits.max_in_flight_per_learner),
                inflight::limit,
            ))
            .route_layer(axum::middleware::from_fn_with_state(
                limiter,
                ratelimit::limit,
            ))
            .route_layer(axum::middleware::from_fn_with_state(
                verifier,
                auth::authenticate,
            ));
        let mut api = Router::new()
            .merge(learner_routes)
            .merge(routes::public_routes())
            .merge(web::routes());
        if config.dev.enabled {
            api = api.merge(dev::routes(&config.auth)?);
            tracing::warn!("dev mode: POST /dev/token mints learner tokens for anyone");
        }
        let api = api
            .method_not_allowed_fallback(method_not_allowed)
            .fallback(|| async {
                ErrorResponse::new(StatusCode::NOT_FOUND, "not_found", "no such route")
            })
            .layer(DefaultBodyLimit::max(config.limits.body_limit_bytes))
            .layer(
                ServiceBuilder::new()
                    .layer(HandleErrorLayer::new(edge_error))
                    .load_shed()
                    .concurrency_limit(config.limits.max_in_flight)
                    .timeout(Duration::from_millis(config.limits.request_timeout_ms)),
            )
            .layer(cors(&config.cors.allowed_origins)?)
            .layer(PropagateRequestIdLayer::new(HeaderName::from_static(
                "x-request-id",
            )))
            .layer(SetRequestIdLayer::new(
                HeaderName::from_static("x-request-id"),
                MakeRequestUuid,
            ))
            .layer(CatchPanicLayer::custom(panic_response));

        let readiness = Readiness::new().with(ReadinessCheck::new("dapr-sidecar", move || {
            let upstream = upstream.clone();
            async move {
                if upstream.healthy().await {
                    Ok(())
                } else {
                    Err("daprd is not healthy".into())
                }
            }
        }));
        // The public edge: a request starts its own trace, so clients can neither pick
        // trace ids nor force sampling; connections are capped and must send their
        // request head promptly, so slow clients cannot hold memory without bound.
        let limits = ServeLimits {
            header_read_timeout: Duration::from_millis(config.limits.header_read_timeout_ms),
            max_connections: config.limits.max_connections,
        };
        let servers = Servers::new_public_edge(deps.listeners, api, readiness, limits);
        Ok(Parts {
            servers,
            background: Background::new(),
        })
    }
}

fn cors(origins: &[String]) -> Result<CorsLayer, StartupError> {
    let origins = origins
        .iter()
        .map(|o| HeaderValue::from_str(o).map_err(|_| StartupError::BadCorsOrigin(o.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([
            axum::http::header::AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderName::from_static(lf_events::idempotency::HEADER),
        ])
        // A browser client reads the key back to retry with it.
        .expose_headers([
            axum::http::HeaderName::from_static(lf_events::idempotency::HEADER),
            axum::http::HeaderName::from_static(lf_events::idempotency::REPLAYED_HEADER),
            axum::http::header::LOCATION,
            axum::http::header::RETRY_AFTER,
        ]))
}

async fn edge_error(error: tower::BoxError) -> Response {
    if error.is::<tower::load_shed::error::Overloaded>() {
        ErrorResponse::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "the gateway is at capacity; retry shortly",
        )
        .with_retry_after(1)
        .into_response()
    } else if error.is::<tower::timeout::error::Elapsed>() {
        ErrorResponse::new(
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            "the request took too long",
        )
        .into_response()
    } else {
        ErrorResponse::internal(&error).into_response()
    }
}

/// 405 as a JSON error (axum's own has an empty body); axum still adds `Allow`.
async fn method_not_allowed() -> ErrorResponse {
    ErrorResponse::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method (see the Allow header)",
    )
}

fn panic_response(_panic: Box<dyn Any + Send + 'static>) -> Response {
    ErrorResponse::internal(&"a request handler panicked").into_response()
}
