//! What is built from Go modules: daprd, Jaeger, Alertmanager, VictoriaLogs and Helm, and the Go
//! toolchain checks and module downloads they share.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::*;
use crate::tools::{self, daprd_dir, jaeger_dir};
use crate::{HarnessError, Result, versions};

/// The oldest Go that builds daprd 1.18.3 (its go.mod says `go 1.26.6`).
pub(super) const MIN_GO: (u32, u32, u32) = (1, 26, 6);

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

pub(super) fn parse_go_version(v: &str) -> Option<(u32, u32, u32)> {
    let mut parts = v.strip_prefix("go")?.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    Some((major, minor, patch))
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
            go_build_static(&go, &src, "./cmd/jaeger", &version, &out, say)?;
            Ok((out, Some(disk_usage(&modcache).saturating_sub(before))))
        },
    )
}

/// Alertmanager and amtool, built from the Go module `github.com/prometheus/alertmanager`.
pub fn ensure_alertmanager(say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    let version = versions::ALERTMANAGER_MODULE;
    let linker_version = format!(
        "github.com/prometheus/common/version.Version={}",
        version.trim_start_matches('v')
    );
    let binaries = ["alertmanager", "amtool"]
        .map(|binary| (binary, format!("./cmd/{binary}"), linker_version.clone()));
    ensure(
        "alertmanager",
        version,
        &tools::alertmanager_dir(),
        say,
        |dir, say| {
            build_module_binaries(
                "github.com/prometheus/alertmanager",
                version,
                &binaries,
                dir,
                say,
            )
        },
    )
}

/// VictoriaLogs (`victoria-logs`, the log store and its LogsQL API) and vlagent (the
/// collector that tails log files, or Kubernetes pods' logs, into it), both built from
/// the Go module `github.com/VictoriaMetrics/VictoriaLogs` (ADR 0030).
pub fn ensure_victorialogs(say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    let version = versions::VICTORIALOGS_MODULE;
    let binaries = ["victoria-logs", "vlagent"].map(|binary| {
        (
            binary,
            format!("./app/{binary}"),
            format!(
                "github.com/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version={binary}-{version}"
            ),
        )
    });
    ensure(
        "victorialogs",
        version,
        &tools::victorialogs_dir(),
        say,
        |dir, say| {
            build_module_binaries(
                "github.com/VictoriaMetrics/VictoriaLogs",
                version,
                &binaries,
                dir,
                say,
            )
        },
    )
}

/// Downloads `module@version` and builds each `(binary, package, linker version)` of
/// `binaries` into `dir`; returns `dir` and the bytes the download added to the cache.
fn build_module_binaries(
    module: &str,
    version: &str,
    binaries: &[(&str, String, String)],
    dir: &Path,
    say: &mut dyn FnMut(&str),
) -> Result<(PathBuf, Option<u64>)> {
    let go = check_go()?;
    let modcache = go_env(&go, "GOMODCACHE")?;
    let before = disk_usage(&modcache);
    let name = module.rsplit('/').next().unwrap_or(module).to_lowercase();
    let src = module_source(&go, module, version, &name, say)?;
    for (binary, package, linker_version) in binaries {
        go_build_static(&go, &src, package, linker_version, &dir.join(binary), say)?;
    }
    Ok((
        dir.to_path_buf(),
        Some(disk_usage(&modcache).saturating_sub(before)),
    ))
}

/// `go build <package>` (e.g. `./cmd/jaeger`) inside the module source `src`: static
/// (no cgo), stripped, with `version` (`package.Variable=value`) set by the linker, to `out`.
pub(super) fn go_build_static(
    go: &Path,
    src: &Path,
    package: &str,
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
        .arg(package);
    let name = package.rsplit('/').next().unwrap_or(package);
    run_with_heartbeat(
        &format!("{name}: go build {package}"),
        &mut cmd,
        &format!("{name}-build"),
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
