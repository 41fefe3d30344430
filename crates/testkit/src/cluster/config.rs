//! Where the cluster lives and how its pieces are configured.
//!
//! - [`Layout`]: the state directory (certificates and the image store persist; `run/`
//!   holds one run's data, sockets, configs and logs) and every address and port;
//! - the configuration files each process reads: containerd's, the CNI network,
//!   the kubelet's, kube-proxy's and the kubeconfigs — rendered as text here so each
//!   setting can carry the reason it is there (ADR 0013).

use std::path::{Path, PathBuf};

use crate::paths::{cache_dir, target_dir};

/// Name of the node (and of its kubelet's certificate).
pub const NODE_NAME: &str = "learnflow-node";
/// The node's address, held by an otherwise empty bridge: the machine has no `dummy`
/// module, and 127.0.0.1 cannot be the endpoint of the `kubernetes` Service.
pub const NODE_IP: &str = "10.199.0.1";
/// The bridge holding [`NODE_IP`].
pub const NODE_BRIDGE: &str = "lfk-node0";
/// The CNI bridge the pods hang off.
pub const CNI_BRIDGE: &str = "lfk-cni0";
/// The CNI network name (also the prefix of its cache entries in /var/lib/cni).
pub const CNI_NETWORK: &str = "learnflow";
/// The cluster's pod range, and the node's share of it.
pub const POD_CIDR: &str = "10.244.0.0/16";
/// The node's pod subnet (the first /24, as the controller-manager allocates it).
pub const NODE_POD_CIDR: &str = "10.244.0.0/24";
/// The Service range.
pub const SERVICE_CIDR: &str = "10.96.0.0/16";
/// The `kubernetes` Service's address (the first of the range).
pub const API_SERVICE_IP: &str = "10.96.0.1";
/// CoreDNS's Service address.
pub const DNS_SERVICE_IP: &str = "10.96.0.10";
/// The cluster's DNS domain.
pub const CLUSTER_DOMAIN: &str = "cluster.local";
/// The API server's port on [`NODE_IP`].
pub const APISERVER_PORT: u16 = 6443;
/// etcd's client port on loopback (off 2379, where a distribution etcd would listen).
pub const ETCD_CLIENT_PORT: u16 = 12379;
/// etcd's peer port on loopback.
pub const ETCD_PEER_PORT: u16 = 12380;
/// The kubelet's HTTPS port on [`NODE_IP`].
pub const KUBELET_PORT: u16 = 10250;
/// The kubelet's plain-HTTP healthz port on loopback.
pub const KUBELET_HEALTHZ_PORT: u16 = 10248;
/// kube-proxy's healthz port on loopback.
pub const PROXY_HEALTHZ_PORT: u16 = 10256;
/// kube-proxy's metrics port on loopback.
pub const PROXY_METRICS_PORT: u16 = 10249;
/// kube-controller-manager's secure port on loopback.
pub const CONTROLLER_MANAGER_PORT: u16 = 10257;
/// kube-scheduler's secure port on loopback.
pub const SCHEDULER_PORT: u16 = 10259;
/// The image registry's port on loopback (off 5000, where a user's registry would listen).
pub const REGISTRY_PORT: u16 = 15000;
/// The loopback ports the cluster listens on, to check before starting.
pub const LOOPBACK_PORTS: [(u16, &str); 8] = [
    (ETCD_CLIENT_PORT, "etcd (client)"),
    (ETCD_PEER_PORT, "etcd (peer)"),
    (KUBELET_HEALTHZ_PORT, "kubelet healthz"),
    (PROXY_HEALTHZ_PORT, "kube-proxy healthz"),
    (PROXY_METRICS_PORT, "kube-proxy metrics"),
    (CONTROLLER_MANAGER_PORT, "kube-controller-manager"),
    (SCHEDULER_PORT, "kube-scheduler"),
    (REGISTRY_PORT, "image registry"),
];

/// The registry as image references name it (`<this>/learnflow/course-agent:dev`). The
/// Docker Engine pushes to a 127.0.0.0/8 registry over plain HTTP without configuration,
/// and the node's containerd pulls from it on the host's loopback.
pub fn registry_host() -> String {
    format!("127.0.0.1:{REGISTRY_PORT}")
}

/// Where `cargo xtask cluster up --detach` describes the running cluster.
pub fn cluster_json() -> PathBuf {
    target_dir().join("learnflow").join("cluster.json")
}

/// Every path of one cluster.
#[derive(Debug, Clone)]
pub struct Layout {
    /// `<cache>/cluster`: everything below is the cluster's.
    pub root: PathBuf,
}

impl Default for Layout {
    fn default() -> Self {
        Self {
            root: cache_dir().join("cluster"),
        }
    }
}

impl Layout {
    /// Certificates and keys, made at the first start and kept.
    pub fn pki(&self) -> PathBuf {
        self.root.join("pki")
    }
    /// A file in [`Layout::pki`].
    pub fn pki_file(&self, name: &str) -> PathBuf {
        self.pki().join(name)
    }
    /// containerd's root: its image store survives `down`, so images are imported once.
    pub fn containerd_root(&self) -> PathBuf {
        self.root.join("containerd")
    }
    /// What was imported into containerd, by reference and engine image id.
    pub fn imported_json(&self) -> PathBuf {
        self.containerd_root().join("learnflow-imported.json")
    }
    /// The registry's storage: like containerd's image store it survives `down`, so a
    /// push after a rebuild sends only the layers that changed.
    pub fn registry_data(&self) -> PathBuf {
        self.root.join("registry")
    }
    /// The registry's configuration.
    pub fn registry_config(&self) -> PathBuf {
        self.run().join("registry.yml")
    }
    /// containerd's per-registry host settings (`<host:port>/hosts.toml`).
    pub fn containerd_hosts_dir(&self) -> PathBuf {
        self.run().join("containerd-hosts")
    }
    /// Sysctl values from before the first `up`, restored by `down`.
    pub fn sysctl_json(&self) -> PathBuf {
        self.root.join("sysctl-before.json")
    }
    /// One run's data; emptied at `up` and (but for its logs) at `down`.
    pub fn run(&self) -> PathBuf {
        self.root.join("run")
    }
    /// Each process's log.
    pub fn logs(&self) -> PathBuf {
        self.run().join("logs")
    }
    /// A process's log file.
    pub fn log(&self, name: &str) -> PathBuf {
        self.logs().join(format!("{name}.log"))
    }
    /// The kubeconfigs (admin's for users, one per component).
    pub fn kubeconfig(&self, user: &str) -> PathBuf {
        self.run().join("kubeconfig").join(format!("{user}.conf"))
    }
    /// The admin kubeconfig `kubectl` uses.
    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.kubeconfig("admin")
    }
    /// etcd's data.
    pub fn etcd_data(&self) -> PathBuf {
        self.run().join("etcd")
    }
    /// containerd's state (sockets, task bundles, sandbox mounts, network namespaces).
    pub fn containerd_state(&self) -> PathBuf {
        self.run().join("containerd-state")
    }
    /// containerd's socket.
    pub fn containerd_socket(&self) -> PathBuf {
        self.run().join("containerd.sock")
    }
    /// containerd's configuration.
    pub fn containerd_config(&self) -> PathBuf {
        self.run().join("containerd.toml")
    }
    /// runc's state, so nothing lands under the engine's /run/containerd.
    pub fn runc_root(&self) -> PathBuf {
        self.run().join("runc")
    }
    /// The CNI network configuration directory.
    pub fn cni_conf_dir(&self) -> PathBuf {
        self.run().join("cni").join("net.d")
    }
    /// host-local IPAM's allocations (instead of /var/lib/cni/networks).
    pub fn cni_ipam_dir(&self) -> PathBuf {
        self.run().join("cni").join("ipam")
    }
    /// The kubelet's root directory (pods, volumes, plugins).
    pub fn kubelet_root(&self) -> PathBuf {
        self.run().join("kubelet")
    }
    /// The kubelet's configuration.
    pub fn kubelet_config(&self) -> PathBuf {
        self.run().join("kubelet.yaml")
    }
    /// Container logs (beside the processes' logs, so they outlive `down` too).
    pub fn pod_logs(&self) -> PathBuf {
        self.logs().join("pods")
    }
    /// kube-proxy's configuration.
    pub fn kube_proxy_config(&self) -> PathBuf {
        self.run().join("kube-proxy.yaml")
    }
    /// The API server's address.
    pub fn api_url(&self) -> String {
        format!("https://{NODE_IP}:{APISERVER_PORT}")
    }
}

/// containerd's configuration: its own root, state and socket beside the engine's
/// containerd, and the CRI settings this machine needs.
pub fn containerd_toml(layout: &Layout, sandbox_image: &str) -> String {
    format!(
        r#"version = 2
root = "{root}"
state = "{state}"
# Plugins that would touch /opt/containerd or probe for storage this machine lacks.
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  # Our own static pause binary (no registry to pull the upstream image from).
  sandbox_image = "{sandbox_image}"
  # Without CAP_SYS_RESOURCE here, runc cannot lower oom_score_adj to -998 and every
  # sandbox fails with "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  # Network namespaces under our state dir, so `down` finds and unmounts them.
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # The kubelet runs with the cgroupfs driver (no systemd here).
        SystemdCgroup = false
        Root = "{runc_root}"

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{cni_conf}"
    max_conf_num = 1

  # Where it learns that the local registry speaks plain HTTP (registry_hosts_toml).
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{hosts}"
"#,
        root = layout.containerd_root().display(),
        state = layout.containerd_state().display(),
        socket = layout.containerd_socket().display(),
        runc_root = layout.runc_root().display(),
        cni_bin = super::provision::CNI_BIN_DIR,
        cni_conf = layout.cni_conf_dir().display(),
        hosts = layout.containerd_hosts_dir().display(),
    )
}

/// containerd's settings for the local registry: plain HTTP on loopback. (Without them
/// containerd 1.6 tries HTTPS and every pull fails with "server gave HTTP response to
/// HTTPS client".)
pub fn registry_hosts_toml() -> String {
    let host = registry_host();
    format!(
        r#"server = "http://{host}"

[host."http://{host}"]
  capabilities = ["pull", "resolve"]
"#
    )
}

/// The registry's configuration: filesystem storage, loopback only, deletes allowed
/// (so old dev tags can be cleaned), no auth (nothing but this machine reaches it).
pub fn registry_yml(layout: &Layout) -> String {
    format!(
        r#"version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
http:
  addr: {host}
"#,
        data = layout.registry_data().display(),
        host = registry_host(),
    )
}

/// The pod network: a bridge with the node's pod subnet, host ports, and the `firewall`
/// plugin, whose CNI-FORWARD rules let pod traffic past the FORWARD policy DROP that
/// the Docker Engine sets.
pub fn cni_conflist(layout: &Layout) -> String {
    serde_json::json!({
        "cniVersion": "1.0.0",
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": CNI_BRIDGE,
                "isGateway": true,
                "ipMasq": true,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": NODE_POD_CIDR}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": layout.cni_ipam_dir(),
                }
            },
            {"type": "portmap", "capabilities": {"portMappings": true}},
            {"type": "firewall"}
        ]
    })
    .to_string()
}

/// The kubelet's configuration for this machine (each non-default setting found by a
/// failure, ADR 0013).
pub fn kubelet_yaml(layout: &Layout) -> String {
    let pki = layout.pki();
    format!(
        r#"apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {NODE_IP}
port: {KUBELET_PORT}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {KUBELET_HEALTHZ_PORT}
tlsCertFile: {pki}/kubelet.crt
tlsPrivateKeyFile: {pki}/kubelet.key
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: {pki}/ca.crt
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://{socket}
# No systemd here; cgroup v1 is what this kernel mounts.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
clusterDNS:
- {DNS_SERVICE_IP}
clusterDomain: {CLUSTER_DOMAIN}
resolvConf: /etc/resolv.conf
podCIDR: {NODE_POD_CIDR}
podLogsDir: {pod_logs}
# Images are imported, not pulled: garbage-collected ones could not come back.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 2%
  imagefs.available: 2%
registerNode: true
# Secret volumes follow their Secret at this pace: Dapr's placement and scheduler wait for
# the trust bundle sentry writes, which took a minute at the default 1m.
syncFrequency: 10s
rotateCertificates: false
serverTLSBootstrap: false
"#,
        pki = pki.display(),
        socket = layout.containerd_socket().display(),
        pod_logs = layout.pod_logs().display(),
    )
}

/// kube-proxy in iptables mode, leaving the host's conntrack tunables alone.
pub fn kube_proxy_yaml(layout: &Layout) -> String {
    format!(
        r#"apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection:
  kubeconfig: {kubeconfig}
hostnameOverride: {NODE_NAME}
clusterCIDR: {POD_CIDR}
healthzBindAddress: 127.0.0.1:{PROXY_HEALTHZ_PORT}
metricsBindAddress: 127.0.0.1:{PROXY_METRICS_PORT}
# NodePorts on the node address only, never on the machine's own interfaces.
nodePortAddresses:
- {NODE_IP}/32
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
iptables:
  # Else kube-proxy sets net.ipv4.conf.all.route_localnet=1 on the host.
  localhostNodePorts: false
"#,
        kubeconfig = layout.kubeconfig("kube-proxy").display(),
    )
}

/// A kubeconfig for `user` authenticating with `<pki>/<cert>.{crt,key}`.
pub fn kubeconfig(layout: &Layout, user: &str, cert: &str) -> String {
    let pki = layout.pki();
    format!(
        r#"apiVersion: v1
kind: Config
clusters:
- name: learnflow
  cluster:
    server: {server}
    certificate-authority: {ca}
users:
- name: {user}
  user:
    client-certificate: {crt}
    client-key: {key}
contexts:
- name: learnflow
  context:
    cluster: learnflow
    user: {user}
current-context: learnflow
"#,
        server = layout.api_url(),
        ca = pki.join("ca.crt").display(),
        crt = pki.join(format!("{cert}.crt")).display(),
        key = pki.join(format!("{cert}.key")).display(),
    )
}

/// Writes `text` to `path`, creating its directory.
pub fn write(path: &Path, text: &str) -> crate::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(crate::HarnessError::io(format!(
            "creating {}",
            dir.display()
        )))?;
    }
    std::fs::write(path, text).map_err(crate::HarnessError::io(format!(
        "writing {}",
        path.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cni_network_is_valid_json_with_the_three_plugins() {
        let layout = Layout {
            root: PathBuf::from("/tmp/lf-cluster-test"),
        };
        let conf: serde_json::Value = serde_json::from_str(&cni_conflist(&layout)).expect("json");
        let types: Vec<&str> = conf["plugins"]
            .as_array()
            .expect("plugins")
            .iter()
            .filter_map(|p| p["type"].as_str())
            .collect();
        assert_eq!(types, ["bridge", "portmap", "firewall"]);
        assert_eq!(conf["plugins"][0]["bridge"], CNI_BRIDGE);
    }

    #[test]
    fn interface_names_fit_the_kernel_limit() {
        // IFNAMSIZ is 16 including the terminating NUL.
        assert!(NODE_BRIDGE.len() <= 15 && CNI_BRIDGE.len() <= 15);
    }
}
