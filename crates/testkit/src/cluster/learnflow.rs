//! LearnFlow on the cluster, installed as the README says: the images built with
//! `docker/Dockerfile` (as compose builds them) and the stand-ins for the data stores are
//! pushed to the cluster's registry, random dev secrets are written once by
//! `deploy/helm/learnflow/dev-secrets.sh`, and the chart is installed with
//! `values-dev.yaml`, `values-minikube.yaml` and `values-local.yaml` (`helm --wait`).
//!
//! The gateway's ClusterIP Service answers from the host (kube-proxy's rules live in the
//! host's network namespace), so tests and users reach it without a port-forward.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::config::Layout;
use super::node::kubectl_output;
use crate::containers::{self, Engine};
use crate::paths::{repo_root, target_dir};
use crate::{HarnessError, Result};

/// The namespace and release name LearnFlow is installed as.
pub const NAMESPACE: &str = "learnflow";
/// The Helm release.
pub const RELEASE: &str = "learnflow";
/// The tag of the images built here for the cluster.
pub const TAG: &str = "dev";
/// The images built here that the chart runs (the Dockerfile's `SERVICE` values): the
/// services, and Kafka with the JMX exporter agent (values-local.yaml).
pub const SERVICES: &[&str] = &[
    "frontend-gateway",
    "course-agent",
    "user-progress",
    "kafka-monitor",
    "loadgen",
    "kafka",
];
/// The third-party images the chart runs in the cluster (values-minikube.yaml), or that
/// `learnflow/kafka` is built on.
pub const STORE_IMAGES: &[&str] = &[
    "apache/kafka:4.1.2",
    "postgres:15.20-bookworm",
    "prometheuscommunity/postgres-exporter:v0.11.1",
    "jaegertracing/jaeger:2.13.0",
    "victoriametrics/victoria-logs:v1.52.2",
    "victoriametrics/vlagent:v1.52.2",
];

/// What an installed LearnFlow offers a client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LearnFlow {
    /// The gateway's base URL, reachable from the host.
    pub gateway: String,
    /// The dev secrets file the release was installed with.
    pub secrets_file: PathBuf,
    /// The HS256 secret learner tokens are signed with.
    pub jwt_secret: String,
    /// A learner token (learner `dev-learner`), valid for a day.
    pub dev_token: String,
    /// The query API and UI of the Jaeger the chart runs (values-minikube.yaml).
    pub traces: String,
}

/// Builds the images and pushes them to the local registry, then installs (or upgrades)
/// the release and waits for it.
pub fn install(layout: &Layout, say: &mut dyn FnMut(&str)) -> Result<LearnFlow> {
    let started = Instant::now();
    let engine = Engine::ensure(say)?;
    containers::ensure_images(&engine, STORE_IMAGES, say)?;
    let dockerfile = repo_root().join("docker/Dockerfile");
    let mut references: Vec<String> = Vec::new();
    for service in SERVICES {
        let reference = format!("learnflow/{service}:{TAG}");
        engine.build(
            &reference,
            &dockerfile,
            &repo_root(),
            &[("SERVICE", (*service).to_owned())],
            say,
        )?;
        references.push(reference);
    }
    references.extend(STORE_IMAGES.iter().map(|s| (*s).to_owned()));
    push(&engine, &references, say)?;
    drop(engine);

    let secrets_file = target_dir().join("learnflow/minikube-secrets.yaml");
    crate::components::run_command(
        "deploy/helm/learnflow/dev-secrets.sh",
        Command::new("sh")
            .current_dir(repo_root())
            .arg("deploy/helm/learnflow/dev-secrets.sh")
            .arg(&secrets_file),
    )?;
    upgrade(layout, &secrets_file, &[], say)?;

    let gateway_ip = component_address(layout, "frontend-gateway", "http")?;
    let jaeger = component_address(layout, "jaeger", "query")?;
    super::monitoring::answers_from_host(&jaeger, "/api/services")?;
    let jwt_secret = secret_value(&secrets_file, "jwtSecret")?;
    let dev_token = lf_auth::mint(&jwt_secret, "dev-learner", 24 * 3600);
    say(&format!(
        "LearnFlow ready in {:.0} s; gateway http://{}",
        started.elapsed().as_secs_f64(),
        gateway_ip
    ));
    Ok(LearnFlow {
        gateway: format!("http://{gateway_ip}"),
        secrets_file,
        jwt_secret,
        dev_token,
        traces: format!("http://{jaeger}"),
    })
}

/// `<cluster IP>:<port>` of the release's Service for `component`, its port named `port`.
fn component_address(layout: &Layout, component: &str, port: &str) -> Result<String> {
    let out = kubectl_output(
        layout,
        &[
            "-n",
            NAMESPACE,
            "get",
            "service",
            "-l",
            &format!("app.kubernetes.io/component={component}"),
            "-o",
            &format!(
                "jsonpath={{.items[0].spec.clusterIP}}:{{.items[0].spec.ports[?(@.name==\"{port}\")].port}}"
            ),
        ],
    )?;
    Ok(out.trim().to_owned())
}

/// Tags each image for the cluster's registry and pushes it there: the chart pulls them
/// as from any registry (`image.registry` in values-local.yaml). The registry keeps its
/// layers across runs, so after a rebuild only the changed layers travel.
pub fn push(engine: &Engine, references: &[String], say: &mut dyn FnMut(&str)) -> Result<()> {
    let started = Instant::now();
    let registry = super::config::registry_host();
    for reference in references {
        let target = format!("{registry}/{reference}");
        engine.run("docker tag", &["tag", reference, &target])?;
        engine.run("docker push", &["push", "--quiet", &target])?;
    }
    say(&format!(
        "LearnFlow images: pushed {} to the registry {registry} in {:.0} s",
        references.len(),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// `helm upgrade --install` of the release with the README's values files for this
/// cluster, the dev secrets and `sets` (`key=value`, as `--set` takes them), waiting
/// for its Deployments and StatefulSets (`--wait`).
pub fn upgrade(
    layout: &Layout,
    secrets_file: &Path,
    sets: &[&str],
    say: &mut dyn FnMut(&str),
) -> Result<()> {
    let helm = crate::devtools::helm_dir().join("helm");
    let chart = repo_root().join("deploy/helm/learnflow");
    let mut cmd = Command::new(&helm);
    cmd.current_dir(repo_root())
        .args(["upgrade", "--install", RELEASE])
        .arg(&chart)
        .args(["--namespace", NAMESPACE, "--create-namespace"])
        .arg("--kubeconfig")
        .arg(layout.admin_kubeconfig());
    for values in [
        "values-dev.yaml",
        "values-minikube.yaml",
        "values-local.yaml",
    ] {
        cmd.arg("-f").arg(chart.join(values));
    }
    cmd.arg("-f").arg(secrets_file);
    // The kubelet here keeps pod logs in the run directory, a path only the harness knows:
    // with `--set logs.deploy=true` vlagent mounts it. The log option stays off here
    // (values-local.yaml says why).
    let pod_logs = format!("logs.agent.podLogsPath={}", layout.pod_logs().display());
    let sets: Vec<&str> = [pod_logs.as_str()]
        .into_iter()
        .chain(sets.iter().copied())
        .collect();
    for set in &sets {
        cmd.args(["--set", set]);
    }
    cmd.args(["--wait", "--timeout", "10m"]);
    say(&format!(
        "LearnFlow: helm upgrade --install learnflow deploy/helm/learnflow --wait{}",
        sets.iter()
            .map(|s| format!(" --set {s}"))
            .collect::<String>()
    ));
    crate::provision::run_with_heartbeat(
        "helm upgrade learnflow",
        &mut cmd,
        "cluster-helm-learnflow",
        say,
    )
}

/// A value of the dev secrets file (`  key: "value"`).
fn secret_value(file: &Path, key: &str) -> Result<String> {
    let text = std::fs::read_to_string(file)
        .map_err(HarnessError::io(format!("reading {}", file.display())))?;
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .next()
        .ok_or_else(|| HarnessError::Command {
            what: format!("reading {key}"),
            detail: format!("no {key} in {}", file.display()),
        })
}
