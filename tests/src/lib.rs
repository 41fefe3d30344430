//! Helpers for the end-to-end tests in `e2e/`.
//!
//! Layout: [`RecordingApp`], a real HTTP app (axum, on a loopback port) that a
//! daprd sidecar can front: it answers health checks and records every pub/sub
//! delivery it receives; [`eventually`], a bounded poll for asynchronous outcomes;
//! [`within`], the same with the last reason in its panic; [`get_json`];
//! [`assert_each_learner_applied_once`], the exactly-once-in-effect check after a load
//! run (compose and cluster suites); [`lesson_reaches_progress`], one lesson created
//! through a gateway and waited for in the learner's progress (cluster suites);
//! [`traces`], what one lesson's trace must look like in Jaeger; [`tokens`], the forged
//! learner tokens the gateway must refuse; [`dashboards`], the dashboards' queries; [`rules_in_file`], the rule names Prometheus
//! must load; [`logs`], a stack's warnings and errors counted, for failure messages;
//! [`devloop`], a scratch copy of the checkout and a running `skaffold dev` (cluster suite).
//! These stand in for no Dapr, Kafka or PostgreSQL behaviour: those are real.

pub mod bench;
pub mod chaos;
pub mod dashboards;
pub mod devloop;
pub mod logs;
pub mod tokens;
pub mod traces;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};

/// One delivery as the app saw it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The CloudEvent body.
    pub cloud_event: serde_json::Value,
    /// The `dapr-api-token` header daprd presented.
    pub token: Option<String>,
    /// The `traceparent` header daprd set.
    pub traceparent: Option<String>,
}

/// An app that records what its sidecar delivers to `route`.
#[derive(Debug, Clone)]
pub struct RecordingApp {
    /// The port it listens on.
    pub port: u16,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
}

impl RecordingApp {
    /// Starts the app on a free loopback port, receiving deliveries on `route`.
    pub async fn start(route: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let deliveries: Arc<Mutex<Vec<Delivery>>> = Arc::default();
        let app = Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route(route, post(record))
            .with_state(deliveries.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { port, deliveries })
    }

    /// Everything delivered so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default()
    }
}

async fn record(
    State(deliveries): State<Arc<Mutex<Vec<Delivery>>>>,
    headers: HeaderMap,
    Json(cloud_event): Json<serde_json::Value>,
) -> Json<serde_json::Value> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if let Ok(mut all) = deliveries.lock() {
        all.push(Delivery {
            cloud_event,
            token: header("dapr-api-token"),
            traceparent: header("traceparent"),
        });
    }
    Json(serde_json::json!({"status": "SUCCESS"}))
}

/// Polls `probe` every 200 ms until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Reads a topic from the beginning with a real Kafka consumer and returns every
/// payload seen within `timeout` for which `want` holds (stops at the first match).
pub fn find_on_topic(
    bootstrap: &str,
    topic: &str,
    timeout: Duration,
    want: impl Fn(&[u8]) -> bool,
) -> Option<Vec<u8>> {
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("e2e-reader-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("log_level", "3")
        .create()
        .ok()?;
    consumer.subscribe(&[topic]).ok()?;
    let started = Instant::now();
    while started.elapsed() < timeout {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(500))
            && let Some(payload) = message.payload()
            && want(payload)
        {
            return Some(payload.to_vec());
        }
    }
    None
}

/// Writes `payload` to `topic` with a real Kafka producer, keyed by `key`; panics unless
/// the broker confirms it.
pub fn produce_to_topic(bootstrap: &str, topic: &str, key: &str, payload: &[u8]) {
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("log_level", "3")
        .create()
        .expect("a Kafka producer");
    producer
        .send(BaseRecord::to(topic).key(key).payload(payload))
        .map_err(|(e, _)| e)
        .expect("queue the message");
    producer
        .flush(Duration::from_secs(30))
        .expect("Kafka confirms the message");
}

/// The body of `GET url` (a `/metrics` page, typically); panics if it cannot be read.
pub async fn fetch_text(http: &reqwest::Client, url: &str) -> String {
    http.get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("body of {url}: {e}"))
}

/// Reads a Prometheus text exposition and sums the samples of `metric` whose labels contain every `label="value"` in `labels`.
pub fn metric_sum(exposition: &str, metric: &str, labels: &[(&str, &str)]) -> f64 {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.starts_with(metric)
                && l[metric.len()..].starts_with(['{', ' '])
                && labels
                    .iter()
                    .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

/// Like [`eventually`], for asynchronous probes.
pub async fn eventually_async<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl AsyncFnMut() -> Option<T>,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            started.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Polls `check` every 500 ms until it returns `Ok` or `limit` passes; the panic names
/// the last reason.
pub async fn within<T>(
    what: &str,
    limit: Duration,
    mut check: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let started = Instant::now();
    loop {
        match check().await {
            Ok(value) => return value,
            Err(e) if started.elapsed() > limit => panic!("{what}: not within {limit:?}: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// `GET url` (with a bearer token when given) as JSON; `Err` for a transport error, a
/// non-2xx status or a body that is not JSON.
pub async fn get_json(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
) -> Result<serde_json::Value, String> {
    let mut req = http.get(url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let r = req.send().await.map_err(|e| e.to_string())?;
    if !r.status().is_success() {
        return Err(format!("{url}: {}", r.status()));
    }
    r.json().await.map_err(|e| e.to_string())
}

/// The `x-trace-id` header every gateway answer carries (panics without it).
pub fn trace_id_of(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-trace-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-trace-id")
        .to_owned()
}

/// Percent-encodes a query-string value.
pub fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Creates a lesson through `gateway` for the learner of `token` (one with no lessons
/// yet) and waits, up to 90 s, until their progress counts it; returns how long it took.
pub async fn lesson_reaches_progress(
    http: &reqwest::Client,
    gateway: &str,
    token: &str,
) -> Duration {
    lesson_reaches_progress_with(http, gateway, token, false).await
}

/// [`lesson_reaches_progress`] through a port that `skaffold dev` forwards: skaffold
/// restarts its port-forwards around redeploys, so a request that fails in transport — the
/// connection refused, or closed before the answer came — is retried within the same 90 s;
/// any answer still counts. The lesson request carries an `Idempotency-Key`, so a retry
/// whose first attempt did reach the gateway answers the same lesson instead of a second.
pub async fn lesson_reaches_progress_via_forward(
    http: &reqwest::Client,
    gateway: &str,
    token: &str,
) -> Duration {
    lesson_reaches_progress_with(http, gateway, token, true).await
}

async fn lesson_reaches_progress_with(
    http: &reqwest::Client,
    gateway: &str,
    token: &str,
    retry_refused: bool,
) -> Duration {
    let started = Instant::now();
    let deadline = Duration::from_secs(90);
    // Sends what `request` builds, again after a transport failure (if allowed): refused
    // (`is_connect`) or cut before the answer (`is_request`, e.g. hyper's IncompleteMessage
    // when the forward restarts mid-request; seen in CI).
    let send = async |request: &dyn Fn() -> reqwest::RequestBuilder, what: &str| loop {
        match request().send().await {
            Ok(answer) => return answer,
            Err(e)
                if retry_refused
                    && (e.is_connect() || e.is_request())
                    && started.elapsed() < deadline =>
            {
                eprintln!("[e2e] {what}: {e}; the forward restarting, again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("{what}: {e:?}"),
        }
    };
    let idempotency_key = uuid::Uuid::new_v4().to_string();
    let created = send(
        &|| {
            http.post(format!("{gateway}/api/v1/lessons"))
                .bearer_auth(token)
                .header(lf_events::idempotency::HEADER, idempotency_key.as_str())
                .json(&serde_json::json!({"course": "arithmetic"}))
        },
        "the gateway answers",
    )
    .await;
    assert_eq!(created.status().as_u16(), 201, "lesson created");
    let created_at = Instant::now();
    loop {
        let progress: serde_json::Value = send(
            &|| {
                http.get(format!("{gateway}/api/v1/progress"))
                    .bearer_auth(token)
            },
            "progress",
        )
        .await
        .json()
        .await
        .unwrap_or_default();
        if progress["lessons_received"].as_u64() == Some(1) {
            return created_at.elapsed();
        }
        assert!(
            started.elapsed() < deadline,
            "the lesson never reached user-progress: {progress}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Fails unless each learner's `lessons_received` (read through the gateway) equals the
/// lessons a load run had accepted for them, `tokens[i]` being learner `i`: a redelivery
/// applied twice would count one more, a lost lesson one less.
pub async fn assert_each_learner_applied_once(
    http: &reqwest::Client,
    gateway: &str,
    tokens: &[String],
    report: &lf_loadgen::Report,
) {
    let mut expected = vec![0u64; tokens.len()];
    for a in &report.accepted {
        expected[a.learner] += 1;
    }
    for (i, token) in tokens.iter().enumerate() {
        let progress: serde_json::Value = http
            .get(format!("{gateway}/api/v1/progress"))
            .bearer_auth(token)
            .send()
            .await
            .expect("progress")
            .json()
            .await
            .expect("progress is JSON");
        assert_eq!(
            progress["lessons_received"].as_u64(),
            Some(expected[i]),
            "learner {i}: lessons applied vs accepted"
        );
    }
}

/// `(alert|record name, count)` for every rule in the repository's rule file.
pub fn rules_in_file() -> std::collections::BTreeMap<String, usize> {
    let text = std::fs::read_to_string(
        lf_testkit::paths::repo_root().join(lf_testkit::components::prometheus::RULES_FILE),
    )
    .expect("rule file");
    let mut out = std::collections::BTreeMap::new();
    for line in text.lines() {
        let line = line.trim_start().trim_start_matches("- ");
        if let Some(name) = line
            .strip_prefix("record:")
            .or_else(|| line.strip_prefix("alert:"))
        {
            *out.entry(name.trim().to_owned()).or_default() += 1;
        }
    }
    out
}

#[cfg(test)]
mod cross_service_documents {
    use lf_testkit::paths::repo_root;

    /// Course ids of course-agent's embedded curriculum, in file order.
    fn curriculum_courses() -> Vec<String> {
        let text = std::fs::read_to_string(
            repo_root().join("services/course-agent/src/curriculum/curriculum.toml"),
        )
        .expect("curriculum");
        let mut ids = Vec::new();
        let mut in_course = false;
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                in_course = line == "[[course]]";
            } else if in_course && let Some(id) = line.strip_prefix("id = ") {
                ids.push(id.trim_matches('"').to_owned());
                in_course = false;
            }
        }
        ids
    }

    /// The gateway's OpenAPI document lists the courses (the learner page builds its
    /// menu from it); the list is written by hand, so it must match the curriculum.
    #[test]
    fn the_gateway_documents_exactly_the_curriculum_courses() {
        let doc: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(
                repo_root().join("services/frontend-gateway/src/openapi.json"),
            )
            .expect("openapi.json"),
        )
        .expect("valid JSON");
        let documented: Vec<String> =
            doc["components"]["schemas"]["CreateLessonRequest"]["properties"]["course"]["enum"]
                .as_array()
                .expect("course enum")
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
        let courses = curriculum_courses();
        assert!(!courses.is_empty(), "no course parsed from the curriculum");
        assert_eq!(documented, courses);
    }
}
