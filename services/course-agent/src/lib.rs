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
use lf_http::{Readiness, Servers};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

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
}

/// The built application.
#[derive(Debug)]
pub struct App {
    servers: Servers,
    stop_tasks: watch::Sender<bool>,
}

impl App {
    /// Wires routes, listeners and background tasks (migrations, outbox relay, backlog
    /// gauges). Refuses to start without an app token (see [`StartupError`]).
    pub fn build(config: &Config, deps: Deps) -> Result<Self, StartupError> {
        let (stop_tasks, stopped) = watch::channel(false);
        let relay_wake = Arc::new(Notify::new());
        let migrated = Arc::new(AtomicBool::new(false));
        let state = routes::AppState {
            pool: deps.pool.clone(),
            dapr: deps.dapr.clone(),
            relay_wake: relay_wake.clone(),
            personalisation_timeout: Duration::from_millis(config.personalisation.timeout_ms),
        };
        let router = lf_dapr::sidecar_facing(routes::router(state), &config.dapr)?;
        tokio::spawn(migrate_then_relay(
            deps.pool.clone(),
            deps.dapr.clone(),
            config.relay.clone(),
            relay_wake.clone(),
            migrated.clone(),
            stopped.clone(),
        ));
        tokio::spawn(relay::watch_backlog(
            deps.pool.clone(),
            config.relay.retain_sent_secs,
            stopped,
        ));
        metrics::describe();
        lf_db::spawn_pool_metrics(SERVICE, deps.pool.clone());

        let readiness = Readiness::new()
            .with(lf_db::readiness(deps.pool))
            .with(lf_db::migrations_readiness(migrated));
        let servers = Servers::new(deps.api_listener, router, deps.admin_listener, readiness);
        Ok(Self {
            servers,
            stop_tasks,
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

    /// Serves until `shutdown` resolves, then stops the background tasks.
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let result = self.servers.run_until(shutdown).await;
        let _ = self.stop_tasks.send(true);
        result
    }
}

/// Applies migrations (retrying while the database is down), then runs the relay.
async fn migrate_then_relay(
    pool: PgPool,
    dapr: Arc<dyn DaprPort>,
    config: config::RelayConfig,
    wake: Arc<Notify>,
    migrated: Arc<AtomicBool>,
    stopped: watch::Receiver<bool>,
) {
    lf_db::migrate_with_retry(&db::MIGRATOR, pool.clone(), migrated).await;
    relay::run(pool, dapr, config, wake, stopped).await;
}
