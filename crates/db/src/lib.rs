//! PostgreSQL plumbing shared by course-agent and user-progress.
//!
//! Layout: [`DatabaseConfig`] (`[database]` settings) → [`pool`] (a lazy pool, so
//! a service starts and reports not-ready instead of crashing while the database
//! is down) → [`readiness`] (a `/readyz` check) and [`spawn_pool_metrics`]
//! (connections in use and idle, every few seconds); [`statement`] and
//! [`transaction`] make database spans; [`names`] holds the metric names.

pub mod names;

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// `[database]` settings.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseConfig {
    /// PostgreSQL URL of the service's own database.
    pub url: SecretString,
    /// Most connections the pool opens.
    pub max_connections: u32,
    /// Seconds to wait for a pooled connection before the request fails (fast 503, not a hang).
    pub acquire_timeout_secs: u64,
}

/// A span for one statement, named `{operation} {table}` as OpenTelemetry's database
/// conventions ask (the statement text is not recorded: it may carry learner data).
pub fn statement(
    service: &'static str,
    operation: &'static str,
    table: &'static str,
) -> tracing::Span {
    tracing::info_span!(
        "db.statement",
        otel.name = %format!("{operation} {table}"),
        otel.kind = "client",
        db.system.name = "postgresql",
        db.namespace = service,
        db.operation.name = operation,
        db.collection.name = table,
    )
}

/// A span around a whole transaction, parent of its statements.
pub fn transaction(service: &'static str, name: &'static str) -> tracing::Span {
    tracing::info_span!(
        "db.transaction",
        otel.name = %format!("transaction {name}"),
        otel.kind = "client",
        db.system.name = "postgresql",
        db.namespace = service,
    )
}

/// Applies `migrator` to `pool`, retrying with back-off while the database is down,
/// then sets `migrated`. Run it in the background: the service serves (and reports
/// not-ready) meanwhile.
pub async fn migrate_with_retry(
    migrator: &'static sqlx::migrate::Migrator,
    pool: PgPool,
    migrated: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let mut delay = Duration::from_millis(200);
    loop {
        match migrator.run(&pool).await {
            Ok(()) => {
                migrated.store(true, std::sync::atomic::Ordering::Release);
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "migrations failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// A `/readyz` check that passes once `migrated` is set.
pub fn migrations_readiness(
    migrated: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> lf_http::ReadinessCheck {
    lf_http::ReadinessCheck::new("migrations", move || {
        let done = migrated.load(std::sync::atomic::Ordering::Acquire);
        async move {
            if done {
                Ok(())
            } else {
                Err("migrations not applied yet".into())
            }
        }
    })
}

/// Records how long a database operation took, in `learnflow_db_query_duration_seconds`.
pub fn record_query(service: &'static str, operation: &'static str, took: Duration) {
    metrics::histogram!(names::QUERY_DURATION, "service" => service, "operation" => operation)
        .record(took.as_secs_f64());
}

/// True for database errors worth retrying: no connection, pool exhausted, server
/// shutting down or out of resources (SQLSTATE classes 08, 53 and 57P).
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("53") || c.starts_with("57P")),
        _ => false,
    }
}

/// A lazy pool: no connection is made until first use.
pub fn pool(config: &DatabaseConfig) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = config.url.expose_secret().parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(config.max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(config.acquire_timeout_secs))
        .connect_lazy_with(options))
}

/// A `/readyz` check that passes when the database answers `SELECT 1`.
pub fn readiness(pool: PgPool) -> lf_http::ReadinessCheck {
    lf_http::ReadinessCheck::new("database", move || {
        let pool = pool.clone();
        async move {
            sqlx::query("SELECT 1")
                .execute(&pool)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
}

/// Publishes pool gauges every 5 s until the runtime stops.
pub fn spawn_pool_metrics(service: &'static str, pool: PgPool) {
    names::describe();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            let idle = pool.num_idle() as f64;
            let size = f64::from(pool.size());
            metrics::gauge!(names::POOL_CONNECTIONS, "service" => service, "state" => "idle")
                .set(idle);
            metrics::gauge!(names::POOL_CONNECTIONS, "service" => service, "state" => "in_use")
                .set((size - idle).max(0.0));
        }
    });
}
