//! What runs in the cluster once the node is Ready:
//!
//! - [`install_coredns`] and [`install_metrics_server`]: our own manifests
//!   (`manifests/*.yaml`) with the images made here, waited for until they serve;
//! - [`install_dapr`]: Dapr's control plane from its official chart (`charts/dapr` of the
//!   module), with the images made here, mTLS on, and the single-node settings: in-memory
//!   scheduler storage and placement log, and one scheduler replica.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::config::{CLUSTER_DOMAIN, DNS_SERVICE_IP, Layout};
use super::images::{coredns_image, dapr_registry, metrics_server_image};
use super::node::{kubectl, kubectl_output, rollout};
use super::provision::dapr_control_plane_dir;
use crate::{HarnessError, Result, versions};

const COREDNS: &str = include_str!("manifests/coredns.yaml");
const METRICS_SERVER: &str = include_str!("manifests/metrics-server.yaml");

/// The namespace Dapr's control plane is installed into.
pub const DAPR_NAMESPACE: &str = "dapr-system";

/// `kubectl apply -f -` of `manifest`.
pub fn apply(layout: &Layout, manifest: &str) -> Result<()> {
    let mut child = kubectl(layout)?
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(HarnessError::io("running kubectl apply"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(manifest.as_bytes())
            .map_err(HarnessError::io("writing to kubectl apply"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(HarnessError::io("waiting for kubectl apply"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(HarnessError::Command {
            what: "kubectl apply".into(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// CoreDNS at the cluster DNS address, ready to answer.
pub fn install_coredns(layout: &Layout) -> Result<()> {
    let manifest = COREDNS
        .replace("{{IMAGE}}", &coredns_image())
        .replace("{{DNS_SERVICE_IP}}", DNS_SERVICE_IP)
        .replace("{{CLUSTER_DOMAIN}}", CLUSTER_DOMAIN);
    apply(layout, &manifest)?;
    rollout(
        layout,
        "kube-system",
        "deployment/coredns",
        Duration::from_secs(180),
    )
}

/// metrics-server, waited for until the metrics API is Available.
pub fn install_metrics_server(layout: &Layout) -> Result<()> {
    apply(
        layout,
        &METRICS_SERVER.replace("{{IMAGE}}", &metrics_server_image()),
    )?;
    rollout(
        layout,
        "kube-system",
        "deployment/metrics-server",
        Duration::from_secs(180),
    )?;
    kubectl_output(
        layout,
        &[
            "wait",
            "--for=condition=Available",
            "apiservice/v1beta1.metrics.k8s.io",
            "--timeout=120s",
        ],
    )
    .map(|_| ())
}

/// The chart's scheduler StatefulSet has three replicas and a three-member etcd
/// `--etcd-initial-cluster` written into its template (no value changes either), so a
/// post-renderer (sed, on the rendered manifests) makes it one member: on one node three
/// embedded etcds only cost memory and CPU.
const ONE_SCHEDULER: [&str; 4] = [
    "-e",
    r#"s/,dapr-scheduler-server-1=[^,"]*,dapr-scheduler-server-2=[^,"]*//"#,
    "-e",
    r"/^kind: StatefulSet$/,/^---/{/^  name: dapr-scheduler-server$/,/^  replicas:/s/^  replicas: 3$/  replicas: 1/}",
];

/// Dapr's control plane by `helm install … --wait`.
pub fn install_dapr(layout: &Layout, say: &mut dyn FnMut(&str)) -> Result<()> {
    let helm = crate::devtools::DevTools::locate()
        .map(|t| t.helm)
        .or_else(|_| super::provision::provisioned(&crate::devtools::helm_dir(), "helm"))?;
    let chart = super::provision::provisioned(&dapr_control_plane_dir(), "chart")?;
    let sed = crate::tools::system_binary("sed", "apt-get install -y sed")?;
    let mut cmd = Command::new(helm);
    cmd.arg("install")
        .arg("dapr")
        .arg(&chart)
        .args(["--namespace", DAPR_NAMESPACE, "--create-namespace"])
        .arg("--kubeconfig")
        .arg(layout.admin_kubeconfig())
        .args([
            "--set",
            &format!("global.registry={}", dapr_registry()),
            "--set",
            &format!("global.tag={}", versions::DAPR),
            "--set",
            "global.mtls.enabled=true",
            "--set",
            "dapr_scheduler.cluster.inMemoryStorage=true",
            "--set",
            "dapr_placement.cluster.forceInMemoryLog=true",
            "--post-renderer",
        ])
        .arg(sed);
    for arg in ONE_SCHEDULER {
        cmd.arg(format!("--post-renderer-args={arg}"));
    }
    cmd.args(["--wait", "--timeout", "10m"]);
    say(&format!(
        "Dapr {}: helm install dapr {} -n {DAPR_NAMESPACE} --wait",
        versions::DAPR,
        chart.display()
    ));
    crate::provision::run_with_heartbeat("helm install dapr", &mut cmd, "cluster-helm-dapr", say)?;
    let replicas = kubectl_output(
        layout,
        &[
            "-n",
            DAPR_NAMESPACE,
            "get",
            "statefulset",
            "dapr-scheduler-server",
            "-o",
            "jsonpath={.spec.replicas}",
        ],
    )?;
    if replicas.trim() != "1" {
        return Err(HarnessError::Command {
            what: "making the Dapr scheduler one replica".into(),
            detail: format!(
                "the StatefulSet has {replicas} replicas: the chart's template changed; adjust ONE_SCHEDULER in cluster/addons.rs"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifests_have_every_placeholder_filled() {
        let coredns = COREDNS
            .replace("{{IMAGE}}", "x")
            .replace("{{DNS_SERVICE_IP}}", "10.96.0.10")
            .replace("{{CLUSTER_DOMAIN}}", "cluster.local");
        let metrics = METRICS_SERVER.replace("{{IMAGE}}", "x");
        assert!(!coredns.contains("{{") && !metrics.contains("{{"));
        assert!(coredns.contains("clusterIP: 10.96.0.10"));
    }
}
