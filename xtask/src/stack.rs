//! `cargo xtask up [--detach]` and `cargo xtask down`.

use std::process::Command;
use std::time::Duration;

use lf_testkit::components::alertmanager::AlertWebhooks;
use lf_testkit::paths::{repo_root, stack_json};
use lf_testkit::process::{group_alive, pid_is_ours, stop_group};
use lf_testkit::stack::{Stack, StackInfo, StackOptions};
use nix::sys::signal::{SigSet, Signal};

pub fn up(detach: bool) -> Result<(), String> {
    if stack_json().exists() {
        return Err(format!(
            "a detached stack is already described in {}; run `cargo xtask down` first",
            stack_json().display()
        ));
    }
    crate::deps::ensure()?;
    build_services()?;
    crate::say(
        "starting the native stack (PostgreSQL, Kafka, Jaeger, Alertmanager, services, daprd sidecars, Prometheus)",
    );
    let options = StackOptions {
        detached: detach,
        gateway_port: Some(8080),
        prefer_well_known_ports: true,
        alert_webhooks: alert_webhooks_from_env(),
        ..StackOptions::default()
    };
    let options = if lf_testkit::wait::require_port(8080, "the gateway").is_err() {
        crate::say("port 8080 is busy: the gateway takes a free port instead");
        StackOptions {
            gateway_port: None,
            ..options
        }
    } else {
        options
    };
    let stack = Stack::start(&options).map_err(|e| e.to_string())?;
    let info = stack.info();
    print_endpoints(&info);
    if detach {
        let json = serde_json::to_string_pretty(&info).map_err(|e| e.to_string())?;
        if let Some(dir) = stack_json().parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        std::fs::write(stack_json(), json).map_err(|e| e.to_string())?;
        println!(
            "\nstack description: {}\nstop it with: cargo xtask down",
            stack_json().display()
        );
        // The processes were started detached: dropping the handles leaves them running.
        drop(stack);
        return Ok(());
    }
    println!("\nthe stack runs until Ctrl-C");
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.thread_block().map_err(|e| e.to_string())?;
    let signal = signals.wait().map_err(|e| e.to_string())?;
    crate::say(&format!("{signal} received: stopping everything"));
    drop(stack);
    crate::say("stopped");
    Ok(())
}

pub fn down() -> Result<(), String> {
    let path = stack_json();
    let text = std::fs::read_to_string(&path)
        .map_err(|_| format!("no detached stack: {} does not exist", path.display()))?;
    let info: StackInfo =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let marker = info.run_dir.to_string_lossy().into_owned();
    // Stop in the reverse of start order: sidecars, services, then infrastructure.
    let mut order: Vec<(&String, &u32)> = info.pids.iter().collect();
    order.sort_by_key(|(name, _)| stop_rank(name));
    for (name, pid) in order {
        if pid_is_ours(*pid, &marker) {
            crate::say(&format!("stopping {name} (pid {pid})"));
            // PostgreSQL's SIGTERM waits for clients; SIGINT is its fast shutdown.
            let signal = if name.as_str() == "postgres" {
                Signal::SIGINT
            } else {
                Signal::SIGTERM
            };
            stop_group(*pid, signal, Duration::from_secs(15));
        }
    }
    let survivors: Vec<String> = info
        .pids
        .iter()
        .filter(|(_, pid)| pid_is_ours(**pid, &marker) || group_alive(**pid))
        .map(|(name, pid)| format!("{name} ({pid})"))
        .collect();
    if !survivors.is_empty() {
        return Err(format!(
            "still running after stop: {}",
            survivors.join(", ")
        ));
    }
    let _ = std::fs::remove_dir_all(&info.run_dir);
    std::fs::remove_file(&path).map_err(|e| e.to_string())?;
    crate::say("detached stack stopped");
    Ok(())
}

fn stop_rank(name: &str) -> u8 {
    match name {
        n if n.starts_with("daprd-") => 0,
        "prometheus" => 2,
        "alertmanager" => 3,
        "jaeger" => 3,
        "kafka" => 4,
        "postgres" => 5,
        "postgres-exporter" => 4,
        _ => 1,
    }
}

/// Alertmanager's receivers: `LEARNFLOW_ALERT_PAGER_URL` (critical) and
/// `LEARNFLOW_ALERT_CHAT_URL` (warning), each a webhook URL; unset, alerts are only shown.
const PAGER_URL_VAR: &str = "LEARNFLOW_ALERT_PAGER_URL";
const CHAT_URL_VAR: &str = "LEARNFLOW_ALERT_CHAT_URL";

fn alert_webhooks_from_env() -> AlertWebhooks {
    let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    AlertWebhooks {
        pager: var(PAGER_URL_VAR),
        chat: var(CHAT_URL_VAR),
    }
}

fn build_services() -> Result<(), String> {
    // The whole workspace, as `cargo xtask test` builds it: the same feature set, no rebuilds.
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(repo_root())
        .args(["build", "--workspace", "--bins"]);
    crate::say("building the services");
    let status = cmd.status().map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("building the services failed ({status})"))
    }
}

fn print_endpoints(info: &StackInfo) {
    println!(
        "\nLearnFlow native stack is up (logs: {})\n",
        info.run_dir.display()
    );
    println!("  {:<34} {}", "gateway API", info.gateway);
    println!("  {:<34} {}", "Prometheus", info.prometheus);
    println!("  {:<34} {}", "Alertmanager", info.alertmanager);
    let webhooks = alert_webhooks_from_env();
    for (receiver, url, var) in [
        ("pager (critical)", webhooks.pager, PAGER_URL_VAR),
        ("chat (warning)", webhooks.chat, CHAT_URL_VAR),
    ] {
        // A webhook URL often carries its token: say where it comes from, not what it is.
        let target = match url {
            Some(_) => format!("the webhook in {var}"),
            None => format!("nowhere yet: set {var} to a webhook URL"),
        };
        println!("  {:<34} {target}", format!("  alerts to {receiver}"));
    }
    println!(
        "  {:<34} {}/api/traces?service=frontend-gateway",
        "traces (Jaeger query API)", info.traces
    );
    println!(
        "  {:<34} {}/select/logsql/query?query=*&limit=10",
        "logs (VictoriaLogs LogsQL API)", info.logs
    );
    println!("  {:<34} {}/select/vmui/", "  log search UI", info.logs);
    println!("  {:<34} {}", "Kafka bootstrap", info.kafka_bootstrap);
    println!("  {:<34} {}", "PostgreSQL", info.postgres);
    for (component, url) in &info.exporters {
        println!("  {:<34} {url}", format!("{component} /metrics"));
    }
    for (name, s) in &info.services {
        println!("  {:<34} {}", format!("{name} /metrics"), s.metrics);
        if let Some(d) = &s.daprd_http {
            println!("  {:<34} {d}", format!("{name} daprd HTTP"));
        }
        if let Some(m) = &s.daprd_metrics {
            println!("  {:<34} {m}", format!("{name} daprd metrics"));
        }
    }
    if let Some(token) = &info.dev_token {
        println!("\n  dev learner token (sub=dev-learner, valid 24 h):\n  {token}");
        println!("\n  create a lesson:");
        println!(
            "  curl -s -X POST {}/api/v1/lessons -H 'Authorization: Bearer {token}' -H 'Content-Type: application/json' -d '{{\"course\":\"arithmetic\"}}'",
            info.gateway
        );
        println!(
            "\n  every response carries x-trace-id; its whole trace (gateway → daprd → course-agent"
        );
        println!("  → outbox relay → Kafka → daprd → user-progress → PostgreSQL) is at:");
        println!("  {}/api/traces/<x-trace-id>", info.traces);
        println!("  and its log lines, from every service and sidecar, at:");
        println!(
            "  {}/select/logsql/query?query={}",
            info.logs,
            lf_testkit::components::victorialogs::trace_query("<x-trace-id>")
        );
        println!(
            "  metrics: {}/graph?g0.expr=rate(learnflow_lessons_generated_total[1m])",
            info.prometheus
        );
        println!(
            "           {}/graph?g0.expr=histogram_quantile(0.99,rate(learnflow_lesson_to_db_seconds_bucket[1m]))",
            info.prometheus
        );
        println!("\n  then read the learner's progress:");
        println!(
            "  curl -s {}/api/v1/progress -H 'Authorization: Bearer {token}'",
            info.gateway
        );
    }
}
