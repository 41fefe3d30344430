//! Every metric name `lf-telemetry` emits, in one place.

/// Gauge set to 1, labelled with `service` and `version`.
pub const BUILD_INFO: &str = "learnflow_build_info";
/// Counter of HTTP requests served, by `http_route`, `http_request_method`, `http_response_status_class`.
pub const HTTP_REQUESTS: &str = "learnflow_http_server_requests_total";
/// Histogram of HTTP request durations in seconds, same labels as [`HTTP_REQUESTS`].
pub const HTTP_DURATION: &str = "learnflow_http_server_request_duration_seconds";
