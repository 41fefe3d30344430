//! Telemetry on the real native stack: one trace across the whole lesson flow in the
//! real trace backend (Jaeger) — started by the gateway, which only links a client's
//! `traceparent` — clean and live metrics in the real Prometheus, Dapr's own metrics, and
//! kafka-monitor's view of consumer lag.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use learnflow_e2e::traces::{check_lesson_trace, has_lesson_spans};
use learnflow_e2e::{eventually_async, fetch_text, metric_sum, url_encode};
use lf_testkit::stack::{Stack, StackOptions};
use serde_json::{Value, json};

async fn get_json(http: &reqwest::Client, url: &str) -> Value {
    http.get(url)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .unwrap_or(Value::Null)
}

async fn prom_query(http: &reqwest::Client, prometheus: &str, query: &str) -> Vec<Value> {
    let r = http
        .get(format!(
            "{prometheus}/api/v1/query?query={}",
            url_encode(query)
        ))
        .send()
        .await
        .expect("prometheus answers");
    let body: Value = r.json().await.expect("json");
    body["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn value_of(sample: &Value) -> f64 {
    sample["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn promtool_check(promtool: &std::path::Path, exposition: &str) -> Result<(), String> {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    child
        .stdin
        .take()
        .map(|mut s| s.write_all(exposition.as_bytes()))
        .transpose()
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_trace_live_metrics_and_kafka_lag() {
    let mut stack = Stack::start(&StackOptions::default()).expect("the native stack starts");
    let http = reqwest::Client::new();
    let token = stack.dev_token("trace-learner");
    let gateway = stack.gateway_url();

    // Every response names its trace, errors included.
    let r = http
        .get(format!("{gateway}/api/v1/progress"))
        .send()
        .await
        .expect("gateway");
    assert_eq!(r.status().as_u16(), 401);
    let header = r
        .headers()
        .get("x-trace-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Value = r.json().await.expect("json");
    assert!(header.is_some(), "401 carries x-trace-id");
    assert_eq!(
        body["error"]["trace_id"].as_str(),
        header.as_deref(),
        "the error body names the same trace"
    );

    let r = http
        .post(format!("{gateway}/api/v1/lessons"))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .expect("gateway");
    assert_eq!(r.status().as_u16(), 201);
    let trace_id = r
        .headers()
        .get("x-trace-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-trace-id")
        .to_owned();
    assert_eq!(trace_id.len(), 32);

    // The trace backend returns one trace holding every hop, correctly parented.
    let traces = stack.jaeger.query_url();
    let trace = eventually_async(
        "the whole trace to reach Jaeger",
        Duration::from_secs(60),
        async || {
            let body = get_json(&http, &format!("{traces}/api/traces/{trace_id}")).await;
            let trace = body["data"][0].clone();
            has_lesson_spans(&trace).then_some(trace)
        },
    )
    .await;
    if let Err(wrong) = check_lesson_trace(&trace) {
        panic!("lesson trace {trace_id}: {wrong}");
    }

    // The public edge starts its own trace: a client's traceparent is only linked, so a
    // client can neither choose our trace ids nor force sampling.
    let client_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let r = http
        .post(format!("{gateway}/api/v1/lessons"))
        .bearer_auth(&token)
        .header(
            "traceparent",
            format!("00-{client_trace}-00f067aa0ba902b7-01"),
        )
        .json(&json!({}))
        .send()
        .await
        .expect("gateway");
    assert_eq!(r.status().as_u16(), 201);
    let edge_trace = learnflow_e2e::trace_id_of(&r);
    assert_ne!(
        edge_trace, client_trace,
        "the gateway continued the client's trace"
    );
    let linked = eventually_async(
        "the edge's own trace to reach Jaeger",
        Duration::from_secs(60),
        async || {
            let body = get_json(&http, &format!("{traces}/api/traces/{edge_trace}")).await;
            let trace = body["data"][0].clone();
            has_lesson_spans(&trace).then_some(trace)
        },
    )
    .await;
    if let Err(wrong) = check_lesson_trace(&linked) {
        panic!("edge trace {edge_trace}: {wrong}");
    }
    let root_links: Vec<String> = learnflow_e2e::traces::spans_of(&linked)
        .into_iter()
        .filter(|s| s.parents.is_empty())
        .flat_map(|s| s.links)
        .collect();
    assert_eq!(
        root_links,
        vec![client_trace.to_owned()],
        "the root links the client's trace"
    );

    // A burst: the relay claims several rows per round and publishes them in one bulk
    // call. Each lesson must still be one trace from the gateway to user-progress, not
    // a child of daprd's bulk request.
    let course_agent_metrics = stack
        .service("course-agent")
        .map(|r| format!("http://127.0.0.1:{}/metrics", r.service.admin_port()))
        .expect("course-agent runs");
    let bulk_published = async |http: &reqwest::Client| {
        let text = fetch_text(http, &course_agent_metrics).await;
        metric_sum(
            &text,
            "learnflow_outbox_publish_total",
            &[("mode", "bulk"), ("outcome", "success")],
        )
    };
    let bulk_before = bulk_published(&http).await;
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..40 {
        let (http, url, token) = (
            http.clone(),
            format!("{gateway}/api/v1/lessons"),
            stack.dev_token(&format!("burst-{i}")),
        );
        burst.spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .json(&json!({}))
                .send()
                .await
                .expect("gateway");
            assert_eq!(r.status().as_u16(), 201);
            r.headers()
                .get("x-trace-id")
                .and_then(|v| v.to_str().ok())
                .expect("x-trace-id")
                .to_owned()
        });
    }
    let burst_traces: Vec<String> = burst.join_all().await;
    let bulk_after = eventually_async(
        "the burst's events to be published",
        Duration::from_secs(30),
        async || {
            let now = bulk_published(&http).await;
            (now > bulk_before).then_some(now)
        },
    )
    .await;
    eprintln!(
        "[telemetry] burst of {}: {} events went out in bulk publishes",
        burst_traces.len(),
        bulk_after - bulk_before
    );
    for trace_id in &burst_traces {
        eventually_async(
            "each burst lesson's trace to reach user-progress",
            Duration::from_secs(60),
            async || {
                let body = get_json(&http, &format!("{traces}/api/traces/{trace_id}")).await;
                let have: BTreeSet<(String, String)> =
                    learnflow_e2e::traces::spans_of(&body["data"][0])
                        .into_iter()
                        .map(|s| (s.service, s.operation))
                        .collect();
                [
                    ("frontend-gateway", "POST /api/v1/lessons"),
                    ("course-agent", "publish lesson-events"),
                    ("user-progress", "process lesson-events"),
                ]
                .iter()
                .all(|(svc, op)| have.contains(&((*svc).to_owned(), (*op).to_owned())))
                .then_some(())
            },
        )
        .await;
    }

    // Each service's /metrics is valid exposition text.
    let mut exposition = BTreeMap::new();
    for (name, running) in &stack.services {
        let url = format!("http://127.0.0.1:{}/metrics", running.service.admin_port());
        let text = fetch_text(&http, &url).await;
        if let Err(problems) = promtool_check(&stack.tools.promtool, &text) {
            panic!("promtool check metrics failed for {name}:\n{problems}");
        }
        exposition.insert(*name, text);
    }

    // Prometheus scrapes every target, and every flow metric has data.
    let prometheus = stack.prometheus.url();
    let targets: Vec<Value> =
        eventually_async("every target up", Duration::from_secs(30), async || {
            let v = get_json(&http, &format!("{prometheus}/api/v1/targets")).await;
            let targets = v["data"]["activeTargets"].as_array()?.clone();
            (targets.len() == 9 && targets.iter().all(|t| t["health"] == "up")).then_some(targets)
        })
        .await;
    let mut per_job: BTreeMap<String, usize> = BTreeMap::new();
    for target in &targets {
        let job = target["labels"]["job"].as_str().unwrap_or_default();
        *per_job.entry(job.to_owned()).or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = [
        ("learnflow-services", 4),
        ("dapr-sidecars", 3),
        ("postgresql", 1),
        ("kafka-broker", 1),
    ]
    .into_iter()
    .map(|(job, n)| (job.to_owned(), n))
    .collect();
    assert_eq!(
        per_job, expected,
        "4 services, 3 sidecars and the exporters of PostgreSQL and the broker"
    );
    for (query, must_be_positive) in [
        ("sum(learnflow_lessons_generated_total)", true),
        (
            "sum(learnflow_outbox_publish_total{outcome=\"success\"})",
            true,
        ),
        (
            "sum(learnflow_events_consumed_total{outcome=\"success\"})",
            true,
        ),
        ("sum(learnflow_lesson_to_db_seconds_count)", true),
        ("sum(learnflow_db_query_duration_seconds_count)", true),
        (
            "sum(learnflow_http_server_requests_total{service=\"frontend-gateway\"})",
            true,
        ),
        (
            "sum(learnflow_http_server_request_duration_seconds_count)",
            true,
        ),
        ("sum(learnflow_personalisation_total)", true),
        (
            "sum(learnflow_kafka_partition_high_watermark{topic=\"lesson-events\"})",
            true,
        ),
        ("min(learnflow_build_info)", true),
        ("min(learnflow_process_resident_memory_bytes)", true),
        ("sum(learnflow_db_pool_connections)", false),
        ("max(learnflow_outbox_backlog)", false),
        ("max(learnflow_outbox_oldest_age_seconds)", false),
        ("max(learnflow_outbox_parked)", false),
        (
            "sum(dapr_component_pubsub_egress_count{app_id=\"course-agent\"})",
            true,
        ),
        (
            "sum(dapr_component_pubsub_ingress_count{app_id=\"user-progress\"})",
            true,
        ),
        ("sum(dapr_runtime_service_invocation_req_sent_total)", true),
        ("count(dapr_resiliency_loaded)", true),
    ] {
        let samples = eventually_async(query, Duration::from_secs(30), async || {
            let result = prom_query(&http, &prometheus, query).await;
            (!result.is_empty() && (!must_be_positive || value_of(&result[0]) > 0.0))
                .then_some(result)
        })
        .await;
        assert!(!samples.is_empty(), "{query}");
    }
    assert!(
        metric_sum(
            &exposition["user-progress"],
            "learnflow_lesson_to_db_seconds_count",
            &[]
        ) >= 1.0,
        "the latency histogram has samples"
    );

    // kafka-monitor: user-progress's lag rises while it is stopped, and drains after.
    let monitor = format!(
        "http://127.0.0.1:{}/metrics",
        stack
            .service("kafka-monitor")
            .expect("svc")
            .service
            .admin_port()
    );
    let lag = |text: &str| {
        metric_sum(
            text,
            "learnflow_kafka_consumergroup_lag",
            &[("group", "user-progress"), ("topic", "lesson-events")],
        )
    };
    stack
        .service("user-progress")
        .expect("svc")
        .service
        .process()
        .stop(Duration::from_secs(10));
    for _ in 0..5 {
        let r = http
            .post(format!("{gateway}/api/v1/lessons"))
            .bearer_auth(&token)
            .json(&json!({}))
            .send()
            .await
            .expect("gateway");
        assert_eq!(r.status().as_u16(), 201);
    }
    let mut peak = 0.0;
    for _ in 0..60 {
        let text = fetch_text(&http, &monitor).await;
        peak = lag(&text);
        if peak >= 5.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        peak >= 5.0,
        "lag rose to {peak} while user-progress was stopped"
    );
    stack
        .service("user-progress")
        .expect("svc")
        .service
        .restart()
        .expect("user-progress restarts");
    let mut last = peak;
    for _ in 0..120 {
        let text = fetch_text(&http, &monitor).await;
        last = lag(&text);
        if last == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(last, 0.0, "lag returned to 0 after user-progress restarted");
}
