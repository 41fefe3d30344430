//! kafka-monitor: Kafka traffic for the dashboards.
//!
//! Layout: [`config`] (typed settings) → [`KafkaMonitor`] (its part of the shared skeleton,
//! [`App`]: health and metrics listeners, the
//! poller task, `/readyz` from the last poll's outcome) → [`poller`] (watermarks and
//! committed offsets via rdkafka) → [`metrics`] (every metric name).

pub mod config;
pub mod metrics;
pub mod poller;

use std::sync::Arc;

use axum::Router;
use lf_http::{Listeners, Readiness, ReadinessCheck, Servers};
use lf_service::{BoxError, Parts};

pub use config::Config;

/// The service name.
pub const SERVICE: &str = "kafka-monitor";

/// What the app needs from outside.
pub struct Deps {
    /// Health and admin listeners.
    pub listeners: Listeners,
}

/// kafka-monitor, for the shared skeleton ([`lf_service`]).
pub struct KafkaMonitor;

/// The built application.
pub type App = lf_service::App<KafkaMonitor>;

impl lf_service::Service for KafkaMonitor {
    const NAME: &'static str = SERVICE;
    type Settings = config::Settings;
    type Deps = Deps;
    type Error = std::convert::Infallible;

    async fn connect(_config: &Config, listeners: Listeners) -> Result<Deps, BoxError> {
        Ok(Deps { listeners })
    }

    /// Wires listeners and starts the poller. Ready once a poll of the broker succeeded,
    /// and not while the latest one failed: its numbers are then stale.
    fn build(config: &Config, deps: Deps) -> Result<Parts, Self::Error> {
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
        let servers = Servers::new(deps.listeners, Router::new(), readiness);
        Ok(Parts {
            servers,
            background,
        })
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

    #[tokio::test]
    async fn not_ready_while_the_broker_cannot_be_polled() {
        let config = config("127.0.0.1:1");
        assert_eq!(config.kafka.brokers, "127.0.0.1:1");
        let listeners = Listeners::loopback()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let Ok(app) = App::build(&config, Deps { listeners });
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
