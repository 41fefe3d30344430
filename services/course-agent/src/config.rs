//! Typed configuration: embedded defaults, then a file, then `LEARNFLOW_*` environment.

use lf_dapr::DaprConfig;
use lf_db::DatabaseConfig;
use lf_http::ListenConfig;
use lf_telemetry::TelemetryConfig;
use serde::Deserialize;

const DEFAULTS: &str = include_str!("config.default.toml");

/// All settings of course-agent.
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
    /// Asking user-progress for mastery.
    pub personalisation: PersonalisationConfig,
    /// The outbox relay.
    pub relay: RelayConfig,
}

/// `[personalisation]`.
#[derive(Debug, Clone, Deserialize)]
pub struct PersonalisationConfig {
    /// Milliseconds to wait for user-progress before falling back.
    pub timeout_ms: u64,
}

/// `[relay]`: the outbox relay's pace.
#[derive(Debug, Clone, Deserialize)]
pub struct RelayConfig {
    /// Rows claimed per round.
    pub batch_size: i64,
    /// Idle poll interval (ms).
    pub idle_poll_ms: u64,
    /// First back-off after a failed publish (ms).
    pub backoff_min_ms: u64,
    /// Longest back-off (ms).
    pub backoff_max_ms: u64,
    /// Rounds in which an event fails while others go out before it is parked.
    pub max_rejections: i32,
    /// Largest CloudEvent handed to the sidecar (bytes); larger ones are parked.
    pub max_event_bytes: usize,
    /// Seconds sent rows are kept.
    pub retain_sent_secs: i64,
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
