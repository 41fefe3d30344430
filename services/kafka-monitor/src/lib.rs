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
    background: lf_http::Background,
}

impl App {
    /// Wires listeners and starts the poller.
    pub fn build(config: &Config, deps: Deps) -> Self {
        metrics::describe();
        let background = lf_http::Background::new();
        let kafka = config.kafka.clone();
        background.spawn(|stop| poller::run(kafka, stop));
        let servers = Servers::new(
            deps.api_listener,
            Router::new(),
            deps.admin_listener,
            Readiness::new(),
        );
        Self {
            servers,
            background,
        }
    }

    /// Address of the API listener.
    pub fn api_addr(&self) -> std::io::Result<SocketAddr> {
        self.servers.api_addr()
    }

    /// Address of the admin listener.
    pub fn admin_addr(&self) -> std::io::Result<SocketAddr> {
        self.servers.admin_addr()
    }

    /// Serves until `shutdown` resolves and the servers have drained, then stops the
    /// poller and waits for it (a poll in progress is finished).
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let result = self.servers.run_until(shutdown).await;
        self.background.stop(lf_http::background::STOP_GRACE).await;
        result
    }
}
