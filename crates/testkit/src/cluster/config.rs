//! Where the cluster lives and how its pieces are configured.
//!
//! - [`Layout`]: the state directory (certificates and the image store persist; `run/`
//!   holds one run's data, sockets, configs and logs) and every address and port;
//! - the configuration files each process reads (module `files`): containerd's, the CNI
//!   network, the kubelet's, kube-proxy's and the kubeconfigs — rendered as text so each
//!   setting can carry the reason it is there (ADR 0013).

use std::path::{Path, PathBuf};

use crate::paths::{cache_dir, target_dir};

mod files;
pub use files::{
    cni_conflist, containerd_toml, kube_proxy_yaml, kubeconfig, kubelet_yaml, registry_hosts_toml,
    registry_yml,
};

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
