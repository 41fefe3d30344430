//! `cargo xtask chaos`: the full chaos suite; writes `docs/resilience.md`.
//!
//! It is the `chaos` end-to-end test run with `LEARNFLOW_CHAOS=full` (longer outages,
//! more load); `cargo xtask test` runs the same test in its reduced form.

use std::process::Command;

use lf_testkit::paths::repo_root;

pub fn run() -> Result<(), String> {
    crate::deps::ensure()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .current_dir(repo_root())
        .args(["build", "--workspace", "--bins"])
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("building the services failed".into());
    }
    crate::say("running the full chaos suite (about 10 minutes)");
    let status = Command::new(&cargo)
        .current_dir(repo_root())
        .args([
            "test",
            "-p",
            "learnflow-e2e",
            "--test",
            "chaos",
            "--",
            "--nocapture",
        ])
        .env("LEARNFLOW_CHAOS", "full")
        .env("SQLX_OFFLINE", "true")
        .status()
        .map_err(|e| e.to_string())?;
    if status.success() {
        crate::say("docs/resilience.md written");
        Ok(())
    } else {
        Err(format!(
            "the chaos suite failed ({status}); docs/resilience.md shows what was measured"
        ))
    }
}
