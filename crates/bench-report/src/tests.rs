//! Unit tests of the report's criteria.

use super::{is_sustained, median_index, range_text};

#[test]
fn a_step_with_a_growing_backlog_is_not_sustained() {
    assert!(is_sustained(100.0, 99.0, 40.0, 0.0));
    assert!(!is_sustained(100.0, 99.0, 2500.0, 0.0));
    assert!(!is_sustained(100.0, 90.0, 40.0, 0.0));
    assert!(!is_sustained(100.0, 99.0, 40.0, 6.0));
}

#[test]
fn the_median_is_picked_by_value_not_by_position() {
    assert_eq!(median_index(&[300.0, 400.0, 200.0]), Some(0));
    assert_eq!(median_index(&[77.3, 39.6, 48.5]), Some(2));
    assert_eq!(median_index(&[5.0, 1.0]), Some(1));
    assert_eq!(median_index(&[]), None);
    assert_eq!(range_text(&[300.0, 400.0, 200.0], 0), "200–400");
    assert_eq!(range_text(&[300.0, 300.0], 0), "300");
}

/// docs/benchmarks.md and the plot are what this crate renders from docs/benchmarks.json:
/// neither is edited by hand nor left behind by a change to the rendering
/// (`cargo xtask bench --render` writes them again).
#[test]
fn the_committed_report_is_rendered_from_its_json() {
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs");
    let read = |name: &str| std::fs::read_to_string(docs.join(name)).expect(name);
    let report: super::BenchReport =
        serde_json::from_str(&read("benchmarks.json")).expect("a benchmark report");
    assert!(
        super::markdown(&report) == read("benchmarks.md"),
        "docs/benchmarks.md is not the rendering of docs/benchmarks.json: run `cargo xtask bench --render`"
    );
    assert!(
        super::svg(&report.steps) == read("benchmarks-latency.svg"),
        "docs/benchmarks-latency.svg is not the rendering of docs/benchmarks.json: run `cargo xtask bench --render`"
    );
}
