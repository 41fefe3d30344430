//! The shape of one lesson's trace in Jaeger's query API, shared by the native telemetry
//! test and the cluster suite: [`spans_of`] reads a trace, [`LESSON_SPANS`] lists the spans
//! one lesson must produce, [`has_lesson_spans`] says whether a trace has them all and
//! [`check_lesson_trace`] whether they form one correctly parented tree.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// One span of a Jaeger trace: (service, operation, span id, parent span ids, linked
/// trace ids).
pub struct SpanView {
    /// The service that reported it.
    pub service: String,
    /// Its operation name.
    pub operation: String,
    /// Its span id.
    pub id: String,
    /// The span ids it references in its own trace (its parent).
    pub parents: Vec<String>,
    /// The trace ids of the other traces it references (span links).
    pub links: Vec<String>,
}

/// `(trace id, span id)` of each reference of a span (parent or link).
fn references(span: &Value) -> impl Iterator<Item = (&str, &str)> {
    span["references"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["traceID"].as_str().unwrap_or_default(),
                r["spanID"].as_str().unwrap_or_default(),
            )
        })
}

/// Every span of a trace (`data[0]` of `/api/traces/<id>`).
pub fn spans_of(trace: &Value) -> Vec<SpanView> {
    let processes: BTreeMap<String, String> = trace["processes"]
        .as_object()
        .map(|p| {
            p.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v["serviceName"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    trace["spans"]
        .as_array()
        .map(|spans| {
            spans
                .iter()
                .map(|s| SpanView {
                    service: processes
                        .get(s["processID"].as_str().unwrap_or_default())
                        .cloned()
                        .unwrap_or_default(),
                    operation: s["operationName"].as_str().unwrap_or_default().to_owned(),
                    id: s["spanID"].as_str().unwrap_or_default().to_owned(),
                    parents: references(s)
                        .filter(|(trace, _)| *trace == s["traceID"].as_str().unwrap_or_default())
                        .map(|(_, span)| span.to_owned())
                        .collect(),
                    links: references(s)
                        .filter(|(trace, _)| *trace != s["traceID"].as_str().unwrap_or_default())
                        .map(|(trace, _)| trace.to_owned())
                        .collect(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Spans the trace of one lesson must contain: (service, operation) — ours and daprd's.
pub const LESSON_SPANS: &[(&str, &str)] = &[
    ("frontend-gateway", "POST /api/v1/lessons"),
    ("frontend-gateway", "POST course-agent"),
    (
        "frontend-gateway",
        "CallLocal/course-agent/internal/lessons",
    ),
    ("course-agent", "CallLocal/course-agent/internal/lessons"),
    ("course-agent", "POST /internal/lessons"),
    ("course-agent", "transaction insert_lesson"),
    ("course-agent", "INSERT lessons"),
    ("course-agent", "INSERT outbox"),
    ("course-agent", "publish lesson-events"),
    ("course-agent", "/v1.0/publish/kafka-pubsub/lesson-events"),
    ("user-progress", "pubsub/lesson-events"),
    ("user-progress", "POST /events/lesson"),
    ("user-progress", "process lesson-events"),
    ("user-progress", "transaction apply_lesson_event"),
    ("user-progress", "INSERT processed_events"),
];

/// Whether the trace holds every span of [`LESSON_SPANS`].
pub fn has_lesson_spans(trace: &Value) -> bool {
    let have: BTreeSet<(String, String)> = spans_of(trace)
        .into_iter()
        .map(|s| (s.service, s.operation))
        .collect();
    LESSON_SPANS
        .iter()
        .all(|(svc, op)| have.contains(&((*svc).to_owned(), (*op).to_owned())))
}

/// One root (the gateway's request), every parent inside the trace, and the async hop
/// continued: user-progress's handler is a child of daprd's delivery, the relay's publish
/// a child of the request that wrote the outbox row. `Err` says what is wrong.
pub fn check_lesson_trace(trace: &Value) -> Result<(), String> {
    let spans = spans_of(trace);
    let ids: BTreeSet<&str> = spans.iter().map(|s| s.id.as_str()).collect();
    let roots: Vec<(&str, &str)> = spans
        .iter()
        .filter(|s| s.parents.is_empty())
        .map(|s| (s.service.as_str(), s.operation.as_str()))
        .collect();
    if roots != [("frontend-gateway", "POST /api/v1/lessons")] {
        return Err(format!(
            "expected one root, the gateway's POST /api/v1/lessons; roots: {roots:?}"
        ));
    }
    for s in &spans {
        if let Some(p) = s.parents.iter().find(|p| !ids.contains(p.as_str())) {
            return Err(format!(
                "{} {} has its parent {p} outside the trace",
                s.service, s.operation
            ));
        }
    }
    let parent_op = |child: &str| -> String {
        spans
            .iter()
            .find(|s| s.operation == child)
            .and_then(|c| spans.iter().find(|s| c.parents.contains(&s.id)))
            .map(|s| s.operation.clone())
            .unwrap_or_default()
    };
    for (child, parent, why) in [
        (
            "POST /events/lesson",
            "pubsub/lesson-events",
            "user-progress continues daprd's delivery span",
        ),
        (
            "INSERT lessons",
            "transaction insert_lesson",
            "the insert is inside its transaction",
        ),
        (
            "publish lesson-events",
            "POST /internal/lessons",
            "the relay continues the request's trace",
        ),
    ] {
        let found = parent_op(child);
        if found != parent {
            return Err(format!(
                "{why}: {child}'s parent is {found:?}, not {parent:?}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A trace in Jaeger's shape with every lesson span; `parent_of` chooses each
    /// span's parent operation (`None`: a root).
    fn trace(parent_of: impl Fn(&str) -> Option<&'static str>) -> Value {
        let id = |op: &str| {
            format!(
                "{:016x}",
                LESSON_SPANS
                    .iter()
                    .position(|(_, o)| *o == op)
                    .unwrap_or(99)
            )
        };
        let spans: Vec<Value> = LESSON_SPANS
            .iter()
            .map(|(service, op)| {
                let references: Vec<Value> = parent_of(op)
                    .map(|p| vec![json!({"refType": "CHILD_OF", "traceID": "t1", "spanID": id(p)})])
                    .unwrap_or_default();
                json!({"traceID": "t1", "spanID": id(op), "operationName": op, "processID": service, "references": references})
            })
            .collect();
        let processes: serde_json::Map<String, Value> = LESSON_SPANS
            .iter()
            .map(|(s, _)| ((*s).to_owned(), json!({"serviceName": s})))
            .collect();
        json!({"spans": spans, "processes": processes})
    }

    fn as_recorded(op: &str) -> Option<&'static str> {
        match op {
            "POST /api/v1/lessons" => None,
            "POST /events/lesson" => Some("pubsub/lesson-events"),
            "INSERT lessons" => Some("transaction insert_lesson"),
            "publish lesson-events" => Some("POST /internal/lessons"),
            _ => Some("POST /api/v1/lessons"),
        }
    }

    #[test]
    fn a_whole_correctly_parented_trace_passes() {
        let t = trace(as_recorded);
        assert!(has_lesson_spans(&t));
        assert_eq!(check_lesson_trace(&t), Ok(()));
    }

    #[test]
    fn a_link_to_another_trace_is_not_a_parent() {
        let mut t = trace(as_recorded);
        let root = t["spans"]
            .as_array_mut()
            .and_then(|spans| {
                spans
                    .iter_mut()
                    .find(|s| s["operationName"] == "POST /api/v1/lessons")
            })
            .expect("root");
        root["references"] =
            json!([{"refType": "FOLLOWS_FROM", "traceID": "client", "spanID": "c1"}]);
        assert_eq!(check_lesson_trace(&t), Ok(()));
        let spans = spans_of(&t);
        let root = spans.iter().find(|s| s.parents.is_empty()).expect("root");
        assert_eq!(root.links, vec!["client".to_owned()]);
    }

    #[test]
    fn a_broken_async_hop_a_second_root_or_a_missing_span_fails() {
        let hop_broken = trace(|op| match op {
            "POST /events/lesson" => Some("POST /api/v1/lessons"),
            _ => as_recorded(op),
        });
        assert!(check_lesson_trace(&hop_broken).is_err());
        let two_roots = trace(|op| match op {
            "pubsub/lesson-events" => None,
            _ => as_recorded(op),
        });
        assert!(check_lesson_trace(&two_roots).is_err());
        let mut partial = trace(as_recorded);
        partial["spans"].as_array_mut().map(Vec::pop);
        assert!(!has_lesson_spans(&partial));
    }
}
