//! The benchmark behind `cargo xtask bench`: the flow against its physical floors,
//! measured in one run on one machine, written to `docs/benchmarks.json`.
//!
//! Floors: raw Kafka produce→consume through rdkafka; raw PostgreSQL idempotent
//! event transactions with user-progress's schema; Dapr pub/sub (publish through a
//! daprd → Kafka → a daprd delivering to an app that does nothing). Then the full
//! flow: its highest sustained rate (open-loop steps), lesson-to-DB latency at half
//! that rate, the gateway at high concurrency, telemetry on vs off, memory and
//! start-to-ready time of each service, and outbox drain speed.
//!
//! Parts: `floors` (the raw Kafka floor), `process` (CPU and memory from `/proc`) and
//! `stages` (a lesson's time by stage, from its trace). The report's types and its
//! rendering are `lf-bench-report`'s (re-exported here): this test writes the report as
//! JSON, `cargo xtask bench` renders it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod floors;
mod process;
mod stages;
#[cfg(test)]
mod tests;

pub use floors::kafka_floor;
pub use lf_bench_report::*;
pub use process::{CpuSnapshot, PeakSampler, rss_mib};
pub use stages::{lesson_trace_stages, trace_stages};
