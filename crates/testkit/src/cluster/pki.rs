//! The cluster's certificates and keys, made with the `openssl` command at the first start
//! and kept in the state directory.
//!
//! - [`ensure`]: a cluster CA and a front-proxy CA (for aggregated APIs such as
//!   metrics-server), the API server's serving certificate, client certificates for every
//!   component and the admin, the kubelet's serving certificate, and the service-account
//!   key pair. ECDSA P-256 throughout: key generation is instant, and every component
//!   accepts it.

use std::process::Command;

use super::config::{API_SERVICE_IP, CLUSTER_DOMAIN, Layout, NODE_IP, NODE_NAME};
use crate::pki::{Leaf, ca, openssl, sign};
use crate::{HarnessError, Result};

/// Makes whatever is missing; returns true when something was made.
pub fn ensure(layout: &Layout) -> Result<bool> {
    let dir = layout.pki();
    let marker = dir.join(".complete");
    if marker.exists() {
        return Ok(false);
    }
    // A half-made set (interrupted first start) is made again from scratch.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .map_err(HarnessError::io(format!("creating {}", dir.display())))?;
    ca(&dir, "ca", "learnflow-kubernetes-ca", 3650)?;
    ca(&dir, "front-proxy-ca", "learnflow-front-proxy-ca", 3650)?;
    for leaf in leaves() {
        sign(&dir, &leaf, 3650)?;
    }
    openssl(
        "service-account key",
        Command::new("openssl")
            .args([
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
            ])
            .arg(dir.join("sa.key")),
    )?;
    openssl(
        "service-account public key",
        Command::new("openssl")
            .args(["ec", "-pubout", "-in"])
            .arg(dir.join("sa.key"))
            .arg("-out")
            .arg(dir.join("sa.pub")),
    )?;
    std::fs::write(&marker, b"").map_err(HarnessError::io("writing the pki marker"))?;
    Ok(true)
}

fn leaves() -> Vec<Leaf> {
    let client = |name: &'static str, subject: &str, ca: &'static str| Leaf {
        name,
        subject: subject.to_owned(),
        ca,
        server: false,
        client: true,
        sans: Vec::new(),
    };
    let mut api_sans: Vec<String> = [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "localhost",
    ]
    .iter()
    .map(|n| format!("DNS:{n}"))
    .collect();
    api_sans.push(format!("DNS:kubernetes.default.svc.{CLUSTER_DOMAIN}"));
    for ip in [API_SERVICE_IP, NODE_IP, "127.0.0.1"] {
        api_sans.push(format!("IP:{ip}"));
    }
    vec![
        Leaf {
            name: "apiserver",
            subject: "/CN=kube-apiserver".into(),
            ca: "ca",
            server: true,
            client: false,
            sans: api_sans,
        },
        Leaf {
            name: "kubelet",
            subject: format!("/CN={NODE_NAME}"),
            ca: "ca",
            server: true,
            client: false,
            sans: vec![format!("DNS:{NODE_NAME}"), format!("IP:{NODE_IP}")],
        },
        client(
            "apiserver-kubelet-client",
            "/O=system:masters/CN=kube-apiserver-kubelet-client",
            "ca",
        ),
        client(
            "front-proxy-client",
            "/CN=front-proxy-client",
            "front-proxy-ca",
        ),
        client("admin", "/O=system:masters/CN=kubernetes-admin", "ca"),
        client(
            "controller-manager",
            "/CN=system:kube-controller-manager",
            "ca",
        ),
        client("scheduler", "/CN=system:kube-scheduler", "ca"),
        client("kube-proxy", "/CN=system:kube-proxy", "ca"),
        client(
            "kubelet-client",
            &format!("/O=system:nodes/CN=system:node:{NODE_NAME}"),
            "ca",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_server_certificate_names_every_address_it_is_reached_by() {
        let leaves = leaves();
        let api = leaves.iter().find(|l| l.name == "apiserver").expect("api");
        for name in [
            "IP:10.96.0.1",
            "IP:10.199.0.1",
            "IP:127.0.0.1",
            "DNS:kubernetes.default.svc.cluster.local",
        ] {
            assert!(api.sans.iter().any(|s| s == name), "{name} missing");
        }
        let node = leaves
            .iter()
            .find(|l| l.name == "kubelet-client")
            .expect("node");
        assert_eq!(
            node.subject,
            "/O=system:nodes/CN=system:node:learnflow-node"
        );
    }
}
