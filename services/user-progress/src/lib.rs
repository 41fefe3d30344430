//! user-progress: records what learners did.
//!
//! Layout: [`config`] → [`App`] (wires listeners, pool and routes; applies migrations
//! in the background) → [`routes`] (the subscription handler and internal API) →
//! [`mastery`] (the knowledge-tracing model) → [`db`] (queries); [`retention`] keeps
//! the deduplication keys to their window. [`metrics`] names every metric; [`error`] maps
//! failures to statuses.

pub mod config;
pub mod db;
pub mod error;
pub mod mastery;
pub mod metrics;
pub mod retention;
pub mod routes;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use lf_http::{Readiness, ReadinessCheck, Servers};
use sqlx::PgPool;
use tokio::net::TcpListener;

pub use config::Config;

/// The service name (Dapr app id, telemetry service name).
pub const SERVICE: &str = "user-progress";

/// What the app needs from outside; tests hand in their own.
pub struct Deps {
    /// The API listener.
    pub api_listener: TcpListener,
    /// The admin listener.
    pub admin_listener: TcpListener,
    /// The service's database.
    pub pool: PgPool,
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
    background: lf_http::Background,
}

impl App {
    /// Wires routes and listeners; applies migrations and sweeps expired deduplication
    /// keys in the background.
    /// Refuses to start without an app token (see [`StartupError`]).
    pub fn build(config: &Config, deps: Deps) -> Result<Self, StartupError> {
        let migrated = Arc::new(AtomicBool::new(false));
        let state = routes::AppState {
            pool: deps.pool.clone(),
            migrated: migrated.clone(),
        };
        let router = lf_dapr::sidecar_facing(routes::router(state), &config.dapr)?;
        let background = lf_http::Background::new();
        let (pool, done) = (deps.pool.clone(), migrated.clone());
        background.spawn(|stop| async move {
            lf_db::migrate_with_retry(&db::MIGRATOR, pool, done, stop).await;
        });
        metrics::describe();
        let pool = deps.pool.clone();
        background.spawn(|stop| lf_db::watch_database(SERVICE, pool, stop));
        let (pool, retention) = (deps.pool.clone(), config.retention.clone());
        background.spawn(|stop| retention::run(pool, retention, stop));
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
    /// background tasks and waits for them.
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let result = self.servers.run_until(shutdown).await;
        self.background.stop(lf_http::background::STOP_GRACE).await;
        result
    }
}
