//! user-progress: records what learners did.
//!
//! Layout: [`config`] → [`UserProgress`] (its part of the shared skeleton, [`App`]: wires listeners, pool and routes; applies migrations
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

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use lf_http::{Listeners, Readiness, ReadinessCheck, Servers};
use lf_service::{BoxError, Parts};
use sqlx::PgPool;

pub use config::Config;

/// The service name (Dapr app id, telemetry service name).
pub const SERVICE: &str = "user-progress";

/// What the app needs from outside; tests hand in their own.
pub struct Deps {
    /// The API and admin listeners.
    pub listeners: Listeners,
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

/// user-progress, for the shared skeleton ([`lf_service`]).
pub struct UserProgress;

/// The built application.
pub type App = lf_service::App<UserProgress>;

impl lf_service::Service for UserProgress {
    const NAME: &'static str = SERVICE;
    type Settings = config::Settings;
    type Deps = Deps;
    type Error = StartupError;

    async fn connect(config: &Config, listeners: Listeners) -> Result<Deps, BoxError> {
        Ok(Deps {
            listeners,
            pool: lf_db::connect(&config.database).await?,
        })
    }

    /// Wires routes and listeners; applies migrations and sweeps expired deduplication
    /// keys in the background.
    /// Refuses to start without an app token (see [`StartupError`]).
    fn build(config: &Config, deps: Deps) -> Result<Parts, StartupError> {
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
        let servers = Servers::new(deps.listeners, router, readiness);
        Ok(Parts {
            servers,
            background,
        })
    }
}
