//! `learnflow-load`: drive the gateway from the command line.
//!
//! ```text
//! learnflow-load --gateway http://127.0.0.1:8080 --secret <jwt secret> \
//!     (--rate 50 | --concurrency 32) [--duration 30] [--learners 16]
//! learnflow-load --stack target/learnflow/stack.json --rate 20 --duration 60
//! ```
//!
//! Arguments are parsed by clap: a value that is not a number, or `--rate` with
//! `--concurrency`, is an error with usage, never a silent default. It exits non-zero when
//! any request failed (a 5xx or no answer), so a load job fails visibly.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use lf_loadgen::{LoadSpec, Mode, run};

/// Drives the LearnFlow gateway with lesson requests and reports what came back.
#[derive(Debug, Parser)]
#[command(name = "learnflow-load", version)]
struct Cli {
    /// The native stack's stack.json: its gateway and dev token (instead of --gateway/--secret).
    #[arg(long, conflicts_with_all = ["gateway", "secret", "learners"])]
    stack: Option<PathBuf>,
    /// The gateway's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    gateway: String,
    /// The JWT secret to sign learner tokens with.
    #[arg(long, required_unless_present = "stack")]
    secret: Option<String>,
    /// Distinct learners (one token each).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    learners: u32,
    /// Open loop: requests per second (the default, at 10/s).
    #[arg(long, conflicts_with = "concurrency", allow_negative_numbers = true, value_parser = positive_rate)]
    rate: Option<f64>,
    /// Closed loop: requests in flight.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    concurrency: Option<u32>,
    /// Seconds to run.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    duration: u64,
}

fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!(
            "{text:?} is not a positive number of requests per second"
        )),
    }
}

impl Cli {
    fn mode(&self) -> Mode {
        match (self.rate, self.concurrency) {
            (None, Some(c)) => Mode::FixedConcurrency(c as usize),
            (rate, _) => Mode::FixedRate(rate.unwrap_or(10.0)),
        }
    }

    /// The gateway and the learners' tokens.
    fn target(&self) -> Result<(String, Vec<String>), String> {
        if let Some(path) = &self.stack {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let info: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            let token = info["dev_token"]
                .as_str()
                .ok_or("stack.json has no dev_token")?
                .to_owned();
            let gateway = info["gateway"]
                .as_str()
                .ok_or("stack.json has no gateway")?;
            return Ok((gateway.to_owned(), vec![token]));
        }
        let secret = self.secret.as_deref().ok_or("--secret is required")?;
        Ok((
            self.gateway.clone(),
            lf_loadgen::tokens(secret, self.learners as usize),
        ))
    }
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let cli = Cli::parse();
    let (gateway, tokens) = cli.target()?;
    let report = run(LoadSpec {
        gateway,
        tokens,
        mode: cli.mode(),
        duration: Duration::from_secs(cli.duration),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("learnflow-load").chain(args.iter().copied()))
    }

    #[test]
    fn numbers_that_are_not_numbers_are_refused() {
        for bad in [
            &["--secret", "s", "--learners", "abc"][..],
            &["--secret", "s", "--learners", "0"],
            &["--secret", "s", "--rate", "fast"],
            &["--secret", "s", "--rate", "-5"],
            &["--secret", "s", "--concurrency", "many"],
            &["--secret", "s", "--duration", "1m"],
        ] {
            let error = parse(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rate_and_concurrency_exclude_each_other_and_a_target_is_required() {
        let both = parse(&["--secret", "s", "--rate", "5", "--concurrency", "2"]);
        assert_eq!(
            both.err().map(|e| e.kind()),
            Some(clap::error::ErrorKind::ArgumentConflict)
        );
        let neither = parse(&["--rate", "5"]);
        assert_eq!(
            neither.err().map(|e| e.kind()),
            Some(clap::error::ErrorKind::MissingRequiredArgument)
        );
        let stack_and_secret = parse(&["--stack", "s.json", "--secret", "s"]);
        assert_eq!(
            stack_and_secret.err().map(|e| e.kind()),
            Some(clap::error::ErrorKind::ArgumentConflict)
        );
    }

    #[test]
    fn the_chart_and_compose_arguments_parse_to_what_they_say() {
        let cli = parse(&[
            "--gateway",
            "http://learnflow-frontend-gateway:8080",
            "--secret",
            "s",
            "--concurrency",
            "32",
            "--duration",
            "60",
            "--learners",
            "50",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(cli.mode(), Mode::FixedConcurrency(32)));
        assert_eq!((cli.duration, cli.learners), (60, 50));
        let (gateway, tokens) = cli.target().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(gateway, "http://learnflow-frontend-gateway:8080");
        assert_eq!(tokens.len(), 50);
        let default = parse(&["--secret", "s"]).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(default.mode(), Mode::FixedRate(r) if r == 10.0));
        assert_eq!((default.duration, default.learners), (30, 16));
    }
}
