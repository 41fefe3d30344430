//! kafka-monitor: Kafka traffic for the dashboards.
//!
//! Layout: [`config`] (typed settings) → [`App`] (health and metrics listeners).
//! The broker poller arrives with the telemetry work (per-topic high watermarks
//! and consumer-group lag via rdkafka).

pub mod config;

use std::net::SocketAddr;

use axum::Router;
use lf_http::{Readiness, Servers};
use tokio::net::TcpListener;

pub use config::Config;

/// The service name.
pub const SERVICE: &str = "kafka-monitor";

/// What the app needs from outside.
pub struct Deps {
    /// Health listener.
    pub api_listener: TcpListener,
    /// The admin listener.
    pub admin_listener: TcpListener,
}

/// The built application.
#[derive(Debug)]
pub struct App {
    servers: Servers,
}

impl App {
    /// Wires listeners.
    pub fn build(_config: &Config, deps: Deps) -> Self {
        let servers = Servers::new(
            deps.api_listener,
            Router::new(),
            deps.admin_listener,
            Readiness::new(),
        );
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
