//! `cargo xtask` — project automation for LearnFlow.
//!
//! Layout: the command line (clap) and its dispatch here; one file per command (`deps`,
//! `up`/`down`, `test`, `deploy-check`, …).
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

use clap::{Parser, Subcommand};

/// `cargo xtask`: every command provisions what it needs first (caches under
/// ~/.cache/learnflow), so `up` and `test` are the only two commands a fresh machine needs.
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    disable_version_flag = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Provision daprd, Kafka, Jaeger, Helm and the Python/Node test tools into the cache.
    Deps,
    /// Start the whole native stack; Ctrl-C stops it.
    Up {
        /// Return once healthy and write target/learnflow/stack.json.
        #[arg(long)]
        detach: bool,
    },
    /// Stop a detached stack.
    Down,
    /// Everything CI runs: fmt, clippy, unused dependencies, supply chain (cargo-deny),
    /// offline deploy checks, all tests (unit, per-service, end-to-end, browser, security, fuzz smoke).
    Test,
    /// Only the offline checks of the chart, skaffold, compose, rules, dashboards.
    DeployCheck,
    /// Only the unused-dependency check (cargo-machete, installed into the cache).
    UnusedDeps,
    /// Only the supply-chain check: cargo-deny's licenses, bans and sources (deny.toml).
    SupplyChain,
    /// Every cargo-fuzz target for a while each (installs cargo-fuzz into the cache).
    Fuzz {
        /// Seconds per target (20: the CI smoke run).
        #[arg(long, default_value_t = fuzz::DEFAULT_SECONDS,
              value_parser = clap::value_parser!(u64).range(1..))]
        seconds: u64,
    },
    /// A Docker Engine for docker/README.md's commands: dockerd (root, data in the cache)
    /// when none runs, plus the third-party images (pulled, or stand-ins built here).
    Engine {
        #[command(subcommand)]
        action: containers::EngineAction,
    },
    /// A single-node Kubernetes built from source (etcd, containerd, CoreDNS,
    /// metrics-server, Dapr's control plane, LearnFlow); root (ADR 0013).
    Cluster {
        #[command(subcommand)]
        action: cluster::ClusterAction,
    },
    /// skaffold against the running cluster (`cluster up --detach`): its `local` profile
    /// builds, pushes to the cluster's registry and deploys, e.g. `skaffold run
    /// --port-forward`, `skaffold dev --port-forward`.
    Skaffold {
        /// Passed to skaffold as they are.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The compose suite: images built here, compose up, the flow, a trace, targets, the
    /// load layer, app crashes under load, down (run by `test`).
    ComposeTest,
    /// The benchmark (release build): the run writes docs/benchmarks.json, then its report
    /// is rendered to docs/benchmarks.md and the latency plot.
    Bench {
        /// Only render docs/benchmarks.md and the plot again from docs/benchmarks.json.
        #[arg(long)]
        render: bool,
    },
    /// The full chaos suite under load; writes docs/resilience.md.
    Chaos,
    /// Regenerate .sqlx/ (compile-time checked queries) against a scratch PostgreSQL.
    SqlxPrepare,
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Deps => deps::run(),
        Command::Up { detach } => stack::up(detach),
        Command::Down => stack::down(),
        Command::Test => test::run(),
        Command::DeployCheck => deploy_check::run(),
        Command::UnusedDeps => cargo_tools::unused_dependencies(),
        Command::SupplyChain => cargo_tools::supply_chain(),
        Command::Fuzz { seconds } => fuzz::run(seconds),
        Command::SqlxPrepare => sqlx::prepare(),
        Command::Chaos => chaos::run(),
        Command::Bench { render } => bench::run(render),
        Command::Cluster { action } => cluster::run(action),
        Command::Skaffold { args } => skaffold::run(&args),
        Command::Engine { action } => containers::engine(action),
        Command::ComposeTest => containers::compose_test(),
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

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Cli, Command, cluster::ClusterAction};

    fn parse(line: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_from(std::iter::once("xtask").chain(line.iter().copied())).map(|c| c.command)
    }

    #[test]
    fn command_line() {
        Cli::command().debug_assert();
        assert!(matches!(
            parse(&["up", "--detach"]),
            Ok(Command::Up { detach: true })
        ));
        assert!(matches!(parse(&["up"]), Ok(Command::Up { detach: false })));
        // A typo is an error, not a silently ignored flag.
        assert!(parse(&["up", "--detatch"]).is_err());
        assert!(parse(&["bench", "--soak"]).is_err());
        assert!(matches!(
            parse(&["bench", "--render"]),
            Ok(Command::Bench { render: true })
        ));
        assert!(parse(&[]).is_err());
        assert!(matches!(
            parse(&["fuzz"]),
            Ok(Command::Fuzz { seconds: 20 })
        ));
        assert!(matches!(
            parse(&["fuzz", "--seconds", "300"]),
            Ok(Command::Fuzz { seconds: 300 })
        ));
        assert!(parse(&["fuzz", "--seconds", "0"]).is_err());
        assert!(parse(&["fuzz", "--seconds"]).is_err());
        assert!(matches!(
            parse(&["cluster", "up", "--detach", "--no-network-policies"]),
            Ok(Command::Cluster {
                action: ClusterAction::Up {
                    detach: true,
                    no_network_policies: true
                }
            })
        ));
        match parse(&["skaffold", "dev", "--port-forward", "-v", "info"]) {
            Ok(Command::Skaffold { args }) => {
                assert_eq!(args, ["dev", "--port-forward", "-v", "info"]);
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["skaffold"]).is_err());
        assert!(parse(&["engine", "restart"]).is_err());
    }
}
