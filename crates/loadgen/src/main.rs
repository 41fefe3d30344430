//! `learnflow-load`: drive the gateway from the command line.
//!
//! ```text
//! learnflow-load --gateway http://127.0.0.1:8080 --secret <jwt secret> \
//!     (--rate 50 | --concurrency 32) [--duration 30] [--learners 16]
//! learnflow-load --stack target/learnflow/stack.json --rate 20 --duration 60
//! ```
//!
//! It exits non-zero when any request failed (a 5xx or no answer), so a load job fails
//! visibly.

use std::time::Duration;

use lf_loadgen::{LoadSpec, Mode, run};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let (gateway, tokens) = if let Some(path) = arg(&args, "--stack") {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        let info: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let token = info["dev_token"]
            .as_str()
            .ok_or("stack.json has no dev_token")?
            .to_owned();
        (
            info["gateway"]
                .as_str()
                .unwrap_or("http://127.0.0.1:8080")
                .to_owned(),
            vec![token],
        )
    } else {
        let gateway = arg(&args, "--gateway").unwrap_or_else(|| "http://127.0.0.1:8080".into());
        let secret = arg(&args, "--secret")
            .ok_or("--secret <jwt secret> or --stack <stack.json> is required")?;
        let learners = arg(&args, "--learners")
            .and_then(|v| v.parse().ok())
            .unwrap_or(16);
        (gateway, lf_loadgen::tokens(&secret, learners))
    };
    let mode = match (arg(&args, "--rate"), arg(&args, "--concurrency")) {
        (Some(r), _) => Mode::FixedRate(r.parse().map_err(|_| "--rate takes a number")?),
        (None, Some(c)) => {
            Mode::FixedConcurrency(c.parse().map_err(|_| "--concurrency takes a number")?)
        }
        (None, None) => Mode::FixedRate(10.0),
    };
    let duration = Duration::from_secs(
        arg(&args, "--duration")
            .and_then(|v| v.parse().ok())
            .unwrap_or(30),
    );
    let report = run(LoadSpec {
        gateway,
        tokens,
        mode,
        duration,
        timeout: Duration::from_secs(10),
        progress_every: Some(Duration::from_secs(5)),
    })
    .await;
    println!(
        "sent {}  accepted {}  ({:.1}/s)  statuses {:?}\nlatency ms: p50 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2}",
        report.sent,
        report.accepted.len(),
        report.throughput(),
        report.statuses,
        report.latency_ms(0.5),
        report.latency_ms(0.95),
        report.latency_ms(0.99),
        report.latency_ms(1.0),
    );
    // A run with failures fails: compose's load layer and the chart's Job report it.
    let failed = report.server_errors();
    if failed > 0 {
        return Err(format!(
            "{failed} of {} requests failed (5xx or no answer)",
            report.sent
        ));
    }
    Ok(())
}
