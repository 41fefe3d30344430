//! Typed configuration: embedded defaults, then a file, then `LEARNFLOW_*` environment.

use serde::Deserialize;

/// All settings of kafka-monitor: `[server]`, `[admin]` and `[telemetry]` as every service
/// has them, and its own [`Settings`] (read through: `config.kafka`).
pub type Config = lf_service::Config<Settings>;

/// The sections of kafka-monitor's settings that are its own.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// What to watch.
    pub kafka: KafkaConfig,
}

impl lf_service::ServiceSettings for Settings {
    const DEFAULTS: &'static str = include_str!("config.default.toml");
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
