//! Typed configuration: embedded defaults, then a file, then `LEARNFLOW_*` environment.

use lf_dapr::DaprConfig;
use lf_db::DatabaseConfig;
use serde::Deserialize;

/// All settings of course-agent: `[server]`, `[admin]` and `[telemetry]` as every service
/// has them, and its own [`Settings`] (read through: `config.dapr`).
pub type Config = lf_service::Config<Settings>;

/// The sections of course-agent's settings that are its own.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// The Dapr sidecar.
    pub dapr: DaprConfig,
    /// The service's database.
    pub database: DatabaseConfig,
    /// Asking user-progress for mastery.
    pub personalisation: PersonalisationConfig,
    /// The outbox relay.
    pub relay: RelayConfig,
}

impl lf_service::ServiceSettings for Settings {
    const DEFAULTS: &'static str = include_str!("config.default.toml");
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
