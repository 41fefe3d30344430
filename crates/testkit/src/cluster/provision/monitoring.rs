//! The cluster's monitoring: the Prometheus operator, its config reloader and its CRDs, and
//! a Prometheus with Kubernetes service discovery (Debian's lacks it), from their modules.

use std::process::Command;

use super::*;

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
