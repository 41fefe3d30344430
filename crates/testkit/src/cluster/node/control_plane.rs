//! The control plane's processes: the API server, the controller-manager and the
//! scheduler, each with its flags (and why) and waited for until healthy.

use super::*;

/// kube-apiserver on the node address, with the front-proxy settings aggregated APIs
/// (metrics-server) need.
pub fn start_apiserver(layout: &Layout, detached: bool) -> Result<ManagedProcess> {
    let pki = |name: &str| layout.pki_file(name).display().to_string();
    let args = vec![
        format!("--advertise-address={NODE_IP}"),
        format!("--bind-address={NODE_IP}"),
        format!("--secure-port={APISERVER_PORT}"),
        format!("--etcd-servers=http://127.0.0.1:{ETCD_CLIENT_PORT}"),
        format!("--service-cluster-ip-range={SERVICE_CIDR}"),
        format!("--client-ca-file={}", pki("ca.crt")),
        format!("--tls-cert-file={}", pki("apiserver.crt")),
        format!("--tls-private-key-file={}", pki("apiserver.key")),
        format!(
            "--kubelet-client-certificate={}",
            pki("apiserver-kubelet-client.crt")
        ),
        format!(
            "--kubelet-client-key={}",
            pki("apiserver-kubelet-client.key")
        ),
        format!("--kubelet-certificate-authority={}", pki("ca.crt")),
        "--kubelet-preferred-address-types=InternalIP".into(),
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
        format!("--service-account-key-file={}", pki("sa.pub")),
        format!("--service-account-signing-key-file={}", pki("sa.key")),
        "--authorization-mode=Node,RBAC".into(),
        "--enable-admission-plugins=NodeRestriction".into(),
        "--allow-privileged=true".into(),
        format!(
            "--requestheader-client-ca-file={}",
            pki("front-proxy-ca.crt")
        ),
        "--requestheader-allowed-names=front-proxy-client".into(),
        "--requestheader-extra-headers-prefix=X-Remote-Extra-".into(),
        "--requestheader-group-headers=X-Remote-Group".into(),
        "--requestheader-username-headers=X-Remote-User".into(),
        format!("--proxy-client-cert-file={}", pki("front-proxy-client.crt")),
        format!("--proxy-client-key-file={}", pki("front-proxy-client.key")),
        // Aggregated APIs are reached at their pod's address, not through a Service.
        "--enable-aggregator-routing=true".into(),
        "--profiling=false".into(),
    ];
    let mut process = ManagedProcess::spawn(
        spec(
            layout,
            "kube-apiserver",
            kube_binary("kube-apiserver")?,
            detached,
        )
        .args(args),
    )?;
    let layout_for_check = layout.clone();
    until_ready(&mut process, Duration::from_secs(90), move || {
        kubectl_output(&layout_for_check, &["get", "--raw=/readyz"])
            .map(|_| ())
            .map_err(|e| e.to_string())
    })?;
    Ok(process)
}

/// kube-controller-manager (signs with the cluster CA, allocates the node's pod CIDR).
pub fn start_controller_manager(layout: &Layout, detached: bool) -> Result<ManagedProcess> {
    let kubeconfig = layout
        .kubeconfig("controller-manager")
        .display()
        .to_string();
    let pki = |name: &str| layout.pki_file(name).display().to_string();
    ManagedProcess::spawn(
        spec(
            layout,
            "kube-controller-manager",
            kube_binary("kube-controller-manager")?,
            detached,
        )
        .args([
            format!("--kubeconfig={kubeconfig}"),
            format!("--authentication-kubeconfig={kubeconfig}"),
            format!("--authorization-kubeconfig={kubeconfig}"),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={CONTROLLER_MANAGER_PORT}"),
            format!("--cluster-signing-cert-file={}", pki("ca.crt")),
            format!("--cluster-signing-key-file={}", pki("ca.key")),
            format!("--root-ca-file={}", pki("ca.crt")),
            format!("--service-account-private-key-file={}", pki("sa.key")),
            format!(
                "--requestheader-client-ca-file={}",
                pki("front-proxy-ca.crt")
            ),
            "--use-service-account-credentials=true".into(),
            "--allocate-node-cidrs=true".into(),
            format!("--cluster-cidr={POD_CIDR}"),
            "--node-cidr-mask-size=24".into(),
            format!("--service-cluster-ip-range={SERVICE_CIDR}"),
            "--leader-elect=false".into(),
            "--profiling=false".into(),
        ]),
    )
}

/// kube-scheduler.
pub fn start_scheduler(layout: &Layout, detached: bool) -> Result<ManagedProcess> {
    let kubeconfig = layout.kubeconfig("scheduler").display().to_string();
    ManagedProcess::spawn(
        spec(
            layout,
            "kube-scheduler",
            kube_binary("kube-scheduler")?,
            detached,
        )
        .args([
            format!("--kubeconfig={kubeconfig}"),
            format!("--authentication-kubeconfig={kubeconfig}"),
            format!("--authorization-kubeconfig={kubeconfig}"),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={SCHEDULER_PORT}"),
            "--leader-elect=false".into(),
            "--profiling=false".into(),
        ]),
    )
}
