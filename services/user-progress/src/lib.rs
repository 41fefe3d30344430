//! user-progress: records what learners did.
//!
//! Layout: [`config`] (typed settings) → [`App`] (wires listeners, pool,
//! sidecar port and routes). `main.rs` only loads config, starts telemetry,
//! builds the app and runs it until SIGTERM.

pub mod config;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use lf_dapr::DaprPort;
use lf_http::{Readiness, Servers};
use sqlx::PgPool;
use tokio::net::TcpListener;

pub use config::Config;

/// The service name (Dapr app id, telemetry service name).
pub const SERVICE: &str = "user-progress";

/// What the app needs from outside; tests hand in their own.
pub struct Deps {
    /// The API listener.
    pub api_listener: TcpListener,
    /// The admin listener.
    pub admin_listener: TcpListener,
    /// The service's database.
    pub pool: PgPool,
    /// The Dapr sidecar.
    pub dapr: Arc<dyn DaprPort>,
}

/// The built application.
#[derive(Debug)]
pub struct App {
    servers: Servers,
}

impl App {
    /// Wires routes and listeners.
    pub fn build(_config: &Config, deps: Deps) -> Self {
        let router = Router::new();
        let _ = deps.dapr;
        lf_db::spawn_pool_metrics(SERVICE, deps.pool.clone());
        let readiness = Readiness::new().with(lf_db::readiness(deps.pool));
        let servers = Servers::new(deps.api_listener, router, deps.admin_listener, readiness);
        Self { servers }
    }

    /// Address of the API listener.
    pub fn api_addr(&self) -> std::io::Result<SocketAddr> {
        self.servers.api_addr()
    }

    /// Address of the admin listener.
    pub fn admin_addr(&self) -> std::io::Result<SocketAddr> {
        self.servers.admin_addr()
    }

    /// Serves until `shutdown` resolves.
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        self.servers.run_until(shutdown).await
    }
}
