//! PostgreSQL plumbing shared by course-agent and user-progress.
//!
//! Layout: [`DatabaseConfig`] (`[database]` settings) → [`connect`] (a lazy pool, so
//! a service starts and reports not-ready instead of crashing while the database
//! is down, after a startup check that refuses TLS settings that can never work:
//! [`SetupError`]) → [`answers`] and [`migrations_applied`] (`/readyz` checks) and [`watch_database`]
//! (connections in use and idle, and whether it answers, every few seconds); [`statement`] and
//! [`transaction`] make database spans; [`is_transient`] and [`retry_conflicts`] say what
//! is worth another attempt and make it, and [`DbError`] is that classification once for
//! every service's API errors; [`names`] holds the metric names.

pub mod names;

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio_util::sync::CancellationToken;

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
/// then sets `migrated` and returns true. Run it in the background: the service serves
/// (and reports not-ready) meanwhile. Returns false, without waiting out a back-off,
/// once `stop` is cancelled; an attempt in progress is finished first (each migration
/// runs in its own transaction).
pub async fn migrate_with_retry(
    migrator: &'static sqlx::migrate::Migrator,
    pool: PgPool,
    migrated: std::sync::Arc<std::sync::atomic::AtomicBool>,
    stop: CancellationToken,
) -> bool {
    let mut delay = Duration::from_millis(200);
    loop {
        match migrator.run(&pool).await {
            Ok(()) => {
                migrated.store(true, std::sync::atomic::Ordering::Release);
                return true;
            }
            Err(e) => {
                tracing::warn!(error = %e, "migrations failed; retrying");
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = stop.cancelled() => return false,
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// The `/readyz` check of migrations: passes once `migrated` is set (by
/// [`migrate_with_retry`]). Services wrap it in their readiness check.
pub fn migrations_applied(migrated: &std::sync::atomic::AtomicBool) -> Result<(), String> {
    if migrated.load(std::sync::atomic::Ordering::Acquire) {
        Ok(())
    } else {
        Err("migrations not applied yet".into())
    }
}

/// Records how long a database operation took, in `learnflow_db_query_duration_seconds`.
pub fn record_query(service: &'static str, operation: &'static str, took: Duration) {
    metrics::histogram!(names::QUERY_DURATION, "service" => service, "operation" => operation)
        .record(took.as_secs_f64());
}

/// A database failure as an API answers it, classified here once for every service:
/// [`is_transient`] errors are [`DbError::Unavailable`] (503, retry shortly), the rest
/// [`DbError::Failed`] (500). The sqlx error stays the source, for the logs.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database is down, overloaded, or the transaction lost a conflict.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Anything else: a query or schema that cannot work.
    #[error("database error")]
    Failed(#[source] sqlx::Error),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        if is_transient(&e) {
            Self::Unavailable(e)
        } else {
            Self::Failed(e)
        }
    }
}

/// True for database errors worth retrying: no connection, pool exhausted, server
/// shutting down or out of resources (SQLSTATE classes 08, 53 and 57P), or a transaction
/// aborted on a conflict ([`is_conflict_abort`]).
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => {
            is_conflict_abort(e)
                || db.code().is_some_and(|c| {
                    c.starts_with("08") || c.starts_with("53") || c.starts_with("57P")
                })
        }
        _ => false,
    }
}

/// True when PostgreSQL rolled the transaction back to resolve a conflict with another
/// one — serialization failure (40001) or deadlock (40P01). Nothing of it was kept, so
/// running it again is safe, and usually succeeds at once.
pub fn is_conflict_abort(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db)
        if db.code().is_some_and(|c| c == "40001" || c == "40P01"))
}

/// The error as the database reported it: for [`retry_conflicts`] over plain sqlx results.
pub fn itself(e: &sqlx::Error) -> Option<&sqlx::Error> {
    Some(e)
}

/// How many times [`retry_conflicts`] runs a transaction in all.
pub const CONFLICT_ATTEMPTS: u32 = 3;

/// Runs `transaction` again while it ends in a conflict abort ([`is_conflict_abort`] of
/// what `database_error` finds in its error), up to [`CONFLICT_ATTEMPTS`] runs in all,
/// counting each retry in [`names::CONFLICT_RETRIES`]. The last error is returned as is:
/// [`is_transient`] still calls it transient, so the caller answers "retry later".
pub async fn retry_conflicts<T, E, Run, Fut>(
    service: &'static str,
    operation: &'static str,
    database_error: fn(&E) -> Option<&sqlx::Error>,
    mut transaction: Run,
) -> Result<T, E>
where
    Run: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        match transaction().await {
            Err(e)
                if attempt < CONFLICT_ATTEMPTS
                    && database_error(&e).is_some_and(is_conflict_abort) =>
            {
                attempt += 1;
                metrics::counter!(names::CONFLICT_RETRIES, "service" => service, "operation" => operation)
                    .increment(1);
                tracing::debug!(
                    operation,
                    attempt,
                    "transaction aborted on a conflict; running it again"
                );
            }
            outcome => return outcome,
        }
    }
}

/// How long [`connect`] waits for its one TLS handshake before it leaves the database to
/// the lazy pool (a frozen server must not hold the service's start).
const TLS_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Database settings a service cannot run with: found at startup, before it serves, so
/// that a wrong CA is a clear error naming the setting instead of a service that stays
/// not-ready forever.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The URL does not parse.
    #[error("database.url (LEARNFLOW_DATABASE__URL) is not a PostgreSQL URL: {0}")]
    Url(#[source] sqlx::Error),
    /// The CA bundle named by `sslrootcert` cannot be read.
    #[error(
        "database.url (LEARNFLOW_DATABASE__URL) names sslrootcert={path}, which cannot be read: {source}"
    )]
    RootCertUnreadable {
        /// The path as the URL gives it.
        path: String,
        /// Why it cannot be read.
        source: std::io::Error,
    },
    /// PostgreSQL answered, and TLS as the URL asks for failed.
    #[error(
        "TLS to PostgreSQL at {host}:{port} failed with sslmode={ssl_mode}{root} as database.url \
         (LEARNFLOW_DATABASE__URL) asks: {detail}. sslrootcert must name the CA that signed the \
         server's certificate, and with verify-full the URL's host must be one of its names"
    )]
    Tls {
        /// Host of the URL.
        host: String,
        /// Port of the URL.
        port: u16,
        /// The URL's `sslmode`.
        ssl_mode: &'static str,
        /// `" and sslrootcert=…"` when the URL names a CA bundle.
        root: String,
        /// What the handshake reported.
        detail: String,
    },
}

/// A lazy pool (no connection until first use), once the settings pass a startup check. When the URL asks for TLS
/// (`sslmode` require, verify-ca or verify-full) the CA bundle must be readable and one
/// handshake must succeed; a database that is down or does not answer within 5 s is left
/// to the pool and to `/readyz`, as without TLS — only an answer that TLS refuses stops
/// the start.
pub async fn connect(config: &DatabaseConfig) -> Result<PgPool, SetupError> {
    let options: PgConnectOptions = config
        .url
        .expose_secret()
        .parse()
        .map_err(SetupError::Url)?;
    let ssl_mode = ssl_mode_name(options.get_ssl_mode());
    let checks_tls = matches!(ssl_mode, "require" | "verify-ca" | "verify-full");
    let root_cert = root_cert_path(&options);
    if let Some(path) = root_cert.as_deref().filter(|_| checks_tls) {
        std::fs::read(path).map_err(|source| SetupError::RootCertUnreadable {
            path: path.to_owned(),
            source,
        })?;
    }
    if checks_tls {
        let attempt = tokio::time::timeout(TLS_CHECK_TIMEOUT, async {
            use sqlx::Connection;
            sqlx::PgConnection::connect_with(&options).await
        })
        .await;
        match attempt {
            Ok(Ok(connection)) => {
                let _ = sqlx::Connection::close(connection).await;
            }
            Ok(Err(e)) if is_tls_refusal(&e) => {
                return Err(SetupError::Tls {
                    host: options.get_host().to_owned(),
                    port: options.get_port(),
                    ssl_mode,
                    root: root_cert
                        .map(|p| format!(" and sslrootcert={p}"))
                        .unwrap_or_default(),
                    detail: e.to_string(),
                });
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "database not reachable at startup; the pool keeps trying");
            }
            Err(_) => {
                tracing::warn!(
                    "database did not answer within 5 s at startup; the pool keeps trying"
                );
            }
        }
    }
    Ok(lazy_pool(config, options))
}

/// True when the connection failed in TLS itself: sqlx reports a server without TLS or a
/// bad CA bundle as [`sqlx::Error::Tls`], and a certificate the handshake rejects as the
/// I/O error `InvalidData` that rustls raises (a refused or reset connection is never that).
fn is_tls_refusal(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Tls(_) => true,
        sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::InvalidData,
        _ => false,
    }
}

fn ssl_mode_name(mode: sqlx::postgres::PgSslMode) -> &'static str {
    use sqlx::postgres::PgSslMode;
    match mode {
        PgSslMode::Disable => "disable",
        PgSslMode::Allow => "allow",
        PgSslMode::Prefer => "prefer",
        PgSslMode::Require => "require",
        PgSslMode::VerifyCa => "verify-ca",
        PgSslMode::VerifyFull => "verify-full",
    }
}

/// The file `sslrootcert` names (sqlx also reads `PGSSLROOTCERT` when the URL has none);
/// `None` for no CA bundle or one given inline as PEM. sqlx writes a file as `file: <path>`.
fn root_cert_path(options: &PgConnectOptions) -> Option<String> {
    use sqlx::ConnectOptions;
    options
        .to_url_lossy()
        .query_pairs()
        .find(|(key, _)| key == "sslrootcert")
        .and_then(|(_, value)| value.strip_prefix("file: ").map(str::to_owned))
}

/// A lazy pool: no connection is made until first use.
fn lazy_pool(config: &DatabaseConfig, options: PgConnectOptions) -> PgPool {
    PgPoolOptions::new()
        .max_connections(config.max_connections)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(config.acquire_timeout_secs))
        .connect_lazy_with(options)
}

/// The `/readyz` check of the database: passes when it answers `SELECT 1`.
pub async fn answers(pool: PgPool) -> Result<(), String> {
    sqlx::query("SELECT 1")
        .execute(&pool)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// How long [`watch_database`]'s probe waits for an answer before it calls the database down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Every 5 s until `stop` is cancelled: publishes the pool's connections by state and
/// whether the database answers a `SELECT 1` within 2 s ([`names::DB_UP`], what the
/// database-unavailable alert watches).
pub async fn watch_database(service: &'static str, pool: PgPool, stop: CancellationToken) {
    names::describe();
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        let answered = tokio::time::timeout(PROBE_TIMEOUT, sqlx::query("SELECT 1").execute(&pool))
            .await
            .is_ok_and(|r| r.is_ok());
        metrics::gauge!(names::DB_UP, "service" => service).set(if answered { 1.0 } else { 0.0 });
        let idle = pool.num_idle() as f64;
        let size = f64::from(pool.size());
        metrics::gauge!(names::POOL_CONNECTIONS, "service" => service, "state" => "idle").set(idle);
        metrics::gauge!(names::POOL_CONNECTIONS, "service" => service, "state" => "in_use")
            .set((size - idle).max(0.0));
    }
}

#[cfg(test)]
mod tests;
