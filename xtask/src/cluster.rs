//! `cargo xtask cluster up [--detach] [--no-network-policies] | down | status`: a real single-node Kubernetes
//! cluster built from source, with CoreDNS, metrics-server, Dapr's control plane, the
//! Prometheus operator with a Prometheus, and LearnFlow with its Jaeger (`lf_testkit::cluster`,
//! ADR 0013).
//!
//! `up` builds the NetworkPolicy enforcer (`learnflow-netpol`, ADR 0022; left out with
//! `--no-network-policies`), provisions what is missing, starts everything and prints how
//! to reach it; without `--detach` it runs until Ctrl-C and then takes the cluster down. `--detach` returns once
//! everything is ready and writes `target/learnflow/cluster.json`; `down` stops it and
//! removes whatever it made; `status` prints node and pod readiness; `test` runs the full
//! cluster suite: `tests/e2e/cluster.rs` (also run by `cargo xtask test`) and
//! `tests/e2e/cluster_scaling.rs` (HPAs, drain and PDBs; only here).

use lf_testkit::cluster::config::cluster_json;
use lf_testkit::cluster::{self, Cluster, ClusterOptions};
use nix::sys::signal::{SigSet, Signal};

/// `cargo xtask cluster …`.
#[derive(Debug, clap::Subcommand)]
pub enum ClusterAction {
    /// Build what is missing, start the cluster and print how to reach it; without
    /// `--detach`, run until Ctrl-C and then take it down.
    Up {
        /// Return once ready and write target/learnflow/cluster.json.
        #[arg(long)]
        detach: bool,
        /// Leave out the NetworkPolicy enforcer (learnflow-netpol, ADR 0022).
        #[arg(long)]
        no_network_policies: bool,
    },
    /// Stop a detached cluster and remove whatever it made.
    Down,
    /// Node and pod readiness.
    Status,
    /// The full cluster suite: the reduced one `cargo xtask test` runs, then the HPAs
    /// under the chart's load Job, drain against the PDBs, scale-down.
    Test,
}

pub fn run(action: ClusterAction) -> Result<(), String> {
    match action {
        ClusterAction::Up {
            detach,
            no_network_policies,
        } => up(detach, !no_network_policies),
        ClusterAction::Down => cluster::down_detached(&mut crate::say).map_err(|e| e.to_string()),
        ClusterAction::Test => full_suite(),
        ClusterAction::Status => {
            print!("{}", cluster::status().map_err(|e| e.to_string())?);
            Ok(())
        }
    }
}

fn up(detach: bool, network_policies: bool) -> Result<(), String> {
    if network_policies {
        build_enforcer()?;
    }
    let options = ClusterOptions {
        detached: detach,
        network_policies,
        ..ClusterOptions::default()
    };
    let cluster = Cluster::up(&options, &mut crate::say).map_err(|e| e.to_string())?;
    let info = cluster.info();
    let total = cluster.timings.last().map_or(0.0, |(_, s)| *s);
    println!(
        "\nsingle-node cluster up in {total:.0} s (node {}, API {})",
        info.node, info.api_server
    );
    println!(
        "  kubectl --kubeconfig {} get pods -A",
        info.kubeconfig.display()
    );
    println!("  logs: {}", info.logs.display());
    if let (Some(gateway), Some(token)) = (&info.gateway, &info.dev_token) {
        println!("\nLearnFlow gateway: {gateway}");
        println!(
            "  curl -s -X POST {gateway}/api/v1/lessons -H 'Authorization: Bearer {token}' \\\n       -H 'Content-Type: application/json' -d '{{\"course\":\"arithmetic\"}}'"
        );
        println!("  curl -s {gateway}/api/v1/progress -H 'Authorization: Bearer {token}'");
    }
    if let (Some(prometheus), Some(traces)) = (&info.prometheus, &info.traces) {
        println!("\nPrometheus API: {prometheus}/api/v1/targets    Jaeger: {traces}");
    }

    if detach {
        let json = serde_json::to_string_pretty(&info).map_err(|e| e.to_string())?;
        if let Some(dir) = cluster_json().parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        std::fs::write(cluster_json(), json).map_err(|e| e.to_string())?;
        println!(
            "\ncluster description: {}\nstop it with: cargo xtask cluster down",
            cluster_json().display()
        );
        // Started detached: dropping the handle leaves every process running.
        drop(cluster);
        return Ok(());
    }
    println!("\nthe cluster runs until Ctrl-C");
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.thread_block().map_err(|e| e.to_string())?;
    let signal = signals.wait().map_err(|e| e.to_string())?;
    crate::say(&format!("{signal} received: taking the cluster down"));
    cluster.down(&mut crate::say).map_err(|e| e.to_string())
}

/// The full cluster suite, one test target after the other (each brings its own cluster up
/// and down: two at once would not fit two cores, and they share the node's state).
fn full_suite() -> Result<(), String> {
    let started = std::time::Instant::now();
    for target in ["cluster", "cluster_scaling"] {
        crate::say(&format!("cluster suite: {target}"));
        let status =
            std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .current_dir(lf_testkit::paths::repo_root())
                .args([
                    "test",
                    "-p",
                    "learnflow-e2e",
                    "--test",
                    target,
                    "--",
                    "--nocapture",
                ])
                .env("SQLX_OFFLINE", "true")
                .status()
                .map_err(|e| format!("running cargo test --test {target}: {e}"))?;
        if !status.success() {
            return Err(format!("cluster suite: {target} failed ({status})"));
        }
    }
    crate::say(&format!(
        "full cluster suite passed in {:.0} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Builds `learnflow-netpol` in the profile the harness runs binaries from.
fn build_enforcer() -> Result<(), String> {
    let mut args = vec![
        "build",
        "--package",
        "lf-netpol",
        "--bin",
        "learnflow-netpol",
    ];
    let profile = std::env::var("LEARNFLOW_PROFILE").unwrap_or_else(|_| "debug".into());
    if profile != "debug" {
        args.extend(["--profile", profile.as_str()]);
    }
    crate::test::cargo(&args)
}
