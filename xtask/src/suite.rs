//! Running a long end-to-end test in its full form (`cargo xtask chaos`, `cargo xtask bench`).

use std::process::Command;

use lf_testkit::paths::repo_root;

/// Builds the services and runs test `test` of `learnflow-e2e` with `env_var=full`,
/// in release mode when `release` (services included).
pub fn run_full(test: &str, env_var: &str, release: bool, what: &str) -> Result<(), String> {
    crate::deps::ensure()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let profile: &[&str] = if release { &["--release"] } else { &[] };
    let status = Command::new(&cargo)
        .current_dir(repo_root())
        .arg("build")
        .args(profile)
        .args(["--workspace", "--bins"])
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("building the services failed".into());
    }
    crate::say(&format!("running {what} (about 10 minutes)"));
    let status = Command::new(&cargo)
        .current_dir(repo_root())
        .arg("test")
        .args(profile)
        .args(["-p", "learnflow-e2e", "--test", test, "--", "--nocapture"])
        .env(env_var, "full")
        .env(
            "LEARNFLOW_PROFILE",
            if release { "release" } else { "debug" },
        )
        .env("SQLX_OFFLINE", "true")
        .status()
        .map_err(|e| e.to_string())?;
    if status.success() {
        crate::say(&format!("{what} done"));
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}
