//! Stopping the cluster: the stop order every `down` follows, and `down` and `status` of
//! a cluster `cargo xtask cluster up --detach` left running.

use std::time::{Duration, Instant};

use super::*;
use crate::process::{pid_is_ours, stop_group};

/// The stop order: first what would restart containers, then containers, then the rest.
pub(super) fn teardown_with(
    layout: &Layout,
    stop: &mut dyn FnMut(&[&str]),
    say: &mut dyn FnMut(&str),
) -> Result<()> {
    let started = Instant::now();
    let first = [
        "kubelet",
        "kube-proxy",
        "kube-scheduler",
        "kube-controller-manager",
    ];
    say(&format!("stopping {}", first.join(", ")));
    stop(&first);
    let purged = if layout.containerd_socket().exists() {
        teardown::purge_containers(layout)
    } else {
        Vec::new()
    };
    if !purged.is_empty() {
        say(&format!(
            "removed {} containers and sandboxes ({:.1} s)",
            purged.len(),
            started.elapsed().as_secs_f64()
        ));
    }
    let rest = ["kube-apiserver", "etcd", "containerd", "registry"];
    say(&format!("stopping {}", rest.join(", ")));
    stop(&rest);
    teardown::remove_cri_dirs(layout, &purged);
    say(&format!(
        "processes stopped ({:.1} s); removing what they made",
        started.elapsed().as_secs_f64()
    ));
    teardown::sweep(layout, say);
    // One run's data goes; its logs stay for a look after the fact.
    if let Ok(entries) = std::fs::read_dir(layout.run()) {
        for entry in entries.flatten().filter(|e| e.file_name() != "logs") {
            let path = entry.path();
            let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
        }
    }
    let left = teardown::leftovers(layout);
    if left.is_empty() {
        say(&format!(
            "cluster down in {:.1} s; nothing left behind",
            started.elapsed().as_secs_f64()
        ));
        Ok(())
    } else {
        Err(HarnessError::Command {
            what: "taking the cluster down".into(),
            detail: format!(
                "still there:\n  {}\nrun `cargo xtask cluster down` again",
                left.join("\n  ")
            ),
        })
    }
}

/// `cargo xtask cluster down`: stops a detached cluster by its recorded pids (or, with no
/// record, whatever of ours is found) and removes everything it made.
pub fn down_detached(say: &mut dyn FnMut(&str)) -> Result<()> {
    let layout = Layout::default();
    let info: Option<ClusterInfo> = std::fs::read(cluster_json())
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let pids = info.map(|i| i.pids).unwrap_or_default();
    let marker = layout.root.to_string_lossy().into_owned();
    teardown_with(
        &layout,
        &mut |names| {
            for name in names {
                if let Some(pid) = pids.get(*name).filter(|p| pid_is_ours(**p, &marker)) {
                    stop_group(
                        *pid,
                        nix::sys::signal::Signal::SIGTERM,
                        Duration::from_secs(15),
                    );
                }
            }
        },
        say,
    )?;
    let _ = std::fs::remove_file(cluster_json());
    Ok(())
}

/// `cargo xtask cluster status`: the node's and every pod's readiness.
pub fn status() -> Result<String> {
    let layout = Layout::default();
    let no_cluster = |why: String| HarnessError::Missing {
        what: format!("a running cluster ({why})"),
        fix: "cargo xtask cluster up --detach".into(),
    };
    if !layout.admin_kubeconfig().exists() {
        return Err(no_cluster(format!(
            "no kubeconfig at {}",
            layout.admin_kubeconfig().display()
        )));
    }
    let nodes = node::kubectl_output(&layout, &["get", "nodes", "-o", "wide"])
        .map_err(|e| no_cluster(format!("{} does not answer: {e}", layout.api_url())))?;
    let pods = node::kubectl_output(&layout, &["get", "pods", "--all-namespaces", "-o", "wide"])?;
    Ok(format!("{nodes}\n{pods}"))
}
