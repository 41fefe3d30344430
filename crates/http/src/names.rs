//! Every metric name `lf-http` emits, in one place.

/// Counter of connections a capped listener shed, by `reason`: `evicted_idle` (the oldest
/// connection with no request in progress, closed to make room) or `refused` (a new one
/// answered 503 because every held connection was busy).
pub const CONNECTIONS_SHED: &str = "learnflow_http_connections_shed_total";

/// Registers help texts (Prometheus `# HELP`) for this crate's metrics.
pub(crate) fn describe() {
    metrics::describe_counter!(
        CONNECTIONS_SHED,
        "Connections a capped listener shed: evicted_idle (oldest idle one closed to make room) or refused (503, all busy)."
    );
}
