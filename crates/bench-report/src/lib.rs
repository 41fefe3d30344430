//! The benchmark's report: what `cargo xtask bench` measured, and its rendering.
//!
//! The measuring is test code (`learnflow-e2e`'s `bench` module and test), which writes a
//! [`BenchReport`] as JSON; rendering it is not: `cargo xtask bench` turns the JSON into
//! `docs/benchmarks.md` and the latency plot with this crate.
//!
//! Parts: this module (the report's types — parameters, quantiles, steps, the report —
//! and the criteria the run is judged by: sustained, median, the targets), `markdown`
//! (the report's text), `sections` (its memory, telemetry and CPU sections) and
//! `targets` (the targets table and the SVG plot).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

mod markdown;
mod sections;
mod targets;
#[cfg(test)]
mod tests;

pub use markdown::markdown;
pub use sections::{NOT_SUSTAINED, ceiling_step};
pub use targets::{svg, targets};

/// The stages of a lesson's way from the gateway to user-progress's row, as its trace
/// shows them (span boundaries in the trace backend's clock).
pub const TRACE_STAGES: [&str; 5] = [
    "request → committed",
    "committed → relayed",
    "publish",
    "published → delivered",
    "process",
];

/// Lesson time by stage, from the lessons' traces.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct TraceStages {
    /// Complete lesson traces read.
    pub lessons: usize,
    /// Whole gateway-request-start → user-progress-transaction-end time (ms).
    pub total: Quantiles,
    /// Per stage (in [`TRACE_STAGES`] order): quantiles (ms) and its share (%) of the
    /// time of the slowest 1 % of lessons.
    pub stages: Vec<(String, Quantiles, f64)>,
}

/// How long and how hard to measure.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct BenchParams {
    /// Mode name.
    pub mode: String,
    /// Messages for the raw Kafka floor.
    pub kafka_messages: usize,
    /// Transactions for the raw PostgreSQL floor.
    pub pg_transactions: usize,
    /// Seconds of the Dapr pub/sub floor.
    pub dapr_floor_secs: u64,
    /// Concurrent publishers for the Dapr floor.
    pub dapr_floor_concurrency: usize,
    /// Offered rates (lessons/s) of the step test.
    pub steps: Vec<f64>,
    /// Seconds per step.
    pub step_secs: u64,
    /// Concurrency of the gateway test.
    pub gateway_concurrency: usize,
    /// Seconds of the gateway test.
    pub gateway_secs: u64,
    /// Outbox rows for the drain test.
    pub drain_rows: usize,
    /// How often the step test and the half-rate run are repeated (medians are reported).
    #[serde(default = "one")]
    pub repeats: usize,
}

pub(crate) fn one() -> usize {
    1
}

impl BenchParams {
    /// The full benchmark.
    pub fn full() -> Self {
        Self {
            mode: "full".into(),
            kafka_messages: 50_000,
            pg_transactions: 5_000,
            dapr_floor_secs: 15,
            dapr_floor_concurrency: 64,
            // Finer where this machine's ceiling has been (200–400/s), so the highest
            // sustained rate is not rounded down by a whole 100/s.
            steps: vec![
                50.0, 100.0, 200.0, 250.0, 300.0, 350.0, 400.0, 500.0, 650.0, 800.0, 1000.0,
            ],
            step_secs: 15,
            gateway_concurrency: 1000,
            gateway_secs: 15,
            drain_rows: 10_000,
            repeats: 3,
        }
    }

    /// A seconds-long smoke run so the code cannot rot (no thresholds).
    pub fn smoke() -> Self {
        Self {
            mode: "smoke".into(),
            kafka_messages: 500,
            pg_transactions: 100,
            dapr_floor_secs: 2,
            dapr_floor_concurrency: 8,
            steps: vec![10.0, 20.0],
            step_secs: 2,
            gateway_concurrency: 20,
            gateway_secs: 2,
            drain_rows: 200,
            repeats: 1,
        }
    }
}

/// Latency quantiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Quantiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// JSON has no infinity: serde_json writes it as `null`; read it back as infinity.
pub(crate) fn infinite_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(<Option<f64> as serde::Deserialize>::deserialize(d)?.unwrap_or(f64::INFINITY))
}

/// Quantiles of `samples` (milliseconds).
pub fn quantiles(samples: &mut [f64]) -> Quantiles {
    if samples.is_empty() {
        return Quantiles::default();
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Quantiles {
        p50: at(0.5),
        p95: at(0.95),
        p99: at(0.99),
    }
}

/// A throughput with latencies.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Rate {
    /// Operations per second.
    pub per_second: f64,
    /// Latency quantiles (ms).
    pub latency: Quantiles,
    /// CPU time (ms) per operation of each process involved, when measured.
    #[serde(default)]
    pub cpu_ms_per_op: BTreeMap<String, f64>,
}

/// One step of the open-loop step test.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Step {
    /// Offered lessons/s.
    pub offered: f64,
    /// Accepted (201) lessons/s.
    pub accepted: f64,
    /// Gateway latency (ms).
    pub gateway: Quantiles,
    /// Lesson-created-to-persisted latency (ms).
    pub lesson_to_db: Quantiles,
    /// Seconds after the step's end until user-progress had everything.
    #[serde(deserialize_with = "infinite_if_null")]
    pub catch_up_secs: f64,
    /// Non-201 answers.
    pub errors: u64,
    /// Sustained: accepted ≥ 95 % of offered, lesson→DB p99 ≤ 1 s, caught up within 5 s.
    pub sustained: bool,
    /// CPU time (ms) each component spent per accepted lesson during the step.
    #[serde(default)]
    pub cpu_ms_per_lesson: BTreeMap<String, f64>,
    /// Average number of CPUs busy (whole machine) during the step.
    #[serde(default)]
    pub busy_cpus: f64,
}

/// The sustained criterion: nearly everything accepted, no backlog growing within the
/// step (lesson→DB p99 ≤ 1 s) and none left a few seconds after it.
pub fn is_sustained(
    offered: f64,
    accepted: f64,
    lesson_to_db_p99_ms: f64,
    catch_up_secs: f64,
) -> bool {
    accepted >= 0.95 * offered && lesson_to_db_p99_ms <= 1000.0 && catch_up_secs <= 5.0
}

/// The highest offered rate a step ladder sustained (0 if none).
pub fn highest_sustained(ladder: &[Step]) -> f64 {
    ladder
        .iter()
        .filter(|s| s.sustained)
        .map(|s| s.offered)
        .fold(0.0, f64::max)
}

/// Index of the median of `values` (the lower middle one for an even count); `None` if empty.
pub fn median_index(values: &[f64]) -> Option<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|a, b| values[*a].total_cmp(&values[*b]));
    order.get(values.len().saturating_sub(1) / 2).copied()
}

/// Smallest and largest of `values`, as "a–b" with `decimals` (or the single value).
pub(crate) fn range_text(values: &[f64], decimals: usize) -> String {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if values.len() < 2 || lo == hi {
        format!("{lo:.decimals$}")
    } else {
        format!("{lo:.decimals$}–{hi:.decimals$}")
    }
}

/// Everything one run measured.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct BenchReport {
    /// Parameters.
    pub params: Option<BenchParams>,
    /// Machine and versions.
    pub machine: BTreeMap<String, String>,
    /// Raw Kafka produce→consume.
    pub kafka_floor: Rate,
    /// Raw PostgreSQL event transactions.
    pub pg_floor: Rate,
    /// Dapr pub/sub publish→delivery.
    pub dapr_floor: Rate,
    /// Step test: the repetition whose highest sustained rate is the median one.
    pub steps: Vec<Step>,
    /// Every repetition of the step test, in run order.
    #[serde(default)]
    pub step_runs: Vec<Vec<Step>>,
    /// Highest sustained rate (lessons/s): the median over the repetitions.
    pub max_sustained: f64,
    /// Lesson-to-DB latency at half the highest sustained rate: the repetition with the median p99.
    pub half_rate: Option<Step>,
    /// Every repetition at half the highest sustained rate, in run order.
    #[serde(default)]
    pub half_rate_runs: Vec<Step>,
    /// Where the median half-rate run's lessons spent their time, from their traces.
    #[serde(default)]
    pub half_rate_stages: Option<TraceStages>,
    /// Gateway at high concurrency (closed loop: that many requests in flight).
    pub gateway: Option<GatewayRun>,
    /// Gateway with that many open connections carrying an open-loop rate.
    #[serde(default)]
    pub gateway_open: Option<GatewayRun>,
    /// Full flow at a fixed rate with telemetry on (100 % sampling) and off.
    pub telemetry_on: Option<Step>,
    /// Same, telemetry off.
    pub telemetry_off: Option<Step>,
    /// Resident memory (MiB) per service: (idle, peak under every load the flow sustained).
    pub memory_mib: BTreeMap<String, (f64, f64)>,
    /// Peak resident memory (MiB) per service over the whole run, overload phases included.
    #[serde(default)]
    pub memory_overload_mib: BTreeMap<String, f64>,
    /// Peak resident memory (MiB) per service in each load phase, in run order.
    #[serde(default)]
    pub memory_phases: Vec<(String, BTreeMap<String, f64>)>,
    /// Accepted lessons/s of each alternating telemetry round: (on, off).
    #[serde(default)]
    pub telemetry_rounds: Vec<(f64, f64)>,
    /// Start-to-ready time (ms) per service.
    pub ready_ms: BTreeMap<String, f64>,
    /// Outbox drain rate (events/s) and the backlog size.
    pub drain: Option<(usize, f64)>,
}

/// The gateway test's result.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct GatewayRun {
    /// Concurrent connections.
    pub concurrency: usize,
    /// Offered requests/s (open loop), or None for a closed loop.
    #[serde(default)]
    pub offered: Option<f64>,
    /// Answered requests per second.
    pub per_second: f64,
    /// Latency (ms).
    pub latency: Quantiles,
    /// Answers by status.
    pub statuses: BTreeMap<u16, u64>,
}
