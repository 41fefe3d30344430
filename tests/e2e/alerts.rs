//! Alerts against live data: the native stack's Prometheus loads
//! `deploy/monitoring/rules/learnflow.rules.yaml`, a real fault is made, and the alert it
//! should raise must fire with its labels, annotations and runbook, then resolve once the
//! fault is gone. (promtool's unit tests check the rules on synthetic series; this checks
//! that the series the rules read are really produced when it matters.)

use std::time::Duration;

use learnflow_e2e::{eventually_async, url_encode};
use lf_testkit::stack::{Stack, StackOptions};
use serde_json::Value;

/// The `for:` of the alert (1 m), the probe's period (5 s) and timeout (2 s), two
/// evaluation intervals (5 s each), and room for a slow machine.
const FIRE_WITHIN: Duration = Duration::from_secs(150);

/// The items under `data.<field>` of Prometheus's answer to `path` (empty while it does
/// not answer: the callers poll).
async fn api_items(
    http: &reqwest::Client,
    prometheus: &str,
    path: &str,
    field: &str,
) -> Vec<Value> {
    let Ok(r) = http.get(format!("{prometheus}{path}")).send().await else {
        return Vec::new();
    };
    let body: Value = r.json().await.unwrap_or_default();
    body["data"][field].as_array().cloned().unwrap_or_default()
}

/// The alerts named `name` as Prometheus's API lists them (pending and firing).
async fn alerts(http: &reqwest::Client, prometheus: &str, name: &str) -> Vec<Value> {
    api_items(http, prometheus, "/api/v1/alerts", "alerts")
        .await
        .into_iter()
        .filter(|a| a["labels"]["alertname"] == name)
        .collect()
}

/// (service, value) of every `learnflow_db_up` series.
async fn db_up(http: &reqwest::Client, prometheus: &str) -> Vec<(String, String)> {
    let path = format!("/api/v1/query?query={}", url_encode("learnflow_db_up"));
    api_items(http, prometheus, &path, "result")
        .await
        .iter()
        .map(|s| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (text(&s["metric"]["service"]), text(&s["value"][1]))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_alert_fires_when_postgresql_stops_and_resolves_when_it_is_back() {
    let mut stack = Stack::start(&StackOptions::default()).expect("the native stack starts");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("http client");
    let prometheus = stack.prometheus.url();
    let name = "LearnFlowDatabaseUnavailable";

    // Healthy: both services report their database up, and the alert is quiet.
    eventually_async(
        "learnflow_db_up = 1 for both services",
        Duration::from_secs(60),
        async || {
            let up = db_up(&http, &prometheus).await;
            let ok = ["course-agent", "user-progress"]
                .iter()
                .all(|s| up.iter().any(|(service, v)| service == s && v == "1"));
            ok.then_some(())
        },
    )
    .await;
    assert!(
        alerts(&http, &prometheus, name).await.is_empty(),
        "{name} while healthy"
    );

    // PostgreSQL stops (SIGINT: its fast shutdown).
    stack.postgres.process().stop(Duration::from_secs(20));
    let firing = eventually_async(&format!("{name} firing"), FIRE_WITHIN, async || {
        let firing: Vec<Value> = alerts(&http, &prometheus, name)
            .await
            .into_iter()
            .filter(|a| a["state"] == "firing")
            .collect();
        (firing.len() == 2).then_some(firing)
    })
    .await;
    let mut services: Vec<&str> = firing
        .iter()
        .map(|a| a["labels"]["service"].as_str().unwrap_or_default())
        .collect();
    services.sort_unstable();
    assert_eq!(services, ["course-agent", "user-progress"]);
    for alert in &firing {
        assert_eq!(alert["labels"]["severity"], "critical", "{alert}");
        let service = alert["labels"]["service"].as_str().unwrap_or_default();
        assert_eq!(
            alert["annotations"]["summary"],
            format!("{service} cannot reach its database").as_str(),
            "{alert}"
        );
        let runbook = alert["annotations"]["runbook_url"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(runbook, format!("docs/runbooks/{name}.md"));
        assert!(
            lf_testkit::paths::repo_root().join(runbook).is_file(),
            "the runbook {runbook} exists"
        );
    }

    // Back: the alert resolves (leaves Prometheus's list) once the probes answer again.
    stack.postgres.restart().expect("PostgreSQL starts again");
    eventually_async(
        &format!("{name} resolved"),
        Duration::from_secs(60),
        async || {
            alerts(&http, &prometheus, name)
                .await
                .is_empty()
                .then_some(())
        },
    )
    .await;
}
