//! The single-node Kubernetes cluster built from source, for real (ADR 0013):
//! `Cluster::up` (provisioning what is missing), then against it —
//!
//! 1. the node is Ready;
//! 2. CoreDNS answers `kubernetes.default.svc.cluster.local` with the API Service's
//!    address, asked from the host at the DNS Service address (through kube-proxy);
//! 3. metrics-server answers: `kubectl top node` reports the node's usage;
//! 4. Dapr's injector adds daprd to an annotated pod, which becomes Ready with 2/2
//!    containers (daprd is Ready only with its mTLS certificate from sentry);
//! 5. LearnFlow, installed with the chart as the README says (`values-local.yaml`): the
//!    three Dapr apps run with daprd injected (2/2 ready), the chart's topic Job completes
//!    and `lesson-events` has 4 partitions, a lesson created through the gateway
//!    Service shows in the learner's progress (through Kafka), and with the course-agent
//!    and user-progress pods deleted under load every accepted lesson arrives once;
//! 6. monitoring: the lesson's whole trace (gateway → course-agent → Kafka →
//!    user-progress, one root, correctly parented) is in the cluster's Jaeger; every
//!    LearnFlow target (ServiceMonitors, the daprd PodMonitor) is up in the Prometheus the
//!    operator runs, every rule of the chart's PrometheusRule is loaded and evaluated, and
//!    every dashboard query whose metrics exist returns data there, and every one that reads
//!    only Kubernetes' series (kube-state-metrics: replicas, restarts) must;
//! 7. the security matrix's token checks through the gateway Service: every forged
//!    token → 401, another learner's lesson → 403;
//! 8. NetworkPolicies enforced (ADR 0022): `learnflow-netpol` ran from before the
//!    install, so every path above (gateway → sidecars → services → Kafka → PostgreSQL,
//!    Prometheus → metrics ports, daprd → Dapr's control plane) worked under the chart's
//!    policies; a pod in another namespace reaches the gateway's API port but times out
//!    on course-agent, user-progress, their sidecars, Kafka and PostgreSQL; a policy
//!    added for it opens exactly its port within seconds, and removing it closes it again;
//! 9. the developer loop (ADR 0019): `skaffold run` of the `local` profile deploys from
//!    the cluster's registry by digest; under `skaffold dev` a lesson flows through the
//!    forwarded gateway port, and an edit to one course-agent source file rebuilds and
//!    redeploys course-agent alone (the other pods untouched), its new code running;
//!    the edit→ready time is printed;
//! 10. `down` leaves no process, mount, cgroup, KUBE-*/CNI-*/LF-NETPOL* chain, bridge or
//!     CNI state, checked with the harness's own list and, independently, with `ip link`,
//!     `iptables -S` and /proc.
//!
//! Root only; the first run builds Kubernetes, CoreDNS, metrics-server, Dapr's control
//! plane, the Prometheus operator and Prometheus from source (about 14 minutes here,
//! ADR 0013), later runs take about 6 minutes.
//! `cargo xtask test` runs it with the rest; alone: `cargo test -p learnflow-e2e --test cluster -- --nocapture`.

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use learnflow_e2e::dashboards::{
    Query, load_dashboards, panel_queries, reads_only_kubernetes, selectors, substitute,
};
use learnflow_e2e::devloop::{Skaffold, Workspace};
use lf_testkit::cluster::config::{
    API_SERVICE_IP, CNI_BRIDGE, DNS_SERVICE_IP, Layout, NODE_BRIDGE, NODE_NAME,
};
use lf_testkit::cluster::learnflow::LearnFlow;
use lf_testkit::cluster::{Cluster, ClusterOptions, addons, dns, images, skaffold, teardown};
use lf_testkit::containers::Engine;

/// A progress line with the seconds since the test began.
fn say(line: &str) {
    static BEGAN: OnceLock<Instant> = OnceLock::new();
    let at = BEGAN.get_or_init(Instant::now).elapsed().as_secs_f64();
    eprintln!("[cluster-test {at:6.1} s] {line}");
}

/// Polls `check` every second until it returns `Ok` or `timeout` passes.
fn eventually<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Result<T, String>) -> T {
    let started = Instant::now();
    loop {
        match check() {
            Ok(value) => {
                say(&format!(
                    "{what}: after {:.1} s",
                    started.elapsed().as_secs_f64()
                ));
                return value;
            }
            Err(e) if started.elapsed() > timeout => panic!("{what}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_secs(1)),
        }
    }
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

const INJECTED_POD: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: cluster-test
---
apiVersion: v1
kind: Pod
metadata:
  name: injected
  namespace: cluster-test
  annotations:
    dapr.io/enabled: "true"
    dapr.io/app-id: injected
spec:
  containers:
  - name: app
    image: {{IMAGE}}
    imagePullPolicy: IfNotPresent
"#;

#[test]
fn a_cluster_from_source_serves_dns_metrics_dapr_and_learnflow_and_down_leaves_nothing() {
    let started = Instant::now();
    say("bringing the cluster up");
    let cluster = Cluster::up(&ClusterOptions::default(), &mut say).expect("cluster up");
    say(&format!(
        "up in {:.0} s: {:?}",
        started.elapsed().as_secs_f64(),
        cluster.timings
    ));

    // 1. The node.
    let ready = cluster
        .kubectl_output(&[
            "get",
            "node",
            NODE_NAME,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ])
        .expect("node");
    assert_eq!(ready.trim(), "True", "node {NODE_NAME} is not Ready");

    // 2. DNS, from the host through the Service address.
    let server: Ipv4Addr = DNS_SERVICE_IP.parse().expect("address");
    let answer = eventually("CoreDNS answers", Duration::from_secs(60), || {
        dns::resolve_a(
            server,
            "kubernetes.default.svc.cluster.local",
            Duration::from_secs(2),
        )
        .map_err(|e| e.to_string())
    });
    assert_eq!(
        answer,
        vec![API_SERVICE_IP.parse::<Ipv4Addr>().expect("address")]
    );

    // 3. The metrics API (metrics-server scrapes every 15 s).
    let top = eventually("kubectl top node answers", Duration::from_secs(120), || {
        cluster
            .kubectl_output(&["top", "node", "--no-headers"])
            .map_err(|e| e.to_string())
            .and_then(|out| {
                if out.starts_with(NODE_NAME) && out.contains('m') {
                    Ok(out)
                } else {
                    Err(format!("unexpected: {out}"))
                }
            })
    });
    say(&format!("kubectl top node: {}", top.trim()));

    // 4. Dapr's sidecar injector.
    let manifest = INJECTED_POD.replace("{{IMAGE}}", &images::pause_image().expect("pause"));
    addons::apply(cluster.layout(), &manifest).expect("apply the annotated pod");
    cluster
        .kubectl_output(&[
            "-n",
            "cluster-test",
            "wait",
            "--for=condition=Ready",
            "pod/injected",
            "--timeout=180s",
        ])
        .unwrap_or_else(|e| {
            let describe = cluster
                .kubectl_output(&["-n", "cluster-test", "describe", "pod", "injected"])
                .unwrap_or_default();
            panic!("the injected pod is not Ready: {e}\n{describe}")
        });
    let containers = cluster
        .kubectl_output(&[
            "-n",
            "cluster-test",
            "get",
            "pod",
            "injected",
            "-o",
            "jsonpath={.spec.containers[*].name} {.status.containerStatuses[*].ready}",
        ])
        .expect("pod");
    assert_eq!(
        containers.trim(),
        "app daprd true true",
        "expected app + daprd, both ready"
    );
    say("daprd injected into the annotated pod: 2/2 ready");

    // 5. LearnFlow, installed by `up` with the chart.
    let learnflow = cluster.learnflow.clone().expect("LearnFlow installed");
    let learnflow_pods = |jsonpath: &str| {
        cluster.kubectl_output(&[
            "-n",
            "learnflow",
            "get",
            "pods",
            "-o",
            &format!("jsonpath={jsonpath}"),
        ])
    };
    let pods = learnflow_pods(
        "{range .items[*]}{.metadata.name} {.status.phase} {.status.containerStatuses[*].ready}{\"\\n\"}{end}",
    )
    .expect("pods");
    say(&format!("learnflow pods:\n{}", pods.trim_end()));
    for app in ["frontend-gateway", "course-agent", "user-progress"] {
        let line = pods
            .lines()
            .find(|l| l.contains(app) && l.contains("Running"))
            .unwrap_or_else(|| panic!("no running {app} pod:\n{pods}"));
        assert!(
            line.ends_with("true true"),
            "{app}: app + daprd not both ready: {line}"
        );
    }
    // Every LearnFlow container (not the injected daprd) runs an image the node pulled
    // from the cluster's registry: its digest names the registry (an imported image
    // would have none).
    let registry = lf_testkit::cluster::config::registry_host();
    let containers = learnflow_pods(
        "{range .items[*]}{range .status.containerStatuses[*]}{.name} {.image} {.imageID}{\"\\n\"}{end}{end}",
    )
    .expect("container statuses");
    let mut pulled = 0;
    for line in containers.lines().filter(|l| !l.starts_with("daprd ")) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [name, image, digest] = fields[..] else {
            panic!("unexpected container status: {line:?}");
        };
        assert!(
            image.starts_with(&format!("{registry}/"))
                && digest.starts_with(&format!("{registry}/"))
                && digest.contains("@sha256:"),
            "{name}: {image} ({digest}) was not pulled from the registry {registry}"
        );
        pulled += 1;
    }
    assert!(pulled >= 5, "too few LearnFlow containers: {containers}");
    let (status, catalog) = lf_testkit::wait::http_get(
        lf_testkit::cluster::config::REGISTRY_PORT,
        "/v2/_catalog",
        Duration::from_secs(5),
    )
    .expect("the registry answers");
    assert_eq!(status, 200, "registry catalog: {catalog}");
    for repository in [
        "learnflow/frontend-gateway",
        "learnflow/course-agent",
        "learnflow/user-progress",
        "learnflow/kafka-monitor",
        "apache/kafka",
        "postgres",
    ] {
        assert!(
            catalog.contains(&format!("\"{repository}\"")),
            "{repository} not in the registry: {catalog}"
        );
    }
    say(&format!(
        "{pulled} LearnFlow containers run images pulled from the registry {registry}"
    ));
    cluster
        .kubectl_output(&[
            "-n",
            "learnflow",
            "wait",
            "--for=condition=complete",
            "job",
            "-l",
            "app.kubernetes.io/component=kafka-topics",
            "--timeout=180s",
        ])
        .expect("the topic Job completes");
    let topic = cluster
        .kubectl_output(&[
            "-n",
            "learnflow",
            "exec",
            "learnflow-kafka-0",
            "--",
            "/opt/kafka/bin/kafka-topics.sh",
            "--bootstrap-server",
            "localhost:9092",
            "--describe",
            "--topic",
            "lesson-events",
        ])
        .expect("describe lesson-events");
    assert!(
        topic.contains("PartitionCount: 4"),
        "lesson-events should have 4 partitions:\n{topic}"
    );
    say("topic Job completed: lesson-events has 4 partitions");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        let learner = format!("cluster-{}", uuid::Uuid::new_v4().simple());
        let token = lf_auth::mint(&learnflow.jwt_secret, &learner, 3600);
        let took = learnflow_e2e::lesson_reaches_progress(&http, &learnflow.gateway, &token).await;
        say(&format!(
            "lesson through the cluster gateway shown in progress after {:.1} s",
            took.as_secs_f64()
        ));

        // Pods are cattle: delete the course-agent and the user-progress pod under load;
        // every accepted lesson still arrives, and none is applied twice.
        let learners = 8;
        let spec = lf_loadgen::LoadSpec {
            gateway: learnflow.gateway.clone(),
            tokens: (0..learners)
                .map(|i| {
                    lf_auth::mint(&learnflow.jwt_secret, &format!("{learner}-{i}"), 3600)
                })
                .collect(),
            mode: lf_loadgen::Mode::FixedRate(10.0),
            duration: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            progress_every: None,
        };
        let tokens = spec.tokens.clone();
        let load = tokio::spawn(lf_loadgen::run(spec));
        // The consumer first, while lessons keep being accepted; then the producer, whose
        // single replica leaves the gateway shedding (503) until its successor is ready.
        for (after, app) in [(10, "user-progress"), (15, "course-agent")] {
            tokio::time::sleep(Duration::from_secs(after)).await;
            let deleted = cluster
                .kubectl_output(&[
                    "-n",
                    "learnflow",
                    "delete",
                    "pod",
                    "-l",
                    &format!("app.kubernetes.io/component={app}"),
                    "--wait=false",
                ])
                .expect("delete pod");
            say(&format!("under load: {}", deleted.trim()));
        }
        let report = load.await.expect("load run");
        let accepted: std::collections::BTreeSet<String> = report
            .accepted
            .iter()
            .map(|a| a.lesson_id.clone())
            .collect();
        say(&format!(
            "under pod deletions: sent {}, accepted {}, statuses {:?}",
            report.sent,
            accepted.len(),
            report.statuses
        ));
        assert!(
            accepted.len() >= 100,
            "too few accepted to judge: {}",
            accepted.len()
        );
        let drained = Instant::now();
        loop {
            let recorded: std::collections::BTreeSet<String> = cluster
                .kubectl_output(&[
                    "-n",
                    "learnflow",
                    "exec",
                    "learnflow-postgresql-0",
                    "--",
                    "psql",
                    "-U",
                    "learnflow",
                    "-d",
                    "user_progress",
                    "-Atc",
                    "SELECT lesson_id FROM processed_events",
                ])
                .unwrap_or_default()
                .lines()
                .map(str::to_owned)
                .collect();
            let missing = accepted.difference(&recorded).count();
            if missing == 0 {
                break;
            }
            assert!(
                drained.elapsed() < Duration::from_secs(240),
                "{missing} of {} accepted lessons never reached user-progress",
                accepted.len()
            );
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        // Applied once: each learner's count equals what was accepted for them.
        learnflow_e2e::assert_each_learner_applied_once(
            &http,
            &learnflow.gateway,
            &tokens,
            &report,
        )
        .await;
        say(&format!(
            "pods deleted under load: 0 lost, 0 applied twice ({} lessons, all in {:.1} s)",
            accepted.len(),
            drained.elapsed().as_secs_f64()
        ));

        // 6. Monitoring: one whole trace, every target up, every rule loaded and evaluated.
        let monitoring = cluster.monitoring.clone().expect("monitoring installed");
        let created = http
            .post(format!("{}/api/v1/lessons", learnflow.gateway))
            .bearer_auth(&token)
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("gateway");
        assert_eq!(created.status().as_u16(), 201);
        let trace_id = learnflow_e2e::trace_id_of(&created);
        // The chart's own Jaeger (tracing.jaeger.deploy in values-minikube.yaml).
        let trace_url = format!("{}/api/traces/{trace_id}", learnflow.traces);
        let trace = learnflow_e2e::within("the lesson's whole trace in the cluster's Jaeger", Duration::from_secs(90), async || {
            let body = learnflow_e2e::get_json(&http, &trace_url, None).await?;
            let trace = body["data"][0].clone();
            if learnflow_e2e::traces::has_lesson_spans(&trace) {
                Ok(trace)
            } else {
                Err(format!("{} spans so far", learnflow_e2e::traces::spans_of(&trace).len()))
            }
        })
        .await;
        if let Err(wrong) = learnflow_e2e::traces::check_lesson_trace(&trace) {
            panic!("lesson trace {trace_id}: {wrong}");
        }
        say(&format!(
            "one trace across the async hop: {} spans, gateway → course-agent → Kafka → user-progress",
            learnflow_e2e::traces::spans_of(&trace).len()
        ));

        // Steady traffic from here on: the pods replaced above have fresh counters, and a
        // dashboard's rate needs two scrapes (15 s apart) of them inside its window. (Not
        // before the trace: under load the relay publishes in bulk, with other spans.)
        let steady_since = Instant::now();
        let steady = tokio::spawn(lf_loadgen::run(lf_loadgen::LoadSpec {
            gateway: learnflow.gateway.clone(),
            tokens: tokens.clone(),
            mode: lf_loadgen::Mode::FixedRate(4.0),
            // Until the dashboards are checked (aborted there): a latency panel over a
            // window without requests is NaN, which would read as "no data".
            duration: Duration::from_secs(900),
            timeout: Duration::from_secs(10),
            progress_every: None,
        }));
        let prometheus = monitoring.prometheus.clone();
        let targets = learnflow_e2e::within("every LearnFlow target up in the cluster's Prometheus", Duration::from_secs(180), async || {
            let body = learnflow_e2e::get_json(&http, &format!("{prometheus}/api/v1/targets?state=active"), None).await?;
            let active = body["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
            let mut seen = std::collections::BTreeSet::new();
            let mut down = Vec::new();
            for target in &active {
                let labels = &target["labels"];
                let key = (
                    labels["job"].as_str().unwrap_or_default().to_owned(),
                    labels["service"].as_str().unwrap_or_default().to_owned(),
                );
                if target["health"] != "up" {
                    down.push(format!("{key:?} {} ({})", target["health"], target["lastError"]));
                }
                seen.insert(key);
            }
            let wanted: Vec<(String, String)> = ["frontend-gateway", "course-agent", "user-progress", "kafka-monitor"]
                .iter()
                .map(|s| ("learnflow-services".to_owned(), (*s).to_owned()))
                .chain(["frontend-gateway", "course-agent", "user-progress"].iter().map(|s| ("dapr-sidecars".to_owned(), (*s).to_owned())))
                // The stores' exporters (values-local.yaml turns the broker's on).
                .chain([("postgresql", "postgresql"), ("kafka-broker", "kafka")].map(|(j, s)| (j.to_owned(), s.to_owned())))
                .collect();
            let missing: Vec<&(String, String)> = wanted.iter().filter(|w| !seen.contains(*w)).collect();
            if missing.is_empty() && down.is_empty() {
                Ok(active.len())
            } else {
                Err(format!("missing {missing:?}; not up: {down:?}"))
            }
        })
        .await;
        say(&format!("{targets} active targets, all up (ServiceMonitors, the daprd and the stores' PodMonitors loaded)"));

        let in_file = learnflow_e2e::rules_in_file();
        let evaluated = learnflow_e2e::within("every rule of the chart's PrometheusRule loaded and evaluated", Duration::from_secs(120), async || {
            let body = learnflow_e2e::get_json(&http, &format!("{prometheus}/api/v1/rules"), None).await?;
            let mut loaded = std::collections::BTreeMap::<String, usize>::new();
            let mut unhealthy = Vec::new();
            for group in body["data"]["groups"].as_array().into_iter().flatten() {
                for rule in group["rules"].as_array().into_iter().flatten() {
                    let name = rule["name"].as_str().unwrap_or_default().to_owned();
                    let never = rule["lastEvaluation"].as_str().is_none_or(|t| t.starts_with("0001-"));
                    if rule["health"] != "ok" || never {
                        unhealthy.push(format!("{name}: {} {}", rule["health"], rule["lastError"]));
                    }
                    *loaded.entry(name).or_default() += 1;
                }
            }
            if loaded == in_file && unhealthy.is_empty() {
                Ok(loaded.values().sum::<usize>())
            } else {
                let missing: Vec<&String> = in_file.keys().filter(|k| loaded.get(*k) != in_file.get(*k)).collect();
                Err(format!("not loaded as in the file: {missing:?}; unhealthy: {unhealthy:?}"))
            }
        })
        .await;
        say(&format!("{evaluated} rules loaded from the chart's PrometheusRule, all evaluated and healthy"));

        // The dashboards' queries, as Grafana would send them to this Prometheus
        // ($__rate_interval: four of the chart's 15 s scrape intervals). A query whose
        // series all exist must return a number; one with a series that only appears
        // after a failure (resiliency activations, dropped events …) is listed as not
        // shown: the native dashboards test makes those real with faults.
        let queries: Vec<Query> = load_dashboards()
            .iter()
            .flat_map(|(file, model)| panel_queries(file, model))
            .collect();
        assert!(!queries.is_empty(), "no dashboard queries found");
        let fed = Duration::from_secs(90);
        if let Some(left) = fed.checked_sub(steady_since.elapsed()) {
            tokio::time::sleep(left).await;
        }
        // Prometheus's answer, errors (400, with a JSON body) included.
        let instant = async |expr: &str| -> serde_json::Value {
            http.get(format!(
                "{prometheus}/api/v1/query?query={}",
                learnflow_e2e::url_encode(expr)
            ))
            .send()
            .await
            .expect("prometheus")
            .json()
            .await
            .expect("JSON")
        };
        let has_number = |body: &serde_json::Value| {
            body["data"]["result"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| s["value"][1].as_str().is_some_and(|v| v != "NaN"))
        };
        let (mut with_data, mut failed, mut not_shown, mut empty) = (0, Vec::new(), Vec::new(), Vec::new());
        for query in &queries {
            let expr = substitute(&query.expr, "1m");
            let body = instant(&expr).await;
            if body["status"] != "success" {
                failed.push(format!("{}: {}", query.origin, body["error"]));
                continue;
            }
            if has_number(&body) {
                with_data += 1;
                continue;
            }
            let mut absent = Vec::new();
            for selector in selectors(&expr) {
                let count = instant(&format!("count({selector})")).await;
                if count["data"]["result"].as_array().is_none_or(Vec::is_empty) {
                    absent.push(selector);
                }
            }
            if absent.is_empty() {
                empty.push((query, expr));
            } else if reads_only_kubernetes(&query.expr) {
                // Replicas and restarts come from kube-state-metrics, which runs here:
                // absent series are a failure, not a fault not yet seen.
                failed.push(format!("{}: no {} (kube-state-metrics)", query.origin, absent.join(", ")));
            } else {
                not_shown.push(format!("{} (no {})", query.origin, absent.join(", ")));
            }
        }
        // A query whose series are all there but which has no number yet is asked
        // again over a minute (four scrapes): a scrape that came late (a busy node,
        // a restarted pod) leaves a rate window with one sample. One still empty
        // after that is a wrong query, shown with how fresh its series are.
        for _ in 0..4 {
            if empty.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(15)).await;
            let mut still = Vec::new();
            for (query, expr) in empty {
                if has_number(&instant(&expr).await) {
                    with_data += 1;
                } else {
                    still.push((query, expr));
                }
            }
            empty = still;
        }
        for (query, expr) in empty {
            let mut freshness = Vec::new();
            for selector in selectors(&expr) {
                let samples = instant(&format!("max(count_over_time({selector}[1m]))")).await;
                let age = instant(&format!("time() - max(timestamp({selector}))")).await;
                let value = |body: &serde_json::Value| body["data"]["result"][0]["value"][1].as_str().unwrap_or("none").to_owned();
                freshness.push(format!("{selector}: {} samples in 1m, newest {} s old", value(&samples), value(&age)));
            }
            failed.push(format!(
                "{}: no data, though every series it reads is there: {expr} ({})",
                query.origin,
                freshness.join("; ")
            ));
        }
        steady.abort();
        assert!(failed.is_empty(), "dashboard queries against the cluster's Prometheus:\n{}", failed.join("\n"));
        say(&format!(
            "dashboards: {with_data} of {} queries have data; not shown without a failure: {not_shown:?}",
            queries.len()
        ));

        // 7. The security matrix's token checks, through the gateway Service.
        let progress = format!("{}/api/v1/progress", learnflow.gateway);
        let refused = async |request: reqwest::RequestBuilder, case: &str| {
            let answer = request.send().await.expect("gateway answers");
            let status = answer.status().as_u16();
            let challenge = answer
                .headers()
                .get("www-authenticate")
                .is_some_and(|v| v.as_bytes().starts_with(b"Bearer"));
            let body: serde_json::Value = answer.json().await.unwrap_or_default();
            assert!(
                status == 401 && challenge && body["error"]["code"] == "unauthenticated",
                "{case}: expected 401 unauthenticated with WWW-Authenticate: Bearer, got {status} {body}"
            );
        };
        refused(http.get(&progress), "no Authorization header").await;
        refused(http.get(&progress).basic_auth(&learner, Some("password")), "Basic instead of Bearer").await;
        let forged = learnflow_e2e::tokens::forged(&learnflow.jwt_secret, &learner);
        for (case, forged_token) in &forged {
            refused(http.get(&progress).bearer_auth(forged_token), case).await;
        }
        let own = http.get(&progress).bearer_auth(&token).send().await.expect("gateway");
        assert_eq!(own.status().as_u16(), 200, "control: a valid token reads progress");
        let lesson: serde_json::Value = http
            .post(format!("{}/api/v1/lessons", learnflow.gateway))
            .bearer_auth(&token)
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("gateway")
            .json()
            .await
            .expect("lesson JSON");
        let lesson_id = lesson["id"].as_str().expect("lesson id");
        let other = lf_auth::mint(&learnflow.jwt_secret, &format!("{learner}-other"), 3600);
        let theirs = http
            .get(format!("{}/api/v1/lessons/{lesson_id}", learnflow.gateway))
            .bearer_auth(&other)
            .send()
            .await
            .expect("gateway");
        assert_eq!(theirs.status().as_u16(), 403, "another learner's lesson");
        say(&format!(
            "through the gateway Service: {} bad-token cases → 401, another learner's lesson → 403",
            forged.len() + 2
        ));
    });

    // 8. NetworkPolicies, enforced by learnflow-netpol since before LearnFlow was
    // installed: every path above worked under them; from another namespace the internal
    // services, their sidecars and the data stores cannot be reached.
    network_policies_enforced(&cluster);

    // 9. The developer loop: skaffold run and skaffold dev (the `local` profile) from a
    // scratch copy of this checkout, a lesson through skaffold's port-forward, and one
    // edited service rebuilt and redeployed alone.
    skaffold_run_and_dev(&cluster, &learnflow, &runtime);

    // 10. Down, then look for anything left.
    let layout: Layout = cluster.layout().clone();
    let down = Instant::now();
    cluster.down(&mut say).expect("down");
    say(&format!("down in {:.1} s", down.elapsed().as_secs_f64()));
    assert_eq!(teardown::leftovers(&layout), Vec::<String>::new());
    let links = output("ip", &["-o", "link", "show"]);
    for bridge in [NODE_BRIDGE, CNI_BRIDGE] {
        assert!(!links.contains(bridge), "{bridge} is still there:\n{links}");
    }
    assert!(
        !links.contains("master lfk-"),
        "a veth is still on our bridge:\n{links}"
    );
    for binary in ["iptables", "ip6tables"] {
        for table in ["filter", "nat", "mangle", "raw"] {
            let rules = output(binary, &["-w", "-t", table, "-S"]);
            let ours: Vec<&str> = rules
                .lines()
                .filter(|l| l.contains("KUBE-") || l.contains("CNI-") || l.contains("LF-NETPOL"))
                .collect();
            assert!(ours.is_empty(), "{binary} -t {table}: {ours:?}");
        }
    }
    assert!(
        teardown::our_processes(&layout).is_empty(),
        "processes left"
    );
    assert!(
        teardown::mounts_under(&layout.root).is_empty(),
        "mounts left"
    );
    say(&format!(
        "passed in {:.0} s",
        started.elapsed().as_secs_f64()
    ));
}

const PROBE_NAMESPACE: &str = "netpol-probe";

const PROBE_POD: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: netpol-probe
---
apiVersion: v1
kind: Pod
metadata:
  name: probe
  namespace: netpol-probe
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: probe
    image: {{IMAGE}}
    imagePullPolicy: IfNotPresent
    command: ["sleep", "infinity"]
"#;

/// Opens the probe namespace to one port of course-agent (the positive control).
const PROBE_ALLOWED: &str = r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: netpol-probe-allowed
  namespace: learnflow
spec:
  podSelector:
    matchLabels:
      app.kubernetes.io/component: course-agent
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: netpol-probe
    ports:
    - port: {{PORT}}
      protocol: TCP
"#;

/// What a TCP connection attempt from the probe pod met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Connected.
    Open,
    /// Refused at once (nothing listening: the packet got there).
    Refused,
    /// No answer within 3 s: dropped on the way, as the enforcer drops.
    TimedOut,
}

/// Tries every `ip:port` from the probe pod at once, in one exec (bash's /dev/tcp; the
/// postgres image is Debian with bash and coreutils' timeout, whose status 124 means
/// timed out).
fn reach_from_probe(cluster: &Cluster, targets: &[(String, String)]) -> Vec<(String, Reach)> {
    let list: Vec<&str> = targets.iter().map(|(_, t)| t.as_str()).collect();
    let script = format!(
        "for t in {}; do (timeout 3 bash -c \"exec 3<>/dev/tcp/${{t%:*}}/${{t#*:}}\" 2>/dev/null; echo \"$t $?\") & done; wait",
        list.join(" ")
    );
    let out = cluster
        .kubectl_output(&[
            "-n",
            PROBE_NAMESPACE,
            "exec",
            "probe",
            "--",
            "bash",
            "-c",
            &script,
        ])
        .expect("exec in the probe pod");
    targets
        .iter()
        .map(|(name, target)| {
            let status = out
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{target} ")))
                .unwrap_or_else(|| panic!("no result for {target}:\n{out}"));
            let reach = match status.trim() {
                "0" => Reach::Open,
                "124" => Reach::TimedOut,
                _ => Reach::Refused,
            };
            (format!("{name} {target}"), reach)
        })
        .collect()
}

/// Step 8: the chart's NetworkPolicies under the enforcer.
fn network_policies_enforced(cluster: &Cluster) {
    let status_file = cluster.layout().run().join("netpol-status.json");
    let status: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&status_file).expect("the enforcer's status"))
            .expect("status JSON");
    let isolated = status["ingress_isolated"].to_string();
    for app in [
        "frontend-gateway",
        "course-agent",
        "user-progress",
        "kafka",
        "postgresql",
    ] {
        assert!(
            isolated.contains(&format!("learnflow/learnflow-{app}")),
            "the enforcer does not isolate {app}: {status}"
        );
    }

    let pods: serde_json::Value = serde_json::from_str(
        &cluster
            .kubectl_output(&["-n", "learnflow", "get", "pods", "-o", "json"])
            .expect("pods"),
    )
    .expect("pods JSON");
    let mut targets = Vec::new();
    let mut gateway = None;
    let mut course_agent_port = None;
    let mut store_image = None;
    for pod in pods["items"].as_array().into_iter().flatten() {
        let component = pod["metadata"]["labels"]["app.kubernetes.io/component"]
            .as_str()
            .unwrap_or_default();
        let Some(ip) = pod["status"]["podIP"].as_str() else {
            continue;
        };
        if pod["status"]["phase"] != "Running" {
            continue;
        }
        for container in pod["spec"]["containers"].as_array().into_iter().flatten() {
            let name = container["name"].as_str().unwrap_or_default();
            // The server's image (it has the shell tools the probe uses), not its exporter's.
            if component == "postgresql" && name == "postgresql" {
                store_image = container["image"].as_str().map(str::to_owned);
            }
            for port in container["ports"].as_array().into_iter().flatten() {
                let number = port["containerPort"].as_u64().expect("port number");
                let target = (format!("{component}/{name}"), format!("{ip}:{number}"));
                match (component, name, port["name"].as_str()) {
                    ("frontend-gateway", "frontend-gateway", Some("http")) => {
                        gateway = Some(target);
                    }
                    ("course-agent", "course-agent", Some("http")) => {
                        course_agent_port = Some(number);
                        targets.push(target);
                    }
                    ("course-agent" | "user-progress" | "kafka" | "postgresql", _, _) => {
                        targets.push(target);
                    }
                    _ => {}
                }
            }
        }
    }
    let gateway = gateway.expect("the gateway's http port");
    let course_agent_port = course_agent_port.expect("course-agent's http port");
    for wanted in [
        "course-agent/daprd",
        "user-progress/daprd",
        "user-progress/user-progress",
        "kafka/",
        "postgresql/",
    ] {
        assert!(
            targets.iter().any(|(name, _)| name.starts_with(wanted)),
            "no {wanted} port found among {targets:?}"
        );
    }

    let image = store_image.expect("the PostgreSQL image");
    addons::apply(cluster.layout(), &PROBE_POD.replace("{{IMAGE}}", &image)).expect("probe pod");
    cluster
        .kubectl_output(&[
            "-n",
            PROBE_NAMESPACE,
            "wait",
            "--for=condition=Ready",
            "pod/probe",
            "--timeout=120s",
        ])
        .expect("the probe pod is Ready");

    // The control first: the probe has a network, and the gateway's API port is open to all.
    let control = reach_from_probe(cluster, std::slice::from_ref(&gateway));
    assert_eq!(
        control[0].1,
        Reach::Open,
        "from another namespace: {control:?}"
    );
    let denied = reach_from_probe(cluster, &targets);
    let through: Vec<&(String, Reach)> = denied
        .iter()
        .filter(|(_, r)| *r != Reach::TimedOut)
        .collect();
    assert!(
        through.is_empty(),
        "from another namespace, not dropped: {through:?}"
    );
    say(&format!(
        "from namespace {PROBE_NAMESPACE}: gateway API open; {} ports of course-agent, user-progress, their sidecars, Kafka and PostgreSQL dropped",
        denied.len()
    ));

    // A policy for the probe opens exactly course-agent's API port, then closes it again.
    let allowed = PROBE_ALLOWED.replace("{{PORT}}", &course_agent_port.to_string());
    addons::apply(cluster.layout(), &allowed).expect("apply the probe's policy");
    let opened = eventually(
        "a policy for the probe opens course-agent's API port",
        Duration::from_secs(30),
        || {
            let now = reach_from_probe(cluster, &targets);
            let open: Vec<&String> = now
                .iter()
                .filter(|(_, r)| *r != Reach::TimedOut)
                .map(|(n, _)| n)
                .collect();
            if open
                .iter()
                .any(|n| n.ends_with(&format!(":{course_agent_port}")))
            {
                Ok(now)
            } else {
                Err(format!("still dropped: {now:?}"))
            }
        },
    );
    let also_open: Vec<&(String, Reach)> = opened
        .iter()
        .filter(|(n, r)| {
            *r != Reach::TimedOut
                && !(n.starts_with("course-agent/course-agent")
                    && n.ends_with(&format!(":{course_agent_port}")))
        })
        .collect();
    assert!(
        also_open.is_empty(),
        "the probe's policy opened more than its port: {also_open:?}"
    );
    cluster
        .kubectl_output(&[
            "-n",
            "learnflow",
            "delete",
            "networkpolicy",
            "netpol-probe-allowed",
        ])
        .expect("delete the probe's policy");
    eventually(
        "deleting the policy closes the port again",
        Duration::from_secs(30),
        || {
            let now = reach_from_probe(cluster, &targets);
            if now.iter().all(|(_, r)| *r == Reach::TimedOut) {
                Ok(())
            } else {
                Err(format!("not all dropped: {now:?}"))
            }
        },
    );
    cluster
        .kubectl_output(&["delete", "namespace", PROBE_NAMESPACE, "--wait=false"])
        .expect("delete the probe namespace");
    // What enforcing cost so far: the enforcer's CPU time and its kubectl children's.
    if let Some(pid) = cluster.info().pids.get("learnflow-netpol") {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // After the command name's ')': state is field 0, then utime 11, stime 12,
        // cutime 13, cstime 14, starttime 19 (clock ticks, 100 per second here).
        let fields: Vec<f64> = stat
            .rsplit(')')
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .map(|v| v.parse().unwrap_or(0.0))
            .collect();
        if fields.len() > 19 {
            let cpu = (fields[11] + fields[12] + fields[13] + fields[14]) / 100.0;
            say(&format!(
                "learnflow-netpol so far: {cpu:.1} s CPU, its kubectl reads and watches included"
            ));
        }
    }
}

/// The deployments skaffold builds images for, by component label.
const APPS: [&str; 4] = [
    "frontend-gateway",
    "course-agent",
    "user-progress",
    "kafka-monitor",
];

/// Whether skaffold's forward of the gateway takes connections.
fn forwarded_port_answers() -> Result<(), String> {
    std::net::TcpStream::connect(("127.0.0.1", skaffold::GATEWAY_FORWARD_PORT))
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Step 9: `skaffold run`, then `skaffold dev` with one edit, as a developer runs them.
fn skaffold_run_and_dev(
    cluster: &Cluster,
    learnflow: &LearnFlow,
    runtime: &tokio::runtime::Runtime,
) {
    let repo = lf_testkit::paths::repo_root();
    let secrets = learnflow
        .secrets_file
        .strip_prefix(&repo)
        .expect("the dev secrets live under target/")
        .to_str()
        .expect("utf-8 path")
        .to_owned();
    // The copy keeps the secrets the release was installed with: new ones would not
    // match the password the in-cluster PostgreSQL was initialised with.
    let workspace = Workspace::copy_of(&repo, &[&secrets]);
    let engine = Engine::ensure(&mut say).expect("a Docker Engine");
    let kubeconfig = cluster.layout().admin_kubeconfig();
    let skaffold_cmd = |args: &[&str]| {
        let mut cmd = skaffold::command(&workspace.root, &kubeconfig, engine.host())
            .expect("skaffold command");
        cmd.args(args);
        cmd
    };
    let logs = cluster.layout().logs();

    // skaffold run: build (cache hits: the harness built the same sources), push, deploy.
    let run_started = Instant::now();
    let run_log = logs.join("skaffold-run.log");
    let out = skaffold_cmd(&["run"]).output().expect("skaffold run");
    std::fs::write(&run_log, [&out.stdout[..], &out.stderr[..]].concat()).expect("log");
    assert!(
        out.status.success(),
        "skaffold run failed ({}); log: {}\n{}",
        out.status,
        run_log.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let images = cluster
        .kubectl_output(&[
            "-n",
            "learnflow",
            "get",
            "deployments",
            "-o",
            "jsonpath={range .items[*]}{.metadata.labels.app\\.kubernetes\\.io/component}={.spec.template.spec.containers[0].image}{\"\\n\"}{end}",
        ])
        .expect("deployments");
    let registry = lf_testkit::cluster::config::registry_host();
    for app in APPS {
        let image = images
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{app}=")))
            .unwrap_or_else(|| panic!("no {app} deployment:\n{images}"));
        assert!(
            image.starts_with(&format!("{registry}/learnflow/{app}:"))
                && image.contains("@sha256:"),
            "{app} runs {image}, not skaffold's build from {registry} by digest"
        );
    }
    say(&format!(
        "skaffold run: built, pushed and deployed in {:.0} s (images by digest from {registry})",
        run_started.elapsed().as_secs_f64()
    ));

    // skaffold dev: the same deploy, then watching; the gateway on the forwarded port.
    let mut dev = Skaffold::start(
        skaffold_cmd(&["dev", "--port-forward=user", "--cleanup=false"]),
        logs.join("skaffold-dev.log"),
    );
    dev.wait_for("Watching for changes", 0, Duration::from_secs(600));
    eventually(
        "skaffold dev: the forwarded port answers",
        Duration::from_secs(60),
        forwarded_port_answers,
    );
    let forwarded = format!("http://127.0.0.1:{}", skaffold::GATEWAY_FORWARD_PORT);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let learner = format!("devloop-{}", uuid::Uuid::new_v4().simple());
    let token = lf_auth::mint(&learnflow.jwt_secret, &learner, 3600);
    let took = runtime.block_on(learnflow_e2e::lesson_reaches_progress_via_forward(
        &http, &forwarded, &token,
    ));
    say(&format!(
        "skaffold dev: a lesson through the forwarded port {forwarded} shown in progress after {:.1} s",
        took.as_secs_f64()
    ));

    // One edit to course-agent: only its image is rebuilt and only its pod replaced.
    let pods_of = |app: &str| -> Vec<String> {
        cluster
            .kubectl_output(&[
                "-n",
                "learnflow",
                "get",
                "pods",
                "-l",
                &format!("app.kubernetes.io/component={app}"),
                "-o",
                "jsonpath={range .items[*]}{.metadata.uid} {.metadata.deletionTimestamp}{\"\\n\"}{end}",
            ])
            .unwrap_or_default()
            .lines()
            .filter(|l| l.split_whitespace().count() == 1)
            .map(str::to_owned)
            .collect()
    };
    let before: Vec<(&str, Vec<String>)> = APPS.iter().map(|a| (*a, pods_of(a))).collect();
    let nonce = format!("devloop-edit-{}", uuid::Uuid::new_v4().simple());
    // One line logged when the app is built (telemetry is up by then).
    let lib_rs = workspace.root.join("services/course-agent/src/lib.rs");
    let source = std::fs::read_to_string(&lib_rs).expect("lib.rs");
    let anchor = "    fn build(config: &Config, deps: Deps) -> Result<Parts, StartupError> {\n";
    assert!(
        source.contains(anchor),
        "course-agent's lib.rs changed shape"
    );
    let edited = source.replacen(
        anchor,
        &format!("{anchor}        tracing::info!(\"{nonce}\");\n"),
        1,
    );
    let mark = dev.output().len();
    let edit_at = Instant::now();
    std::fs::write(&lib_rs, edited).expect("edit");
    let new_pod = eventually(
        "skaffold dev: the edited course-agent ready",
        Duration::from_secs(600),
        || {
            let output = dev.output();
            // skaffold's words for a failed build or rollout (probe failures during a
            // rollout are tolerated until the deadline).
            if ["due to build error", "deployment(s) failed"]
                .iter()
                .any(|failure| output[mark..].contains(failure))
            {
                return Err(format!(
                    "skaffold dev reported a failure:\n{}",
                    &output[mark..]
                ));
            }
            let names = cluster
                .kubectl_output(&[
                    "-n",
                    "learnflow",
                    "get",
                    "pods",
                    "-l",
                    "app.kubernetes.io/component=course-agent",
                    "-o",
                    "jsonpath={range .items[*]}{.metadata.name} {.status.containerStatuses[*].ready}{\"\\n\"}{end}",
                ])
                .map_err(|e| e.to_string())?;
            for line in names.lines() {
                let mut fields = line.split_whitespace();
                let name = fields.next().unwrap_or_default();
                if fields.collect::<Vec<_>>() != ["true", "true"] {
                    continue;
                }
                let log = cluster
                    .kubectl_output(&["-n", "learnflow", "logs", name, "-c", "course-agent"])
                    .unwrap_or_default();
                if log.contains(&nonce) {
                    return Ok(name.to_owned());
                }
            }
            Err("no ready course-agent pod runs the edit yet".into())
        },
    );
    let edit_to_ready = edit_at.elapsed();
    let after_edit = dev.output()[mark..].to_owned();
    let rebuilt: Vec<&str> = after_edit
        .lines()
        .filter(|l| l.starts_with("Building ["))
        .collect();
    assert_eq!(
        rebuilt,
        [format!("Building [{registry}/learnflow/course-agent]...").as_str()],
        "one edit to course-agent rebuilds course-agent alone"
    );
    for (app, pods) in &before {
        if *app != "course-agent" {
            assert_eq!(
                &pods_of(app),
                pods,
                "{app}'s pods were replaced by a course-agent edit"
            );
        }
    }
    say(&format!(
        "skaffold dev: course-agent edited → rebuilt alone → {new_pod} ready running the edit in {:.0} s (edit→ready)",
        edit_to_ready.as_secs_f64()
    ));
    // skaffold forwards the gateway again after each redeploy: wait for the iteration to
    // finish and the port to take connections before the next lesson.
    dev.wait_for("Watching for changes", mark, Duration::from_secs(120));
    eventually(
        "skaffold dev: the forwarded port answers again",
        Duration::from_secs(60),
        forwarded_port_answers,
    );
    let again = format!("{learner}-after-edit");
    let token = lf_auth::mint(&learnflow.jwt_secret, &again, 3600);
    runtime.block_on(learnflow_e2e::lesson_reaches_progress_via_forward(
        &http, &forwarded, &token,
    ));
    let status = dev.interrupt(Duration::from_secs(60));
    assert!(
        status.is_some_and(|s| s.success()),
        "skaffold dev did not stop cleanly on SIGINT ({status:?})"
    );
    drop(engine);
    say("skaffold dev: a lesson after the edit, then stopped like Ctrl-C");
}
