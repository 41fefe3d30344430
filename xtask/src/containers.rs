//! Containers: `cargo xtask engine start|stop|status` and `cargo xtask compose-test`.
//!
//! `engine start` gives a machine without a running Docker Engine (no systemd, as on the
//! project's own machines) one: `dockerd` on the default socket with its data in the
//! cache, plus every third-party image the compose files need (pulled, or a stand-in built
//! here), so that docker/README.md's commands work as written. `compose-test` runs the
//! compose suite (`tests/e2e/compose.rs`), which starts and stops an engine by itself
//! when none is running.

use std::process::Command;
use std::time::Duration;

use lf_testkit::containers::{self, DEFAULT_SOCKET, Engine};
use lf_testkit::paths::{cache_dir, repo_root};

/// `cargo xtask engine …`.
#[derive(Debug, clap::Subcommand)]
pub enum EngineAction {
    /// Start dockerd unless one answers, and make the third-party images.
    Start,
    /// Stop the dockerd `start` left running.
    Stop,
    /// Whether an engine answers, and which.
    Status,
}

pub fn engine(action: EngineAction) -> Result<(), String> {
    match action {
        EngineAction::Start => start(),
        EngineAction::Stop => stop(),
        EngineAction::Status => status(),
    }
}

fn say(line: &str) {
    crate::say(line);
}

fn start() -> Result<(), String> {
    crate::deps::ensure()?;
    let engine = Engine::ensure(&mut say).map_err(|e| e.to_string())?;
    let stand_ins =
        containers::ensure_third_party_images(&engine, &mut say).map_err(|e| e.to_string())?;
    if !stand_ins.is_empty() {
        say(&format!(
            "stand-ins (docker/README.md): {}",
            stand_ins.join(", ")
        ));
    }
    match engine.detach() {
        Some(pid) => say(&format!(
            "dockerd (pid {pid}) runs at unix://{DEFAULT_SOCKET}; `cargo xtask engine stop` stops it"
        )),
        None => say("the engine was already running; left as it was"),
    }
    Ok(())
}

fn pidfile() -> std::path::PathBuf {
    cache_dir().join("docker").join("dockerd.pid")
}

fn stop() -> Result<(), String> {
    let Some(pid) = std::fs::read_to_string(pidfile())
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
    else {
        say("no dockerd started by `cargo xtask engine start` is running");
        return Ok(());
    };
    let data_root = cache_dir().join("docker").display().to_string();
    if !lf_testkit::process::pid_is_ours(pid, &data_root) {
        say(&format!(
            "pid {pid} is not a dockerd of ours; nothing stopped"
        ));
        return Ok(());
    }
    say(&format!("stopping dockerd (pid {pid})"));
    lf_testkit::process::stop_pid(pid, Duration::from_secs(30));
    Ok(())
}

fn status() -> Result<(), String> {
    let out = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .map_err(|e| format!("running docker: {e}"))?;
    if out.status.success() {
        say(&format!(
            "Docker Engine {} answers",
            String::from_utf8_lossy(&out.stdout).trim()
        ));
        Ok(())
    } else {
        Err(format!(
            "no Docker Engine answers: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `cargo xtask compose-test`: the compose suite on its own.
pub fn compose_test() -> Result<(), String> {
    crate::deps::ensure()?;
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(repo_root())
        .args([
            "test",
            "-p",
            "learnflow-e2e",
            "--test",
            "compose",
            "--",
            "--nocapture",
        ])
        .status()
        .map_err(|e| format!("running cargo test: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the compose suite failed ({status})"))
    }
}
