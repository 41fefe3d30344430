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
//! - Jaeger (`manifests/jaeger.yaml`) with the compose stack's configuration, which the
//!   chart's apps and sidecars export to (`tracing.otlpEndpoint` in values-local.yaml).
//!
//! Jaeger runs the compose image (the stand-in when no registry answers); Prometheus does
//! not, as its stand-in (Debian's) has no Kubernetes service discovery.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::addons::apply;
use super::config::Layout;
use super::images::{self, config_reloader_image, prometheus_image, prometheus_operator_image};
use super::node::{self, kubectl_output};
use super::provision::{prometheus_operator_dir, provisioned};
use crate::containers::{self, Engine};
use crate::paths::repo_root;
use crate::{HarnessError, Result, versions};

/// The namespace monitoring runs in.
pub const NAMESPACE: &str = "monitoring";
/// The Jaeger image (as compose runs it).
pub const JAEGER_IMAGE: &str = "jaegertracing/jaeger:2.13.0";
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
const JAEGER: &str = include_str!("manifests/jaeger.yaml");
const KUBE_STATE_METRICS: &str = include_str!("manifests/kube-state-metrics.yaml");

/// Where the host reaches monitoring (ClusterIP Services, through kube-proxy).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Monitoring {
    /// Prometheus's base URL.
    pub prometheus: String,
    /// Jaeger's query API and UI.
    pub traces: String,
}

/// Installs the CRDs, the operator, its Prometheus and Jaeger, and waits until
/// Prometheus and Jaeger answer from the host.
pub fn install(layout: &Layout, say: &mut dyn FnMut(&str)) -> Result<Monitoring> {
    let started = Instant::now();
    let engine = Engine::ensure(say)?;
    containers::ensure_images(&engine, &[JAEGER_IMAGE], say)?;
    say(&format!("monitoring: importing {JAEGER_IMAGE}"));
    images::import(&engine, layout, &[JAEGER_IMAGE])?;
    drop(engine);

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
    apply(
        layout,
        &JAEGER
            .replace("{{NAMESPACE}}", NAMESPACE)
            .replace("{{IMAGE}}", JAEGER_IMAGE)
            .replace("{{CONFIG}}", &indented(&jaeger_config()?, 4)),
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
    rollout(layout, "deployment/jaeger")?;
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
    let jaeger = service_address(layout, "jaeger")?;
    answers_from_host(&prometheus, "/-/ready")?;
    answers_from_host(&jaeger, "/api/services")?;
    let monitoring = Monitoring {
        prometheus: format!("http://{prometheus}"),
        traces: format!("http://{jaeger}"),
    };
    say(&format!(
        "monitoring ready in {:.0} s: Prometheus {}, Jaeger {}",
        started.elapsed().as_secs_f64(),
        monitoring.prometheus,
        monitoring.traces
    ));
    Ok(monitoring)
}

/// Every monitoring workload gets three minutes: the operator and Prometheus start
/// while the node is busy importing images.
fn rollout(layout: &Layout, what: &str) -> Result<()> {
    node::rollout(layout, NAMESPACE, what, Duration::from_secs(180))
}

/// Waits up to a minute for `GET http://{address}{path}` to answer 200 from the host.
fn answers_from_host(address: &str, path: &str) -> Result<()> {
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

/// `<cluster IP>:<first port>` of a Service in [`NAMESPACE`]; for Jaeger the query port.
fn service_address(layout: &Layout, service: &str) -> Result<String> {
    let port = if service == "jaeger" {
        "{.spec.ports[?(@.name==\"query\")].port}"
    } else {
        "{.spec.ports[0].port}"
    };
    let out = kubectl_output(
        layout,
        &[
            "-n",
            NAMESPACE,
            "get",
            "service",
            service,
            "-o",
            &format!("jsonpath={{.spec.clusterIP}}:{port}"),
        ],
    )?;
    Ok(out.trim().to_owned())
}

/// The compose stack's Jaeger configuration, which the cluster's Jaeger runs too.
fn jaeger_config() -> Result<String> {
    let path = repo_root().join("docker/jaeger/config.yaml");
    std::fs::read_to_string(&path).map_err(HarnessError::io(format!("reading {}", path.display())))
}

fn indented(text: &str, spaces: usize) -> String {
    let pad = " ".repeat(spaces);
    text.lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{pad}{l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
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
            JAEGER
                .replace("{{NAMESPACE}}", NAMESPACE)
                .replace("{{IMAGE}}", "x")
                .replace("{{CONFIG}}", &indented("a: 1\n\nb: 2", 4)),
        ];
        for manifest in filled {
            assert!(!manifest.contains("{{"), "{manifest}");
        }
    }
}
