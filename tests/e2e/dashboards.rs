//! Every Grafana dashboard query and every rule against live data.
//!
//! Grafana has no native build here, so the dashboards are verified the way Grafana would
//! use them: the real native stack runs, real traffic goes through the gateway, and every
//! panel query of every dashboard in `dashboards/` goes to the stack's Prometheus (which
//! loads `deploy/monitoring/rules/learnflow.rules.yaml`). A query that returns no data, or
//! only NaN, fails the test, and so does any metric name a dashboard or rule mentions that
//! Prometheus has never seen — a typo in a metric, a label or a label value breaks it.
//!
//! Error panels count "all minus good" so a healthy system shows 0 instead of no data; the
//! few series that only exist once something went wrong (resiliency activations, dropped
//! and dead-lettered events, personalisation fallbacks, gateway 5xx) are made real by a
//! short user-progress outage and two poison events, as an operator would see them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use learnflow_e2e::dashboards::{
    Query, Variable, load_dashboards, metric_names, panel_queries, reads_only_kubernetes,
    substitute, variables,
};
use learnflow_e2e::url_encode;
use lf_testkit::stack::{Stack, StackOptions};
use serde_json::{Value, json};

/// What `$__rate_interval` becomes: Grafana makes it at least four scrape intervals; the
/// harness scrapes every 2 s, and 30 s keeps every rate fed by the steady traffic below.
const RATE_INTERVAL: &str = "30s";
/// Longest the checks may take to see all data after the traffic and faults.
const CHECK_DEADLINE: Duration = Duration::from_secs(120);
/// Rule groups that read Kubernetes' series (kube-state-metrics, cAdvisor), which a
/// native stack has not: loaded and healthy here, their metrics checked by the offline
/// series table and promtool's unit tests instead.
const KUBERNETES_ONLY_GROUPS: &[&str] = &["learnflow-kubernetes-alerts"];

struct Prometheus {
    http: reqwest::Client,
    url: String,
}

impl Prometheus {
    async fn get(&self, path_and_query: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{path_and_query}", self.url))
            .send()
            .await
            .expect("prometheus answers");
        let body: Value = r.json().await.expect("prometheus JSON");
        assert_eq!(body["status"], "success", "{path_and_query}: {body}");
        body["data"].clone()
    }

    /// Instant query; `Err` carries Prometheus's error.
    async fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let r = self
            .http
            .get(format!(
                "{}/api/v1/query?query={}",
                self.url,
                url_encode(expr)
            ))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body: Value = r.json().await.map_err(|e| e.to_string())?;
        if body["status"] != "success" {
            return Err(body["error"].as_str().unwrap_or("error").to_owned());
        }
        Ok(body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    async fn names(&self) -> BTreeSet<String> {
        self.get("/api/v1/label/__name__/values")
            .await
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    }
}

/// Samples that carry a number (NaN is what Grafana draws as nothing).
fn numeric(samples: &[Value]) -> usize {
    samples
        .iter()
        .filter(|s| s["value"][1].as_str().is_some_and(|v| v != "NaN"))
        .count()
}

/// Keeps learners busy until `stop`: lessons, completions, lesson and progress reads, and
/// the odd unauthenticated call (real clients send those too). Returns answers by status.
async fn drive(gateway: String, tokens: Vec<String>, stop: Arc<AtomicBool>) -> BTreeMap<u16, u64> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut answers: BTreeMap<u16, u64> = BTreeMap::new();
    let mut count = |r: Result<reqwest::Response, reqwest::Error>| -> Option<reqwest::Response> {
        let r = r.ok()?;
        *answers.entry(r.status().as_u16()).or_default() += 1;
        Some(r)
    };
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let token = &tokens[i % tokens.len()];
        let created = count(
            http.post(format!("{gateway}/api/v1/lessons"))
                .bearer_auth(token)
                .json(&json!({}))
                .send()
                .await,
        );
        let id = match created {
            Some(r) if r.status().as_u16() == 201 => r
                .json::<Value>()
                .await
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_owned)),
            _ => None,
        };
        if let Some(id) = id {
            count(
                http.get(format!("{gateway}/api/v1/lessons/{id}"))
                    .bearer_auth(token)
                    .send()
                    .await,
            );
            count(
                http.post(format!("{gateway}/api/v1/lessons/{id}/completion"))
                    .bearer_auth(token)
                    .json(&json!({"score": (i % 10) as f64 / 10.0}))
                    .send()
                    .await,
            );
        }
        count(
            http.get(format!("{gateway}/api/v1/progress"))
                .bearer_auth(token)
                .send()
                .await,
        );
        if i.is_multiple_of(10) {
            count(http.get(format!("{gateway}/api/v1/progress")).send().await);
        }
        i += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    answers
}

/// Publishes two events user-progress can never take: one that is not even a CloudEvent
/// (daprd drops it) and one with a body that is no lesson event (user-progress answers DROP).
/// Both end in the dead-letter topic.
async fn publish_poison(stack: &Stack) {
    let daprd = stack
        .services
        .get("course-agent")
        .and_then(|s| s.daprd.as_ref())
        .map(|d| d.http_url())
        .expect("course-agent's daprd");
    let http = reqwest::Client::new();
    let raw = http
        .post(format!(
            "{daprd}/v1.0/publish/kafka-pubsub/lesson-events?metadata.rawPayload=true"
        ))
        .header("dapr-api-token", &stack.secrets.dapr_api_token)
        .header("content-type", "text/plain")
        .body("dashboards test: not a lesson event {")
        .send()
        .await
        .expect("publish");
    assert_eq!(raw.status().as_u16(), 204);
    let malformed = http
        .post(format!("{daprd}/v1.0/publish/kafka-pubsub/lesson-events"))
        .header("dapr-api-token", &stack.secrets.dapr_api_token)
        .json(&json!({"dashboards_test": "no lesson in here"}))
        .send()
        .await
        .expect("publish");
    assert_eq!(malformed.status().as_u16(), 204);
}

/// Everything that is not yet as it must be, one line each.
async fn failures(
    prometheus: &Prometheus,
    queries: &[Query],
    vars: &[Variable],
    file_rules: &BTreeMap<String, usize>,
) -> Vec<String> {
    let mut bad = Vec::new();
    let names = prometheus.names().await;

    // The rules Prometheus loaded are exactly the file's, all evaluating without error.
    let groups = prometheus.get("/api/v1/rules").await;
    let mut loaded: BTreeMap<String, usize> = BTreeMap::new();
    let mut rule_queries = Vec::new();
    for group in groups["groups"].as_array().into_iter().flatten() {
        let kubernetes_only =
            KUBERNETES_ONLY_GROUPS.contains(&group["name"].as_str().unwrap_or_default());
        for rule in group["rules"].as_array().into_iter().flatten() {
            let name = rule["name"].as_str().unwrap_or_default().to_owned();
            *loaded.entry(name.clone()).or_default() += 1;
            if rule["health"] != "ok" {
                bad.push(format!(
                    "rule {name}: health {} {}",
                    rule["health"], rule["lastError"]
                ));
            }
            let expr = rule["query"].as_str().unwrap_or_default().to_owned();
            if kubernetes_only {
                if rule["type"] != "alerting" {
                    bad.push(format!(
                        "rule {name}: {KUBERNETES_ONLY_GROUPS:?} hold alerts only"
                    ));
                }
                continue;
            }
            for metric in metric_names(&expr) {
                if !names.contains(&metric) {
                    bad.push(format!("rule {name}: metric {metric} does not exist"));
                }
            }
            if rule["type"] == "recording" {
                rule_queries.push(Query {
                    origin: format!("recording rule {name}"),
                    expr,
                });
                // Its output, as recorded.
                rule_queries.push(Query {
                    origin: format!("recorded series {name}"),
                    expr: name,
                });
            }
        }
    }
    if &loaded != file_rules {
        bad.push(format!(
            "Prometheus loaded rules {loaded:?}, the rule file has {file_rules:?}"
        ));
    }

    for q in queries.iter().chain(&rule_queries) {
        // Kubernetes panels (replicas, restarts): the cluster suite checks them live.
        if reads_only_kubernetes(&q.expr) {
            continue;
        }
        let expr = substitute(&q.expr, RATE_INTERVAL);
        for metric in metric_names(&expr) {
            if !names.contains(&metric) {
                bad.push(format!("{}: metric {metric} does not exist", q.origin));
            }
        }
        match prometheus.query(&expr).await {
            Err(e) => bad.push(format!("{}: query error {e}: {expr}", q.origin)),
            Ok(samples) if numeric(&samples) == 0 => bad.push(format!(
                "{}: no data ({} series, all NaN or none): {expr}",
                q.origin,
                samples.len()
            )),
            Ok(_) => {}
        }
    }

    for v in vars {
        let selector = substitute(&v.selector, RATE_INTERVAL);
        let values = prometheus
            .get(&format!(
                "/api/v1/label/{}/values?match[]={}",
                v.label,
                url_encode(&selector)
            ))
            .await;
        if values.as_array().is_none_or(Vec::is_empty) {
            bad.push(format!(
                "{}: label_values({selector}, {}) is empty",
                v.origin, v.label
            ));
        }
    }
    bad
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_dashboard_query_and_rule_has_live_data() {
    let dashboards = load_dashboards();
    assert!(dashboards.len() >= 4, "the four dashboards are there");
    let queries: Vec<Query> = dashboards
        .iter()
        .flat_map(|(file, model)| panel_queries(file, model))
        .collect();
    let vars: Vec<Variable> = dashboards
        .iter()
        .flat_map(|(file, model)| variables(file, model))
        .collect();
    let file_rules = learnflow_e2e::rules_in_file();
    assert!(!queries.is_empty() && !file_rules.is_empty());

    let mut stack = Stack::start(&StackOptions::default()).expect("the native stack starts");
    let prometheus = Prometheus {
        http: reqwest::Client::new(),
        url: stack.prometheus.url(),
    };
    let tokens: Vec<String> = (0..6)
        .map(|i| stack.dev_token(&format!("dashboard-learner-{i}")))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = tokio::spawn(drive(stack.gateway_url(), tokens, stop.clone()));

    // Lessons flow end to end before anything else happens.
    learnflow_e2e::eventually_async(
        "lessons persisted by user-progress, as Prometheus sees it",
        Duration::from_secs(60),
        async || {
            let persisted = prometheus
                .query("sum(learnflow_lesson_to_db_seconds_count)")
                .await
                .ok()?;
            let n: f64 = persisted
                .first()?
                .get("value")?
                .get(1)?
                .as_str()?
                .parse()
                .ok()?;
            (n >= 20.0).then_some(())
        },
    )
    .await;

    // A short user-progress outage: course-agent's invocations of it fail (retries, its
    // breaker opens, lessons fall back to unpersonalised), deliveries are retried, and the
    // gateway answers 5xx for progress reads meanwhile.
    {
        let user_progress = stack.service("user-progress").expect("user-progress");
        user_progress.service.process().kill9();
        tokio::time::sleep(Duration::from_secs(3)).await;
        user_progress
            .service
            .restart()
            .expect("user-progress restarts");
    }
    // After the restart, so user-progress's drop counter survives to be queried.
    publish_poison(&stack).await;

    let started = Instant::now();
    let mut last = loop {
        let bad = failures(&prometheus, &queries, &vars, &file_rules).await;
        if bad.is_empty() || started.elapsed() > CHECK_DEADLINE {
            break bad;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    };
    stop.store(true, Ordering::Relaxed);
    let answers = traffic.await.expect("traffic task");
    println!(
        "{} dashboards, {} panel queries, {} template variables, {} rules; gateway answers {answers:?}",
        dashboards.len(),
        queries.len(),
        vars.len(),
        file_rules.values().sum::<usize>()
    );
    assert!(
        answers.get(&201).is_some_and(|n| *n >= 20),
        "the traffic created lessons: {answers:?}"
    );
    last.dedup();
    assert!(
        last.is_empty(),
        "{} problems after {CHECK_DEADLINE:?}:\n{}",
        last.len(),
        last.join("\n")
    );
}
