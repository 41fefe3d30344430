//! Typed configuration: embedded defaults, then a file, then `LEARNFLOW_*` environment.

use lf_http::ListenConfig;
use lf_telemetry::TelemetryConfig;
use serde::Deserialize;

const DEFAULTS: &str = include_str!("config.default.toml");

/// All settings of kafka-monitor.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// Health listener.
    pub server: ListenConfig,
    /// The admin listener (`/metrics`).
    pub admin: ListenConfig,
    /// Logging.
    pub telemetry: TelemetryConfig,
    /// What to watch.
    pub kafka: KafkaConfig,
}

/// `[kafka]` settings.
#[derive(Debug, Clone, Deserialize)]
pub struct KafkaConfig {
    /// Bootstrap servers.
    pub brokers: String,
    /// Topics to export.
    pub topics: Vec<String>,
    /// Consumer groups to export lag for.
    pub consumer_groups: Vec<String>,
    /// Seconds between polls.
    pub poll_interval_secs: u64,
}

impl Config {
    /// Loads defaults, the file named by `--config`/`LEARNFLOW_CONFIG`, and the environment.
    pub fn load(
        args: impl IntoIterator<Item = String>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, lf_config::ConfigError> {
        lf_config::load_from_args(DEFAULTS, args, env)
    }
}
