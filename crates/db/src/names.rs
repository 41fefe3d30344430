//! Metric names `lf-db` emits.

/// Gauge of pool connections by `service` and `state` (`idle`, `in_use`).
pub const POOL_CONNECTIONS: &str = "learnflow_db_pool_connections";
/// Gauge, by `service`: 1 while the database answers a `SELECT 1` within 2 s (probed every
/// 5 s through the service's pool), 0 otherwise.
pub const DB_UP: &str = "learnflow_db_up";
/// Histogram of database statement/transaction durations in seconds, by `service` and `operation`.
pub const QUERY_DURATION: &str = "learnflow_db_query_duration_seconds";
/// Counter of transactions PostgreSQL aborted on a conflict (deadlock, serialization
/// failure) and that were run again, by `service` and `operation`.
pub const CONFLICT_RETRIES: &str = "learnflow_db_conflict_retries_total";

/// Registers help texts for this crate's metrics.
pub(crate) fn describe() {
    metrics::describe_gauge!(
        POOL_CONNECTIONS,
        "Database pool connections, by service and state (idle, in_use)."
    );
    metrics::describe_gauge!(
        DB_UP,
        "1 while the service's database answers SELECT 1 within 2 s (probed every 5 s), else 0."
    );
    metrics::describe_histogram!(
        QUERY_DURATION,
        metrics::Unit::Seconds,
        "Database statement or transaction duration, by service and operation."
    );
    metrics::describe_counter!(
        CONFLICT_RETRIES,
        "Transactions aborted by PostgreSQL on a conflict (deadlock, serialization failure) and run again, by service and operation."
    );
}
