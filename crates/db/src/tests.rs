//! Unit tests of the crate root: conflict retries, error classification, the CA bundle in the URL.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;

/// A database error with a given SQLSTATE, as PostgreSQL would report it.
#[derive(Debug)]
struct Sqlstate(&'static str);

impl std::fmt::Display for Sqlstate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SQLSTATE {}", self.0)
    }
}

impl std::error::Error for Sqlstate {}

impl sqlx::error::DatabaseError for Sqlstate {
    fn message(&self) -> &str {
        self.0
    }
    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(self.0))
    }
    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }
    fn kind(&self) -> sqlx::error::ErrorKind {
        sqlx::error::ErrorKind::Other
    }
}

fn sqlstate(code: &'static str) -> sqlx::Error {
    sqlx::Error::Database(Box::new(Sqlstate(code)))
}

#[test]
fn deadlocks_and_serialization_failures_are_conflict_aborts_and_transient() {
    for code in ["40P01", "40001"] {
        assert!(is_conflict_abort(&sqlstate(code)), "{code}");
        assert!(is_transient(&sqlstate(code)), "{code}");
    }
    // A unique violation or a syntax error is no conflict: another run fails the same.
    for code in ["23505", "42601", "40002"] {
        assert!(!is_conflict_abort(&sqlstate(code)), "{code}");
        assert!(!is_transient(&sqlstate(code)), "{code}");
    }
    assert!(is_transient(&sqlstate("08006")) && !is_conflict_abort(&sqlstate("08006")));
}

fn run_failing_with(codes: &'static [&'static str]) -> (Result<u32, sqlx::Error>, u32) {
    let runs = AtomicU32::new(0);
    let outcome = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(retry_conflicts(
            "test",
            "op",
            |e| Some(e),
            || {
                let run = runs.fetch_add(1, Ordering::SeqCst) as usize;
                async move {
                    match codes.get(run) {
                        Some(code) => Err(sqlstate(code)),
                        None => Ok(run as u32),
                    }
                }
            },
        ));
    (outcome, runs.load(Ordering::SeqCst))
}

#[test]
fn a_transaction_aborted_on_a_conflict_runs_again_until_it_commits() {
    let (outcome, runs) = run_failing_with(&["40P01", "40001"]);
    assert_eq!((outcome.ok(), runs), (Some(2), 3));
}

#[test]
fn conflict_retries_stop_after_the_last_attempt_with_the_error() {
    let (outcome, runs) = run_failing_with(&["40P01", "40P01", "40P01", "40P01"]);
    assert_eq!(runs, CONFLICT_ATTEMPTS);
    assert!(outcome.is_err_and(|e| is_conflict_abort(&e)));
}

#[test]
fn the_ca_bundle_is_found_in_the_url_and_nowhere_else() {
    let options = |url: &str| url.parse::<PgConnectOptions>().expect("url");
    assert_eq!(
        root_cert_path(&options(
            "postgres://u:p@db:5432/x?sslmode=verify-full&sslrootcert=/etc/ca%20dir/ca.crt"
        ))
        .as_deref(),
        Some("/etc/ca dir/ca.crt")
    );
    assert_eq!(
        root_cert_path(&options("postgres://u:p@db:5432/x?sslmode=disable")),
        None
    );
}

#[test]
fn api_errors_classify_once_and_keep_the_database_error() {
    let unavailable = DbError::from(sqlx::Error::PoolTimedOut);
    assert!(matches!(unavailable, DbError::Unavailable(_)));
    let failed = DbError::from(sqlstate("42601"));
    assert!(matches!(failed, DbError::Failed(_)));
    // The sqlx error is the source: the log line says what the database said.
    let logged = lf_http::error::Chain(&failed).to_string();
    assert_eq!(
        logged,
        "database error: error returned from database: SQLSTATE 42601"
    );
}

#[test]
fn only_tls_failures_stop_the_start() {
    use std::io::{Error, ErrorKind};
    assert!(is_tls_refusal(&sqlx::Error::Tls(
        "server does not support TLS".into()
    )));
    assert!(is_tls_refusal(&sqlx::Error::Io(Error::new(
        ErrorKind::InvalidData,
        "invalid peer certificate: UnknownIssuer"
    ))));
    // A database that is down or unreachable is the pool's to retry.
    for kind in [
        ErrorKind::ConnectionRefused,
        ErrorKind::TimedOut,
        ErrorKind::NotFound,
    ] {
        assert!(
            !is_tls_refusal(&sqlx::Error::Io(Error::from(kind))),
            "{kind:?}"
        );
    }
    assert!(!is_tls_refusal(&sqlx::Error::PoolTimedOut));
}

#[test]
fn other_errors_are_not_run_again() {
    let (outcome, runs) = run_failing_with(&["23505"]);
    assert_eq!(runs, 1);
    assert!(outcome.is_err());
}
