//! course-agent: generates lessons and relays their events.
//!
//! Layout: [`config`] → [`CourseAgent`] (its part of the shared skeleton, [`App`]: wires listeners, pool, sidecar port, routes and the
//! background tasks) → [`routes`] (internal API) → [`domain`] (personalisation rules)
//! and [`curriculum`] (embedded courses and lesson rendering) → [`db`] (queries) and
//! [`relay`] (the outbox relay). [`metrics`] names every metric; [`error`] maps
//! failures to statuses.

pub mod config;
pub mod curriculum;
pub mod db;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod relay;
pub mod routes;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use lf_dapr::DaprPort;
use lf_http::{Background, Listeners, Readiness, ReadinessCheck, Servers};
use lf_service::{BoxError, Parts};
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use config::Config;

/// The service name (Dapr app id, telemetry service name).
pub const SERVICE: &str = "course-agent";

/// What the app needs from outside; tests hand in their own.
pub struct Deps {
    /// The API and admin listeners.
    pub listeners: Listeners,
    /// The service's database.
    pub pool: PgPool,
    /// The Dapr sidecar.
    pub dapr: Arc<dyn DaprPort>,
}

/// Why the service does not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// No app token: its internal routes would take calls from anyone.
    #[error(transparent)]
    AppToken(#[from] lf_dapr::app_token::AppTokenError),
    /// The embedded curriculum does not parse or names an unknown generator.
    #[error(transparent)]
    Curriculum(#[from] curriculum::CurriculumError),
}

/// course-agent, for the shared skeleton ([`lf_service`]).
pub struct CourseAgent;

/// The built application.
pub type App = lf_service::App<CourseAgent>;

impl lf_service::Service for CourseAgent {
    const NAME: &'static str = SERVICE;
    type Settings = config::Settings;
    type Deps = Deps;
    type Error = StartupError;

    async fn connect(config: &Config, listeners: Listeners) -> Result<Deps, BoxError> {
        Ok(Deps {
            listeners,
            pool: lf_db::connect(&config.database).await?,
            dapr: Arc::new(lf_dapr::HttpDapr::new(&config.dapr)?),
        })
    }

    /// Wires routes, listeners and background tasks (migrations, outbox relay, backlog
    /// gauges). Refuses to start without an app token or with a broken curriculum (see
    /// [`StartupError`]).
    fn build(config: &Config, deps: Deps) -> Result<Parts, StartupError> {
        let background = Background::new();
        let relay_wake = Arc::new(Notify::new());
        let migrated = Arc::new(AtomicBool::new(false));
        let state = routes::AppState {
            pool: deps.pool.clone(),
            dapr: deps.dapr.clone(),
            relay_wake: relay_wake.clone(),
            personalisation_timeout: Duration::from_millis(config.personalisation.timeout_ms),
            curriculum: Arc::new(curriculum::Curriculum::embedded()?),
        };
        let router = lf_dapr::sidecar_facing(routes::router(state), &config.dapr)?;
        let (pool, dapr, relay) = (deps.pool.clone(), deps.dapr.clone(), config.relay.clone());
        let (wake, done) = (relay_wake.clone(), migrated.clone());
        background.spawn(|stop| migrate_then_relay(pool, dapr, relay, wake, done, stop));
        let (pool, retain) = (deps.pool.clone(), config.relay.retain_sent_secs);
        background.spawn(|stop| relay::watch_backlog(pool, retain, stop));
        metrics::describe();
        let pool = deps.pool.clone();
        background.spawn(|stop| lf_db::watch_database(SERVICE, pool, stop));

        let pool = deps.pool;
        let readiness = Readiness::new()
            .with(ReadinessCheck::new("database", move || {
                lf_db::answers(pool.clone())
            }))
            .with(ReadinessCheck::new("migrations", move || {
                std::future::ready(lf_db::migrations_applied(&migrated))
            }));
        let servers = Servers::new(deps.listeners, router, readiness);
        Ok(Parts {
            servers,
            background,
        })
    }
}

/// Applies migrations (retrying while the database is down), then runs the relay,
/// until `stop` is cancelled.
async fn migrate_then_relay(
    pool: PgPool,
    dapr: Arc<dyn DaprPort>,
    config: config::RelayConfig,
    wake: Arc<Notify>,
    migrated: Arc<AtomicBool>,
    stop: CancellationToken,
) {
    if lf_db::migrate_with_retry(&db::MIGRATOR, pool.clone(), migrated, stop.clone()).await {
        relay::run(pool, dapr, config, wake, stop).await;
    }
}
