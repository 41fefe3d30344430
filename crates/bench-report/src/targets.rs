//! The targets table and the SVG plot of latency against offered load.

use super::*;

/// The targets of issue 7, judged against this run: (target, measured, met).
pub fn targets(r: &BenchReport) -> Vec<(String, String, bool)> {
    let mut t = Vec::new();
    let floor = r.dapr_floor.per_second;
    t.push((
        "full-flow throughput ≥ 70 % of the Dapr pub/sub floor".to_owned(),
        format!(
            "{:.0}/s of {:.0}/s = {:.0} %",
            r.max_sustained,
            floor,
            if floor > 0.0 {
                r.max_sustained / floor * 100.0
            } else {
                0.0
            }
        ),
        floor > 0.0 && r.max_sustained >= 0.7 * floor,
    ));
    if let Some(h) = &r.half_rate {
        t.push((
            "lesson-to-DB p99 ≤ 50 ms at half the maximum rate".to_owned(),
            if r.half_rate_runs.len() > 1 {
                format!(
                    "{:.1} ms (median of {} runs)",
                    h.lesson_to_db.p99,
                    r.half_rate_runs.len()
                )
            } else {
                format!("{:.1} ms", h.lesson_to_db.p99)
            },
            h.lesson_to_db.p99 <= 50.0,
        ));
    }
    if let Some(g) = r.gateway_open.as_ref().or(r.gateway.as_ref()) {
        let errors: u64 = g
            .statuses
            .iter()
            .filter(|(s, _)| **s != 201)
            .map(|(_, n)| n)
            .sum();
        t.push((
            format!(
                "gateway p95 ≤ 100 ms at {} connections with 0 errors ({})",
                g.concurrency,
                if g.offered.is_some() {
                    "open loop at half the highest sustained rate"
                } else {
                    "closed loop"
                }
            ),
            format!("p95 {:.0} ms, {errors} errors", g.latency.p95),
            g.latency.p95 <= 100.0 && errors == 0,
        ));
    }
    if let (Some(on), Some(off)) = (&r.telemetry_on, &r.telemetry_off) {
        let cost = if off.accepted > 0.0 {
            (off.accepted - on.accepted) / off.accepted * 100.0
        } else {
            0.0
        };
        t.push((
            "telemetry costs ≤ 5 % of full-flow throughput".to_owned(),
            format!(
                "{cost:.1} % ({:.0}/s on, {:.0}/s off)",
                on.accepted, off.accepted
            ),
            cost <= 5.0,
        ));
    }
    for (name, (_, peak)) in &r.memory_mib {
        t.push((
            format!("{name} ≤ 30 MB resident at peak load"),
            format!("{peak:.1} MiB"),
            *peak <= 30.0 / 1.048_576,
        ));
    }
    for (name, ms) in &r.ready_ms {
        t.push((
            format!("{name} ready ≤ 200 ms after start"),
            format!("{ms:.0} ms"),
            *ms <= 200.0,
        ));
    }
    if let Some((_, rate)) = r.drain {
        t.push((
            "outbox drain ≥ 1,000 events/s".to_owned(),
            format!("{rate:.0}/s"),
            rate >= 1000.0,
        ));
    }
    t
}

/// An SVG plot of gateway and lesson→DB p99 against offered load.
pub fn svg(steps: &[Step]) -> String {
    let (w, h, m) = (640.0, 360.0, 50.0);
    let max_x = steps.iter().map(|s| s.offered).fold(1.0, f64::max);
    let max_y = steps
        .iter()
        .flat_map(|s| [s.gateway.p99, s.lesson_to_db.p99])
        .fold(1.0, f64::max);
    let x = |v: f64| m + v / max_x * (w - 2.0 * m);
    let y = |v: f64| h - m - v / max_y * (h - 2.0 * m);
    let line = |f: &dyn Fn(&Step) -> f64| {
        steps
            .iter()
            .map(|s| format!("{:.1},{:.1}", x(s.offered), y(f(s))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        o,
        r#"<rect width="100%" height="100%" fill="white"/><line x1="{m}" y1="{}" x2="{}" y2="{}" stroke="black"/><line x1="{m}" y1="{m}" x2="{m}" y2="{}" stroke="black"/>"#,
        h - m,
        w - m,
        h - m,
        h - m
    );
    let _ = writeln!(
        o,
        r#"<text x="{}" y="{}" text-anchor="middle">offered lessons/s (max {max_x:.0})</text><text x="12" y="{}" transform="rotate(-90 12 {})" text-anchor="middle">p99 latency ms (max {max_y:.0})</text>"#,
        w / 2.0,
        h - 12.0,
        h / 2.0,
        h / 2.0
    );
    let _ = writeln!(
        o,
        r#"<polyline fill="none" stroke="steelblue" stroke-width="2" points="{}"/>"#,
        line(&|s| s.gateway.p99)
    );
    let _ = writeln!(
        o,
        r#"<polyline fill="none" stroke="darkorange" stroke-width="2" points="{}"/>"#,
        line(&|s| s.lesson_to_db.p99)
    );
    let _ = writeln!(
        o,
        r#"<text x="{}" y="{}" fill="steelblue">gateway p99</text><text x="{}" y="{}" fill="darkorange">lesson→DB p99</text></svg>"#,
        m + 10.0,
        m,
        m + 10.0,
        m + 16.0
    );
    o
}
