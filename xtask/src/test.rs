//! `cargo xtask test`: everything CI runs.
//!
//! 1. provision the stack's components;
//! 2. `cargo fmt --check`, `cargo clippy --all-targets -D warnings`, cargo-machete (no
//!    unused dependencies) and cargo-deny (licenses, bans, sources: `deny.toml`);
//! 3. the offline deploy checks (`tests/deploy`, see `deploy_check`);
//! 4. build every binary (end-to-end tests run the real service binaries);
//! 5. a short run of every fuzz target (`cargo xtask fuzz`);
//! 6. start a PostgreSQL for the per-service `#[sqlx::test]`s and run all tests.

use std::process::Command;

use lf_testkit::components::RunDir;
use lf_testkit::components::postgres::Postgres;
use lf_testkit::paths::repo_root;
use lf_testkit::tools::Toolchain;

use crate::cargo_tools::cargo_bin;

pub fn run() -> Result<(), String> {
    crate::deps::ensure()?;
    cargo(&["fmt", "--all", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    crate::cargo_tools::unused_dependencies()?;
    crate::cargo_tools::supply_chain()?;
    crate::deploy_check::check()?;
    cargo(&["build", "--workspace", "--bins"])?;
    crate::fuzz::run(crate::fuzz::DEFAULT_SECONDS)?;
    let tools = Toolchain::locate().map_err(|e| e.to_string())?;
    let mut run = RunDir::create("xtask-test", false).map_err(|e| e.to_string())?;
    crate::say("starting PostgreSQL for per-service tests");
    let postgres = Postgres::start(&mut run, &tools).map_err(|e| e.to_string())?;
    let database_url = postgres.url("postgres");
    let status = Command::new(cargo_bin())
        .current_dir(repo_root())
        .args(["test", "--workspace", "--no-fail-fast"])
        .env("DATABASE_URL", &database_url)
        .env("SQLX_OFFLINE", "true")
        .status()
        .map_err(|e| format!("running cargo test: {e}"))?;
    drop(postgres);
    if !status.success() {
        run.keep();
        return Err(format!(
            "cargo test failed ({status}); stack logs: {}",
            run.path().display()
        ));
    }
    crate::say("all checks passed");
    Ok(())
}

pub(crate) fn cargo(args: &[&str]) -> Result<(), String> {
    crate::say(&format!("cargo {}", args.join(" ")));
    let status = Command::new(cargo_bin())
        .current_dir(repo_root())
        .args(args)
        .status()
        .map_err(|e| format!("running cargo {}: {e}", args.join(" ")))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo {} failed ({status})", args.join(" ")))
    }
}
