//! The configuration files each node process reads — containerd's (and its registry
//! mirror's), the CNI network, the kubelet's, kube-proxy's and the kubeconfigs — rendered
//! as text so each setting can carry the reason it is there (ADR 0013).

use super::*;

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
        cni_bin = crate::cluster::provision::CNI_BIN_DIR,
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
