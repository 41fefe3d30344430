//! kafka-monitor: Kafka traffic for the dashboards.
//!
//! Layout: [`config`] (typed settings) → [`App`] (health and metrics listeners, the
//! poller task) → [`poller`] (watermarks and committed offsets via rdkafka) →
//! [`metrics`] (every metric name).

pub mod config;
pub mod metrics;
pub mod poller;

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
    stop: tokio::sync::watch::Sender<bool>,
}

impl App {
    /// Wires listeners and starts the poller.
    pub fn build(config: &Config, deps: Deps) -> Self {
        metrics::describe();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(poller::run(config.kafka.clone(), stopped));
        let servers = Servers::new(
            deps.api_listener,
            Router::new(),
            deps.admin_listener,
            Readiness::new(),
        );
        Self { servers, stop }
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
        let result = self.servers.run_until(shutdown).await;
        let _ = self.stop.send(true);
        result
    }
}
