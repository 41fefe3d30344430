//! A real single-node Kubernetes cluster on this machine, built from source (ADR 0013),
//! for `cargo xtask cluster up|down|status` and the cluster test.
//!
//! - [`provision`]: the pinned binaries (Kubernetes, pause, CoreDNS, metrics-server,
//!   Dapr's control plane, the Prometheus operator, Prometheus, skaffold), Dapr's chart and the
//!   operator's CRDs, built into the cache; the Debian packages;
//! - [`config`]: the state directory, addresses and ports, and every configuration file;
//! - [`pki`]: the certificates and keys, made with openssl at the first start;
//! - [`images`]: the images, built here `FROM scratch` and imported into the cluster's
//!   own containerd;
//! - [`node`]: the processes — etcd, the image registry, containerd, API server,
//!   controller-manager, scheduler, kubelet, kube-proxy, the NetworkPolicy enforcer
//!   (`learnflow-netpol`, ADR 0022) — each started and waited for;
//! - [`addons`]: CoreDNS, metrics-server and Dapr's control plane (Helm);
//! - [`monitoring`]: the Prometheus operator and its CRDs, a Prometheus it runs,
//!   kube-state-metrics;
//! - [`learnflow`]: LearnFlow's images pushed to the local registry and its chart installed
//!   as the README says (with the chart's own Jaeger);
//! - [`skaffold`]: the developer loop (`cargo xtask skaffold`): skaffold with the
//!   cluster's kubeconfig, helm, kubectl and an engine;
//! - [`dns`]: a tiny DNS client to ask the cluster's DNS from the host;
//! - [`teardown`]: `down` without leftovers, and the check that there are none;
//! - [`Cluster`]: all of it as one handle; [`ClusterInfo`] the JSON that
//!   `cargo xtask cluster up --detach` writes; [`down_detached`] and [`status`].
//!
//! Root only: the cluster makes network interfaces, iptables rules, mounts and cgroups.

pub mod addons;
pub mod config;
pub mod dns;
mod down;
pub mod images;
pub mod learnflow;
pub mod monitoring;
pub mod node;
pub mod pki;
pub mod provision;
pub mod skaffold;
pub mod teardown;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::process::ManagedProcess;
use crate::{HarnessError, Result};
use config::{Layout, NODE_IP, NODE_NAME, cluster_json};
use down::teardown_with;
pub use down::{down_detached, status};

/// How to bring the cluster up.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Leave the processes running when the handle is dropped (`up --detach`).
    pub detached: bool,
    /// Install Dapr's control plane.
    pub dapr: bool,
    /// Install LearnFlow with the chart (needs `dapr` and `monitoring`).
    pub learnflow: bool,
    /// Install the Prometheus operator, a Prometheus and kube-state-metrics.
    pub monitoring: bool,
    /// Enforce NetworkPolicies with `learnflow-netpol` (ADR 0022).
    pub network_policies: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        Self {
            detached: false,
            dapr: true,
            learnflow: true,
            monitoring: true,
            network_policies: true,
        }
    }
}

/// What `cargo xtask cluster up --detach` writes to `target/learnflow/cluster.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// The admin kubeconfig (`kubectl --kubeconfig <this>`).
    pub kubeconfig: PathBuf,
    /// The API server's URL.
    pub api_server: String,
    /// The node's name.
    pub node: String,
    /// The node's address.
    pub node_ip: String,
    /// The cluster DNS Service's address.
    pub dns: String,
    /// Every host process started, by name.
    pub pids: BTreeMap<String, u32>,
    /// The state directory.
    pub state_dir: PathBuf,
    /// Where each process logs.
    pub logs: PathBuf,
    /// Whether Dapr's control plane was installed.
    pub dapr: bool,
    /// LearnFlow's gateway URL (reachable from the host), when it was installed.
    pub gateway: Option<String>,
    /// A learner token for that gateway.
    pub dev_token: Option<String>,
    /// Prometheus's URL (reachable from the host), when monitoring was installed.
    pub prometheus: Option<String>,
    /// Jaeger's query API and UI (reachable from the host), when monitoring was installed.
    pub traces: Option<String>,
}

/// A running cluster. Dropping it takes the cluster down, unless it was started detached.
#[derive(Debug)]
pub struct Cluster {
    layout: Layout,
    processes: Vec<ManagedProcess>,
    options: ClusterOptions,
    taken_down: bool,
    /// Seconds from the start of `up` to the end of each step.
    pub timings: Vec<(String, f64)>,
    /// LearnFlow, when it was installed.
    pub learnflow: Option<learnflow::LearnFlow>,
    /// Monitoring, when it was installed.
    pub monitoring: Option<monitoring::Monitoring>,
}

impl Cluster {
    /// Provisions what is missing, then starts the cluster and installs the add-ons.
    /// On failure, whatever was started is taken down again.
    pub fn up(options: &ClusterOptions, say: &mut dyn FnMut(&str)) -> Result<Self> {
        let layout = Layout::default();
        preflight(&layout)?;
        provision::ensure_all(say)?;
        let mut cluster = Self {
            layout,
            processes: Vec::new(),
            options: options.clone(),
            taken_down: false,
            timings: Vec::new(),
            learnflow: None,
            monitoring: None,
        };
        match cluster.start(say) {
            Ok(()) => Ok(cluster),
            Err(e) => {
                say(&format!("start failed; taking down what was started: {e}"));
                if let Err(down) = cluster.teardown(say) {
                    say(&down.to_string());
                }
                Err(e)
            }
        }
    }

    fn start(&mut self, say: &mut dyn FnMut(&str)) -> Result<()> {
        let started = Instant::now();
        let layout = self.layout.clone();
        let detached = self.options.detached;
        let step = |cluster: &mut Self, name: &str, say: &mut dyn FnMut(&str)| {
            let at = started.elapsed().as_secs_f64();
            cluster.timings.push((name.to_owned(), at));
            say(&format!("cluster: {name} ({at:.1} s)"));
        };
        teardown::record_sysctls(&layout)?;
        if pki::ensure(&layout)? {
            say(&format!("certificates made in {}", layout.pki().display()));
        }
        step(self, "certificates", say);
        let _ = std::fs::remove_dir_all(layout.run());
        node::write_run_files(&layout, &images::pause_image()?)?;
        node::create_node_bridge()?;
        self.processes.push(node::start_etcd(&layout, detached)?);
        step(self, "etcd ready", say);
        self.processes
            .push(node::start_registry(&layout, detached)?);
        step(self, "registry ready", say);
        self.processes
            .push(node::start_containerd(&layout, detached)?);
        let stale = teardown::purge_containers(&layout);
        if !stale.is_empty() {
            // A run that was killed left these; the CRI loaded them at start and keeps
            // its own list, so it starts again without them.
            say(&format!(
                "removed {} containers a killed run left; restarting containerd",
                stale.len()
            ));
            if let Some(mut containerd) = self.processes.pop() {
                containerd.stop(Duration::from_secs(15));
            }
            teardown::remove_cri_dirs(&layout, &stale);
            self.processes
                .push(node::start_containerd(&layout, detached)?);
        }
        step(self, "containerd ready", say);
        images::ensure(&layout, say)?;
        step(self, "images in containerd", say);
        self.processes
            .push(node::start_apiserver(&layout, detached)?);
        step(self, "API server ready", say);
        self.processes
            .push(node::start_controller_manager(&layout, detached)?);
        self.processes
            .push(node::start_scheduler(&layout, detached)?);
        self.processes.push(node::start_kubelet(&layout, detached)?);
        self.processes
            .push(node::start_kube_proxy(&layout, detached)?);
        if self.options.network_policies {
            self.processes
                .push(node::start_network_policy_enforcer(&layout, detached)?);
        }
        node::wait_node_ready(&layout, Duration::from_secs(120))?;
        step(self, "node Ready", say);
        addons::install_coredns(&layout)?;
        step(self, "CoreDNS ready", say);
        addons::install_metrics_server(&layout)?;
        step(self, "metrics API available", say);
        if self.options.monitoring {
            self.monitoring = Some(monitoring::install(&layout, say)?);
            step(self, "monitoring ready", say);
        }
        if self.options.dapr {
            addons::install_dapr(&layout, say)?;
            step(self, "Dapr control plane ready", say);
            if self.options.learnflow {
                self.learnflow = Some(learnflow::install(&layout, say)?);
                step(self, "LearnFlow ready", say);
            }
        }
        self.check_running()
    }

    /// Fails naming any host process that has exited.
    pub fn check_running(&mut self) -> Result<()> {
        for process in &mut self.processes {
            if let Some(exit) = process.exited() {
                return Err(HarnessError::NotReady {
                    component: process.name().to_owned(),
                    waited: Duration::ZERO,
                    reason: exit,
                    log: process.log_path().to_owned(),
                    tail: process.log_tail(30),
                });
            }
        }
        Ok(())
    }

    /// Its paths.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// `kubectl` with the admin kubeconfig.
    pub fn kubectl(&self) -> Result<Command> {
        node::kubectl(&self.layout)
    }

    /// Runs kubectl; its stdout, or an error with its stderr.
    pub fn kubectl_output(&self, args: &[&str]) -> Result<String> {
        node::kubectl_output(&self.layout, args)
    }

    /// The description `up --detach` writes.
    pub fn info(&self) -> ClusterInfo {
        ClusterInfo {
            kubeconfig: self.layout.admin_kubeconfig(),
            api_server: self.layout.api_url(),
            node: NODE_NAME.into(),
            node_ip: NODE_IP.into(),
            dns: config::DNS_SERVICE_IP.into(),
            pids: self
                .processes
                .iter()
                .map(|p| (p.name().to_owned(), p.pid()))
                .collect(),
            state_dir: self.layout.root.clone(),
            logs: self.layout.logs(),
            dapr: self.options.dapr,
            gateway: self.learnflow.as_ref().map(|l| l.gateway.clone()),
            dev_token: self.learnflow.as_ref().map(|l| l.dev_token.clone()),
            prometheus: self.monitoring.as_ref().map(|m| m.prometheus.clone()),
            traces: self.learnflow.as_ref().map(|l| l.traces.clone()),
        }
    }

    /// Takes the cluster down and checks that nothing is left.
    pub fn down(mut self, say: &mut dyn FnMut(&str)) -> Result<()> {
        self.teardown(say)
    }

    fn teardown(&mut self, say: &mut dyn FnMut(&str)) -> Result<()> {
        self.taken_down = true;
        let layout = self.layout.clone();
        let processes = &mut self.processes;
        teardown_with(
            &layout,
            &mut |names| {
                // In the order given: the API server goes before etcd, or its shutdown
                // waits on an etcd that is gone.
                for name in names {
                    for process in processes.iter_mut().filter(|p| p.name() == *name) {
                        process.stop(Duration::from_secs(15));
                    }
                }
            },
            say,
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.taken_down && !self.options.detached {
            let _ = self.teardown(&mut |_| {});
        }
    }
}

/// Refuses to start over a running or half-removed cluster, as non-root, or with a port taken.
fn preflight(layout: &Layout) -> Result<()> {
    if !crate::system::is_root() {
        return Err(HarnessError::Missing {
            what: "root (the cluster makes network interfaces, iptables rules, mounts and cgroups)"
                .into(),
            fix: "sudo cargo xtask cluster up".into(),
        });
    }
    if cluster_json().exists() {
        return Err(HarnessError::Command {
            what: "starting the cluster".into(),
            detail: format!(
                "a detached cluster is described in {}; run `cargo xtask cluster down` first",
                cluster_json().display()
            ),
        });
    }
    let left = teardown::leftovers(layout);
    if !left.is_empty() {
        return Err(HarnessError::Command {
            what: "starting the cluster".into(),
            detail: format!(
                "an earlier cluster left these behind; run `cargo xtask cluster down` first:\n  {}",
                left.join("\n  ")
            ),
        });
    }
    for (port, what) in config::LOOPBACK_PORTS {
        crate::wait::require_port(port, what)?;
    }
    Ok(())
}
