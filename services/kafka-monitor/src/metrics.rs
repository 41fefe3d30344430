//! Every metric kafka-monitor emits.

/// Gauge: high watermark (next offset) per `topic` and `partition`. It only grows,
/// so `rate()` over it is the topic's message rate.
pub const HIGH_WATERMARK: &str = "learnflow_kafka_partition_high_watermark";
/// Gauge: low watermark (first retained offset) per `topic` and `partition`.
pub const LOW_WATERMARK: &str = "learnflow_kafka_partition_low_watermark";
/// Gauge: committed offset per `group`, `topic` and `partition`.
pub const COMMITTED: &str = "learnflow_kafka_consumergroup_committed_offset";
/// Gauge: messages not yet consumed per `group`, `topic` and `partition`
/// (high watermark − committed offset; everything retained when nothing is committed).
pub const LAG: &str = "learnflow_kafka_consumergroup_lag";
/// Gauge: 1 when the last poll of the broker succeeded, else 0.
pub const UP: &str = "learnflow_kafka_monitor_up";
/// Counter of failed polls.
pub const POLL_ERRORS: &str = "learnflow_kafka_monitor_poll_errors_total";
/// Histogram of one poll's duration in seconds.
pub const POLL_DURATION: &str = "learnflow_kafka_monitor_poll_duration_seconds";

/// Registers help texts (Prometheus `# HELP`) for kafka-monitor's metrics.
pub fn describe() {
    lf_telemetry::metrics_recorder();
    ::metrics::describe_gauge!(
        HIGH_WATERMARK,
        "Next offset to be written, by topic and partition; rate() of it is the message rate."
    );
    ::metrics::describe_gauge!(
        LOW_WATERMARK,
        "First retained offset, by topic and partition."
    );
    ::metrics::describe_gauge!(
        COMMITTED,
        "Committed offset, by consumer group, topic and partition."
    );
    ::metrics::describe_gauge!(
        LAG,
        "Messages not yet consumed, by consumer group, topic and partition."
    );
    ::metrics::describe_gauge!(UP, "1 when the last poll of the broker succeeded, else 0.");
    ::metrics::describe_counter!(POLL_ERRORS, "Failed polls of the broker.");
    ::metrics::describe_histogram!(
        POLL_DURATION,
        ::metrics::Unit::Seconds,
        "Duration of one poll of the broker."
    );
}
