//! `cargo xtask` — project automation for LearnFlow.
//!
//! Layout: one file per command (`deps`, `up`/`down`, `test`, `deploy-check`, …), dispatched here.
//! Every command provisions what it needs first, so on a fresh machine
//! `cargo xtask up` and `cargo xtask test` are the only two commands needed.

mod bench;
mod cargo_tools;
mod chaos;
mod cluster;
mod containers;
mod deploy_check;
mod deps;
mod fuzz;
mod skaffold;
mod sqlx;
mod stack;
mod suite;
mod test;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  deps              provision daprd, Kafka, Jaeger, Helm and the Python/Node test tools
                    into the cache (~/.cache/learnflow)
  up [--detach]     start the whole native stack; Ctrl-C stops it
                    (--detach: return once healthy, write target/learnflow/stack.json)
  down              stop a detached stack
  test              everything CI runs: fmt, clippy, unused dependencies, offline deploy
                    checks, all tests
                    (unit, per-service, end-to-end, browser, security, fuzz smoke)
  deploy-check      only the offline checks of the chart, skaffold, compose, rules, dashboards
  unused-deps       only the unused-dependency check (cargo-machete, installed into the cache)
  fuzz [--seconds N]
                    every cargo-fuzz target N s each (default 20, the CI smoke run);
                    installs cargo-fuzz into the cache
  engine start|stop|status
                    a Docker Engine for docker/README.md's commands: starts dockerd (root,
                    data in the cache) when none runs and makes the third-party images
                    (pulled, or stand-ins built here)
  cluster up [--detach] | down | status | test
                    a single-node Kubernetes built from source (etcd, containerd, CoreDNS,
                    metrics-server, Dapr's control plane, LearnFlow); root (ADR 0013).
                    `test` is the full cluster suite: the reduced one `test` runs, then the
                    HPAs under the chart's load Job, drain against the PDBs, scale-down
  skaffold <args>   skaffold against the running cluster (`cluster up --detach`): its
                    `local` profile builds, pushes to the cluster's registry and deploys;
                    e.g. `skaffold run --port-forward`, `skaffold dev --port-forward`
  compose-test      the compose suite: images built here, compose up, the flow, a trace,
                    targets, the load layer, app crashes under load, down (run by `test`)
  bench             the benchmark (release build); writes docs/benchmarks.md
  chaos             the full chaos suite under load; writes docs/resilience.md
  sqlx-prepare      regenerate .sqlx/ (compile-time checked queries) against a scratch PostgreSQL
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("deps") => deps::run(),
        Some("up") => stack::up(args.iter().any(|a| a == "--detach")),
        Some("down") => stack::down(),
        Some("test") => test::run(),
        Some("deploy-check") => deploy_check::run(),
        Some("unused-deps") => cargo_tools::unused_dependencies(),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("sqlx-prepare") => sqlx::prepare(),
        Some("chaos") => chaos::run(),
        Some("bench") => bench::run(),
        Some("cluster") => cluster::run(&args[1..]),
        Some("skaffold") => skaffold::run(&args[1..]),
        Some("engine") => containers::engine(&args[1..]),
        Some("compose-test") => containers::compose_test(),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown or missing command\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A progress line, prefixed so it stands out in long logs.
fn say(line: &str) {
    eprintln!("[xtask] {line}");
}
