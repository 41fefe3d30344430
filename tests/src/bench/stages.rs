//! A lesson's time by stage, from its trace in the trace backend.

use super::*;

/// Stage durations (ms, in [`TRACE_STAGES`] order) of one lesson trace in Jaeger's JSON
/// form, or `None` when a boundary span is missing.
pub fn lesson_trace_stages(trace: &serde_json::Value) -> Option<[f64; 5]> {
    let services: BTreeMap<&str, &str> = trace["processes"]
        .as_object()?
        .iter()
        .filter_map(|(id, p)| Some((id.as_str(), p["serviceName"].as_str()?)))
        .collect();
    // (start, end) in µs of the spans of `service` whose name passes `wanted`.
    let spans = |service: &str, wanted: &dyn Fn(&str) -> bool| -> Vec<(i64, i64)> {
        trace["spans"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| {
                s["processID"].as_str().and_then(|p| services.get(p)) == Some(&service)
                    && s["operationName"].as_str().is_some_and(wanted)
            })
            .filter_map(|s| {
                let start = s["startTime"].as_i64()?;
                Some((start, start + s["duration"].as_i64()?))
            })
            .collect()
    };
    let request = spans("frontend-gateway", &|n| n == "POST /api/v1/lessons");
    let transaction = spans("course-agent", &|n| n.starts_with("transaction"));
    let publish = spans("course-agent", &|n| n.starts_with("publish"));
    let delivery = spans("user-progress", &|n| n.starts_with("POST"));
    let process = spans("user-progress", &|n| n == "process lesson-events");
    let first = |v: &[(i64, i64)]| v.iter().min_by_key(|s| s.0).copied();
    let started = request.iter().map(|s| s.0).min()?;
    let committed = transaction.iter().map(|s| s.1).max()?;
    let (publish_start, publish_end) = first(&publish)?;
    let delivered = delivery.iter().map(|s| s.0).min()?;
    let done = process.iter().map(|s| s.1).max()?;
    let bounds = [
        started,
        committed,
        publish_start,
        publish_end,
        delivered,
        done,
    ];
    let mut stages = [0.0; 5];
    for (i, pair) in bounds.windows(2).enumerate() {
        stages[i] = (pair[1] - pair[0]) as f64 / 1000.0;
    }
    Some(stages)
}

/// Quantiles per stage and each stage's share of the slowest 1 % of `traces`.
pub fn trace_stages(traces: &[serde_json::Value]) -> TraceStages {
    let lessons: Vec<[f64; 5]> = traces.iter().filter_map(lesson_trace_stages).collect();
    let mut totals: Vec<f64> = lessons.iter().map(|l| l.iter().sum()).collect();
    let total = quantiles(&mut totals);
    let slowest: Vec<&[f64; 5]> = lessons
        .iter()
        .filter(|l| l.iter().sum::<f64>() >= total.p99)
        .collect();
    let slowest_time: f64 = slowest.iter().map(|l| l.iter().sum::<f64>()).sum();
    let stages = TRACE_STAGES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut values: Vec<f64> = lessons.iter().map(|l| l[i]).collect();
            let share = if slowest_time > 0.0 {
                slowest.iter().map(|l| l[i]).sum::<f64>() / slowest_time * 100.0
            } else {
                0.0
            };
            ((*name).to_owned(), quantiles(&mut values), share)
        })
        .collect();
    TraceStages {
        lessons: lessons.len(),
        total,
        stages,
    }
}
