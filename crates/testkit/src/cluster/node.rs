//! The node's processes, each started with its flags and waited for:
//! etcd → containerd → kube-apiserver → kube-controller-manager and kube-scheduler →
//! kubelet and kube-proxy; plus the node bridge and the per-run files they read. The
//! control plane's three are in `control_plane`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::config::{
    self, APISERVER_PORT, CONTROLLER_MANAGER_PORT, ETCD_CLIENT_PORT, ETCD_PEER_PORT,
    KUBELET_HEALTHZ_PORT, Layout, NODE_BRIDGE, NODE_IP, NODE_NAME, POD_CIDR, PROXY_HEALTHZ_PORT,
    REGISTRY_PORT, SCHEDULER_PORT, SERVICE_CIDR,
};
use super::provision::{CNI_BIN_DIR, kubernetes_dir};
use crate::process::{ManagedProcess, ProcessSpec};
use crate::tools::system_binary;
use crate::wait::{http_status_is, until_ready};
use crate::{HarnessError, Result};

mod control_plane;
pub use control_plane::{start_apiserver, start_controller_manager, start_scheduler};

/// A Kubernetes binary from the provisioned directory.
pub fn kube_binary(name: &str) -> Result<PathBuf> {
    super::provision::provisioned(&kubernetes_dir(), name)
}

/// `kubectl` with the admin kubeconfig.
pub fn kubectl(layout: &Layout) -> Result<Command> {
    let mut cmd = Command::new(kube_binary("kubectl")?);
    cmd.arg("--kubeconfig").arg(layout.admin_kubeconfig());
    Ok(cmd)
}

/// Runs kubectl; returns its stdout, or fails with its stderr.
pub fn kubectl_output(layout: &Layout, args: &[&str]) -> Result<String> {
    let out = kubectl(layout)?
        .args(args)
        .output()
        .map_err(HarnessError::io("running kubectl"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(HarnessError::Command {
            what: format!("kubectl {}", args.join(" ")),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// `kubectl rollout status` of `what` in `namespace`; when it does not finish within
/// `timeout`, the error carries what the pods say (status, recent events, the last log
/// lines), so a slow or crashing workload in CI is diagnosable from the test output alone.
pub fn rollout(layout: &Layout, namespace: &str, what: &str, timeout: Duration) -> Result<()> {
    let timeout = format!("--timeout={}s", timeout.as_secs());
    let status = ["-n", namespace, "rollout", "status", what, timeout.as_str()];
    let Err(HarnessError::Command {
        what: command,
        detail,
    }) = kubectl_output(layout, &status)
    else {
        return Ok(());
    };
    let probes: [(&str, Vec<&str>); 3] = [
        ("pods", vec!["-n", namespace, "get", "pods", "-o", "wide"]),
        (
            "events",
            vec!["-n", namespace, "get", "events", "--sort-by=.lastTimestamp"],
        ),
        (
            "logs",
            vec![
                "-n",
                namespace,
                "logs",
                what,
                "--all-containers",
                "--tail=30",
            ],
        ),
    ];
    let mut explained = detail;
    for (title, args) in probes {
        let answer = kubectl_output(layout, &args).unwrap_or_else(|e| e.to_string());
        let lines: Vec<&str> = answer.lines().collect();
        let recent = lines[lines.len().saturating_sub(30)..].join("\n");
        explained.push_str(&format!("\n--- {title} in {namespace} ---\n{recent}"));
    }
    Err(HarnessError::Command {
        what: command,
        detail: explained,
    })
}

/// Creates the run directory's files: configs, kubeconfigs, CNI network.
pub fn write_run_files(layout: &Layout, sandbox_image: &str) -> Result<()> {
    for dir in [
        layout.logs(),
        layout.etcd_data(),
        layout.containerd_state(),
        layout.runc_root(),
        layout.cni_ipam_dir(),
        layout.kubelet_root(),
        layout.pod_logs(),
        layout.registry_data(),
    ] {
        std::fs::create_dir_all(&dir)
            .map_err(HarnessError::io(format!("creating {}", dir.display())))?;
    }
    // etcd refuses a data directory others can read.
    set_mode(&layout.etcd_data(), 0o700)?;
    config::write(
        &layout.containerd_config(),
        &config::containerd_toml(layout, sandbox_image),
    )?;
    config::write(
        &layout
            .containerd_hosts_dir()
            .join(config::registry_host())
            .join("hosts.toml"),
        &config::registry_hosts_toml(),
    )?;
    config::write(&layout.registry_config(), &config::registry_yml(layout))?;
    config::write(
        &layout.cni_conf_dir().join("10-learnflow.conflist"),
        &config::cni_conflist(layout),
    )?;
    config::write(&layout.kubelet_config(), &config::kubelet_yaml(layout))?;
    config::write(
        &layout.kube_proxy_config(),
        &config::kube_proxy_yaml(layout),
    )?;
    for (user, cert) in [
        ("admin", "admin"),
        ("controller-manager", "controller-manager"),
        ("scheduler", "scheduler"),
        ("kubelet", "kubelet-client"),
        ("kube-proxy", "kube-proxy"),
    ] {
        config::write(
            &layout.kubeconfig(user),
            &config::kubeconfig(layout, user, cert),
        )?;
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(HarnessError::io(format!("chmod {}", path.display())))
}

/// The node's address on an otherwise empty bridge.
pub fn create_node_bridge() -> Result<()> {
    let ip = system_binary("ip", "apt-get install -y iproute2")?;
    let run = |args: &[&str]| {
        crate::components::run_command(
            &format!("ip {}", args.join(" ")),
            Command::new(&ip).args(args),
        )
    };
    run(&["link", "add", NODE_BRIDGE, "type", "bridge"])?;
    run(&["addr", "add", &format!("{NODE_IP}/32"), "dev", NODE_BRIDGE])?;
    run(&["link", "set", NODE_BRIDGE, "up"])?;
    Ok(())
}

fn spec(layout: &Layout, name: &str, program: PathBuf, detached: bool) -> ProcessSpec {
    let mut spec = ProcessSpec::new(name, program, layout.log(name));
    spec.detached = detached;
    spec.cwd = Some(layout.run());
    spec
}

/// etcd on loopback, plain HTTP: a single member only the API server talks to.
pub fn start_etcd(layout: &Layout, detached: bool) -> Result<ManagedProcess> {
    let etcd = system_binary("etcd", "apt-get install -y etcd-server")?;
    let client = format!("http://127.0.0.1:{ETCD_CLIENT_PORT}");
    let peer = format!("http://127.0.0.1:{ETCD_PEER_PORT}");
    let mut process = ManagedProcess::spawn(spec(layout, "etcd", etcd, detached).args([
        "--name".to_owned(),
        "learnflow".into(),
        "--data-dir".into(),
        layout.etcd_data().display().to_string(),
        "--listen-client-urls".into(),
        client.clone(),
        "--advertise-client-urls".into(),
        client,
        "--listen-peer-urls".into(),
        peer.clone(),
        "--initial-advertise-peer-urls".into(),
        peer.clone(),
        "--initial-cluster".into(),
        format!("learnflow={peer}"),
        "--logger".into(),
        "zap".into(),
        "--log-level".into(),
        "warn".into(),
    ]))?;
    until_ready(&mut process, Duration::from_secs(30), || {
        http_status_is(ETCD_CLIENT_PORT, "/health", 200)
    })?;
    Ok(process)
}

/// The image registry on loopback, where LearnFlow's images are pushed and the node pulls
/// them from, as from any registry.
pub fn start_registry(layout: &Layout, detached: bool) -> Result<ManagedProcess> {
    let registry = super::provision::provisioned(&super::provision::registry_dir(), "registry")?;
    let mut process = ManagedProcess::spawn(spec(layout, "registry", registry, detached).args([
        "serve".to_owned(),
        layout.registry_config().display().to_string(),
    ]))?;
    until_ready(&mut process, Duration::from_secs(30), || {
        http_status_is(REGISTRY_PORT, "/v2/", 200)
    })?;
    Ok(process)
}

/// The cluster's own containerd (never the engine's, which has no CRI).
pub fn start_containerd(layout: &Layout, detached: bool) -> Result<ManagedProcess> {
    let containerd = system_binary("containerd", "apt-get install -y docker.io")?;
    let mut process = ManagedProcess::spawn(
        spec(layout, "containerd", containerd, detached)
            .args([
                "--config".to_owned(),
                layout.containerd_config().display().to_string(),
            ])
            // The shims it starts find runc and the CNI plugins here.
            .env(
                "PATH",
                format!(
                    "{CNI_BIN_DIR}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                ),
            ),
    )?;
    let layout_for_check = layout.clone();
    until_ready(&mut process, Duration::from_secs(30), move || {
        super::images::ctr(&layout_for_check)
            .arg("version")
            .output()
            .map_err(|e| e.to_string())
            .and_then(|o| {
                if o.status.success() {
                    Ok(())
                } else {
                    Err(String::from_utf8_lossy(&o.stderr).into_owned())
                }
            })
    })?;
    Ok(process)
}

/// The kubelet, registering the node at the bridge address.
pub fn start_kubelet(layout: &Layout, detached: bool) -> Result<ManagedProcess> {
    let mut process = ManagedProcess::spawn(
        spec(layout, "kubelet", kube_binary("kubelet")?, detached)
            .args([
                format!("--config={}", layout.kubelet_config().display()),
                format!("--kubeconfig={}", layout.kubeconfig("kubelet").display()),
                format!("--root-dir={}", layout.kubelet_root().display()),
                format!("--node-ip={NODE_IP}"),
                format!("--hostname-override={NODE_NAME}"),
            ])
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ),
    )?;
    until_ready(&mut process, Duration::from_secs(60), || {
        http_status_is(KUBELET_HEALTHZ_PORT, "/healthz", 200)
    })?;
    Ok(process)
}

/// kube-proxy in iptables mode.
pub fn start_kube_proxy(layout: &Layout, detached: bool) -> Result<ManagedProcess> {
    let mut process = ManagedProcess::spawn(
        spec(layout, "kube-proxy", kube_binary("kube-proxy")?, detached)
            .args([format!("--config={}", layout.kube_proxy_config().display())])
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ),
    )?;
    until_ready(&mut process, Duration::from_secs(60), || {
        http_status_is(PROXY_HEALTHZ_PORT, "/healthz", 200)
    })?;
    Ok(process)
}

/// The NetworkPolicy enforcer (`learnflow-netpol`, ADR 0022): the bridge CNI enforces no
/// policy, so this keeps iptables rules on the node equal to what the policies allow.
/// Started after kube-proxy, so its jump goes ahead of kube-proxy's in `FORWARD`; ready
/// once it has applied its first rules.
pub fn start_network_policy_enforcer(layout: &Layout, detached: bool) -> Result<ManagedProcess> {
    let binary = crate::paths::workspace_binary("learnflow-netpol");
    if !binary.is_file() {
        return Err(HarnessError::Command {
            what: "starting the NetworkPolicy enforcer".into(),
            detail: format!(
                "{} is not built; run `cargo build -p lf-netpol` (cargo xtask cluster up and cargo xtask test build it)",
                binary.display()
            ),
        });
    }
    let status = layout.run().join("netpol-status.json");
    let _ = std::fs::remove_file(&status);
    let mut process = ManagedProcess::spawn(
        spec(layout, "learnflow-netpol", binary, detached)
            .args([
                "--kubectl".to_owned(),
                kube_binary("kubectl")?.display().to_string(),
                "--kubeconfig".into(),
                layout.admin_kubeconfig().display().to_string(),
                "--status-file".into(),
                status.display().to_string(),
            ])
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ),
    )?;
    until_ready(&mut process, Duration::from_secs(60), || {
        if status.is_file() {
            Ok(())
        } else {
            Err("no rules applied yet".into())
        }
    })?;
    Ok(process)
}

/// Waits until the node reports Ready.
pub fn wait_node_ready(layout: &Layout, timeout: Duration) -> Result<()> {
    let started = Instant::now();
    let jsonpath = "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}";
    loop {
        let status = kubectl_output(layout, &["get", "node", NODE_NAME, "-o", jsonpath]);
        match status {
            Ok(s) if s.trim() == "True" => return Ok(()),
            other if started.elapsed() > timeout => {
                let log = layout.log("kubelet");
                return Err(HarnessError::NotReady {
                    component: format!("node {NODE_NAME}"),
                    waited: started.elapsed(),
                    reason: format!("Ready condition: {other:?}"),
                    tail: crate::process::log_tail(&log, 30),
                    log,
                });
            }
            _ => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}
