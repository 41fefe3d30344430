//! Provisioning of the pinned third-party components into the cache (`cargo xtask deps`).
//!
//! Idempotent and keyed by version: each component lands in its own versioned
//! directory with a completion marker and a `provision.json` recording how long
//! it took and how big it is. Long steps print a heartbeat line every 15 s and
//! keep their full output in `<cache>/logs/`.
//!
//! What is built from Go modules is in `go`, what comes from Maven Central in `maven`;
//! here: the records, the Debian prerequisites, the Python and Node tools, and the
//! shared machinery (`ensure`, `run_with_heartbeat`, [`disk_usage`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::devtools;
use crate::paths::{cache_dir, repo_root};
use crate::system::Need;
use crate::tools::{self, DONE_MARKER};
use crate::{HarnessError, Result};

mod go;
mod maven;
pub(crate) use go::{check_go, go_env, module_source};
pub use go::{ensure_alertmanager, ensure_daprd, ensure_helm, ensure_jaeger, ensure_victorialogs};
pub use maven::{ensure_jmx_exporter, ensure_kafka};

/// What provisioning one component did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProvisionRecord {
    /// Component name.
    pub component: String,
    /// Version provisioned.
    pub version: String,
    /// Seconds the cold provisioning took (when it was done).
    pub cold_seconds: f64,
    /// Bytes downloaded into the Go module or Maven cache during provisioning, when measurable.
    pub downloaded_bytes: Option<u64>,
    /// Size of the result (binary or jar directory) in bytes.
    pub size_bytes: u64,
}

/// Outcome of ensuring one component.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The record (from this run or an earlier one).
    pub record: ProvisionRecord,
    /// True if it was already provisioned.
    pub cached: bool,
    /// Seconds this call took.
    pub seconds: f64,
}

/// The Debian packages the native stack, the builds and the checks need, each with a
/// check of whether what it provides is already on the machine.
pub fn native_needs() -> Vec<Need> {
    let on_path = |name: &str| tools::which(name).is_some();
    vec![
        Need::check("postgresql", || tools::postgres_bin().is_ok()),
        Need::check("prometheus", || {
            on_path("prometheus") && on_path("promtool")
        }),
        Need::check("prometheus-postgres-exporter", || {
            on_path("prometheus-postgres-exporter")
        }),
        Need::check("util-linux", || on_path("setpriv")),
        Need::check("openjdk-17-jdk-headless", || tools::java().is_ok()),
        Need::check("maven", || on_path("mvn")),
        Need::check("build-essential", || on_path("cc") && on_path("make")),
        Need::check("pkg-config", || on_path("pkg-config")),
        Need::check("ca-certificates", || {
            Path::new("/etc/ssl/certs/ca-certificates.crt").is_file()
        }),
        Need::check("python3-venv", || {
            Command::new("python3")
                .args(["-c", "import venv, ensurepip"])
                .output()
                .is_ok_and(|o| o.status.success())
        }),
        Need::check("nodejs", || on_path("node")),
        Need::check("npm", || on_path("npm")),
        Need::check("chromium", || devtools::chromium().is_ok()),
    ]
}

/// Checks the system prerequisites: installs missing Debian packages when root, and
/// otherwise names them with the command that installs them.
pub fn check_prerequisites(say: &mut dyn FnMut(&str)) -> Result<()> {
    crate::system::ensure(&native_needs(), say)?;
    check_go()?;
    Ok(())
}

/// Ensures every pinned component is provisioned; `say` receives progress lines.
pub fn ensure_all(say: &mut dyn FnMut(&str)) -> Result<Vec<Outcome>> {
    check_prerequisites(say)?;
    Ok(vec![
        ensure_kafka(say)?,
        ensure_jmx_exporter(say)?,
        ensure_jaeger(say)?,
        ensure_alertmanager(say)?,
        ensure_victorialogs(say)?,
        ensure_daprd(say)?,
        ensure_helm(say)?,
        ensure_python_tools(say)?,
        ensure_node_tools(say)?,
        crate::schemas::ensure_schemas(say)?,
        crate::containers::ensure_plugins(say)?,
    ])
}

pub(crate) fn ensure(
    component: &str,
    version: &str,
    dir: &Path,
    say: &mut dyn FnMut(&str),
    build: impl FnOnce(&Path, &mut dyn FnMut(&str)) -> Result<(PathBuf, Option<u64>)>,
) -> Result<Outcome> {
    let started = Instant::now();
    if dir.join(DONE_MARKER).exists() {
        let record = read_record(dir).unwrap_or(ProvisionRecord {
            component: component.into(),
            version: version.into(),
            cold_seconds: 0.0,
            downloaded_bytes: None,
            size_bytes: 0,
        });
        say(&format!(
            "{component} {version}: cached in {}",
            dir.display()
        ));
        return Ok(Outcome {
            record,
            cached: true,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    say(&format!(
        "{component} {version}: provisioning into {}",
        dir.display()
    ));
    std::fs::create_dir_all(dir)
        .map_err(HarnessError::io(format!("creating {}", dir.display())))?;
    let (result, downloaded) = build(dir, say)?;
    let record = ProvisionRecord {
        component: component.into(),
        version: version.into(),
        cold_seconds: started.elapsed().as_secs_f64(),
        downloaded_bytes: downloaded,
        size_bytes: disk_usage(&result),
    };
    let json = serde_json::to_vec_pretty(&record).map_err(|e| HarnessError::Command {
        what: "serialising provision record".into(),
        detail: e.to_string(),
    })?;
    std::fs::write(dir.join("provision.json"), json)
        .map_err(HarnessError::io("writing provision.json"))?;
    std::fs::write(dir.join(DONE_MARKER), b"").map_err(HarnessError::io("writing marker"))?;
    say(&format!(
        "{component} {version}: done in {:.0} s ({} MiB)",
        record.cold_seconds,
        record.size_bytes / (1024 * 1024)
    ));
    Ok(Outcome {
        record,
        cached: false,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn read_record(dir: &Path) -> Option<ProvisionRecord> {
    serde_json::from_slice(&std::fs::read(dir.join("provision.json")).ok()?).ok()
}

/// A Python virtualenv with the pinned tools of `tests/python-requirements.txt`.
pub fn ensure_python_tools(say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    let dir = devtools::python_dir()?;
    ensure("python", "venv", &dir, say, |dir, say| {
        let venv = dir.join("venv");
        let _ = std::fs::remove_dir_all(&venv);
        let python = tools::system_binary("python3", "apt-get install -y python3 python3-venv")?;
        crate::components::run_command(
            "python3 -m venv (needs: apt-get install -y python3-venv)",
            Command::new(python).arg("-m").arg("venv").arg(&venv),
        )?;
        let mut cmd = Command::new(venv.join("bin/pip"));
        cmd.args(["install", "--disable-pip-version-check", "-r"])
            .arg(repo_root().join(devtools::PYTHON_REQUIREMENTS));
        run_with_heartbeat("python: pip install -r", &mut cmd, "python-tools", say)?;
        Ok((venv, None))
    })
}

/// `playwright-core` (no browser download: the test uses the system Chromium) via `npm ci`.
pub fn ensure_node_tools(say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    let dir = devtools::node_dir()?;
    ensure("node", "modules", &dir, say, |dir, say| {
        for file in ["package.json", "package-lock.json"] {
            std::fs::copy(repo_root().join("tests/browser").join(file), dir.join(file))
                .map_err(HarnessError::io(format!("copying {file}")))?;
        }
        let mut cmd = Command::new(tools::system_binary("npm", "apt-get install -y npm")?);
        cmd.current_dir(dir)
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"]);
        run_with_heartbeat("node: npm ci", &mut cmd, "node-tools", say)?;
        Ok((dir.join("node_modules"), None))
    })
}

/// Runs `cmd` with its output in `<cache>/logs/<log>.log`, printing a heartbeat every 15 s.
pub(crate) fn run_with_heartbeat(
    what: &str,
    cmd: &mut Command,
    log: &str,
    say: &mut dyn FnMut(&str),
) -> Result<()> {
    let logs = cache_dir().join("logs");
    std::fs::create_dir_all(&logs).map_err(HarnessError::io("creating logs dir"))?;
    let log_path = logs.join(format!("{log}.log"));
    let file = std::fs::File::create(&log_path).map_err(HarnessError::io("creating build log"))?;
    let file_err = file.try_clone().map_err(HarnessError::io("cloning log"))?;
    say(&format!("{what} (log: {})", log_path.display()));
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(file_err)
        .spawn()
        .map_err(HarnessError::io(format!("starting {what}")))?;
    let mut last_beat = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                return Err(HarnessError::Command {
                    what: what.to_owned(),
                    detail: format!(
                        "{status}; see {}\n{}",
                        log_path.display(),
                        crate::process::log_tail(&log_path, 25)
                    ),
                });
            }
            Ok(None) => {}
            Err(e) => return Err(HarnessError::io(format!("waiting for {what}"))(e)),
        }
        if last_beat.elapsed() >= Duration::from_secs(15) {
            last_beat = Instant::now();
            let tail = crate::process::log_tail(&log_path, 1);
            say(&format!(
                "  … {:>4.0} s  {}",
                started.elapsed().as_secs_f64(),
                tail.chars().take(100).collect::<String>()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Bytes used by a file or directory tree (0 if absent).
pub fn disk_usage(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_dir() {
        std::fs::read_dir(path)
            .map(|entries| entries.flatten().map(|e| disk_usage(&e.path())).sum())
            .unwrap_or(0)
    } else {
        meta.len()
    }
}

#[cfg(test)]
mod tests {
    use super::go::parse_go_version;

    #[test]
    fn go_versions_parse_and_compare() {
        assert_eq!(parse_go_version("go1.26.8"), Some((1, 26, 8)));
        assert_eq!(parse_go_version("go1.27rc1"), Some((1, 27, 0)));
        assert!(parse_go_version("go1.26.5").is_some_and(|v| v < (1, 26, 6)));
        assert_eq!(parse_go_version("devel"), None);
    }
}
