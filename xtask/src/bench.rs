//! `cargo xtask bench`: the full benchmark; writes `docs/benchmarks.md`, `.json` and the plot.
//!
//! It is the `bench` test run with `LEARNFLOW_BENCH=full`, services and test in release
//! mode; `cargo xtask test` runs the same test as a seconds-long smoke run.

pub fn run() -> Result<(), String> {
    crate::suite::run_full(
        "bench",
        "LEARNFLOW_BENCH",
        true,
        "the benchmark (docs/benchmarks.md)",
    )
}
