//! HTTP building blocks shared by LearnFlow services.
//!
//! Layout:
//! - [`health`]: `/healthz` (process alive) and `/readyz` (dependencies ready),
//!   driven by a list of named [`health::ReadinessCheck`]s;
//! - [`admin_router`]: the admin port's router (`/metrics` plus health);
//! - [`error`]: the JSON error body every service answers with;
//! - [`json`]: a JSON body extractor whose rejections are such JSON errors;
//! - [`span`]: the HTTP server span (child of an incoming `traceparent`) and the
//!   `x-trace-id` response header;
//! - [`serve`] (HTTP/1.1, graceful) and [`shutdown_signal`]: run a router until SIGTERM or Ctrl-C.

pub mod error;
pub mod health;
pub mod json;
pub mod span;

use std::future::Future;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

pub use health::{Readiness, ReadinessCheck};

/// The admin port's router: Prometheus text at `/metrics`, plus the health routes.
pub fn admin_router(readiness: Readiness) -> Router {
    let handle = lf_telemetry::metrics_recorder();
    Router::new()
        .route("/metrics", get(move || std::future::ready(handle.render())))
        .merge(health::router(readiness))
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}

/// How long a connection may wait for (the rest of) a request head; see [`serve`].
pub const IDLE_AND_HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Serves `router` on `listener` over HTTP/1.1 until `shutdown` resolves, then
/// stops accepting and drains in-flight requests (idle keep-alive connections close at once).
///
/// HTTP/1.1 only, on purpose: every client of ours (daprd, Prometheus, browsers behind
/// an ingress, the load driver) speaks it, and axum's default server (hyper-util's
/// HTTP/1 + HTTP/2 auto-detecting builder) costs more memory per kept-alive
/// connection (ADR 0008 has the measurement).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut http1 = hyper::server::conn::http1::Builder::new();
    // hyper's header read timeout bounds a client that never finishes its request head.
    // Its clock also runs while a kept-alive connection waits for the next request, so
    // it is our idle timeout too: longer than our clients' own (Go's 90 s in daprd and
    // Prometheus, reqwest's 90 s), so a client always drops an idle connection first
    // and never sends a request on one we are just closing.
    http1
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(IDLE_AND_HEADER_TIMEOUT);
    let connections = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(error) => {
                    // Mostly EMFILE/ENFILE under a connection flood: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Our answers are small and written whole; do not let Nagle hold them back.
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        let connection = http1.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.shutdown().await;
    Ok(())
}

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

/// A service's two listeners: the API port and the admin port (`/metrics`, health).
#[derive(Debug)]
pub struct Servers {
    api: (TcpListener, Router),
    admin: (TcpListener, Router),
}

impl Servers {
    /// Pairs each listener with its router. The API router gets the HTTP metrics
    /// middleware; both get the health routes.
    pub fn new(
        api_listener: TcpListener,
        api_router: Router,
        admin_listener: TcpListener,
        readiness: Readiness,
    ) -> Self {
        let api_router = api_router
            .merge(health::router(readiness.clone()))
            .layer(axum::middleware::from_fn(lf_telemetry::http_metrics))
            .layer(axum::middleware::from_fn(span::trace_id_header))
            .layer(
                tower_http::trace::TraceLayer::new_for_http()
                    .make_span_with(span::make_span)
                    .on_request(())
                    .on_response(span::on_response)
                    .on_failure(()),
            );
        Self {
            api: (api_listener, api_router),
            admin: (admin_listener, admin_router(readiness)),
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
        let api = tokio::spawn(serve(self.api.0, self.api.1, stopped(rx.clone())));
        let admin = tokio::spawn(serve(self.admin.0, self.admin.1, stopped(rx)));
        shutdown.await;
        let _ = tx.send(true);
        for task in [api, admin] {
            task.await.map_err(std::io::Error::other)??;
        }
        Ok(())
    }
}
