//! Typed configuration: embedded defaults, then a file, then `LEARNFLOW_*` environment.

use lf_dapr::DaprConfig;
use lf_db::DatabaseConfig;
use serde::Deserialize;

/// All settings of user-progress: `[server]`, `[admin]` and `[telemetry]` as every service
/// has them, and its own [`Settings`] (read through: `config.dapr`).
pub type Config = lf_service::Config<Settings>;

/// The sections of user-progress's settings that are its own.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// The Dapr sidecar.
    pub dapr: DaprConfig,
    /// The service's database.
    pub database: DatabaseConfig,
    /// How long deduplication keys are kept.
    pub retention: RetentionConfig,
}

impl lf_service::ServiceSettings for Settings {
    const DEFAULTS: &'static str = include_str!("config.default.toml");
}

/// `[retention]`: the dedup window and the sweeper that keeps `processed_events` to it.
#[derive(Debug, Clone, Deserialize)]
pub struct RetentionConfig {
    /// Hours a processed event's key is kept (the window inside which a redelivery is a no-op).
    pub dedup_window_hours: u32,
    /// Seconds between sweeps.
    pub sweep_interval_secs: u64,
    /// Rows deleted per statement.
    pub batch_rows: i64,
}

impl RetentionConfig {
    /// The dedup window.
    pub fn window(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.dedup_window_hours) * 3600)
    }
}
