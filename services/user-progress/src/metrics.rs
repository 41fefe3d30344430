//! Every metric user-progress emits: names, labels and the functions that record them.

use std::time::Duration;

/// Counter of lesson events handled, by `outcome` (`success`, `duplicate`, `retry`, `drop`)
/// and, for drops, `reason` (`malformed`, `unsupported_version`, `invalid`, `foreign`;
/// empty otherwise).
pub const EVENTS_CONSUMED: &str = "learnflow_events_consumed_total";
/// Histogram of seconds from the lesson's creation in course-agent to its event being
/// persisted here — the flow's end-to-end latency.
pub const LESSON_TO_DB: &str = "learnflow_lesson_to_db_seconds";
/// Counter of completions recorded.
pub const COMPLETIONS: &str = "learnflow_completions_total";
/// Counter of requests answered from a stored result (a repeated completion), by
/// `operation` — the same name course-agent uses for its idempotent lesson requests.
pub const IDEMPOTENT_REPLAYS: &str = "learnflow_idempotent_replays_total";

/// Counter of rows deleted by retention, by `table` (`processed_events`).
pub const RETENTION_DELETED: &str = "learnflow_retention_deleted_rows_total";

/// Retention deleted `rows` rows of `table`.
pub fn retention_deleted(table: &'static str, rows: u64) {
    ::metrics::counter!(RETENTION_DELETED, "table" => table).increment(rows);
}

/// An event was handled with `outcome` (and a drop `reason`).
pub fn event_consumed(outcome: &'static str, reason: &'static str) {
    ::metrics::counter!(EVENTS_CONSUMED, "outcome" => outcome, "reason" => reason).increment(1);
}

/// An event reached the database `latency` after its lesson was created.
pub fn lesson_to_db(latency: Duration) {
    ::metrics::histogram!(LESSON_TO_DB).record(latency.as_secs_f64());
}

/// A completion was recorded.
pub fn completion() {
    ::metrics::counter!(COMPLETIONS).increment(1);
}

/// A request was answered from the result stored by an identical earlier one.
pub fn idempotent_replay(operation: &'static str) {
    ::metrics::counter!(IDEMPOTENT_REPLAYS, "operation" => operation).increment(1);
}

/// Times a database operation into `learnflow_db_query_duration_seconds`.
pub fn db_time(operation: &'static str, took: Duration) {
    lf_db::record_query(crate::SERVICE, operation, took);
}

/// Registers help texts (Prometheus `# HELP`) for user-progress's metrics.
pub fn describe() {
    lf_telemetry::metrics_recorder();
    ::metrics::describe_counter!(
        EVENTS_CONSUMED,
        "Lesson events handled, by outcome (success, duplicate, retry, drop) and drop reason."
    );
    ::metrics::describe_histogram!(
        LESSON_TO_DB,
        ::metrics::Unit::Seconds,
        "Time from a lesson's creation in course-agent to its event persisted in user-progress."
    );
    ::metrics::describe_counter!(COMPLETIONS, "Lesson completions recorded.");
    ::metrics::describe_counter!(
        RETENTION_DELETED,
        "Rows deleted because they left their retention window, by table."
    );
    ::metrics::describe_counter!(
        IDEMPOTENT_REPLAYS,
        "Requests answered from a stored result: repeats of a recorded completion, by operation."
    );
}
