//! `cargo xtask bench`: the full benchmark, then its report.
//!
//! The measuring is the `bench` test run with `LEARNFLOW_BENCH=full`, services and test in
//! release mode; it writes `docs/benchmarks.json`. Rendering that into `docs/benchmarks.md`
//! and the latency plot is done here, with `lf-bench-report` (`--render` does only that).
//! `cargo xtask test` runs the same test as a seconds-long smoke run.

use std::path::Path;

use lf_bench_report::{BenchReport, markdown, svg};
use lf_testkit::paths::repo_root;

pub fn run(render_only: bool) -> Result<(), String> {
    if !render_only {
        crate::suite::run_full(
            "bench",
            "LEARNFLOW_BENCH",
            true,
            "the benchmark (docs/benchmarks.json)",
        )?;
    }
    render(&repo_root().join("docs"))
}

/// Renders `<docs>/benchmarks.json` into `benchmarks.md` and `benchmarks-latency.svg`.
fn render(docs: &Path) -> Result<(), String> {
    let json = docs.join("benchmarks.json");
    let text =
        std::fs::read_to_string(&json).map_err(|e| format!("reading {}: {e}", json.display()))?;
    let report: BenchReport = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a benchmark report: {e}", json.display()))?;
    for (name, content) in [
        ("benchmarks.md", markdown(&report)),
        ("benchmarks-latency.svg", svg(&report.steps)),
    ] {
        let path = docs.join(name);
        std::fs::write(&path, content).map_err(|e| format!("writing {}: {e}", path.display()))?;
        crate::say(&format!("wrote {}", path.display()));
    }
    Ok(())
}
