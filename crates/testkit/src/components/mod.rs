//! The stack's components, each a real process on free loopback ports in its own directory.

pub mod alertmanager;
pub mod daprd;
pub mod jaeger;
pub mod kafka;
pub mod postgres;
pub mod postgres_exporter;
pub mod prometheus;
pub mod service;
pub mod victorialogs;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::paths::runs_dir;
use crate::process::{ManagedProcess, ProcessSpec, pid_is_ours, stop_pid};
use crate::wait::{http_status_is, until_ready};
use crate::{HarnessError, Result};

/// A process of a run that serves HTTP on a loopback port: Prometheus, Alertmanager, an
/// exporter. Those components deref to it for `url`, `port`, `pid` and `process`.
#[derive(Debug)]
pub struct HttpProcess {
    process: ManagedProcess,
    port: u16,
}

impl HttpProcess {
    /// Starts `spec` as one of `run`'s processes; it is to serve on `port`.
    pub fn spawn(run: &mut RunDir, spec: ProcessSpec, port: u16) -> Result<Self> {
        let process = run.spawn(spec)?;
        Ok(Self { process, port })
    }

    /// Waits up to 30 s until `GET path` answers 200 (failing early if the process exits).
    pub fn wait_answering(&mut self, path: &str) -> Result<()> {
        let port = self.port;
        until_ready(
            &mut self.process,
            std::time::Duration::from_secs(30),
            || http_status_is(port, path, 200),
        )
    }

    /// Base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `host:port`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The underlying process (chaos: stop, kill, freeze).
    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }
}

/// `Deref`/`DerefMut` to the component's `server: HttpProcess` field.
macro_rules! serves_http {
    ($component:ty) => {
        impl std::ops::Deref for $component {
            type Target = super::HttpProcess;
            fn deref(&self) -> &super::HttpProcess {
                &self.server
            }
        }

        impl std::ops::DerefMut for $component {
            fn deref_mut(&mut self) -> &mut super::HttpProcess {
                &mut self.server
            }
        }
    };
}
pub(crate) use serves_http;

/// Tells apart run directories made by one process.
static RUN_SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A directory for one run of the stack: data, rendered configs and logs.
///
/// It records its owner's pid and every process started in it, so a later run
/// can stop leftovers of an owner that died without cleaning up.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    keep: bool,
    record: RunRecord,
}

/// What a run directory records about itself (`run.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunRecord {
    /// The pid of the process that owns the run.
    pub owner_pid: u32,
    /// True for `xtask up --detach` runs, which outlive their owner on purpose.
    pub detached: bool,
    /// Pids of processes started in this run.
    pub pids: Vec<u32>,
}

impl RunDir {
    /// Creates a fresh run directory named after `label`, first stopping leftovers of dead owners.
    pub fn create(label: &str, detached: bool) -> Result<Self> {
        reap_orphans();
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        // Tests of one binary start stacks on parallel threads, often in the same
        // millisecond: the counter keeps their names apart, and `create_dir` (not
        // `create_dir_all`) refuses a directory that somebody else already made.
        let sequence = RUN_SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let path = runs_dir().join(format!("{label}-{stamp}-{}-{sequence}", std::process::id()));
        std::fs::create_dir_all(runs_dir()).map_err(HarnessError::io(format!(
            "creating {}",
            runs_dir().display()
        )))?;
        std::fs::create_dir(&path)
            .map_err(HarnessError::io(format!("creating {}", path.display())))?;
        let run = Self {
            path,
            keep: detached,
            record: RunRecord {
                owner_pid: std::process::id(),
                detached,
                pids: Vec::new(),
            },
        };
        run.save()?;
        Ok(run)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A subdirectory, created if needed.
    pub fn subdir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.path.join(name);
        std::fs::create_dir_all(&dir)
            .map_err(HarnessError::io(format!("creating {}", dir.display())))?;
        Ok(dir)
    }

    /// Whether processes of this run outlive their owner.
    pub fn detached(&self) -> bool {
        self.record.detached
    }

    /// Starts `spec` as one of this run's processes: detached when the run is, and tracked.
    pub fn spawn(&mut self, mut spec: ProcessSpec) -> Result<ManagedProcess> {
        spec.detached = self.detached();
        let process = ManagedProcess::spawn(spec)?;
        self.track(process.pid())?;
        Ok(process)
    }

    /// Records a started pid.
    pub fn track(&mut self, pid: u32) -> Result<()> {
        self.record.pids.push(pid);
        self.save()
    }

    /// Keeps the directory (logs) after the run, e.g. when a test failed.
    pub fn keep(&mut self) {
        self.keep = true;
    }

    /// Stops every process recorded in this run (used when a detached start fails half-way).
    pub fn stop_recorded(&self) {
        let marker = self.path.to_string_lossy().into_owned();
        for pid in self.record.pids.iter().rev() {
            if pid_is_ours(*pid, &marker) {
                stop_pid(*pid, std::time::Duration::from_secs(10));
            }
        }
    }

    fn save(&self) -> Result<()> {
        let json = serde_json::to_vec_pretty(&self.record).map_err(|e| HarnessError::Command {
            what: "serialising run record".into(),
            detail: e.to_string(),
        })?;
        std::fs::write(self.path.join("run.json"), json)
            .map_err(HarnessError::io("writing run.json"))
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("native stack logs kept in {}", self.path.display());
            return;
        }
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Stops processes left by runs whose owner died, and removes their directories.
pub fn reap_orphans() {
    let Ok(entries) = std::fs::read_dir(runs_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let Ok(text) = std::fs::read(dir.join("run.json")) else {
            continue;
        };
        let Ok(record) = serde_json::from_slice::<RunRecord>(&text) else {
            continue;
        };
        let owner_alive = Path::new(&format!("/proc/{}", record.owner_pid)).exists();
        if record.detached || owner_alive {
            continue;
        }
        let marker = dir.to_string_lossy().into_owned();
        for pid in record.pids {
            if pid_is_ours(pid, &marker) {
                stop_pid(pid, std::time::Duration::from_secs(5));
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Renders a template from `deploy/local/`, replacing each `${NAME}` with its value.
pub fn render(template: &Path, vars: &[(&str, String)], out: &Path) -> Result<()> {
    let mut text = std::fs::read_to_string(template)
        .map_err(HarnessError::io(format!("reading {}", template.display())))?;
    for (name, value) in vars {
        text = text.replace(&format!("${{{name}}}"), value);
    }
    if let Some(at) = text.find("${") {
        let rest: String = text[at..].chars().take(40).collect();
        return Err(HarnessError::Command {
            what: format!("rendering {}", template.display()),
            detail: format!("unfilled placeholder at {rest:?}"),
        });
    }
    std::fs::write(out, text).map_err(HarnessError::io(format!("writing {}", out.display())))
}

/// Copies a repository file to `out` with each literal `(from, to)` replaced; an error
/// naming the file when a `from` is not in it (the file changed under the harness, which
/// would otherwise run it unadjusted).
pub fn rewrite(file: &Path, replacements: &[(&str, &str)], out: &Path) -> Result<()> {
    let mut text = std::fs::read_to_string(file)
        .map_err(HarnessError::io(format!("reading {}", file.display())))?;
    for (from, to) in replacements {
        if !text.contains(from) {
            return Err(HarnessError::Command {
                what: format!("rendering {}", file.display()),
                detail: format!("expected {from:?} in it"),
            });
        }
        text = text.replace(from, to);
    }
    std::fs::write(out, text).map_err(HarnessError::io(format!("writing {}", out.display())))
}

/// Runs a short command to completion; fails with its output if it exits non-zero.
pub fn run_command(what: &str, cmd: &mut std::process::Command) -> Result<String> {
    let out = cmd
        .output()
        .map_err(HarnessError::io(format!("running {what}")))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(HarnessError::Command {
            what: what.to_owned(),
            detail: format!("{}: {}", out.status, text.trim()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::RunDir;

    #[test]
    fn run_directories_made_at_once_by_one_process_are_distinct() {
        // Many at once so that several share a millisecond, as parallel tests do.
        let runs: Vec<RunDir> = (0..50)
            .map(|_| RunDir::create("unit-distinct", false).expect("run directory"))
            .collect();
        let mut paths: Vec<_> = runs.iter().map(|run| run.path().to_owned()).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), runs.len(), "two runs shared a directory");
    }
}
