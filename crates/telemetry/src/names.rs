//! Every metric name `lf-telemetry` emits, in one place.

/// Gauge set to 1, labelled with `service` and `version`.
pub const BUILD_INFO: &str = "learnflow_build_info";
/// Counter of HTTP requests served, by `http_route`, `http_request_method`, `http_response_status_class`.
pub const HTTP_REQUESTS: &str = "learnflow_http_server_requests_total";
/// Histogram of HTTP request durations in seconds, same labels as [`HTTP_REQUESTS`].
pub const HTTP_DURATION: &str = "learnflow_http_server_request_duration_seconds";
/// Prefix of the process metrics `metrics-process` records ([`crate::process`]).
pub const PROCESS_PREFIX: &str = "learnflow_";
/// Counter: CPU seconds this process used (user + system), in whole seconds.
pub const PROCESS_CPU: &str = "learnflow_process_cpu_seconds_total";
/// Gauge: resident memory in bytes.
pub const PROCESS_RSS: &str = "learnflow_process_resident_memory_bytes";

/// Registers help texts (Prometheus `# HELP`) for this crate's metrics.
pub(crate) fn describe() {
    metrics::describe_gauge!(
        BUILD_INFO,
        "Build of the running service (always 1), by service and version."
    );
    metrics::describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests served, by route template, method and status class."
    );
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "HTTP request duration, by route template, method and status class."
    );
}
