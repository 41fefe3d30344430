//! course-agent: generates lessons and relays their events.
//!
//! Layout: [`config`] → [`App`] (wires listeners, pool, sidecar port, routes and the
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

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use lf_dapr::DaprPort;
use lf_http::{Background, Readiness, ReadinessCheck, Servers};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use config::Config;

/// The service name (Dapr app id, telemetry service name).
pub const SERVICE: &str = "course-agent";

/// What the app needs from outside; tests hand in their own.
pub struct Deps {
    /// The API listener.
    pub api_listener: TcpListener,
    /// The admin listener.
    pub admin_listener: TcpListener,
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

/// The built application.
#[derive(Debug)]
pub struct App {
    servers: Servers,
    background: Background,
}

impl App {
    /// Wires routes, listeners and background tasks (migrations, outbox relay, backlog
    /// gauges). Refuses to start without an app token or with a broken curriculum (see
    /// [`StartupError`]).
    pub fn build(config: &Config, deps: Deps) -> Result<Self, StartupError> {
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
        let servers = Servers::new(deps.api_listener, router, deps.admin_listener, readiness);
        Ok(Self {
            servers,
            background,
        })
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
    /// background tasks and waits for them: a relay round in progress is finished, so its
    /// events are published and marked sent together (see [`Background`]).
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let result = self.servers.run_until(shutdown).await;
        self.background.stop(lf_http::background::STOP_GRACE).await;
        result
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
