//! What the cluster runs, provisioned into the cache like every other pinned component:
//! a versioned directory, a completion marker and `provision.json` for each of
//!
//! - [`ensure_kubernetes`]: the six Kubernetes binaries and the pause binary, from Go
//!   module `k8s.io/kubernetes`;
//! - [`ensure_coredns`], [`ensure_metrics_server`] and [`ensure_registry`]: one static
//!   binary each;
//! - [`ensure_dapr_control_plane`]: Dapr's operator, injector, sentry, placement and
//!   scheduler, and the `charts/dapr` chart, from the module daprd is built from;
//! - [`ensure_prometheus_operator`]: the Prometheus operator, its config reloader and
//!   its CRDs, from `github.com/prometheus-operator/prometheus-operator`;
//! - [`ensure_prometheus`]: Prometheus with Kubernetes service discovery, from
//!   `github.com/prometheus/prometheus` (Debian's lacks it);
//! - [`ensure_skaffold`]: skaffold, for the developer loop against the cluster
//!   (`cargo xtask skaffold`), from `github.com/GoogleContainerTools/skaffold/v2`;
//! - [`debian_needs`]: the Debian packages the node needs (etcd, containerd, CNI plugins …).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::paths::cache_dir;
use crate::provision::{self, Outcome, check_go, disk_usage, go_env, module_source};
use crate::system::Need;
use crate::tools::{DONE_MARKER, which};
use crate::{HarnessError, Result, versions};

/// The Kubernetes binaries built from `k8s.io/kubernetes`, each from `./cmd/<name>`.
pub const KUBE_BINARIES: [&str; 6] = [
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
];

/// The Dapr control-plane services, each from `./cmd/<name>` of `github.com/dapr/dapr`.
pub const DAPR_SERVICES: [&str; 5] = ["operator", "injector", "sentry", "placement", "scheduler"];

/// Directory of the provisioned Kubernetes binaries (and `pause`).
pub fn kubernetes_dir() -> PathBuf {
    cache_dir().join(format!("kubernetes-{}", versions::KUBERNETES))
}

/// Directory of the provisioned CoreDNS.
pub fn coredns_dir() -> PathBuf {
    cache_dir().join(format!("coredns-{}", versions::COREDNS))
}

/// Directory of the provisioned metrics-server.
pub fn metrics_server_dir() -> PathBuf {
    cache_dir().join(format!("metrics-server-{}", versions::METRICS_SERVER))
}

/// Directory of the provisioned kube-state-metrics.
pub fn kube_state_metrics_dir() -> PathBuf {
    cache_dir().join(format!(
        "kube-state-metrics-{}",
        versions::KUBE_STATE_METRICS
    ))
}

/// Directory of the provisioned image registry.
pub fn registry_dir() -> PathBuf {
    cache_dir().join(format!("registry-{}", versions::REGISTRY))
}

/// Directory of the provisioned skaffold.
pub fn skaffold_dir() -> PathBuf {
    cache_dir().join(format!("skaffold-{}", versions::SKAFFOLD_MODULE))
}

/// Directory of the provisioned Dapr control plane and its chart.
pub fn dapr_control_plane_dir() -> PathBuf {
    cache_dir().join(format!("dapr-control-plane-{}", versions::DAPR))
}

/// Directory of the provisioned Prometheus operator, config reloader and CRDs (`crds/`).
pub fn prometheus_operator_dir() -> PathBuf {
    cache_dir().join(format!(
        "prometheus-operator-{}",
        versions::PROMETHEUS_OPERATOR_MODULE
    ))
}

/// Directory of the provisioned Prometheus.
pub fn prometheus_dir() -> PathBuf {
    cache_dir().join(format!("prometheus-{}", versions::PROMETHEUS))
}

/// The binaries built from the Prometheus operator module, each from `./cmd/<name>`.
pub const PROMETHEUS_OPERATOR_BINARIES: [&str; 2] = ["operator", "prometheus-config-reloader"];

/// The Debian packages a node needs, each checked by what it provides.
pub fn debian_needs() -> Vec<Need> {
    let on_path = |name: &str| which(name).is_some();
    vec![
        Need::check("etcd-server", || on_path("etcd")),
        // Debian's containerd and runc come with docker.io (ADR 0012).
        Need::check("docker.io", || {
            on_path("containerd") && on_path("ctr") && on_path("runc") && on_path("docker")
        }),
        Need::check("containernetworking-plugins", || {
            ["bridge", "host-local", "portmap", "firewall", "loopback"]
                .iter()
                .all(|p| Path::new(CNI_BIN_DIR).join(p).is_file())
        }),
        Need::check("conntrack", || on_path("conntrack")),
        Need::check("socat", || on_path("socat")),
        Need::check("iptables", || on_path("iptables") && on_path("ip6tables")),
        Need::check("iproute2", || on_path("ip")),
        Need::check("openssl", || on_path("openssl")),
        Need::check("util-linux", || on_path("umount") && on_path("setpriv")),
        // gcc and the static C library for the pause binary.
        Need::check("build-essential", || {
            on_path("gcc") && Path::new("/usr/lib/x86_64-linux-gnu/libc.a").is_file()
        }),
    ]
}

/// Where Debian's `containernetworking-plugins` puts the plugins.
pub const CNI_BIN_DIR: &str = "/usr/lib/cni";

/// Everything the cluster needs, provisioned (or found cached) in order, one heavy build
/// at a time.
pub fn ensure_all(say: &mut dyn FnMut(&str)) -> Result<Vec<Outcome>> {
    crate::system::ensure(&debian_needs(), say)?;
    Ok(vec![
        ensure_kubernetes(say)?,
        ensure_coredns(say)?,
        ensure_metrics_server(say)?,
        ensure_registry(say)?,
        provision::ensure_daprd(say)?,
        ensure_dapr_control_plane(say)?,
        provision::ensure_helm(say)?,
        ensure_prometheus_operator(say)?,
        ensure_prometheus(say)?,
        ensure_kube_state_metrics(say)?,
        // The in-cluster Jaeger runs the compose stand-in image, built from this binary.
        provision::ensure_jaeger(say)?,
        // The in-cluster Kafka runs the compose stand-in image, built from these jars.
        provision::ensure_kafka(say)?,
        // Every cluster image is built with `docker buildx build --load`.
        crate::containers::ensure_plugins(say)?,
        // The developer loop against the cluster (`cargo xtask skaffold`).
        ensure_skaffold(say)?,
    ])
}

/// What one build in a module copy needs: the `go` binary and the writable copy.
struct ModuleCopy<'a> {
    go: &'a Path,
    src: &'a Path,
}

/// Provisions `component` into `dir` by building inside a writable copy of
/// `module@module_version` (removed afterwards); the record keeps the module-cache
/// growth as what was downloaded.
fn build_in_module_copy(
    component: &str,
    version: &str,
    dir: &Path,
    module: &str,
    module_version: &str,
    say: &mut dyn FnMut(&str),
    build: impl FnOnce(&ModuleCopy<'_>, &Path, &mut dyn FnMut(&str)) -> Result<()>,
) -> Result<Outcome> {
    provision::ensure(component, version, dir, say, |dir, say| {
        let go = check_go()?;
        let modcache = go_env(&go, "GOMODCACHE")?;
        let before = disk_usage(&modcache);
        let src = module_source(&go, module, module_version, component, say)?;
        build(&ModuleCopy { go: &go, src: &src }, dir, say)?;
        let _ = std::fs::remove_dir_all(&src);
        Ok((
            dir.to_owned(),
            Some(disk_usage(&modcache).saturating_sub(before)),
        ))
    })
}

/// Builds the Kubernetes binaries inside a copy of the downloaded `k8s.io/kubernetes`
/// module, and the pause binary from its `build/pause/linux/pause.c`.
///
/// The module's go.mod points its `k8s.io/*` staging modules at `./staging/…`, which the
/// published module zip does not contain; the copy requires the published versions
/// instead (and drops the `k8s.io/sample-*` ones, which nothing built here imports and
/// the module proxy does not serve).
pub fn ensure_kubernetes(say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    build_in_module_copy(
        "kubernetes",
        versions::KUBERNETES,
        &kubernetes_dir(),
        "k8s.io/kubernetes",
        versions::KUBERNETES,
        say,
        |copy, dir, say| {
            let edits = staging_edits(
                &std::fs::read_to_string(copy.src.join("go.mod"))
                    .map_err(HarnessError::io("reading the kubernetes go.mod"))?,
            );
            crate::components::run_command(
                "go mod edit (published staging modules)",
                Command::new(copy.go)
                    .current_dir(copy.src)
                    .env("GOWORK", "off")
                    .arg("mod")
                    .arg("edit")
                    .args(&edits),
            )?;
            for work in ["go.work", "go.work.sum"] {
                let _ = std::fs::remove_file(copy.src.join(work));
            }
            let version = versions::KUBERNETES;
            let (major, minor) = major_minor(version);
            let mut ldflags = String::from("-s -w");
            for package in [
                "k8s.io/component-base/version",
                "k8s.io/client-go/pkg/version",
            ] {
                ldflags.push_str(&format!(
                    " -X {package}.gitVersion={version} -X {package}.gitMajor={major} \
                     -X {package}.gitMinor={minor} -X {package}.gitTreeState=clean"
                ));
            }
            let mut cmd = Command::new(copy.go);
            cmd.current_dir(copy.src)
                .env("GOWORK", "off")
                .env("CGO_ENABLED", "0")
                .env("GOFLAGS", "-mod=mod -buildvcs=false")
                .args(["build", "-trimpath", "-ldflags", &ldflags, "-o"])
                // A trailing slash makes `-o` a directory for several packages.
                .arg(format!("{}/", dir.display()))
                .args(KUBE_BINARIES.iter().map(|b| format!("./cmd/{b}")));
            provision::run_with_heartbeat(
                "kubernetes: go build ./cmd/{kube-apiserver,kube-controller-manager,kube-scheduler,kubelet,kube-proxy,kubectl}",
                &mut cmd,
                "kubernetes-build",
                say,
            )?;
            build_pause(copy.src, dir, say)?;
            Ok(())
        },
    )
}

/// `go mod edit` flags that swap each `./staging` replace for the published module.
fn staging_edits(go_mod: &str) -> Vec<String> {
    let published = staging_version(versions::KUBERNETES);
    let mut edits = Vec::new();
    for line in go_mod.lines() {
        let Some((module, target)) = line.trim().split_once("=>") else {
            continue;
        };
        if !target.trim().starts_with("./staging/") {
            continue;
        }
        let module = module.trim();
        edits.push(format!("-dropreplace={module}"));
        if module.starts_with("k8s.io/sample-") {
            edits.push(format!("-droprequire={module}"));
        } else {
            edits.push(format!("-require={module}@{published}"));
        }
    }
    edits
}

/// `v1.34.4` → `v0.34.4`: the tag Kubernetes publishes its staging modules under.
fn staging_version(kubernetes: &str) -> String {
    kubernetes.replacen("v1.", "v0.", 1)
}

fn major_minor(version: &str) -> (String, String) {
    let mut parts = version.trim_start_matches('v').split('.');
    (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    )
}

/// The static pause binary, named as its Makefile tags it; the tag goes to `pause.tag`.
fn build_pause(src: &Path, dir: &Path, say: &mut dyn FnMut(&str)) -> Result<()> {
    let pause = src.join("build/pause");
    let makefile = std::fs::read_to_string(pause.join("Makefile"))
        .map_err(HarnessError::io("reading build/pause/Makefile"))?;
    let tag = makefile
        .lines()
        .find_map(|l| l.strip_prefix("TAG ?="))
        .map(|t| t.trim().to_owned())
        .ok_or_else(|| HarnessError::Command {
            what: "reading the pause tag".into(),
            detail: "no `TAG ?=` line in build/pause/Makefile".into(),
        })?;
    let gcc = crate::tools::system_binary("gcc", "apt-get install -y build-essential")?;
    // The Makefile's CFLAGS, with our own revision suffix.
    crate::components::run_command(
        "gcc -static pause.c (needs: apt-get install -y build-essential)",
        Command::new(gcc)
            .args(["-Os", "-Wall", "-Werror", "-static"])
            .arg(format!("-DVERSION=v{tag}-learnflow"))
            .arg("-o")
            .arg(dir.join("pause"))
            .arg(pause.join("linux/pause.c")),
    )?;
    std::fs::write(dir.join("pause.tag"), &tag).map_err(HarnessError::io("writing pause.tag"))?;
    say(&format!(
        "pause {tag}: built from build/pause/linux/pause.c"
    ));
    Ok(())
}

/// The pause image tag recorded when the pause binary was built.
pub fn pause_tag() -> Result<String> {
    let path = kubernetes_dir().join("pause.tag");
    std::fs::read_to_string(&path)
        .map(|t| t.trim().to_owned())
        .map_err(|_| not_provisioned("the pause binary", &path))
}

/// CoreDNS by `go install` (its go.mod has no replace directives).
pub fn ensure_coredns(say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    go_install(
        "coredns",
        versions::COREDNS,
        &coredns_dir(),
        &format!("github.com/coredns/coredns@{}", versions::COREDNS),
        String::from("-s -w"),
        say,
    )
}

/// metrics-server by `go install`, its version stamped as its Makefile does.
pub fn ensure_metrics_server(say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    go_install(
        "metrics-server",
        versions::METRICS_SERVER,
        &metrics_server_dir(),
        &format!(
            "sigs.k8s.io/metrics-server/cmd/metrics-server@{}",
            versions::METRICS_SERVER
        ),
        format!(
            "-s -w -X k8s.io/client-go/pkg/version.gitVersion={}",
            versions::METRICS_SERVER
        ),
        say,
    )
}

/// kube-state-metrics by `go install` (its go.mod has no replace directives), its
/// version stamped as its Makefile does.
pub fn ensure_kube_state_metrics(say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    go_install(
        "kube-state-metrics",
        versions::KUBE_STATE_METRICS,
        &kube_state_metrics_dir(),
        &format!(
            "k8s.io/kube-state-metrics/v2@{}",
            versions::KUBE_STATE_METRICS
        ),
        format!(
            "-s -w -X github.com/prometheus/common/version.Version={}",
            versions::KUBE_STATE_METRICS
        ),
        say,
    )
}

/// The Distribution registry by `go install` (its go.mod has no replace directives).
pub fn ensure_registry(say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    go_install(
        "registry",
        versions::REGISTRY,
        &registry_dir(),
        &format!(
            "github.com/distribution/distribution/v3/cmd/registry@{}",
            versions::REGISTRY
        ),
        format!(
            "-s -w -X github.com/distribution/distribution/v3/version.version={}",
            versions::REGISTRY
        ),
        say,
    )
}

/// skaffold from `./cmd/skaffold` of its module, built inside a copy of it: its go.mod
/// has replace directives, which `go install module@version` refuses.
pub fn ensure_skaffold(say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    let version = versions::SKAFFOLD_MODULE;
    build_in_module_copy(
        "skaffold",
        version,
        &skaffold_dir(),
        "github.com/GoogleContainerTools/skaffold/v2",
        version,
        say,
        |copy, dir, say| {
            let mut cmd = Command::new(copy.go);
            cmd.current_dir(copy.src)
                .env("CGO_ENABLED", "0")
                .env("GOFLAGS", "-mod=mod -buildvcs=false")
                .args(["build", "-trimpath", "-ldflags"])
                .arg(format!(
                    "-s -w -X github.com/GoogleContainerTools/skaffold/v2/pkg/skaffold/version.version={version}"
                ))
                .arg("-o")
                .arg(dir.join("skaffold"))
                .arg("./cmd/skaffold");
            provision::run_with_heartbeat(
                "skaffold: go build ./cmd/skaffold",
                &mut cmd,
                "skaffold-build",
                say,
            )
        },
    )
}

fn go_install(
    component: &str,
    version: &str,
    dir: &Path,
    target: &str,
    ldflags: String,
    say: &mut dyn FnMut(&str),
) -> Result<Outcome> {
    provision::ensure(component, version, dir, say, |dir, say| {
        let go = check_go()?;
        let modcache = go_env(&go, "GOMODCACHE")?;
        let before = disk_usage(&modcache);
        let mut cmd = Command::new(&go);
        cmd.env("GOBIN", dir)
            .env("CGO_ENABLED", "0")
            .env("GOFLAGS", "-buildvcs=false")
            .args(["install", "-trimpath", "-ldflags", &ldflags, target]);
        provision::run_with_heartbeat(
            &format!("{component}: go install {target}"),
            &mut cmd,
            &format!("{component}-build"),
            say,
        )?;
        Ok((
            dir.to_owned(),
            Some(disk_usage(&modcache).saturating_sub(before)),
        ))
    })
}

/// Dapr's control-plane services and its Helm chart, from `github.com/dapr/dapr`
/// (the version daprd is), built with the same durabletask-go pin as daprd (ADR 0001).
pub fn ensure_dapr_control_plane(say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    build_in_module_copy(
        "dapr-control-plane",
        versions::DAPR,
        &dapr_control_plane_dir(),
        "github.com/dapr/dapr",
        &format!("v{}", versions::DAPR),
        say,
        |copy, dir, say| {
            crate::components::run_command(
                "go mod edit (durabletask-go pin, ADR 0001)",
                Command::new(copy.go).current_dir(copy.src).args([
                    "mod",
                    "edit",
                    &format!(
                        "-replace=github.com/dapr/durabletask-go=github.com/dapr/durabletask-go@{}",
                        versions::DAPR_DURABLETASK
                    ),
                ]),
            )?;
            let mut cmd = Command::new(copy.go);
            cmd.current_dir(copy.src)
                .env("CGO_ENABLED", "0")
                .env("GOFLAGS", "-mod=mod -buildvcs=false")
                .env("GONOSUMDB", "github.com/dapr/durabletask-go")
                .args(["build", "-trimpath", "-ldflags"])
                .arg(format!(
                    "-s -w -X github.com/dapr/dapr/pkg/buildinfo.version={}",
                    versions::DAPR
                ))
                .arg("-o")
                .arg(format!("{}/", dir.display()))
                .args(DAPR_SERVICES.iter().map(|s| format!("./cmd/{s}")));
            provision::run_with_heartbeat(
                "dapr: go build ./cmd/{operator,injector,sentry,placement,scheduler}",
                &mut cmd,
                "dapr-control-plane-build",
                say,
            )?;
            crate::components::run_command(
                "copying charts/dapr",
                Command::new("cp")
                    .arg("-r")
                    .arg(copy.src.join("charts/dapr"))
                    .arg(dir.join("chart")),
            )?;
            Ok(())
        },
    )
}

/// The Prometheus operator and its config reloader, built inside the downloaded module,
/// and its CRDs (`example/prometheus-operator-crd`).
///
/// As with Kubernetes, the module's go.mod points two nested modules (`pkg/apis/monitoring`,
/// `pkg/client`) at directories its published zip does not contain; the copy requires
/// their published versions instead, which is also why `go install` refuses it.
pub fn ensure_prometheus_operator(say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    let version = versions::PROMETHEUS_OPERATOR_MODULE;
    let module = "github.com/prometheus-operator/prometheus-operator";
    build_in_module_copy(
        "prometheus-operator",
        version,
        &prometheus_operator_dir(),
        module,
        version,
        say,
        |copy, dir, say| {
            let mut edits = Vec::new();
            for nested in ["pkg/apis/monitoring", "pkg/client"] {
                edits.push(format!("-dropreplace={module}/{nested}"));
                edits.push(format!("-require={module}/{nested}@{version}"));
            }
            crate::components::run_command(
                "go mod edit (published nested modules)",
                Command::new(copy.go)
                    .current_dir(copy.src)
                    .env("GOWORK", "off")
                    .args(["mod", "edit"])
                    .args(&edits),
            )?;
            let mut cmd = Command::new(copy.go);
            cmd.current_dir(copy.src)
                .env("GOWORK", "off")
                .env("CGO_ENABLED", "0")
                .env("GOFLAGS", "-mod=mod -buildvcs=false")
                .args(["build", "-trimpath", "-ldflags"])
                // The version the operator reports and stamps on what it manages.
                .arg(format!(
                    "-s -w -X github.com/prometheus/common/version.Version={}",
                    version.trim_start_matches('v')
                ))
                .arg("-o")
                .arg(format!("{}/", dir.display()))
                .args(
                    PROMETHEUS_OPERATOR_BINARIES
                        .iter()
                        .map(|b| format!("./cmd/{b}")),
                );
            provision::run_with_heartbeat(
                "prometheus-operator: go build ./cmd/{operator,prometheus-config-reloader}",
                &mut cmd,
                "prometheus-operator-build",
                say,
            )?;
            crate::components::run_command(
                "copying example/prometheus-operator-crd",
                Command::new("cp")
                    .arg("-r")
                    .arg(copy.src.join("example/prometheus-operator-crd"))
                    .arg(dir.join("crds")),
            )?;
            Ok(())
        },
    )
}

/// Prometheus from its module, with only the service discovery the operator's
/// configuration uses: the build tags `remove_all_sd,enable_kubernetes_sd` leave the cloud
/// providers' SDKs out (Debian's package, which the compose stand-in runs, is built
/// without Kubernetes discovery, so the operator's configuration does not load there).
/// The web UI's assets are not in the module: the API answers, the UI pages do not.
pub fn ensure_prometheus(say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    build_in_module_copy(
        "prometheus",
        versions::PROMETHEUS,
        &prometheus_dir(),
        "github.com/prometheus/prometheus",
        versions::PROMETHEUS_MODULE,
        say,
        |copy, dir, say| {
            let mut cmd = Command::new(copy.go);
            cmd.current_dir(copy.src)
                .env("GOWORK", "off")
                .env("CGO_ENABLED", "0")
                .env("GOFLAGS", "-mod=mod -buildvcs=false")
                .args([
                    "build",
                    "-trimpath",
                    "-tags",
                    "remove_all_sd,enable_kubernetes_sd",
                    "-ldflags",
                ])
                .arg(format!(
                    "-s -w -X github.com/prometheus/common/version.Version={}",
                    versions::PROMETHEUS.trim_start_matches('v')
                ))
                .arg("-o")
                .arg(dir.join("prometheus"))
                .arg("./cmd/prometheus");
            provision::run_with_heartbeat(
                "prometheus: go build -tags remove_all_sd,enable_kubernetes_sd ./cmd/prometheus",
                &mut cmd,
                "prometheus-build",
                say,
            )?;
            Ok(())
        },
    )
}

/// A provisioned file, or an error naming it and `cargo xtask cluster up`.
pub fn provisioned(dir: &Path, name: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    if dir.join(DONE_MARKER).exists() && path.exists() {
        Ok(path)
    } else {
        Err(not_provisioned(name, &path))
    }
}

fn not_provisioned(what: &str, path: &Path) -> HarnessError {
    HarnessError::Missing {
        what: format!("{what} (expected at {})", path.display()),
        fix: "cargo xtask cluster up (provisions before it starts)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_replaces_become_published_requires_and_samples_are_dropped() {
        let go_mod = "require (\n\tk8s.io/api v0.0.0\n)\nreplace (\n\
            \tk8s.io/api => ./staging/src/k8s.io/api\n\
            \tk8s.io/sample-cli-plugin => ./staging/src/k8s.io/sample-cli-plugin\n\
            \tgithub.com/x/y => github.com/x/z v1.0.0\n)\n";
        let published = staging_version(versions::KUBERNETES);
        assert_eq!(
            staging_edits(go_mod),
            vec![
                "-dropreplace=k8s.io/api".to_owned(),
                format!("-require=k8s.io/api@{published}"),
                "-dropreplace=k8s.io/sample-cli-plugin".to_owned(),
                "-droprequire=k8s.io/sample-cli-plugin".to_owned(),
            ]
        );
    }

    #[test]
    fn versions_split_as_kubernetes_stamps_them() {
        assert_eq!(staging_version("v1.34.4"), "v0.34.4");
        assert_eq!(major_minor("v1.34.4"), ("1".to_owned(), "34".to_owned()));
    }
}
