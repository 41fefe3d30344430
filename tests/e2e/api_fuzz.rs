//! schemathesis against the gateway on the real native stack.
//!
//! The gateway's own OpenAPI document (as served at `/api/v1/openapi.json`) drives
//! thousands of generated requests — valid, boundary and invalid ones, and stateful
//! sequences — with every check schemathesis has: no 5xx, every status, header,
//! content type and body as documented, invalid input refused, valid input accepted,
//! authentication enforced. Any finding fails the test; schemathesis' report is
//! printed, and its JUnit report and the document fuzzed are kept in
//! `target/learnflow/artifacts/`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use learnflow_e2e::metric_sum;
use lf_testkit::devtools::DevTools;
use lf_testkit::paths::{repo_root, target_dir};
use lf_testkit::stack::{Stack, StackOptions};
use serde_json::Value;

/// Test cases per operation and phase: with the stateful phase, a few thousand
/// requests in about two minutes.
const MAX_EXAMPLES: &str = "1000";
/// Under the gateway's per-learner limit (50/s sustained): one learner's token drives
/// the run, and answers should come from the API, not the rate limiter (429 stays
/// documented and accepted if a burst still hits it).
const RATE: &str = "45/s";
/// Fixed, so a finding reproduces; change it to explore other inputs.
const SEED: &str = "20261123";
/// Fewer requests than this means the run did not really exercise the API.
const MIN_REQUESTS: f64 = 2000.0;

/// Requests the gateway has answered on its API routes, from its own metrics.
async fn gateway_requests(http: &reqwest::Client, metrics_url: &str) -> f64 {
    let text = match http.get(metrics_url).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    metric_sum(&text, "learnflow_http_server_requests_total", &[])
}

fn run_schemathesis(
    tool: &Path,
    schema_url: &str,
    token: &str,
    artifacts: &Path,
) -> (bool, String) {
    // Extra flags for a longer or narrower run by hand, e.g. `--max-examples 5000`.
    let extra: Vec<String> = std::env::var("LEARNFLOW_SCHEMATHESIS_ARGS")
        .map(|a| a.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let output = Command::new(tool)
        .arg("--config-file")
        .arg(repo_root().join("tests/e2e/schemathesis.toml"))
        .arg("run")
        .arg(schema_url)
        .args(["--checks", "all"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args(["--seed", SEED])
        .args(["--workers", "2"])
        .args(["--rate-limit", RATE])
        .args(["--request-timeout", "15"])
        // No example database in the repository or the home directory.
        .args(["--generation-database", "none"])
        .args(["--report", "junit"])
        .arg("--report-junit-path")
        .arg(artifacts.join("schemathesis-junit.xml"))
        .arg("--continue-on-failure")
        .args(["--no-color", "--output-truncate", "false"])
        .args(&extra)
        .env("NO_COLOR", "1")
        .output()
        .expect("schemathesis runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_wrong_with_the_gateway() {
    let tools = DevTools::locate().expect("dev tools are provisioned (cargo xtask deps)");
    let schemathesis = tools.python_tool("schemathesis");
    let stack = Stack::start(&StackOptions::default()).expect("the native stack starts");
    let gateway = stack.gateway_url();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client");

    // The document as the gateway serves it: this is what clients see and what we fuzz.
    let schema_url = format!("{gateway}/api/v1/openapi.json");
    let document: Value = http
        .get(&schema_url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("the gateway serves its OpenAPI document")
        .json()
        .await
        .expect("the OpenAPI document is JSON");
    let paths = document["paths"]
        .as_object()
        .map(|p| p.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default();
    for route in [
        "/api/v1/lessons",
        "/api/v1/lessons/{id}",
        "/api/v1/lessons/{id}/completion",
        "/api/v1/progress",
    ] {
        assert!(
            paths.iter().any(|p| p == route),
            "the served OpenAPI document lacks {route}: {paths:?}"
        );
    }
    let artifacts = target_dir().join("learnflow").join("artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts directory");
    std::fs::write(
        artifacts.join("openapi-fuzzed.json"),
        serde_json::to_vec_pretty(&document).expect("json"),
    )
    .expect("write the document");

    let metrics_url = format!(
        "http://127.0.0.1:{}/metrics",
        stack.services["frontend-gateway"].service.admin_port()
    );
    let before = gateway_requests(&http, &metrics_url).await;
    let token = stack.dev_token("schemathesis");
    let started = Instant::now();
    let (passed, report) = {
        let artifacts = artifacts.clone();
        let schema_url = schema_url.clone();
        tokio::task::spawn_blocking(move || {
            run_schemathesis(&schemathesis, &schema_url, &token, &artifacts)
        })
        .await
        .expect("schemathesis task")
    };
    let took = started.elapsed();
    let requests = gateway_requests(&http, &metrics_url).await - before;

    println!("{report}");
    println!(
        "schemathesis: {requests} requests answered by the gateway in {:.0} s; JUnit report in {}",
        took.as_secs_f64(),
        artifacts.join("schemathesis-junit.xml").display()
    );
    assert!(
        passed,
        "schemathesis found problems (report above; JUnit in {}):\n{}\n\
         warnings and errors the stack logged (logs kept in {}):\n{}",
        artifacts.display(),
        report
            .lines()
            .rev()
            .take(80)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n"),
        stack.run_dir().display(),
        learnflow_e2e::logs::digest(&stack.run_dir(), 8)
    );
    assert!(
        requests >= MIN_REQUESTS,
        "schemathesis made only {requests} requests (expected at least {MIN_REQUESTS})"
    );
}
