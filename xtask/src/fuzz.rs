//! `cargo xtask fuzz [--seconds N]`: every cargo-fuzz target in `fuzz/`, N seconds
//! each (20 by default: the CI smoke run; more on demand).
//!
//! cargo-fuzz is installed into the cache (`~/.cache/learnflow/cargo-fuzz-<version>`)
//! on first use. Targets build with the pinned stable toolchain and `RUSTC_BOOTSTRAP=1`
//! (cargo-fuzz passes `-Z` sanitizer and coverage flags), so no nightly is needed.
//! Each run starts from the committed seeds in `fuzz/corpus/<target>/` and keeps what
//! it discovers in `target/fuzz/corpus/<target>/` (reused by later runs, never
//! committed). A crash, timeout or leak fails the command; libFuzzer saves the input
//! under `fuzz/artifacts/<target>/` (ignored by git) and prints how to reproduce it.

use std::path::Path;
use std::process::Command;

use lf_testkit::paths::{repo_root, target_dir};

use crate::cargo_tools;

/// Every target (`[[bin]]` of `fuzz/Cargo.toml`).
const TARGETS: &[&str] = &["cloud_event", "api_json", "gateway_request", "bearer_token"];
/// Seconds per target unless `--seconds` says otherwise.
pub const DEFAULT_SECONDS: u64 = 20;
/// Seconds one input may take before libFuzzer calls it a hang.
const INPUT_TIMEOUT_SECONDS: u64 = 10;

/// `cargo xtask fuzz [--seconds N]`.
pub fn run(seconds: u64) -> Result<(), String> {
    let cargo_fuzz = cargo_tools::ensure("cargo-fuzz", cargo_tools::CARGO_FUZZ)?;
    let mut summary = Vec::new();
    for target in TARGETS {
        summary.push(run_target(&cargo_fuzz, target, seconds)?);
    }
    for line in summary {
        crate::say(&line);
    }
    Ok(())
}

/// Runs one target for `seconds`; returns a summary line (executions, corpus size).
fn run_target(cargo_fuzz: &Path, target: &str, seconds: u64) -> Result<String, String> {
    let seeds = repo_root().join("fuzz").join("corpus").join(target);
    let found = target_dir().join("fuzz").join("corpus").join(target);
    std::fs::create_dir_all(&found).map_err(|e| format!("creating {}: {e}", found.display()))?;
    crate::say(&format!("fuzzing {target} for {seconds} s"));
    let output = Command::new(cargo_fuzz)
        .current_dir(repo_root())
        .env("RUSTC_BOOTSTRAP", "1")
        .arg("run")
        .arg("--target-dir")
        .arg(target_dir().join("fuzz"))
        .arg(target)
        // libFuzzer adds new inputs to the first directory only: the committed seeds stay as written.
        .arg(&found)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-timeout={INPUT_TIMEOUT_SECONDS}"))
        .arg("-print_final_stats=1")
        .output()
        .map_err(|e| format!("running cargo-fuzz: {e}"))?;
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() {
        let tail: Vec<&str> = log.lines().rev().take(60).collect();
        eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        return Err(format!(
            "fuzz target {target} failed ({}); the input is under fuzz/artifacts/{target}/",
            output.status
        ));
    }
    let runs = final_stat(&log, "stat::number_of_executed_units:").unwrap_or_default();
    let corpus = std::fs::read_dir(&found).map(|d| d.count()).unwrap_or(0);
    Ok(format!(
        "{target}: {runs} executions in {seconds} s, no crash; corpus {corpus} inputs in {}",
        found.display()
    ))
}

/// A number from libFuzzer's `-print_final_stats` lines.
fn final_stat(log: &str, key: &str) -> Option<u64> {
    log.lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::final_stat;

    #[test]
    fn reads_stats() {
        let log = "stat::number_of_executed_units: 679761\nstat::peak_rss_mb: 520\n";
        assert_eq!(
            final_stat(log, "stat::number_of_executed_units:"),
            Some(679_761)
        );
        assert_eq!(final_stat(log, "stat::missing:"), None);
    }
}
