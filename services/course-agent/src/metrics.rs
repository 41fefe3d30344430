//! Every metric course-agent emits: names, labels and the functions that record them.

use std::time::Duration;

/// Counter of lessons generated, by `course` and `personalised` (`true`/`false`).
pub const LESSONS_GENERATED: &str = "learnflow_lessons_generated_total";
/// Gauge: outbox rows not yet published.
pub const OUTBOX_BACKLOG: &str = "learnflow_outbox_backlog";
/// Gauge: age in seconds of the oldest unpublished outbox row (0 when none).
pub const OUTBOX_OLDEST_AGE: &str = "learnflow_outbox_oldest_age_seconds";
/// Gauge: outbox rows parked as poison (the sidecar kept rejecting them).
pub const OUTBOX_PARKED: &str = "learnflow_outbox_parked";
/// Counter of outbox rows the relay parked.
pub const OUTBOX_PARKED_TOTAL: &str = "learnflow_outbox_parked_total";
/// Counter of events the relay tried to publish, by `outcome` (`success`/`failure`) and `mode` (`single`/`bulk`).
pub const PUBLISH_ATTEMPTS: &str = "learnflow_outbox_publish_total";
/// Histogram of one relay publish call in seconds, by `mode`.
pub const PUBLISH_DURATION: &str = "learnflow_outbox_publish_duration_seconds";
/// Counter of requests answered from a stored result because their `Idempotency-Key`
/// was seen before, by `operation`.
pub const IDEMPOTENT_REPLAYS: &str = "learnflow_idempotent_replays_total";
/// Counter of personalisation lookups, by `outcome` (`used`/`fallback`).
pub const PERSONALISATION: &str = "learnflow_personalisation_total";

/// A lesson was generated.
pub fn lesson_generated(course: &str, personalised: bool) {
    ::metrics::counter!(LESSONS_GENERATED, "course" => course.to_owned(), "personalised" => personalised.to_string())
        .increment(1);
}

/// The relay published (or failed to publish) `events` events in one call.
pub fn published(mode: &'static str, events: usize, ok: bool, took: Duration) {
    let outcome = if ok { "success" } else { "failure" };
    ::metrics::counter!(PUBLISH_ATTEMPTS, "outcome" => outcome, "mode" => mode)
        .increment(events as u64);
    ::metrics::histogram!(PUBLISH_DURATION, "mode" => mode).record(took.as_secs_f64());
}

/// The outbox holds `pending` rows, the oldest `oldest_age` seconds old, and `parked` ones.
pub fn outbox(pending: i64, oldest_age: f64, parked: i64) {
    ::metrics::gauge!(OUTBOX_BACKLOG).set(pending as f64);
    ::metrics::gauge!(OUTBOX_OLDEST_AGE).set(oldest_age);
    ::metrics::gauge!(OUTBOX_PARKED).set(parked as f64);
}

/// The relay parked `rows` rows.
pub fn parked(rows: usize) {
    ::metrics::counter!(OUTBOX_PARKED_TOTAL).increment(rows as u64);
}

/// A request was answered from the result its idempotency key stored.
pub fn idempotent_replay(operation: &'static str) {
    ::metrics::counter!(IDEMPOTENT_REPLAYS, "operation" => operation).increment(1);
}

/// Personalisation was used or fell back.
pub fn personalisation(used: bool) {
    ::metrics::counter!(PERSONALISATION, "outcome" => if used { "used" } else { "fallback" })
        .increment(1);
}

/// Times a database operation into `learnflow_db_query_duration_seconds`.
pub fn db_time(operation: &'static str, took: Duration) {
    lf_db::record_query(crate::SERVICE, operation, took);
}

/// Registers help texts (Prometheus `# HELP`) for course-agent's metrics.
pub fn describe() {
    lf_telemetry::metrics_recorder();
    ::metrics::describe_counter!(
        LESSONS_GENERATED,
        "Lessons generated, by course and whether mastery personalised them."
    );
    ::metrics::describe_gauge!(OUTBOX_BACKLOG, "Outbox events not yet published.");
    ::metrics::describe_gauge!(
        OUTBOX_OLDEST_AGE,
        ::metrics::Unit::Seconds,
        "Age of the oldest unpublished outbox event (0 when none)."
    );
    ::metrics::describe_gauge!(
        OUTBOX_PARKED,
        "Outbox events parked as poison: the sidecar kept rejecting them; they wait for an operator."
    );
    ::metrics::describe_counter!(
        OUTBOX_PARKED_TOTAL,
        "Outbox events the relay parked as poison."
    );
    ::metrics::describe_counter!(
        PUBLISH_ATTEMPTS,
        "Events the outbox relay tried to publish, by outcome and mode (single, bulk)."
    );
    ::metrics::describe_histogram!(
        PUBLISH_DURATION,
        ::metrics::Unit::Seconds,
        "Duration of one relay publish call to daprd, by mode."
    );
    ::metrics::describe_counter!(
        IDEMPOTENT_REPLAYS,
        "Requests answered from a stored result: their Idempotency-Key was seen before, by operation."
    );
    ::metrics::describe_counter!(
        PERSONALISATION,
        "Mastery lookups for personalisation, by outcome (used, fallback)."
    );
}
