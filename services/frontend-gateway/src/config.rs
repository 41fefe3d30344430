//! Typed configuration: embedded defaults, then a file, then `LEARNFLOW_*` environment.

use lf_dapr::DaprConfig;
use secrecy::SecretString;
use serde::Deserialize;

/// All settings of frontend-gateway: `[server]`, `[admin]` and `[telemetry]` as every service
/// has them, and its own [`Settings`] (read through: `config.dapr`).
pub type Config = lf_service::Config<Settings>;

/// The sections of frontend-gateway's settings that are its own.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// The Dapr sidecar.
    pub dapr: DaprConfig,
    /// Learner tokens.
    pub auth: AuthConfig,
    /// Edge protection.
    pub limits: LimitsConfig,
    /// Browser access.
    pub cors: CorsConfig,
    /// Calls to internal services.
    pub upstream: UpstreamConfig,
    /// Dev-only conveniences.
    pub dev: DevConfig,
}

impl lf_service::ServiceSettings for Settings {
    const DEFAULTS: &'static str = include_str!("config.default.toml");
}

/// `[dev]`: conveniences for dev stacks only.
#[derive(Debug, Clone, Deserialize)]
pub struct DevConfig {
    /// Serve `POST /dev/token` (mints learner tokens for anyone who asks).
    pub enabled: bool,
}

/// `[limits]`: edge protection.
#[derive(Debug, Clone, Deserialize)]
pub struct LimitsConfig {
    /// Largest body (bytes).
    pub body_limit_bytes: usize,
    /// Request deadline (ms).
    pub request_timeout_ms: u64,
    /// Concurrent requests before shedding.
    pub max_in_flight: usize,
    /// Concurrent requests of one learner before 429.
    pub max_in_flight_per_learner: usize,
    /// Open connections held at once (see `lf_http::ServeLimits`).
    pub max_connections: usize,
    /// Longest wait for a request head, and the keep-alive idle timeout (ms).
    pub header_read_timeout_ms: u64,
    /// Per-learner sustained rate (requests/s).
    pub rate_per_second: u32,
    /// Per-learner burst.
    pub rate_burst: u32,
}

/// `[cors]`.
#[derive(Debug, Clone, Deserialize)]
pub struct CorsConfig {
    /// Allowed origins.
    pub allowed_origins: Vec<String>,
}

/// `[upstream]`.
#[derive(Debug, Clone, Deserialize)]
pub struct UpstreamConfig {
    /// Per-call deadline (ms).
    pub timeout_ms: u64,
}

/// `[auth]`: how learner bearer tokens (JWT, HS256) are verified.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthConfig {
    /// The HS256 signing secret.
    pub jwt_secret: SecretString,
    /// Expected issuer.
    pub issuer: String,
    /// Expected audience.
    pub audience: String,
    /// The longest a token may live, from now or from its `iat` (seconds).
    pub max_token_lifetime_secs: u64,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_load_and_env_overrides() {
        let c = Config::load(
            Vec::new(),
            vec![("LEARNFLOW_SERVER__PORT".to_owned(), "0".to_owned())],
        )
        .unwrap();
        assert_eq!(c.server.port, 0);
        assert_eq!(c.admin.port, 9464);
        assert!(!c.dev.enabled, "dev mode is off unless asked for");
    }
}
