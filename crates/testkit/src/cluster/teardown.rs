//! Taking the cluster down without leaving anything behind, and checking that nothing was.
//!
//! - [`purge_containers`]: every pod container and sandbox, killed and deleted through the
//!   cluster's containerd while it still runs;
//! - [`sweep`]: after the processes stopped — stragglers (shims, container processes)
//!   killed, mounts under the state directory unmounted, `kubepods` cgroups removed,
//!   KUBE-*, CNI-* and LF-NETPOL* iptables chains (and the rules jumping to them) deleted in both
//!   families, the bridges and their veths deleted, our entries in /var/lib/cni and
//!   /var/log/containers removed, and the sysctls the kubelet changed restored;
//! - [`leftovers`]: what of all that is still there (empty after a clean `down`).
//!
//! Only what is ours is touched: processes by executable name *and* our state directory
//! in their command line (or a `/kubepods` cgroup), chains by prefix (never DOCKER*),
//! interfaces by name. The Docker Engine and its containerd are left alone.
//!
//! The network part (iptables chains, bridges and veths, CNI state) is in `network`, the
//! mounts in `mounts`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::config::{CNI_BRIDGE, CNI_NETWORK, Layout, NODE_BRIDGE};
use super::images::ctr;
use crate::{HarnessError, Result};

mod mounts;
mod network;
pub use mounts::mounts_under;
use mounts::unmount_all;
use network::*;

/// The executables the cluster runs on the host, by file name.
const OUR_EXECUTABLES: [&str; 10] = [
    "etcd",
    "registry",
    "containerd",
    "containerd-shim-runc-v2",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "learnflow-netpol",
];

/// The sysctls the kubelet and kube-proxy may change, restored by `down`.
const SYSCTLS: [&str; 8] = [
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "net/ipv4/conf/all/route_localnet",
    "net/bridge/bridge-nf-call-iptables",
];

/// Records the sysctls before the first `up` (an earlier record, from a run that was
/// never taken down, is kept: it holds the machine's own values).
pub fn record_sysctls(layout: &Layout) -> Result<()> {
    let path = layout.sysctl_json();
    if path.exists() {
        return Ok(());
    }
    let values: BTreeMap<&str, String> = SYSCTLS
        .iter()
        .filter_map(|key| {
            std::fs::read_to_string(Path::new("/proc/sys").join(key))
                .ok()
                .map(|v| (*key, v.trim().to_owned()))
        })
        .collect();
    let json = serde_json::to_vec_pretty(&values).map_err(|e| HarnessError::Command {
        what: "serialising sysctls".into(),
        detail: e.to_string(),
    })?;
    super::config::write(&path, &String::from_utf8_lossy(&json))
}

fn restore_sysctls(layout: &Layout, say: &mut dyn FnMut(&str)) {
    let path = layout.sysctl_json();
    let Some(values) = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<BTreeMap<String, String>>(&b).ok())
    else {
        return;
    };
    for (key, value) in values {
        let file = Path::new("/proc/sys").join(&key);
        let now = std::fs::read_to_string(&file).unwrap_or_default();
        if now.trim() != value && std::fs::write(&file, &value).is_ok() {
            say(&format!(
                "restored {} = {value} (was {})",
                key.replace('/', "."),
                now.trim()
            ));
        }
    }
    let _ = std::fs::remove_file(path);
}

/// Kills and deletes every container and sandbox in the CRI's namespace; returns their
/// ids. Call with the kubelet stopped (it would start them again) and containerd running.
pub fn purge_containers(layout: &Layout) -> Vec<String> {
    let list = |what: &str| -> Vec<String> {
        ctr(layout)
            .args([what, "ls", "-q"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    for id in list("tasks") {
        let _ = ctr(layout)
            .args(["tasks", "kill", "--signal", "SIGKILL", "--all", &id])
            .output();
    }
    let containers = list("containers");
    for id in &containers {
        // --force deletes a task that is still stopping.
        let _ = ctr(layout)
            .args(["tasks", "delete", "--force", id])
            .output();
        let _ = ctr(layout).args(["containers", "delete", id]).output();
    }
    containers
}

/// The CRI's own per-container directories in containerd's root, for purged ids; call
/// with containerd stopped.
pub fn remove_cri_dirs(layout: &Layout, ids: &[String]) {
    let cri = layout.containerd_root().join("io.containerd.grpc.v1.cri");
    for id in ids {
        for kind in ["sandboxes", "containers"] {
            let _ = std::fs::remove_dir_all(cri.join(kind).join(id));
        }
    }
}

/// Removes everything the cluster made on the machine; see the module doc.
pub fn sweep(layout: &Layout, say: &mut dyn FnMut(&str)) {
    let killed = kill_stragglers(layout);
    if killed > 0 {
        say(&format!("killed {killed} leftover processes"));
    }
    let unmounted = unmount_all(&layout.root);
    if unmounted > 0 {
        say(&format!("unmounted {unmounted} mounts"));
    }
    remove_kubepods_cgroups();
    for binary in ["iptables", "ip6tables"] {
        clean_iptables(binary);
    }
    remove_links();
    remove_cni_state();
    remove_container_log_links(layout);
    restore_sysctls(layout, say);
}

/// Processes of ours still alive: `(pid, description)`.
pub fn our_processes(layout: &Layout) -> Vec<(u32, String)> {
    let marker = layout.root.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if crate::process::is_zombie(pid) {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .unwrap_or_default();
        let exe = cmdline
            .split_whitespace()
            .next()
            .and_then(|p| Path::new(p).file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ours_by_name = OUR_EXECUTABLES.contains(&exe.as_str()) && cmdline.contains(&marker);
        let in_pod = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .map(|c| {
                c.lines()
                    .filter_map(|l| l.splitn(3, ':').nth(2))
                    .any(|path| path.starts_with("/kubepods"))
            })
            .unwrap_or(false);
        if ours_by_name || in_pod {
            found.push((pid, cmdline.trim_end().to_owned()));
        }
    }
    found
}

fn kill_stragglers(layout: &Layout) -> usize {
    let mut killed = 0;
    let mut sockets = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = our_processes(layout);
        if left.is_empty() || Instant::now() > deadline {
            break;
        }
        for (pid, cmdline) in left {
            sockets.extend(shim_socket(layout, &cmdline));
            if kill(Pid::from_raw(pid as i32), Signal::SIGKILL).is_ok() {
                killed += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // A shim removes its socket when it exits cleanly, not when killed.
    for socket in sockets {
        let _ = std::fs::remove_file(socket);
    }
    killed
}

/// containerd 1.6 puts every shim's socket in /run/containerd/s (whichever containerd
/// started it), named by sha256 of `<containerd address>/<namespace>/<shim id>`.
fn shim_socket(layout: &Layout, cmdline: &str) -> Option<PathBuf> {
    let args: Vec<&str> = cmdline.split_whitespace().collect();
    if !args.first()?.ends_with("containerd-shim-runc-v2") {
        return None;
    }
    let id = args.windows(2).find(|w| w[0] == "-id")?[1];
    let key = format!("{}/k8s.io/{id}", layout.containerd_socket().display());
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    std::io::Write::write_all(&mut child.stdin.take()?, key.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    let hash = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()?
        .to_owned();
    Some(Path::new("/run/containerd/s").join(hash))
}

/// The `kubepods` cgroup directories (one per cgroup v1 hierarchy).
fn kubepods_cgroups() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path().join("kubepods"))
        .filter(|p| p.is_dir())
        .collect()
}

fn remove_kubepods_cgroups() {
    fn remove(dir: &Path) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    remove(&entry.path());
                }
            }
        }
        // cgroup directories go with rmdir only (their files are not removable).
        let _ = std::fs::remove_dir(dir);
    }
    for dir in kubepods_cgroups() {
        remove(&dir);
    }
}

const CONTAINER_LOG_LINKS: &str = "/var/log/containers";

/// The kubelet links every container log into /var/log/containers; ours point into our
/// pod-log directory.
fn container_log_links(layout: &Layout) -> Vec<PathBuf> {
    std::fs::read_dir(CONTAINER_LOG_LINKS)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    std::fs::read_link(p).is_ok_and(|target| target.starts_with(&layout.root))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn remove_container_log_links(layout: &Layout) {
    for link in container_log_links(layout) {
        let _ = std::fs::remove_file(link);
    }
    let _ = std::fs::remove_dir(CONTAINER_LOG_LINKS);
}

/// Everything of the cluster still on the machine, one line each; empty when clean.
pub fn leftovers(layout: &Layout) -> Vec<String> {
    let mut left: Vec<String> = our_processes(layout)
        .into_iter()
        .map(|(pid, cmd)| {
            format!(
                "process {pid}: {}",
                cmd.chars().take(160).collect::<String>()
            )
        })
        .collect();
    left.extend(
        mounts_under(&layout.root)
            .into_iter()
            .map(|m| format!("mount {}", m.display())),
    );
    left.extend(
        kubepods_cgroups()
            .into_iter()
            .map(|c| format!("cgroup {}", c.display())),
    );
    for binary in ["iptables", "ip6tables"] {
        left.extend(
            our_chains(binary)
                .into_iter()
                .map(|c| format!("{binary} chain {c}")),
        );
    }
    for name in [CNI_BRIDGE, NODE_BRIDGE] {
        if link_exists(name) {
            left.push(format!("network interface {name}"));
        }
    }
    left.extend(
        cni_entries()
            .into_iter()
            .map(|p| format!("CNI state {}", p.display())),
    );
    left.extend(
        container_log_links(layout)
            .into_iter()
            .map(|p| format!("log link {}", p.display())),
    );
    left
}

#[cfg(test)]
mod tests;
