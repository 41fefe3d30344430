//! The cluster's images: made on this machine from the provisioned static binaries
//! (`FROM scratch`, no registry needed) and imported into the cluster's own containerd.
//!
//! - [`wanted`]: every image the cluster runs — pause, CoreDNS, metrics-server,
//!   kube-state-metrics, Dapr's control plane and daprd, the Prometheus operator, its config reloader and Prometheus — under `learnflow.local/…` names, so nothing mistakes
//!   them for upstream images or tries to pull them;
//! - [`ensure`]: builds an image with the Docker Engine when the engine lacks it (or it
//!   was made from another binary), then `docker save | ctr images import` for those
//!   containerd lacks. A run whose images are all imported needs no engine at all.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use super::config::Layout;
use super::provision::{
    DAPR_SERVICES, coredns_dir, dapr_control_plane_dir, kube_state_metrics_dir, kubernetes_dir,
    metrics_server_dir, pause_tag, prometheus_dir, prometheus_operator_dir, provisioned,
};
use crate::containers::Engine;
use crate::paths::cache_dir;
use crate::tools::daprd_dir;
use crate::{HarnessError, Result, versions};

/// The registry-like prefix of every image made for the cluster.
pub const REGISTRY: &str = "learnflow.local";

/// What the Dapr chart's `global.registry` is set to.
pub fn dapr_registry() -> String {
    format!("{REGISTRY}/dapr")
}

/// The sandbox (pause) image.
pub fn pause_image() -> Result<String> {
    Ok(format!("{REGISTRY}/k8s/pause:{}", pause_tag()?))
}

/// The CoreDNS image.
pub fn coredns_image() -> String {
    format!("{REGISTRY}/k8s/coredns:{}", versions::COREDNS)
}

/// The metrics-server image.
pub fn metrics_server_image() -> String {
    format!("{REGISTRY}/k8s/metrics-server:{}", versions::METRICS_SERVER)
}

/// The kube-state-metrics image.
pub fn kube_state_metrics_image() -> String {
    format!(
        "{REGISTRY}/kube-state-metrics/kube-state-metrics:{}",
        versions::KUBE_STATE_METRICS
    )
}

/// The Prometheus operator image.
pub fn prometheus_operator_image() -> String {
    format!(
        "{REGISTRY}/prometheus-operator/operator:{}",
        versions::PROMETHEUS_OPERATOR_MODULE
    )
}

/// The Prometheus image the operator runs.
pub fn prometheus_image() -> String {
    format!("{REGISTRY}/prometheus/prometheus:{}", versions::PROMETHEUS)
}

/// The config reloader image the operator puts beside each Prometheus.
pub fn config_reloader_image() -> String {
    format!(
        "{REGISTRY}/prometheus-operator/prometheus-config-reloader:{}",
        versions::PROMETHEUS_OPERATOR_MODULE
    )
}

/// One image: a static binary at `/<dir>/<name>` of an otherwise empty image.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    /// Its reference.
    pub reference: String,
    /// The provisioned binary it carries.
    pub binary: PathBuf,
    /// The binary's file name.
    pub name: &'static str,
    /// The directory it is in, `/` or, where its users expect it there, `/bin/`.
    pub dir: &'static str,
    /// A numeric user, for pods that set `runAsNonRoot` (Dapr's images run as 65532).
    pub user: Option<&'static str>,
    /// Whether it carries the CA bundle and a passwd file (Dapr's images, as upstream).
    pub distroless_files: bool,
}

/// Every image the cluster runs.
pub fn wanted() -> Result<Vec<ImageSpec>> {
    let mut images = vec![
        ImageSpec {
            reference: pause_image()?,
            binary: provisioned(&kubernetes_dir(), "pause")?,
            name: "pause",
            dir: "/",
            user: Some("65535:65535"),
            distroless_files: false,
        },
        ImageSpec {
            reference: coredns_image(),
            binary: provisioned(&coredns_dir(), "coredns")?,
            name: "coredns",
            dir: "/",
            user: None,
            distroless_files: false,
        },
        ImageSpec {
            reference: metrics_server_image(),
            binary: provisioned(&metrics_server_dir(), "metrics-server")?,
            name: "metrics-server",
            dir: "/",
            user: Some("65534:65534"),
            distroless_files: false,
        },
        ImageSpec {
            reference: kube_state_metrics_image(),
            binary: provisioned(&kube_state_metrics_dir(), "kube-state-metrics")?,
            name: "kube-state-metrics",
            dir: "/",
            user: Some("65534:65534"),
            distroless_files: false,
        },
    ];
    for service in DAPR_SERVICES.iter().copied().chain(["daprd"]) {
        let binary = if service == "daprd" {
            provisioned(&daprd_dir(), "daprd")?
        } else {
            provisioned(&dapr_control_plane_dir(), service)?
        };
        images.push(ImageSpec {
            reference: format!("{}/{service}:{}", dapr_registry(), versions::DAPR),
            binary,
            name: service,
            dir: "/",
            user: Some("65532:65532"),
            distroless_files: true,
        });
    }
    // The operator names the reloader's command `/bin/prometheus-config-reloader`;
    // Prometheus is where the official image has it.
    for (reference, dir, name) in [
        (
            prometheus_operator_image(),
            prometheus_operator_dir(),
            "operator",
        ),
        (
            config_reloader_image(),
            prometheus_operator_dir(),
            "prometheus-config-reloader",
        ),
        (prometheus_image(), prometheus_dir(), "prometheus"),
    ] {
        images.push(ImageSpec {
            reference,
            binary: provisioned(&dir, name)?,
            name,
            dir: "/bin/",
            user: Some("65534:65534"),
            distroless_files: false,
        });
    }
    Ok(images)
}

/// Identifies the binary an image was made from (path, size, modification time), so a
/// re-provisioned binary makes a new image.
fn source_key(binary: &Path) -> Result<String> {
    let meta = std::fs::metadata(binary)
        .map_err(HarnessError::io(format!("reading {}", binary.display())))?;
    Ok(format!(
        "{}:{}:{}",
        binary.display(),
        meta.len(),
        meta.mtime()
    ))
}

/// Makes sure the cluster's containerd (running) has every image, building and importing
/// only what it lacks.
pub fn ensure(layout: &Layout, say: &mut dyn FnMut(&str)) -> Result<()> {
    let wanted = wanted()?;
    let mut imported: BTreeMap<String, String> = std::fs::read(layout.imported_json())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let present = containerd_images(layout)?;
    let mut missing = Vec::new();
    for image in &wanted {
        let key = source_key(&image.binary)?;
        let recorded = imported.get(&image.reference) == Some(&key);
        if !(recorded && present.contains(&image.reference)) {
            missing.push((image, key));
        }
    }
    if missing.is_empty() {
        say(&format!(
            "images: all {} already in the cluster's containerd",
            wanted.len()
        ));
        return Ok(());
    }
    let started = Instant::now();
    let engine = Engine::ensure(say)?;
    for (image, key) in &missing {
        if engine_label(&engine, &image.reference).as_deref() != Some(key.as_str()) {
            build(&engine, image, key, say)?;
        }
    }
    let references: Vec<&str> = missing.iter().map(|(i, _)| i.reference.as_str()).collect();
    say(&format!(
        "images: docker save | ctr images import ({})",
        references.join(", ")
    ));
    import(&engine, layout, &references)?;
    for (image, key) in missing {
        imported.insert(image.reference.clone(), key);
    }
    let json = serde_json::to_vec_pretty(&imported).map_err(|e| HarnessError::Command {
        what: "serialising the import record".into(),
        detail: e.to_string(),
    })?;
    std::fs::write(layout.imported_json(), json)
        .map_err(HarnessError::io("writing the import record"))?;
    say(&format!(
        "images: ready in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

const SOURCE_LABEL: &str = "io.learnflow.source";

fn engine_label(engine: &Engine, reference: &str) -> Option<String> {
    let format = format!("{{{{index .Config.Labels \"{SOURCE_LABEL}\"}}}}");
    engine
        .run(
            "docker image inspect",
            &["image", "inspect", "--format", &format, reference],
        )
        .ok()
        .map(|s| s.trim().to_owned())
}

fn build(engine: &Engine, image: &ImageSpec, key: &str, say: &mut dyn FnMut(&str)) -> Result<()> {
    let started = Instant::now();
    let context = cache_dir()
        .join("build")
        .join(format!("cluster-image-{}", image.name));
    let _ = std::fs::remove_dir_all(&context);
    std::fs::create_dir_all(&context)
        .map_err(HarnessError::io(format!("creating {}", context.display())))?;
    std::fs::copy(&image.binary, context.join(image.name)).map_err(HarnessError::io(format!(
        "copying {}",
        image.binary.display()
    )))?;
    let mut dockerfile = String::from("FROM scratch\n");
    if image.distroless_files {
        // As Dapr's distroless images: CA bundle, and users for the numeric USER.
        std::fs::copy(
            "/etc/ssl/certs/ca-certificates.crt",
            context.join("ca-certificates.crt"),
        )
        .map_err(HarnessError::io(
            "copying /etc/ssl/certs/ca-certificates.crt (apt-get install -y ca-certificates)",
        ))?;
        std::fs::write(
            context.join("passwd"),
            "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
        )
        .map_err(HarnessError::io("writing passwd"))?;
        std::fs::write(context.join("group"), "root:x:0:\nnonroot:x:65532:\n")
            .map_err(HarnessError::io("writing group"))?;
        dockerfile.push_str(
            "COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt\nCOPY passwd group /etc/\n",
        );
    }
    dockerfile.push_str(&format!(
        "COPY {name} {dir}{name}\nENTRYPOINT [\"{dir}{name}\"]\n",
        name = image.name,
        dir = image.dir
    ));
    if let Some(user) = image.user {
        dockerfile.push_str(&format!("USER {user}\n"));
    }
    dockerfile.push_str(&format!(
        "LABEL io.learnflow.built-here=\"true\" {SOURCE_LABEL}=\"{key}\"\n"
    ));
    std::fs::write(context.join("Dockerfile"), dockerfile)
        .map_err(HarnessError::io("writing the Dockerfile"))?;
    engine.build(
        &image.reference,
        &context.join("Dockerfile"),
        &context,
        &[],
        say,
    )?;
    let _ = std::fs::remove_dir_all(&context);
    say(&format!(
        "{}: built in {:.1} s ({} MB)",
        image.reference,
        started.elapsed().as_secs_f64(),
        engine.image_size(&image.reference)? / 1_000_000
    ));
    Ok(())
}

/// `ctr` aimed at the cluster's containerd, in the CRI's namespace.
pub fn ctr(layout: &Layout) -> Command {
    let mut cmd = Command::new("ctr");
    cmd.arg("--address")
        .arg(layout.containerd_socket())
        .args(["--namespace", "k8s.io"]);
    cmd
}

/// The image references the cluster's containerd has.
pub fn containerd_images(layout: &Layout) -> Result<Vec<String>> {
    let out = ctr(layout)
        .args(["images", "ls", "-q"])
        .output()
        .map_err(HarnessError::io("running ctr images ls"))?;
    if !out.status.success() {
        return Err(HarnessError::Command {
            what: "ctr images ls".into(),
            detail: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect())
}

pub(crate) fn import(engine: &Engine, layout: &Layout, references: &[&str]) -> Result<()> {
    let mut save = engine
        .docker()
        .arg("save")
        .args(references)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(HarnessError::io("starting docker save"))?;
    let stdout = save.stdout.take().ok_or_else(|| HarnessError::Command {
        what: "docker save".into(),
        detail: "no stdout".into(),
    })?;
    let out = ctr(layout)
        .args(["images", "import", "-"])
        .stdin(stdout)
        .output()
        .map_err(HarnessError::io("running ctr images import"))?;
    let saved = save
        .wait_with_output()
        .map_err(HarnessError::io("waiting for docker save"))?;
    if !saved.status.success() {
        return Err(HarnessError::Command {
            what: "docker save".into(),
            detail: String::from_utf8_lossy(&saved.stderr).into_owned(),
        });
    }
    if !out.status.success() {
        return Err(HarnessError::Command {
            what: "ctr images import".into(),
            detail: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        });
    }
    Ok(())
}
