//! Typed configuration: embedded defaults, then a file, then `LEARNFLOW_*` environment.

use lf_dapr::DaprConfig;
use lf_db::DatabaseConfig;
use lf_http::ListenConfig;
use lf_telemetry::TelemetryConfig;
use serde::Deserialize;

const DEFAULTS: &str = include_str!("config.default.toml");

/// All settings of user-progress.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    /// The internal API listener (reached through daprd).
    pub server: ListenConfig,
    /// The admin listener (`/metrics`).
    pub admin: ListenConfig,
    /// Logging.
    pub telemetry: TelemetryConfig,
    /// The Dapr sidecar.
    pub dapr: DaprConfig,
    /// The service's database.
    pub database: DatabaseConfig,
    /// How long deduplication keys are kept.
    pub retention: RetentionConfig,
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

impl Config {
    /// Loads defaults, the file named by `--config`/`LEARNFLOW_CONFIG`, and the environment.
    pub fn load(
        args: impl IntoIterator<Item = String>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, lf_config::ConfigError> {
        lf_config::load_from_args(DEFAULTS, args, env)
    }
}
