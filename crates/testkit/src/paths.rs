//! Where things live: the repository, the cache outside it, and per-run directories.

use std::path::PathBuf;

/// Environment entry overriding the cache directory.
pub const CACHE_ENV: &str = "LEARNFLOW_CACHE";

/// The repository root (this crate sits at `crates/testkit`).
pub fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .and_then(|p| p.parent())
        .map(PathBuf::from)
        .unwrap_or(manifest)
}

/// The cargo target directory (`CARGO_TARGET_DIR` or `<repo>/target`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// The provisioning cache: `LEARNFLOW_CACHE`, else `~/.cache/learnflow`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(CACHE_ENV) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("learnflow")
}

/// Parent of every run directory. Under the system temp dir so that PostgreSQL,
/// which runs as the `postgres` user when we are root, can reach it.
pub fn runs_dir() -> PathBuf {
    std::env::temp_dir().join("learnflow-runs")
}

/// Where `cargo xtask up --detach` writes the stack description.
pub fn stack_json() -> PathBuf {
    target_dir().join("learnflow").join("stack.json")
}

/// A built binary of this workspace (debug profile unless `LEARNFLOW_PROFILE` says otherwise).
pub fn workspace_binary(name: &str) -> PathBuf {
    let profile = std::env::var("LEARNFLOW_PROFILE").unwrap_or_else(|_| "debug".into());
    target_dir().join(profile).join(name)
}
