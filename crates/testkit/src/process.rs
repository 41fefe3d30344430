//! A managed child process: own log file, own process group, and no way to outlive its owner.
//!
//! Each process starts through `setpriv --pdeathsig KILL`, so the kernel kills it
//! if the thread that started it dies (a crashed or killed test included), and in
//! its own process group, so stopping it also stops whatever it forked. Dropping a
//! [`ManagedProcess`] stops it unless it was started detached
//! (`cargo xtask up --detach`), in which case `cargo xtask down` stops it by pid.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::{HarnessError, Result};

/// How to start a process.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// Short name used in messages, e.g. `daprd[course-agent]`.
    pub name: String,
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Extra environment entries.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
    /// Where stdout and stderr go (appended, so restarts keep history).
    pub log: PathBuf,
    /// Run as this user (only when we are root; PostgreSQL refuses to run as root).
    pub run_as: Option<String>,
    /// The signal that asks it to stop cleanly.
    pub stop_signal: Signal,
    /// Keep running after the owner exits (`xtask up --detach`).
    pub detached: bool,
}

impl ProcessSpec {
    /// A spec for `program` logging to `log`, stopped by SIGTERM.
    pub fn new(
        name: impl Into<String>,
        program: impl Into<PathBuf>,
        log: impl Into<PathBuf>,
    ) -> Self {
        Self {
            name: name.into(),
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            log: log.into(),
            run_as: None,
            stop_signal: Signal::SIGTERM,
            detached: false,
        }
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Adds an environment entry.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// A running (or stopped) child process.
#[derive(Debug)]
pub struct ManagedProcess {
    spec: ProcessSpec,
    child: Option<Child>,
    pid: u32,
}

impl ManagedProcess {
    /// Starts the process described by `spec`.
    pub fn spawn(spec: ProcessSpec) -> Result<Self> {
        let child = start(&spec)?;
        let pid = child.id();
        Ok(Self {
            spec,
            child: Some(child),
            pid,
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Its current (or last) pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Its log file.
    pub fn log_path(&self) -> &Path {
        &self.spec.log
    }

    /// `Some(description)` if it has exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.as_mut() {
            None => Some("not running".into()),
            Some(child) => match child.try_wait() {
                Ok(Some(status)) => Some(format!("exited with {status}")),
                Ok(None) => None,
                Err(e) => Some(format!("cannot be waited for: {e}")),
            },
        }
    }

    /// True while it runs (a frozen process counts as running).
    pub fn is_running(&mut self) -> bool {
        self.exited().is_none()
    }

    /// Asks it to stop with its stop signal, waits up to `grace`, then kills it. Returns
    /// how it exited when it did so by itself within `grace` after the signal; `None` when
    /// it had to be killed, or was not running.
    pub fn stop(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        if matches!(child.try_wait(), Ok(Some(_))) {
            return None;
        }
        let group = Pid::from_raw(self.pid as i32);
        // A frozen process cannot act on SIGTERM: thaw it first.
        let _ = killpg(group, Signal::SIGCONT);
        let _ = killpg(group, self.spec.stop_signal);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                // Reap stragglers in the group too.
                let _ = killpg(group, Signal::SIGKILL);
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = killpg(group, Signal::SIGKILL);
        let _ = child.wait();
        None
    }

    /// kill -9 of the whole process group; waits until it is gone.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = killpg(Pid::from_raw(self.pid as i32), Signal::SIGKILL);
            let _ = child.wait();
        }
    }

    /// Freezes it (SIGSTOP): it keeps its sockets but answers nothing.
    pub fn freeze(&self) -> Result<()> {
        self.signal(Signal::SIGSTOP)
    }

    /// Thaws a frozen process (SIGCONT).
    pub fn thaw(&self) -> Result<()> {
        self.signal(Signal::SIGCONT)
    }

    fn signal(&self, signal: Signal) -> Result<()> {
        killpg(Pid::from_raw(self.pid as i32), signal).map_err(|e| HarnessError::Command {
            what: format!("sending {signal} to {}", self.spec.name),
            detail: e.to_string(),
        })
    }

    /// Starts it again with the same spec (same ports and data), stopping it first if needed.
    pub fn restart(&mut self, grace: Duration) -> Result<()> {
        self.stop(grace);
        let child = start(&self.spec)?;
        self.pid = child.id();
        self.child = Some(child);
        Ok(())
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.spec.log, lines)
    }

    /// Leaves the process running after this handle is dropped; returns its pid.
    pub fn detach(mut self) -> u32 {
        self.child = None;
        self.pid
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        if self.spec.detached {
            return;
        }
        self.stop(Duration::from_secs(10));
    }
}

fn start(spec: &ProcessSpec) -> Result<Child> {
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log)
        .map_err(HarnessError::io(format!(
            "opening log {}",
            spec.log.display()
        )))?;
    let log_err = log
        .try_clone()
        .map_err(HarnessError::io("cloning log handle"))?;
    let needs_setpriv =
        !spec.detached || (spec.run_as.is_some() && nix::unistd::geteuid().is_root());
    let mut cmd = if needs_setpriv {
        let setpriv = crate::tools::system_binary("setpriv", "apt-get install -y util-linux")?;
        let mut c = Command::new(setpriv);
        if let Some(user) = spec
            .run_as
            .as_deref()
            .filter(|_| nix::unistd::geteuid().is_root())
        {
            c.args(["--reuid", user, "--regid", user, "--clear-groups"]);
        }
        if !spec.detached {
            c.args(["--pdeathsig", "KILL"]);
        }
        c.arg("--").arg(&spec.program);
        c
    } else {
        Command::new(&spec.program)
    };
    cmd.args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0);
    if let Some(cwd) = &spec.cwd {
        cmd.current_dir(cwd);
    }
    cmd.spawn().map_err(HarnessError::io(format!(
        "starting {} ({})",
        spec.name,
        spec.program.display()
    )))
}

/// The last `lines` lines of a file (at most the last 64 KiB are read).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = std::fs::File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut text = String::new();
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_ok() {
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// True if `pid` is alive and its command line or working directory mentions
/// `marker`, a run directory (guards against pid reuse).
pub fn pid_is_ours(pid: u32, marker: &str) -> bool {
    let in_cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains(marker))
        .unwrap_or(false);
    let in_cwd = std::fs::read_link(format!("/proc/{pid}/cwd"))
        .map(|p| p.starts_with(marker))
        .unwrap_or(false);
    in_cmdline || in_cwd
}

/// Stops a process group we no longer hold a handle for (detached stacks, leftovers):
/// `signal` first, SIGKILL after `grace`, and waits until no member of the group is left.
pub fn stop_group(pgid: u32, signal: Signal, grace: Duration) {
    let group = Pid::from_raw(pgid as i32);
    let _ = killpg(group, Signal::SIGCONT);
    let _ = killpg(group, signal);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if !group_alive(pgid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = killpg(group, Signal::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(5);
    while group_alive(pgid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// [`stop_group`] with SIGTERM.
pub fn stop_pid(pid: u32, grace: Duration) {
    stop_group(pid, Signal::SIGTERM, grace);
}

/// True while any live (non-zombie) process belongs to process group `pgid`.
pub fn group_alive(pgid: u32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|e| {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            return false;
        };
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|stat| {
                let (_, rest) = stat.rsplit_once(')')?;
                let mut fields = rest.split_whitespace();
                let state = fields.next()?;
                let pgrp: u32 = fields.nth(1)?.parse().ok()?;
                Some(pgrp == pgid && state != "Z")
            })
            .unwrap_or(false)
    })
}

/// True when `pid` is gone or a zombie (exited, not yet reaped).
pub(crate) fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn sleeper(dir: &Path) -> ProcessSpec {
        ProcessSpec::new("sleeper", "/bin/sh", dir.join("sleeper.log"))
            .args(["-c", "echo started; exec sleep 30"])
    }

    #[test]
    fn stop_freeze_thaw_restart_and_kill() {
        let dir = std::env::temp_dir().join(format!("lf-process-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut p = ManagedProcess::spawn(sleeper(&dir)).unwrap();
        assert!(p.is_running());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !log_tail(p.log_path(), 5).contains("started") && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(log_tail(p.log_path(), 5).contains("started"));
        p.freeze().unwrap();
        assert!(p.is_running());
        p.thaw().unwrap();
        let first = p.pid();
        p.restart(Duration::from_secs(2)).unwrap();
        assert_ne!(first, p.pid());
        assert!(!Path::new(&format!("/proc/{first}")).exists() || is_zombie(first));
        p.kill9();
        assert!(!p.is_running());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn dropping_stops_the_process() {
        let dir = std::env::temp_dir().join(format!("lf-process-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = ManagedProcess::spawn(sleeper(&dir)).unwrap();
        let pid = p.pid();
        drop(p);
        assert!(!Path::new(&format!("/proc/{pid}")).exists() || is_zombie(pid));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
