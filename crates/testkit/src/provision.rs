//! Provisioning of the pinned third-party components into the cache (`cargo xtask deps`).
//!
//! Idempotent and keyed by version: each component lands in its own versioned
//! directory with a completion marker and a `provision.json` recording how long
//! it took and how big it is. Long steps print a heartbeat line every 15 s and
//! keep their full output in `<cache>/logs/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::devtools;
use crate::paths::{cache_dir, repo_root};
use crate::system::Need;
use crate::tools::{self, DONE_MARKER, daprd_dir, jaeger_dir, kafka_dir};
use crate::{HarnessError, Result, versions};

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

/// The oldest Go that builds daprd 1.18.3 (its go.mod says `go 1.26.6`).
const MIN_GO: (u32, u32, u32) = (1, 26, 6);

pub(crate) fn check_go() -> Result<PathBuf> {
    let go = tools::which("go")
        .or_else(|| Some(PathBuf::from("/usr/local/go/bin/go")).filter(|p| p.is_file()))
        .ok_or_else(|| HarnessError::Missing {
            what: format!(
                "Go >= {}.{}.{} (`go` on PATH)",
                MIN_GO.0, MIN_GO.1, MIN_GO.2
            ),
            fix: "install Go from https://go.dev/dl and put its bin/ on PATH".into(),
        })?;
    let out = Command::new(&go)
        .arg("env")
        .arg("GOVERSION")
        .output()
        .map_err(HarnessError::io("running go env"))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let parsed = parse_go_version(&version);
    if parsed.is_none_or(|v| v < MIN_GO) {
        return Err(HarnessError::Missing {
            what: format!(
                "Go >= {}.{}.{} (found {version:?})",
                MIN_GO.0, MIN_GO.1, MIN_GO.2
            ),
            fix: "install a newer Go from https://go.dev/dl".into(),
        });
    }
    Ok(go)
}

fn parse_go_version(v: &str) -> Option<(u32, u32, u32)> {
    let mut parts = v.strip_prefix("go")?.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    Some((major, minor, patch))
}

/// Ensures every pinned component is provisioned; `say` receives progress lines.
pub fn ensure_all(say: &mut dyn FnMut(&str)) -> Result<Vec<Outcome>> {
    check_prerequisites(say)?;
    Ok(vec![
        ensure_kafka(say)?,
        ensure_jmx_exporter(say)?,
        ensure_jaeger(say)?,
        ensure_alertmanager(say)?,
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

/// Apache Kafka's broker jars from Maven Central, resolved by Maven from `deploy/local/kafka-pom.xml`.
pub fn ensure_kafka(say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    ensure("kafka", versions::KAFKA, &kafka_dir(), say, |dir, say| {
        let libs = dir.join("libs");
        let _ = std::fs::remove_dir_all(&libs);
        // The bytes the directory is keyed by (tools::kafka_dir), not a later edit of the file.
        std::fs::write(dir.join("pom.xml"), tools::kafka_pom())
            .map_err(HarnessError::io("writing kafka-pom.xml"))?;
        let m2 = maven_repo();
        let before = disk_usage(&m2);
        let mut cmd = Command::new(tools::system_binary("mvn", "apt-get install -y maven")?);
        cmd.current_dir(dir).args([
            "-B",
            &format!("-Dkafka.version={}", versions::KAFKA),
            &format!("-Dlog4j.version={}", versions::LOG4J),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            "-DoutputDirectory=libs",
        ]);
        run_with_heartbeat(
            "kafka: mvn dependency:copy-dependencies",
            &mut cmd,
            "kafka-mvn",
            say,
        )?;
        Ok((libs, Some(disk_usage(&m2).saturating_sub(before))))
    })
}

/// The Prometheus JMX exporter's java agent from Maven Central (one shaded jar).
pub fn ensure_jmx_exporter(say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    ensure(
        "jmx-exporter",
        versions::JMX_EXPORTER,
        &tools::jmx_exporter_dir(),
        say,
        |dir, say| {
            let m2 = maven_repo();
            let before = disk_usage(&m2);
            let mut cmd = Command::new(tools::system_binary("mvn", "apt-get install -y maven")?);
            // `dependency:copy` needs no project: the directory only has to exist.
            cmd.current_dir(dir).args([
                "-B",
                "dependency:copy",
                &format!(
                    "-Dartifact=io.prometheus.jmx:jmx_prometheus_javaagent:{}",
                    versions::JMX_EXPORTER
                ),
                &format!("-DoutputDirectory={}", dir.display()),
            ]);
            run_with_heartbeat(
                "jmx-exporter: mvn dependency:copy",
                &mut cmd,
                "jmx-exporter-mvn",
                say,
            )?;
            Ok((
                dir.join(tools::jmx_agent_jar()),
                Some(disk_usage(&m2).saturating_sub(before)),
            ))
        },
    )
}

fn maven_repo() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".m2/repository")
}

/// Jaeger v2, built from the Go module `github.com/jaegertracing/jaeger`.
pub fn ensure_jaeger(say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    ensure(
        "jaeger",
        versions::JAEGER_MODULE,
        &jaeger_dir(),
        say,
        |dir, say| {
            let go = check_go()?;
            let modcache = go_env(&go, "GOMODCACHE")?;
            let before = disk_usage(&modcache);
            let src = module_source(
                &go,
                "github.com/jaegertracing/jaeger",
                versions::JAEGER_MODULE,
                "jaeger",
                say,
            )?;
            let out = dir.join("jaeger");
            let version = format!(
                "github.com/jaegertracing/jaeger/internal/version.latestVersion={}",
                versions::JAEGER_MODULE
            );
            go_build_static(&go, &src, "jaeger", &version, &out, say)?;
            Ok((out, Some(disk_usage(&modcache).saturating_sub(before))))
        },
    )
}

/// Alertmanager and amtool, built from the Go module `github.com/prometheus/alertmanager`.
pub fn ensure_alertmanager(say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    ensure(
        "alertmanager",
        versions::ALERTMANAGER_MODULE,
        &tools::alertmanager_dir(),
        say,
        |dir, say| {
            let go = check_go()?;
            let modcache = go_env(&go, "GOMODCACHE")?;
            let before = disk_usage(&modcache);
            let src = module_source(
                &go,
                "github.com/prometheus/alertmanager",
                versions::ALERTMANAGER_MODULE,
                "alertmanager",
                say,
            )?;
            let version = format!(
                "github.com/prometheus/common/version.Version={}",
                versions::ALERTMANAGER_MODULE.trim_start_matches('v')
            );
            for binary in ["alertmanager", "amtool"] {
                go_build_static(&go, &src, binary, &version, &dir.join(binary), say)?;
            }
            Ok((
                dir.to_path_buf(),
                Some(disk_usage(&modcache).saturating_sub(before)),
            ))
        },
    )
}

/// `go build ./cmd/<command>` inside the module source `src`: static (no cgo), stripped,
/// with `version` (`package.Variable=value`) set by the linker, to `out`.
fn go_build_static(
    go: &Path,
    src: &Path,
    command: &str,
    version: &str,
    out: &Path,
    say: &mut dyn FnMut(&str),
) -> Result<()> {
    let mut cmd = Command::new(go);
    cmd.current_dir(src)
        .env("CGO_ENABLED", "0")
        .env("GOFLAGS", "-buildvcs=false")
        .args(["build", "-trimpath", "-ldflags"])
        .arg(format!("-s -w -X {version}"))
        .arg("-o")
        .arg(out)
        .arg(format!("./cmd/{command}"));
    run_with_heartbeat(
        &format!("{command}: go build ./cmd/{command}"),
        &mut cmd,
        &format!("{command}-build"),
        say,
    )
}

/// daprd, built inside the downloaded `github.com/dapr/dapr` module with `-tags allcomponents`.
///
/// Two adjustments, both recorded in ADR 0001: the Go module proxy reachable here
/// does not serve `github.com/dapr/durabletask-go` v0.12.4 (nor the Pulsar client fork
/// the Pulsar component needs), so the build pins durabletask-go to v0.12.1 and leaves
/// the Pulsar pub/sub component out. Nothing LearnFlow uses is affected.
pub fn ensure_daprd(say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    ensure("daprd", versions::DAPR, &daprd_dir(), say, |dir, say| {
        let go = check_go()?;
        let modcache = go_env(&go, "GOMODCACHE")?;
        let before = disk_usage(&modcache);
        let src = module_source(
            &go,
            "github.com/dapr/dapr",
            &format!("v{}", versions::DAPR),
            "dapr",
            say,
        )?;
        let pulsar = src.join("cmd/daprd/components/pubsub_pulsar.go");
        if pulsar.exists() {
            std::fs::remove_file(&pulsar)
                .map_err(HarnessError::io("removing the Pulsar component"))?;
        }
        crate::components::run_command(
            "go mod edit",
            Command::new(&go).current_dir(&src).args([
                "mod",
                "edit",
                &format!(
                    "-replace=github.com/dapr/durabletask-go=github.com/dapr/durabletask-go@{}",
                    versions::DAPR_DURABLETASK
                ),
                "-dropreplace=github.com/apache/pulsar-client-go",
            ]),
        )?;
        let out = dir.join("daprd");
        let mut cmd = Command::new(&go);
        cmd.current_dir(&src)
            .env("CGO_ENABLED", "0")
            .env("GOFLAGS", "-mod=mod -buildvcs=false")
            // The replaced module is not in dapr's go.sum; sum.golang.org is out of reach here.
            .env("GONOSUMDB", "github.com/dapr/durabletask-go")
            .args(["build", "-trimpath", "-tags", "allcomponents", "-ldflags"])
            .arg(format!(
                "-s -w -X github.com/dapr/dapr/pkg/buildinfo.version={}",
                versions::DAPR
            ))
            .arg("-o")
            .arg(&out)
            .arg("./cmd/daprd");
        run_with_heartbeat(
            "daprd: go build -tags allcomponents ./cmd/daprd",
            &mut cmd,
            "daprd-build",
            say,
        )?;
        Ok((out, Some(disk_usage(&modcache).saturating_sub(before))))
    })
}

/// Helm, built by `go install` from the Go module proxy (no replace directives in its go.mod).
pub fn ensure_helm(say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    ensure(
        "helm",
        versions::HELM,
        &devtools::helm_dir(),
        say,
        |dir, say| {
            let go = check_go()?;
            let modcache = go_env(&go, "GOMODCACHE")?;
            let before = disk_usage(&modcache);
            let mut cmd = Command::new(&go);
            cmd.env("GOBIN", dir)
                .env("CGO_ENABLED", "0")
                .args(["install", "-trimpath", "-ldflags", "-s -w"])
                .arg(format!("helm.sh/helm/v3/cmd/helm@{}", versions::HELM));
            run_with_heartbeat("helm: go install", &mut cmd, "helm-build", say)?;
            Ok((
                dir.join("helm"),
                Some(disk_usage(&modcache).saturating_sub(before)),
            ))
        },
    )
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

pub(crate) fn go_env(go: &Path, key: &str) -> Result<PathBuf> {
    let out = Command::new(go)
        .args(["env", key])
        .output()
        .map_err(HarnessError::io("running go env"))?;
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// Downloads `module@version` and copies it to a writable build directory in the cache.
pub(crate) fn module_source(
    go: &Path,
    module: &str,
    version: &str,
    label: &str,
    say: &mut dyn FnMut(&str),
) -> Result<PathBuf> {
    say(&format!("{label}: go mod download {module}@{version}"));
    let out = crate::components::run_command(
        "go mod download",
        Command::new(go).args(["mod", "download", "-json", &format!("{module}@{version}")]),
    )?;
    let info: serde_json::Value =
        serde_json::from_str(&out).map_err(|e| HarnessError::Command {
            what: "reading go mod download output".into(),
            detail: format!("{e}: {out}"),
        })?;
    let module_dir =
        info["Dir"]
            .as_str()
            .map(PathBuf::from)
            .ok_or_else(|| HarnessError::Command {
                what: format!("go mod download {module}@{version}"),
                detail: out.clone(),
            })?;
    let build = cache_dir().join("build").join(format!("{label}-{version}"));
    let _ = std::fs::remove_dir_all(&build);
    std::fs::create_dir_all(build.parent().unwrap_or(&build))
        .map_err(HarnessError::io("creating build dir"))?;
    crate::components::run_command(
        "copying module source",
        Command::new("cp").arg("-r").arg(&module_dir).arg(&build),
    )?;
    crate::components::run_command(
        "making module copy writable",
        Command::new("chmod").args(["-R", "u+w"]).arg(&build),
    )?;
    Ok(build)
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
    use super::parse_go_version;

    #[test]
    fn go_versions_parse_and_compare() {
        assert_eq!(parse_go_version("go1.26.8"), Some((1, 26, 8)));
        assert_eq!(parse_go_version("go1.27rc1"), Some((1, 27, 0)));
        assert!(parse_go_version("go1.26.5").is_some_and(|v| v < (1, 26, 6)));
        assert_eq!(parse_go_version("devel"), None);
    }
}
