//! `learnflow-netpol --kubectl <path> --kubeconfig <path> [--resync-ms 10000] [--status-file <path>]`
//!
//! Three `kubectl get --watch-only` children (pods, namespaces, NetworkPolicies) report
//! changes; on each (and at least every resync interval) it reads all three with kubectl,
//! computes the plan, and when the rules differ from the last ones applied, loads them
//! with `iptables-restore --noflush`; it keeps `FORWARD`'s first rule a jump to
//! `LF-NETPOL`. Watching instead of polling keeps an idle cluster's cost near zero. After
//! each change the status file (JSON: isolated pod counts) is rewritten, so a harness can
//! wait for the first one. A failed read keeps the rules in place. The cluster's teardown
//! deletes the chains (`LF-NETPOL*`) after stopping the process.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use lf_netpol::render::{self, CHAIN};
use lf_netpol::{Plan, Snapshot};

const USAGE: &str = "usage: learnflow-netpol --kubectl <path> --kubeconfig <path> [--resync-ms <ms>] [--status-file <path>]";

/// What the watchers follow.
const WATCHED: [&str; 3] = ["pods", "namespaces", "networkpolicies"];

/// How long to let a burst of changes (a rollout) settle before reading once.
const SETTLE: Duration = Duration::from_millis(300);

const BRIDGE_NF_CALL_IPTABLES: &str = "/proc/sys/net/bridge/bridge-nf-call-iptables";

struct Args {
    kubectl: PathBuf,
    kubeconfig: PathBuf,
    resync: Duration,
    status_file: Option<PathBuf>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut kubectl, mut kubeconfig, mut status_file) = (None, None, None);
    let mut resync = Duration::from_secs(10);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--kubectl" => kubectl = Some(PathBuf::from(value()?)),
            "--kubeconfig" => kubeconfig = Some(PathBuf::from(value()?)),
            "--status-file" => status_file = Some(PathBuf::from(value()?)),
            "--resync-ms" => {
                let ms: u64 = value()?.parse().map_err(|e| format!("--resync-ms: {e}"))?;
                resync = Duration::from_millis(ms.max(100));
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Args {
        kubectl: kubectl.ok_or("--kubectl is required")?,
        kubeconfig: kubeconfig.ok_or("--kubeconfig is required")?,
        resync,
        status_file,
    })
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Pod-to-pod traffic on one bridge reaches iptables only through br_netfilter; without
    // it every rule below would be silently bypassed, so refuse to pretend.
    let bridged = std::fs::read_to_string(BRIDGE_NF_CALL_IPTABLES).unwrap_or_default();
    if bridged.trim() != "1" {
        eprintln!(
            "learnflow-netpol: {BRIDGE_NF_CALL_IPTABLES} is {:?}, not 1: bridged pod traffic would bypass iptables",
            bridged.trim()
        );
        return ExitCode::FAILURE;
    }
    let (changed, changes) = mpsc::channel();
    for resource in WATCHED {
        let (kubectl, kubeconfig, changed) = (
            args.kubectl.clone(),
            args.kubeconfig.clone(),
            changed.clone(),
        );
        std::thread::spawn(move || watch(&kubectl, &kubeconfig, resource, &changed));
    }
    let mut applied: Option<String> = None;
    loop {
        if let Err(e) = sync(&args, &mut applied) {
            eprintln!("learnflow-netpol: sync failed, rules kept as they were: {e}");
        }
        // Wait for a change (or the resync), then for the burst it belongs to.
        if changes.recv_timeout(args.resync).is_ok() {
            std::thread::sleep(SETTLE);
            while changes.try_recv().is_ok() {}
        }
    }
}

/// Runs `kubectl get <resource> --watch-only` for ever, sending one message per line it
/// prints (one per changed object); restarted when it ends (an API server restart).
fn watch(
    kubectl: &std::path::Path,
    kubeconfig: &std::path::Path,
    resource: &str,
    changed: &mpsc::Sender<()>,
) {
    loop {
        let child = Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args([
                "get",
                resource,
                "--all-namespaces",
                "--watch-only",
                "-o",
                "name",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        match child {
            Ok(mut child) => {
                // Changes between the last read and this watch starting: read again.
                if changed.send(()).is_err() {
                    return;
                }
                if let Some(stdout) = child.stdout.take() {
                    for _ in BufReader::new(stdout).lines() {
                        if changed.send(()).is_err() {
                            return;
                        }
                    }
                }
                let _ = child.wait();
            }
            Err(e) => eprintln!("learnflow-netpol: watching {resource}: {e}"),
        }
        // Whatever happened while nobody watched is caught by this message's sync.
        if changed.send(()).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn sync(args: &Args, applied: &mut Option<String>) -> Result<(), String> {
    let output = Command::new(&args.kubectl)
        .arg("--kubeconfig")
        .arg(&args.kubeconfig)
        .args([
            "get",
            "pods,namespaces,networkpolicies",
            "--all-namespaces",
            "--request-timeout=10s",
            "-o",
            "json",
        ])
        .output()
        .map_err(|e| format!("running {}: {e}", args.kubectl.display()))?;
    if !output.status.success() {
        return Err(format!(
            "kubectl get failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let snapshot = Snapshot::from_kubectl_list(&String::from_utf8_lossy(&output.stdout))
        .map_err(|e| e.to_string())?;
    let plan = Plan::compute(&snapshot);
    let input = render::restore_input(&plan);
    if applied.as_deref() != Some(input.as_str()) {
        restore(&input)?;
        eprintln!(
            "learnflow-netpol: applied {} rules: {} pods isolated for ingress, {} for egress ({} policies)",
            input.lines().filter(|l| l.starts_with("-A ")).count(),
            plan.ingress.len(),
            plan.egress.len(),
            snapshot.policies.len()
        );
        if let Some(path) = &args.status_file {
            write_status(path, &plan)?;
        }
        *applied = Some(input);
    }
    jump_first()
}

fn restore(input: &str) -> Result<(), String> {
    let mut child = Command::new("iptables-restore")
        .args(["-w", "--noflush"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running iptables-restore: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| format!("writing to iptables-restore: {e}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("waiting for iptables-restore: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "iptables-restore failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn iptables(args: &[&str]) -> Result<String, String> {
    let output = Command::new("iptables")
        .arg("-w")
        .args(args)
        .output()
        .map_err(|e| format!("running iptables: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "iptables {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Keeps the jump to [`CHAIN`] first in `FORWARD`: kube-proxy and the CNI plugins insert
/// their own jumps at the top, and an `ACCEPT` of theirs ahead of ours would let a
/// connection past policy.
fn jump_first() -> Result<(), String> {
    let jump = format!("-A FORWARD -j {CHAIN}");
    let rules = iptables(&["-S", "FORWARD"])?;
    let first = rules.lines().find(|l| l.starts_with("-A FORWARD"));
    if first == Some(jump.as_str()) {
        return Ok(());
    }
    while iptables(&["-D", "FORWARD", "-j", CHAIN]).is_ok() {}
    iptables(&["-I", "FORWARD", "1", "-j", CHAIN]).map(drop)
}

fn write_status(path: &std::path::Path, plan: &Plan) -> Result<(), String> {
    let status = serde_json::json!({
        "ingress_isolated": plan.ingress.iter().map(|i| &i.pod).collect::<Vec<_>>(),
        "egress_isolated": plan.egress.iter().map(|i| &i.pod).collect::<Vec<_>>(),
    });
    let partial = path.with_extension("partial");
    std::fs::write(&partial, status.to_string())
        .and_then(|()| std::fs::rename(&partial, path))
        .map_err(|e| format!("writing {}: {e}", path.display()))
}
