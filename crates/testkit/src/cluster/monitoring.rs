//! Monitoring in the cluster, so the chart's monitors, rules and trace export are really
//! used (namespace [`NAMESPACE`]):
//!
//! - the Prometheus operator's CRDs from its module, applied server-side (they are too big
//!   for the annotation a client-side apply writes) and waited for until Established —
//!   before LearnFlow is installed, so the chart's `.Capabilities` check renders its
//!   ServiceMonitors, PodMonitor and PrometheusRule;
//! - the operator (`manifests/prometheus-operator.yaml`) and the Prometheus it runs
//!   (`manifests/prometheus.yaml`, the image built here), selecting every monitor and rule;
//! - kube-state-metrics (`manifests/kube-state-metrics.yaml`, the image built here) and
//!   its ServiceMonitor: pod restarts, container limits and HPA replicas for the chart's
//!   Kubernetes alerts and the dashboards' Kubernetes row;
//!
//! Prometheus does not run the compose image, as its stand-in (Debian's) has no Kubernetes
//! service discovery. Traces go to the Jaeger the chart runs (`tracing.jaeger.deploy`,
//! values-minikube.yaml), as on minikube.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::addons::apply;
use super::config::Layout;
use super::images::{self, config_reloader_image, prometheus_image, prometheus_operator_image};
use super::node::{self, kubectl_output};
use super::provision::{prometheus_operator_dir, provisioned};
use crate::{HarnessError, Result, versions};

/// The namespace monitoring runs in.
pub const NAMESPACE: &str = "monitoring";
/// The CRDs the operator and the chart need; the module's others (Alertmanager,
/// ThanosRuler, ScrapeConfig …) are applied too, as upstream's bundle does.
pub const REQUIRED_CRDS: [&str; 5] = [
    "prometheuses",
    "servicemonitors",
    "podmonitors",
    "probes",
    "prometheusrules",
];

const OPERATOR: &str = include_str!("manifests/prometheus-operator.yaml");
const PROMETHEUS: &str = include_str!("manifests/prometheus.yaml");
const KUBE_STATE_METRICS: &str = include_str!("manifests/kube-state-metrics.yaml");

/// Where the host reaches monitoring (ClusterIP Services, through kube-proxy).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Monitoring {
    /// Prometheus's base URL.
    pub prometheus: String,
}

/// Installs the CRDs, the operator, its Prometheus and kube-state-metrics, and waits until
/// Prometheus answers from the host.
pub fn install(layout: &Layout, say: &mut dyn FnMut(&str)) -> Result<Monitoring> {
    let started = Instant::now();
    let crds = provisioned(&prometheus_operator_dir(), "crds")?;
    kubectl_output(
        layout,
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            &crds.to_string_lossy(),
        ],
    )?;
    let names: Vec<String> = REQUIRED_CRDS
        .iter()
        .map(|c| format!("crd/{c}.monitoring.coreos.com"))
        .collect();
    let mut wait = vec!["wait", "--for=condition=Established", "--timeout=60s"];
    wait.extend(names.iter().map(String::as_str));
    kubectl_output(layout, &wait)?;
    say("monitoring: Prometheus operator CRDs established");

    apply(
        layout,
        &OPERATOR
            .replace("{{NAMESPACE}}", NAMESPACE)
            .replace("{{OPERATOR_IMAGE}}", &prometheus_operator_image())
            .replace("{{RELOADER_IMAGE}}", &config_reloader_image()),
    )?;
    rollout(layout, "deployment/prometheus-operator")?;
    apply(
        layout,
        &PROMETHEUS
            .replace("{{NAMESPACE}}", NAMESPACE)
            .replace("{{PROMETHEUS_IMAGE}}", &prometheus_image())
            .replace("{{PROMETHEUS_VERSION}}", versions::PROMETHEUS),
    )?;
    apply(
        layout,
        &KUBE_STATE_METRICS
            .replace("{{NAMESPACE}}", NAMESPACE)
            .replace("{{IMAGE}}", &images::kube_state_metrics_image()),
    )?;
    rollout(layout, "deployment/kube-state-metrics")?;
    // The operator makes the StatefulSet a moment after the Prometheus object.
    let waited = Instant::now();
    while kubectl_output(
        layout,
        &[
            "-n",
            NAMESPACE,
            "get",
            "statefulset",
            "prometheus-learnflow",
        ],
    )
    .is_err()
    {
        if waited.elapsed() > Duration::from_secs(120) {
            let status = kubectl_output(
                layout,
                &[
                    "-n",
                    NAMESPACE,
                    "get",
                    "prometheus",
                    "learnflow",
                    "-o",
                    "yaml",
                ],
            )
            .unwrap_or_default();
            return Err(HarnessError::Command {
                what: "waiting for the operator to make Prometheus's StatefulSet".into(),
                detail: format!("none after 120 s; the Prometheus object:\n{status}"),
            });
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    rollout(layout, "statefulset/prometheus-learnflow")?;

    let prometheus = service_address(layout, "prometheus")?;
    answers_from_host(&prometheus, "/-/ready")?;
    let monitoring = Monitoring {
        prometheus: format!("http://{prometheus}"),
    };
    say(&format!(
        "monitoring ready in {:.0} s: Prometheus {}",
        started.elapsed().as_secs_f64(),
        monitoring.prometheus,
    ));
    Ok(monitoring)
}

/// Every monitoring workload gets three minutes: the operator and Prometheus start
/// while the node is busy importing images.
fn rollout(layout: &Layout, what: &str) -> Result<()> {
    node::rollout(layout, NAMESPACE, what, Duration::from_secs(180))
}

/// Waits up to a minute for `GET http://{address}{path}` to answer 200 from the host.
pub(super) fn answers_from_host(address: &str, path: &str) -> Result<()> {
    let socket: std::net::SocketAddr = address.parse().map_err(|_| HarnessError::Command {
        what: "reading a Service address".into(),
        detail: format!("not ip:port: {address:?}"),
    })?;
    let started = Instant::now();
    loop {
        let last = match crate::wait::http_get_at(socket, path, Duration::from_secs(2)) {
            Ok((200, _)) => return Ok(()),
            Ok((status, body)) => {
                format!("{status}: {}", body.chars().take(200).collect::<String>())
            }
            Err(e) => e.to_string(),
        };
        if started.elapsed() > Duration::from_secs(60) {
            return Err(HarnessError::Command {
                what: format!("GET http://{address}{path} from the host"),
                detail: last,
            });
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// `<cluster IP>:<first port>` of a Service in [`NAMESPACE`].
fn service_address(layout: &Layout, service: &str) -> Result<String> {
    let out = kubectl_output(
        layout,
        &[
            "-n",
            NAMESPACE,
            "get",
            "service",
            service,
            "-o",
            "jsonpath={.spec.clusterIP}:{.spec.ports[0].port}",
        ],
    )?;
    Ok(out.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifests_have_every_placeholder_filled() {
        let filled = [
            OPERATOR
                .replace("{{NAMESPACE}}", NAMESPACE)
                .replace("{{OPERATOR_IMAGE}}", "x")
                .replace("{{RELOADER_IMAGE}}", "x"),
            PROMETHEUS
                .replace("{{NAMESPACE}}", NAMESPACE)
                .replace("{{PROMETHEUS_IMAGE}}", "x")
                .replace("{{PROMETHEUS_VERSION}}", "v2.42.0"),
            KUBE_STATE_METRICS
                .replace("{{NAMESPACE}}", NAMESPACE)
                .replace("{{IMAGE}}", "x"),
        ];
        for manifest in filled {
            assert!(!manifest.contains("{{"), "{manifest}");
        }
    }
}
