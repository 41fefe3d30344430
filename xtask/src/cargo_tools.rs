//! Cargo subcommands the checks use, each `cargo install`ed from crates.io at a pinned
//! version into the cache (`~/.cache/learnflow/<crate>-<version>`), never into the
//! user's `~/.cargo/bin`: cargo-fuzz (`cargo xtask fuzz`), cargo-machete (unused
//! dependencies) and cargo-deny (licenses, bans, sources: `deny.toml`), the last two run by
//! `cargo xtask test`.

use std::path::PathBuf;
use std::process::Command;

use lf_testkit::paths::{cache_dir, repo_root};

/// cargo-fuzz version installed into the cache.
pub const CARGO_FUZZ: &str = "0.13.2";
/// cargo-machete version installed into the cache.
pub const CARGO_MACHETE: &str = "0.9.2";
/// cargo-deny version installed into the cache.
pub const CARGO_DENY: &str = "0.20.2";

/// `cargo` as this xtask was started with.
pub fn cargo_bin() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// The binary `krate` installs, from the cache, installing it there first if needed
/// (a minute or two on 2 cores).
pub fn ensure(krate: &str, version: &str) -> Result<PathBuf, String> {
    let root = cache_dir().join(format!("{krate}-{version}"));
    let bin = root.join("bin").join(krate);
    if bin.is_file() {
        return Ok(bin);
    }
    crate::say(&format!(
        "installing {krate} {version} into {}",
        root.display()
    ));
    let status = Command::new(cargo_bin())
        .current_dir(repo_root())
        .args(["install", krate, "--locked", "--version", version])
        .arg("--root")
        .arg(&root)
        .status()
        .map_err(|e| format!("running cargo install {krate}: {e}"))?;
    if status.success() && bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "cargo install {krate} {version} failed ({status}); it needs crates.io and a C/C++ compiler (apt-get install -y build-essential)"
        ))
    }
}

/// Fails when a crate of the workspace (or `fuzz/`) declares a dependency it never uses.
/// Exceptions go in that crate's `[package.metadata.cargo-machete] ignored`, with a reason.
pub fn unused_dependencies() -> Result<(), String> {
    run_checker(
        "cargo-machete",
        CARGO_MACHETE,
        &[],
        "cargo machete (unused dependencies)",
        "remove them, or list one under [package.metadata.cargo-machete] ignored with a comment saying why",
    )
}

/// `cargo deny check licenses bans sources` against `deny.toml`: only permissive licenses,
/// no second version of a crate unless `deny.toml` says who brings it, no banned crate,
/// crates.io only. Advisories are left out: their database is on GitHub (ADR 0027).
pub fn supply_chain() -> Result<(), String> {
    run_checker(
        "cargo-deny",
        CARGO_DENY,
        &["check", "licenses", "bans", "sources"],
        "cargo deny check licenses bans sources (deny.toml)",
        "change the dependency, or add an exception to deny.toml with its reason",
    )
}

/// Runs the cached `krate` with `args` in the repository; a failure says `remedy`.
fn run_checker(
    krate: &str,
    version: &str,
    args: &[&str],
    progress: &str,
    remedy: &str,
) -> Result<(), String> {
    let bin = ensure(krate, version)?;
    crate::say(progress);
    let status = Command::new(&bin)
        .current_dir(repo_root())
        .args(args)
        .status()
        .map_err(|e| format!("running {krate}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{krate} found a problem ({status}): {remedy}"))
    }
}
