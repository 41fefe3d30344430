//! `cargo xtask skaffold <skaffold args>`: skaffold against the cluster `cargo xtask
//! cluster up --detach` runs (ADR 0019). The cluster's kube-context activates skaffold.yaml's
//! `local` profile, so `cargo xtask skaffold run --port-forward` builds the five images,
//! pushes them to the cluster's registry, deploys the chart and forwards the gateway to
//! 127.0.0.1:18080; `cargo xtask skaffold dev --port-forward` does the same and then rebuilds
//! and redeploys each image whose sources change.
//!
//! skaffold is built into the cache when missing; a Docker Engine is started for the run
//! when none answers (and stopped after it).

use lf_testkit::cluster::config::cluster_json;
use lf_testkit::cluster::{ClusterInfo, provision, skaffold};
use lf_testkit::containers::Engine;
use lf_testkit::paths::repo_root;
use nix::sys::signal::{SigSet, Signal};

pub fn run(args: &[String]) -> Result<(), String> {
    let info: ClusterInfo = std::fs::read(cluster_json())
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| {
            format!(
                "no running cluster ({} is missing): start one with `cargo xtask cluster up --detach`",
                cluster_json().display()
            )
        })?;
    provision::ensure_skaffold(&mut crate::say).map_err(|e| e.to_string())?;
    let engine = Engine::ensure(&mut crate::say).map_err(|e| e.to_string())?;
    let mut cmd = skaffold::command(&repo_root(), &info.kubeconfig, engine.host())
        .map_err(|e| e.to_string())?;
    cmd.args(args);
    crate::say(&format!("skaffold {}", args.join(" ")));
    // Ctrl-C reaches skaffold and this process alike: skaffold stops (`dev` cleans up
    // first), and this process must outlive it to stop the engine it started. Blocked
    // here, the signals stay pending; std gives the child an empty signal mask.
    let mut stops = SigSet::empty();
    stops.add(Signal::SIGINT);
    stops.add(Signal::SIGTERM);
    stops
        .thread_block()
        .map_err(|e| format!("blocking SIGINT and SIGTERM: {e}"))?;
    let status = cmd
        .status()
        .map_err(|e| format!("running {}: {e}", skaffold::binary().display()))?;
    drop(engine);
    if status.success() {
        Ok(())
    } else {
        Err(format!("skaffold {} failed ({status})", args.join(" ")))
    }
}
