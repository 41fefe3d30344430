//! kafka-monitor: Kafka traffic for the dashboards.
//!
//! Layout: [`config`] (typed settings) → [`App`] (health and metrics listeners, the
//! poller task, `/readyz` from the last poll's outcome) → [`poller`] (watermarks and
//! committed offsets via rdkafka) → [`metrics`] (every metric name).

pub mod config;
pub mod metrics;
pub mod poller;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use lf_http::{Readiness, ReadinessCheck, Servers};
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
    /// Wires listeners and starts the poller. Ready once a poll of the broker succeeded,
    /// and not while the latest one failed: its numbers are then stale.
    pub fn build(config: &Config, deps: Deps) -> Self {
        metrics::describe();
        let background = lf_http::Background::new();
        let kafka = config.kafka.clone();
        let status = Arc::new(poller::PollStatus::default());
        let polled = status.clone();
        background.spawn(|stop| poller::run(kafka, polled, stop));
        let readiness = Readiness::new().with(ReadinessCheck::new("kafka", move || {
            let status = status.clone();
            async move { status.current() }
        }));
        let servers = Servers::new(
            deps.api_listener,
            Router::new(),
            deps.admin_listener,
            readiness,
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Defaults, with the broker at `brokers` and polls every second.
    fn config(brokers: &str) -> Config {
        Config::load(
            ["kafka-monitor".to_owned()],
            [
                ("LEARNFLOW_KAFKA__BROKERS".to_owned(), brokers.to_owned()),
                (
                    "LEARNFLOW_KAFKA__POLL_INTERVAL_SECS".to_owned(),
                    "1".to_owned(),
                ),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    async fn listener() -> TcpListener {
        TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn not_ready_while_the_broker_cannot_be_polled() {
        let config = config("127.0.0.1:1");
        assert_eq!(config.kafka.brokers, "127.0.0.1:1");
        let app = App::build(
            &config,
            Deps {
                api_listener: listener().await,
                admin_listener: listener().await,
            },
        );
        let readyz = format!(
            "http://{}/readyz",
            app.admin_addr().unwrap_or_else(|e| panic!("{e}"))
        );
        let stop = tokio_util::sync::CancellationToken::new();
        let running = tokio::spawn(app.run_until_stopped(stop.clone().cancelled_owned()));
        // Before any poll, and after the first failed ones (each takes up to 3 s).
        let mut reasons = Vec::new();
        for _ in 0..3 {
            let answer = reqwest::get(&readyz)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(answer.status(), 503);
            let body: serde_json::Value = answer.json().await.unwrap_or_else(|e| panic!("{e}"));
            reasons.push(
                body["failed"]["kafka"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        assert!(
            reasons.iter().any(|r| r.contains("failed")),
            "a failed poll is named: {reasons:?}"
        );
        stop.cancel();
        running
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
    }
}
