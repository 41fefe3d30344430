//! What the cluster runs, provisioned into the cache like every other pinned component:
//! a versioned directory, a completion marker and `provision.json` for each of
//!
//! - [`ensure_kubernetes`] (module `kubernetes`): the six Kubernetes binaries and the pause binary, from Go
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

mod kubernetes;
mod monitoring;
pub use kubernetes::{ensure_kubernetes, pause_tag};
pub use monitoring::{ensure_prometheus, ensure_prometheus_operator};

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
