//! Unit tests of the bench's parsing of `/proc` and of traces.

use super::process::parse_stat;
use super::{lesson_trace_stages, trace_stages};

#[test]
fn proc_stat_lines_parse_even_with_odd_command_names() {
    let line =
        "4242 (tokio (worker) 1) S 1 4240 4240 0 -1 4194304 100 0 0 0 37 5 0 0 20 0 3 0 100 0 0";
    assert_eq!(parse_stat(line), Some((1, 42)));
    assert_eq!(parse_stat("garbage"), None);
}

fn span(process: &str, name: &str, start: i64, duration: i64) -> serde_json::Value {
    serde_json::json!({"processID": process, "operationName": name, "startTime": start, "duration": duration})
}

#[test]
fn a_lesson_trace_splits_into_its_stages_and_incomplete_traces_are_skipped() {
    let processes = serde_json::json!({
        "p1": {"serviceName": "frontend-gateway"},
        "p2": {"serviceName": "course-agent"},
        "p3": {"serviceName": "user-progress"},
    });
    // µs: request 0–9000, transaction ends 6000, publish 7000–9500,
    // delivered 11000, processed by 14000.
    let complete = serde_json::json!({"processes": processes, "spans": [
        span("p1", "POST /api/v1/lessons", 0, 9000),
        span("p2", "transaction create_lesson", 4000, 2000),
        span("p2", "publish lesson-events", 7000, 2500),
        span("p3", "POST /events/lesson", 11000, 3500),
        span("p3", "process lesson-events", 11200, 2800),
    ]});
    assert_eq!(
        lesson_trace_stages(&complete),
        Some([6.0, 1.0, 2.5, 1.5, 3.0])
    );
    let no_delivery = serde_json::json!({"processes": processes, "spans": [
        span("p1", "POST /api/v1/lessons", 0, 9000),
        span("p2", "transaction create_lesson", 4000, 2000),
        span("p2", "publish lesson-events", 7000, 2500),
    ]});
    assert_eq!(lesson_trace_stages(&no_delivery), None);
    let summary = trace_stages(&[complete.clone(), no_delivery, complete]);
    assert_eq!(summary.lessons, 2);
    assert_eq!(summary.total.p99, 14.0);
    assert_eq!(summary.stages[0].0, "request → committed");
    assert!((summary.stages[0].2 - 6.0 / 14.0 * 100.0).abs() < 1e-9);
}
