//! HTTP building blocks shared by LearnFlow services.
//!
//! Layout:
//! - [`health`]: `/healthz` (process alive) and `/readyz` (dependencies ready),
//!   driven by a list of named [`health::ReadinessCheck`]s;
//! - [`admin_router`]: the admin port's router (`/metrics` plus health);
//! - [`error`]: the JSON error body every service answers with;
//! - [`json`]: a JSON body extractor whose rejections are such JSON errors;
//! - [`span`]: the HTTP server span (child of an incoming `traceparent`; at the public
//!   edge a new root linked to it) and the `x-trace-id` response header;
//! - [`serve`] (HTTP/1.1, graceful) and [`shutdown_signal`]: run a router until SIGTERM or
//!   Ctrl-C; [`serve_with`] and [`ServeLimits`] for a public edge (a connection cap and a
//!   short header-read timeout);
//! - [`Servers`]: a service's API and admin listeners ([`Listeners`], [`ListenConfig`])
//!   with their routers, served until shutdown;
//! - [`background`]: a service's background tasks, stopped and awaited at shutdown;
//! - [`names`]: the metric names this crate emits.

pub mod background;
pub mod error;
pub mod health;
pub mod json;
pub mod names;
mod servers;
pub mod span;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;

pub use background::Background;

pub use health::{Readiness, ReadinessCheck};
pub use servers::{ListenConfig, Listeners, Servers};

/// The admin port's router: Prometheus text at `/metrics`, plus the health routes.
pub fn admin_router(readiness: Readiness) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|| std::future::ready(lf_telemetry::render_metrics())),
        )
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
pub const IDLE_AND_HEADER_TIMEOUT: Duration = Duration::from_secs(120);

/// How a listener protects itself from clients that hold connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// Longest wait for a request head; hyper's clock also runs while a kept-alive
    /// connection waits for its next request, so this is the idle timeout too.
    pub header_read_timeout: Duration,
    /// Connections held at once. At the cap a new connection closes the oldest one with no
    /// request in progress (a slow or idle client), or, when every one is busy, is answered
    /// 503 and closed. Memory per connection is what is bounded (ADR 0008: ~13 KiB each).
    pub max_connections: usize,
}

impl ServeLimits {
    /// Listeners only our sidecar and Prometheus reach: their clients close idle
    /// connections after 90 s, so ours wait longer, and they open few connections.
    pub const INTERNAL: Self = Self {
        header_read_timeout: IDLE_AND_HEADER_TIMEOUT,
        max_connections: usize::MAX,
    };
}

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
    serve_with(listener, router, shutdown, ServeLimits::INTERNAL).await
}

/// [`serve`] with explicit [`ServeLimits`].
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    limits: ServeLimits,
) -> std::io::Result<()> {
    names::describe();
    let mut http1 = hyper::server::conn::http1::Builder::new();
    // hyper's header read timeout bounds a client that never finishes its request head.
    // Its clock also runs while a kept-alive connection waits for the next request, so
    // it is our idle timeout too. Internally it is longer than our clients' own (Go's 90 s
    // in daprd and Prometheus, reqwest's 90 s), so a client always drops an idle
    // connection first and never sends a request on one we are just closing.
    http1
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let connections = hyper_util::server::graceful::GracefulShutdown::new();
    let held = Arc::new(Held::default());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(error) => {
                    // Mostly EMFILE/ENFILE under a connection flood: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Some(tracked) = held.admit(limits.max_connections) else {
            metrics::counter!(names::CONNECTIONS_SHED, "reason" => "refused").increment(1);
            tokio::spawn(refuse(stream));
            continue;
        };
        // Our answers are small and written whole; do not let Nagle hold them back.
        let _ = stream.set_nodelay(true);
        let inner = hyper_util::service::TowerToHyperService::new(router.clone());
        let in_request = Arc::clone(&tracked.in_request);
        let service = hyper::service::service_fn(move |request| {
            let busy = Busy::enter(&in_request);
            let response = hyper::service::Service::call(&inner, request);
            async move {
                let response = response.await;
                drop(busy);
                response
            }
        });
        let connection = http1.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        let connection = connections.watch(connection);
        let held = Arc::clone(&held);
        tokio::spawn(async move {
            tokio::select! {
                ended = connection => if let Err(error) = ended {
                    tracing::debug!(%error, "connection ended with an error");
                },
                // Dropping the connection closes its socket.
                () = tracked.close.notified() => {}
            }
            held.release(tracked.id);
        });
    }
    drop(listener);
    connections.shutdown().await;
    Ok(())
}

/// The connections a listener holds, oldest first.
#[derive(Debug, Default)]
struct Held {
    open: Mutex<(u64, BTreeMap<u64, Tracked>)>,
}

/// One held connection: how many of its requests are in progress, and how to close it.
#[derive(Debug, Clone)]
struct Tracked {
    id: u64,
    in_request: Arc<AtomicUsize>,
    close: Arc<tokio::sync::Notify>,
}

impl Held {
    /// Room for one more connection: below the cap, or by closing the oldest idle one.
    /// None when every held connection has a request in progress.
    fn admit(&self, max_connections: usize) -> Option<Tracked> {
        let mut guard = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let (next, open) = &mut *guard;
        if open.len() >= max_connections {
            let idle = open
                .iter()
                .find(|(_, t)| t.in_request.load(Ordering::SeqCst) == 0)
                .map(|(id, _)| *id)?;
            if let Some(evicted) = open.remove(&idle) {
                // notify_one keeps a permit if the task is not waiting yet.
                evicted.close.notify_one();
                metrics::counter!(names::CONNECTIONS_SHED, "reason" => "evicted_idle").increment(1);
            }
        }
        let tracked = Tracked {
            id: *next,
            in_request: Arc::new(AtomicUsize::new(0)),
            close: Arc::new(tokio::sync::Notify::new()),
        };
        *next += 1;
        open.insert(tracked.id, tracked.clone());
        Some(tracked)
    }

    fn release(&self, id: u64) {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .remove(&id);
    }
}

/// A request in progress on a connection (the connection is not idle while it lives).
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn enter(in_request: &Arc<AtomicUsize>) -> Self {
        in_request.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(in_request))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Answers a connection over the cap with a 503 and closes it, without reading from it.
async fn refuse(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt as _;
    const BODY: &str =
        r#"{"error":{"code":"overloaded","message":"too many open connections; retry shortly"}}"#;
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}
