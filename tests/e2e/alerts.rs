//! Alerts against live data: the native stack's Prometheus loads
//! `deploy/monitoring/rules/learnflow.rules.yaml`, a real fault is made, and the alert it
//! should raise must fire with its labels, annotations and runbook, then resolve once the
//! fault is gone — in Prometheus, and as notifications that the stack's Alertmanager
//! (`deploy/monitoring/alertmanager.yml`) sends to webhook receivers this test runs.
//! (promtool's unit tests check the rules on synthetic series; this checks that the series
//! the rules read are really produced when it matters, and that alerts reach someone.)

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use learnflow_e2e::{RecordingApp, eventually_async, url_encode};
use lf_testkit::components::alertmanager::AlertWebhooks;
use lf_testkit::stack::{Stack, StackOptions};
use serde_json::Value;

/// Each test runs a whole stack and makes a fault with timing that matters: one at a time.
static ONE_STACK_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The path of a `file://` runbook link, after checking it is one and names `alert`'s page.
fn runbook_page(link: &str, alert: &str) -> std::path::PathBuf {
    let expected = format!(
        "file://{}/docs/runbooks/{alert}.md",
        lf_testkit::paths::repo_root().display()
    );
    assert_eq!(
        link, expected,
        "the runbook link is absolute, from the stack's base"
    );
    std::path::PathBuf::from(link.trim_start_matches("file://"))
}

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

/// (`label`, value) of every series `query` returns now.
async fn instant(
    http: &reqwest::Client,
    prometheus: &str,
    query: &str,
    label: &str,
) -> Vec<(String, String)> {
    let path = format!("/api/v1/query?query={}", url_encode(query));
    api_items(http, prometheus, &path, "result")
        .await
        .iter()
        .map(|s| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            (text(&s["metric"][label]), text(&s["value"][1]))
        })
        .collect()
}

/// (service, value) of every `learnflow_db_up` series.
async fn db_up(http: &reqwest::Client, prometheus: &str) -> Vec<(String, String)> {
    instant(http, prometheus, "learnflow_db_up", "service").await
}

/// Waits until postgres_exporter's `pg_up`, as Prometheus last scraped it, is `value`: the
/// server's own view of the outage, beside the services'.
async fn wait_pg_up(http: &reqwest::Client, prometheus: &str, value: &str) {
    eventually_async(
        &format!("pg_up = {value}"),
        Duration::from_secs(60),
        async || {
            let up = instant(http, prometheus, "pg_up", "service").await;
            (up.len() == 1 && up[0] == ("postgresql".to_owned(), value.to_owned())).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_alert_fires_when_postgresql_stops_and_resolves_when_it_is_back() {
    let _turn = ONE_STACK_AT_A_TIME.lock().await;
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
    wait_pg_up(&http, &prometheus, "1").await;

    // PostgreSQL stops (SIGINT: its fast shutdown).
    stack.postgres.process().stop(Duration::from_secs(20));
    wait_pg_up(&http, &prometheus, "0").await;
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
        let page = runbook_page(runbook, name);
        assert!(page.is_file(), "the runbook {runbook} exists");
    }

    // Back: the alert resolves (leaves Prometheus's list) once the probes answer again.
    stack.postgres.restart().expect("PostgreSQL starts again");
    wait_pg_up(&http, &prometheus, "1").await;
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

/// Lessons at about 10 per second until `stop` is set; returns how many were accepted.
fn lessons_under_way(stack: &Stack, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    let gateway = stack.gateway_url();
    let token = stack.dev_token("alerting-learner");
    tokio::spawn(async move {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("http client");
        let mut accepted = 0;
        while !stop.load(Ordering::Relaxed) {
            let answer = http
                .post(format!("{gateway}/api/v1/lessons"))
                .bearer_auth(&token)
                .json(&serde_json::json!({"course": "arithmetic"}))
                .send()
                .await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                accepted += 1;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        accepted
    })
}

/// Notifications a receiver got for `alert` with `status` ("firing" or "resolved").
fn notifications(receiver: &RecordingApp, alert: &str, status: &str) -> Vec<Value> {
    receiver
        .deliveries()
        .into_iter()
        .map(|d| d.cloud_event)
        .filter(|n| n["status"] == status && n["groupLabels"]["alertname"] == alert)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kafka_outage_under_load_pages_someone_with_a_runbook_and_then_says_it_is_resolved() {
    let _turn = ONE_STACK_AT_A_TIME.lock().await;
    let pager = RecordingApp::start("/pager").await.expect("pager receiver");
    let chat = RecordingApp::start("/chat").await.expect("chat receiver");
    let mut stack = Stack::start(&StackOptions {
        alert_webhooks: AlertWebhooks {
            pager: Some(format!("http://127.0.0.1:{}/pager", pager.port)),
            chat: Some(format!("http://127.0.0.1:{}/chat", chat.port)),
        },
        ..StackOptions::default()
    })
    .expect("the native stack starts");
    let name = "LearnFlowKafkaUnreachable";
    let stop_load = Arc::new(AtomicBool::new(false));
    let load = lessons_under_way(&stack, stop_load.clone());
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        notifications(&pager, name, "firing").is_empty(),
        "{name} paged while Kafka was up"
    );
    // The broker's own view (its JMX exporter): the lessons under way are messages in.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("http client");
    let prometheus = stack.prometheus.url();
    eventually_async(
        "the broker counting messages in",
        Duration::from_secs(60),
        async || {
            let rate = instant(
                &http,
                &prometheus,
                "sum(rate(kafka_server_messagesin_total[30s]))",
                "service",
            )
            .await;
            rate.first()
                .and_then(|(_, v)| v.parse::<f64>().ok())
                .filter(|r| *r > 0.0)
        },
    )
    .await;

    stack.kafka.process().stop(Duration::from_secs(20));
    // The rule's `for:` (2 m) after kafka-monitor's failed polls, then Alertmanager's wait.
    let paged = eventually_async(
        &format!("{name} paged"),
        Duration::from_secs(240),
        async || notifications(&pager, name, "firing").into_iter().next(),
    )
    .await;
    assert_eq!(paged["receiver"], "pager", "{paged}");
    let alert = &paged["alerts"][0];
    assert_eq!(alert["labels"]["severity"], "critical", "{paged}");
    assert_eq!(alert["labels"]["service"], "kafka-monitor", "{paged}");
    assert_eq!(
        alert["annotations"]["summary"], "kafka-monitor cannot reach the Kafka broker",
        "{paged}"
    );
    let runbook = alert["annotations"]["runbook_url"]
        .as_str()
        .unwrap_or_default();
    let page = runbook_page(runbook, name);
    let text = std::fs::read_to_string(&page).expect("the runbook link opens a page");
    assert!(text.contains(name), "{} names {name}", page.display());
    // Routing: the chat receiver gets warnings only, the pager criticals only.
    for (receiver, severity) in [(&pager, "critical"), (&chat, "warning")] {
        for n in receiver.deliveries() {
            let n = n.cloud_event;
            assert_eq!(n["commonLabels"]["severity"], severity, "{n}");
        }
    }

    // kafka-monitor's numbers are stale meanwhile: it says so on /readyz.
    let monitor_readyz = stack
        .metrics_url("kafka-monitor")
        .replace("/metrics", "/readyz");
    let readyz = async || -> (u16, Value) {
        let answer = reqwest::get(&monitor_readyz)
            .await
            .expect("kafka-monitor /readyz");
        let status = answer.status().as_u16();
        (status, answer.json().await.unwrap_or_default())
    };
    let (status, body) = readyz().await;
    assert_eq!(
        status, 503,
        "kafka-monitor ready with the broker down: {body}"
    );
    assert!(body["failed"]["kafka"].is_string(), "{body}");

    stack.kafka.restart().expect("Kafka starts again");
    let resolved = eventually_async(
        &format!("{name} resolved at the pager"),
        Duration::from_secs(120),
        async || notifications(&pager, name, "resolved").into_iter().next(),
    )
    .await;
    assert_eq!(resolved["alerts"][0]["status"], "resolved", "{resolved}");
    assert_eq!(
        resolved["alerts"][0]["labels"]["service"], "kafka-monitor",
        "{resolved}"
    );
    let (status, body) = readyz().await;
    assert_eq!(
        status, 200,
        "kafka-monitor ready again with the broker back: {body}"
    );
    stop_load.store(true, Ordering::Relaxed);
    let accepted = load.await.expect("load task");
    assert!(
        accepted > 100,
        "lessons kept being accepted through the outage ({accepted})"
    );
}
