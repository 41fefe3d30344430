//! A service's two listeners and their servers: [`ListenConfig`] (where), [`Listeners`]
//! (bound), [`Servers`] (each listener with its router, served until shutdown).

use std::future::Future;

use axum::Router;
use tokio::net::TcpListener;

use crate::{Readiness, ServeLimits, admin_router, health, serve, serve_with, span};

/// Where a server listens (`[server]` and `[admin]` in service configs).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ListenConfig {
    /// Interface to bind, e.g. `127.0.0.1` (native stack) or `0.0.0.0` (containers).
    pub host: String,
    /// TCP port; 0 picks a free one.
    pub port: u16,
}

impl ListenConfig {
    /// Binds a listener.
    pub async fn bind(&self) -> std::io::Result<TcpListener> {
        TcpListener::bind((self.host.as_str(), self.port)).await
    }
}

/// A service's two bound listeners: the API port and the admin port.
#[derive(Debug)]
pub struct Listeners {
    /// The API listener.
    pub api: TcpListener,
    /// The admin listener (`/metrics`, health).
    pub admin: TcpListener,
}

impl Listeners {
    /// Binds both as configured.
    pub async fn bind(api: &ListenConfig, admin: &ListenConfig) -> std::io::Result<Self> {
        Ok(Self {
            api: api.bind().await?,
            admin: admin.bind().await?,
        })
    }

    /// Both on free loopback ports (tests).
    pub async fn loopback() -> std::io::Result<Self> {
        Ok(Self {
            api: TcpListener::bind("127.0.0.1:0").await?,
            admin: TcpListener::bind("127.0.0.1:0").await?,
        })
    }
}

/// Whether the API port serves `/healthz` and `/readyz` too (the admin port always does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HealthOnApi {
    Yes,
    No,
}

/// A service's two listeners: the API port and the admin port (`/metrics`, health).
#[derive(Debug)]
pub struct Servers {
    api: (TcpListener, Router),
    api_limits: ServeLimits,
    admin: (TcpListener, Router),
}

impl Servers {
    /// Pairs each listener with its router. The API router gets the HTTP metrics
    /// middleware and a server span continuing the caller's trace (the caller is daprd);
    /// both get the health routes (daprd's app health check probes the app port).
    pub fn new(listeners: Listeners, api_router: Router, readiness: Readiness) -> Self {
        Self::build(
            listeners,
            api_router,
            readiness,
            span::make_span,
            HealthOnApi::Yes,
        )
    }

    /// [`Servers::new`] for a public edge: each request starts its own trace and only
    /// links a client's `traceparent` ([`span::make_edge_span`]), and health is served on
    /// the admin port only: the internet has no business probing `/readyz`, which calls
    /// the sidecar on every request. The API listener serves with `api_limits`.
    pub fn new_public_edge(
        listeners: Listeners,
        api_router: Router,
        readiness: Readiness,
        api_limits: ServeLimits,
    ) -> Self {
        Self {
            api_limits,
            ..Self::build(
                listeners,
                api_router,
                readiness,
                span::make_edge_span,
                HealthOnApi::No,
            )
        }
    }

    fn build(
        listeners: Listeners,
        api_router: Router,
        readiness: Readiness,
        make_span: fn(&axum::http::Request<axum::body::Body>) -> tracing::Span,
        health_on_api: HealthOnApi,
    ) -> Self {
        let api_router = match health_on_api {
            HealthOnApi::Yes => api_router.merge(health::router(readiness.clone())),
            HealthOnApi::No => api_router,
        };
        let api_router = api_router
            .layer(axum::middleware::from_fn(lf_telemetry::http_metrics))
            .layer(axum::middleware::from_fn(span::trace_id_header))
            .layer(
                tower_http::trace::TraceLayer::new_for_http()
                    .make_span_with(make_span)
                    .on_request(())
                    .on_response(span::on_response)
                    .on_failure(()),
            );
        Self {
            api: (listeners.api, api_router),
            api_limits: ServeLimits::INTERNAL,
            admin: (listeners.admin, admin_router(readiness)),
        }
    }

    /// The API port's address.
    pub fn api_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.api.0.local_addr()
    }

    /// The admin port's address.
    pub fn admin_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.admin.0.local_addr()
    }

    /// Serves both until `shutdown` resolves, then drains both.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let api = tokio::spawn(serve_with(
            self.api.0,
            self.api.1,
            stopped(rx.clone()),
            self.api_limits,
        ));
        let admin = tokio::spawn(serve(self.admin.0, self.admin.1, stopped(rx)));
        shutdown.await;
        let _ = tx.send(true);
        for task in [api, admin] {
            task.await.map_err(std::io::Error::other)??;
        }
        Ok(())
    }
}
