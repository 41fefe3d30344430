//! The chart's autoscaling and disruption budgets on the real single-node cluster
//! (ADR 0013): the second part of the full cluster suite, `cargo xtask cluster test`.
//! `cargo xtask test` leaves it out (it takes about 20 minutes: the scale-down windows
//! are the chart's own, 300 s and 600 s); `tests/e2e/cluster.rs` is the reduced suite.
//!
//! 1. **HPA under load.** The chart's load Job (`loadgen.enabled=true`, [`RATE`]
//!    lessons/s for [`LOAD_S`] s) drives the gateway Service. Every 15 s (the HPA sync
//!    period) the test records each HPA's current and desired replicas and the app
//!    container's CPU as the HPA itself reads it (`ContainerResource`, % of the request);
//!    the timeline goes to `target/learnflow/hpa-timeline.md` (and `.json`). The Job
//!    must succeed (loadgen exits non-zero on any 5xx or unanswered request), and every
//!    HPA must scale above its `minReplicas` while it runs.
//! 2. **Drain against the PDBs** (on here, as in values.yaml; values-dev.yaml turns them
//!    off). Right after the load, while the replicas are still up,
//!    `kubectl drain` of the node (LearnFlow's three scaled Deployments only) must evict
//!    exactly one pod of each (`maxUnavailable: 1`) and then be refused by the budgets
//!    until its timeout: on one cordoned node the evicted pod's successor cannot start, so
//!    the budget never frees. What one node cannot show: pods moving to another node.
//!    After `uncordon` every Deployment is whole again and a lesson goes through.
//! 3. **Scale-down after the window.** No HPA may scale down before its scale-down
//!    stabilisation window has passed since the load ended, and each must be back at
//!    `minReplicas` within the window plus one policy period per pod plus a margin.
//!
//! Root only. Alone: `cargo test -p learnflow-e2e --test cluster_scaling -- --nocapture`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use lf_testkit::cluster::config::NODE_NAME;
use lf_testkit::cluster::learnflow::{self, NAMESPACE};
use lf_testkit::cluster::{Cluster, ClusterOptions};
use lf_testkit::paths::target_dir;
use serde::Serialize;
use serde_json::Value;

/// Offered load of the chart's Job, lessons/s. docs/scaling.md's model of the minikube
/// profile (which the local cluster uses) puts every HPA above its minimum here.
const RATE: u32 = 80;
/// How long the Job offers it.
const LOAD_S: u64 = 180;
/// The HPA controller's sync period (kube-controller-manager's default).
const SYNC: Duration = Duration::from_secs(15);
/// Added to each scale-down bound: the metrics-server window, a sync, the pod's exit.
const MARGIN_S: f64 = 120.0;
/// The three Deployments the chart scales.
const SCALED: [&str; 3] = ["frontend-gateway", "course-agent", "user-progress"];

/// A progress line with the seconds since the test began.
fn say(line: &str) {
    static BEGAN: OnceLock<Instant> = OnceLock::new();
    let at = BEGAN.get_or_init(Instant::now).elapsed().as_secs_f64();
    eprintln!("[cluster-scaling {at:6.1} s] {line}");
}

/// One HPA at one sample.
#[derive(Debug, Clone, Serialize)]
struct HpaReading {
    current: u64,
    desired: u64,
    /// The app container's CPU, % of its request, as the HPA last read it.
    cpu_percent: Option<u64>,
    /// The same in millicores.
    cpu_millicores: Option<f64>,
}

/// Every HPA at one moment, `at` seconds after the load Job was created.
#[derive(Debug, Clone, Serialize)]
struct Sample {
    at: f64,
    phase: &'static str,
    hpas: BTreeMap<String, HpaReading>,
}

/// An HPA's fixed settings.
#[derive(Debug, Clone, Serialize)]
struct HpaSpec {
    min: u64,
    max: u64,
    target_percent: u64,
    down_window_s: f64,
    down_period_s: f64,
}

fn kubectl_json(cluster: &Cluster, args: &[&str]) -> Value {
    let mut all = vec!["-n", NAMESPACE];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    let out = cluster.kubectl_output(&all).expect("kubectl");
    serde_json::from_str(&out).expect("kubectl json")
}

/// The component an HPA scales (its `app.kubernetes.io/component` label).
fn component(hpa: &Value) -> String {
    hpa["metadata"]["labels"]["app.kubernetes.io/component"]
        .as_str()
        .or_else(|| hpa["metadata"]["name"].as_str())
        .unwrap_or_default()
        .to_owned()
}

fn hpa_specs(cluster: &Cluster) -> BTreeMap<String, HpaSpec> {
    let list = kubectl_json(cluster, &["get", "hpa"]);
    let mut specs = BTreeMap::new();
    for hpa in list["items"].as_array().expect("items") {
        let spec = &hpa["spec"];
        let down = &spec["behavior"]["scaleDown"];
        let target = spec["metrics"][0]["containerResource"]["target"]["averageUtilization"]
            .as_u64()
            .expect("a ContainerResource utilisation target");
        specs.insert(
            component(hpa),
            HpaSpec {
                min: spec["minReplicas"].as_u64().unwrap_or(1),
                max: spec["maxReplicas"].as_u64().expect("maxReplicas"),
                target_percent: target,
                down_window_s: down["stabilizationWindowSeconds"].as_f64().unwrap_or(300.0),
                down_period_s: down["policies"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["periodSeconds"].as_f64())
                    .fold(15.0, f64::max),
            },
        );
    }
    specs
}

fn read_hpas(cluster: &Cluster) -> BTreeMap<String, HpaReading> {
    let list = kubectl_json(cluster, &["get", "hpa"]);
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|hpa| {
            let status = &hpa["status"];
            let current_cpu = status["currentMetrics"]
                .as_array()
                .and_then(|m| m.first())
                .map(|m| m["containerResource"]["current"].clone())
                .unwrap_or_default();
            (
                component(hpa),
                HpaReading {
                    current: status["currentReplicas"].as_u64().unwrap_or(0),
                    desired: status["desiredReplicas"].as_u64().unwrap_or(0),
                    cpu_percent: current_cpu["averageUtilization"].as_u64(),
                    cpu_millicores: current_cpu["averageValue"].as_str().map(millicores),
                },
            )
        })
        .collect()
}

/// A CPU quantity ("37m", "1", "1500u") in millicores.
fn millicores(quantity: &str) -> f64 {
    let (number, scale) = match quantity {
        q if q.ends_with('m') => (&q[..q.len() - 1], 1.0),
        q if q.ends_with('u') => (&q[..q.len() - 1], 0.001),
        q if q.ends_with('n') => (&q[..q.len() - 1], 0.000_001),
        q => (q, 1000.0),
    };
    number.parse::<f64>().unwrap_or(f64::NAN) * scale
}

/// The load Job's state: `None` while it runs, `Some(succeeded)` once it finished.
fn job_finished(cluster: &Cluster) -> Option<bool> {
    let jobs = kubectl_json(
        cluster,
        &["get", "job", "-l", "app.kubernetes.io/component=loadgen"],
    );
    let job = jobs["items"].as_array()?.first()?.clone();
    if job["status"]["succeeded"].as_u64().unwrap_or(0) > 0 {
        Some(true)
    } else if job["status"]["failed"].as_u64().unwrap_or(0) > 0 {
        Some(false)
    } else {
        None
    }
}

/// Names of the Ready pods of a component.
fn ready_pods(cluster: &Cluster, app: &str) -> Vec<String> {
    let pods = kubectl_json(
        cluster,
        &[
            "get",
            "pods",
            "-l",
            &format!("app.kubernetes.io/component={app}"),
        ],
    );
    pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter(|p| {
            p["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
        .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_owned))
        .collect()
}

fn timeline_markdown(specs: &BTreeMap<String, HpaSpec>, samples: &[Sample]) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "HPA timeline, {RATE} lessons/s for {LOAD_S} s from the chart's load Job \
         (`cargo test -p learnflow-e2e --test cluster_scaling`). Each cell: current → desired \
         replicas (app container CPU, % of request).\n"
    );
    let names: Vec<&String> = specs.keys().collect();
    let _ = write!(md, "| t (s) | phase |");
    for name in &names {
        let s = &specs[*name];
        let _ = write!(md, " {name} ({}–{}, {}%) |", s.min, s.max, s.target_percent);
    }
    let _ = write!(md, "\n|---|---|");
    for _ in &names {
        let _ = write!(md, "---|");
    }
    md.push('\n');
    for sample in samples {
        let _ = write!(md, "| {:.0} | {} |", sample.at, sample.phase);
        for name in &names {
            match sample.hpas.get(*name) {
                Some(r) => {
                    let cpu = r
                        .cpu_percent
                        .map_or_else(|| "–".to_owned(), |p| format!("{p}%"));
                    let _ = write!(md, " {} → {} ({cpu}) |", r.current, r.desired);
                }
                None => md.push_str(" – |"),
            }
        }
        md.push('\n');
    }
    md
}

#[test]
fn hpas_scale_up_under_the_charts_load_job_drain_respects_the_pdbs_and_scale_down_waits_for_the_window()
 {
    say("bringing the cluster up with LearnFlow");
    let cluster = Cluster::up(&ClusterOptions::default(), &mut say).expect("cluster up");
    let installed = cluster.learnflow.clone().expect("LearnFlow installed");
    let specs = hpa_specs(&cluster);
    for app in SCALED {
        assert!(specs.contains_key(app), "no HPA for {app}: {specs:?}");
    }
    say(&format!("HPAs: {specs:?}"));

    // 1. Load from the chart's own Job.
    let rate = format!("loadgen.rate={RATE}");
    let duration = format!("loadgen.durationSeconds={LOAD_S}");
    learnflow::upgrade(
        cluster.layout(),
        &installed.secrets_file,
        // values-dev.yaml turns the PDBs off ("one node: nothing to protect"); the
        // drain below checks the production default.
        &[
            "loadgen.enabled=true",
            &rate,
            &duration,
            "podDisruptionBudgets.enabled=true",
        ],
        &mut say,
    )
    .expect("helm upgrade with the load Job");
    let load_started = Instant::now();
    let mut samples: Vec<Sample> = Vec::new();
    let mut record = |phase: &'static str, samples: &mut Vec<Sample>| {
        let sample = Sample {
            at: load_started.elapsed().as_secs_f64(),
            phase,
            hpas: read_hpas(&cluster),
        };
        say(&format!(
            "{phase}: {}",
            sample
                .hpas
                .iter()
                .map(|(n, r)| format!(
                    "{n} {}→{} ({}%)",
                    r.current,
                    r.desired,
                    r.cpu_percent.unwrap_or(0)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        samples.push(sample);
    };
    let job_succeeded = loop {
        record("load", &mut samples);
        if let Some(succeeded) = job_finished(&cluster) {
            break succeeded;
        }
        assert!(
            load_started.elapsed() < Duration::from_secs(LOAD_S + 300),
            "the load Job never finished"
        );
        std::thread::sleep(SYNC);
    };
    let load_ended = load_started.elapsed().as_secs_f64();
    let job_log = cluster
        .kubectl_output(&[
            "-n",
            NAMESPACE,
            "logs",
            "-l",
            "app.kubernetes.io/component=loadgen",
            "--tail",
            "4",
        ])
        .unwrap_or_default();
    say(&format!(
        "load Job finished after {load_ended:.0} s: {}",
        job_log.trim()
    ));
    assert!(
        job_succeeded,
        "the load Job failed (a 5xx or an unanswered request): {job_log}"
    );
    for app in SCALED {
        let min = specs[app].min;
        let peak = samples
            .iter()
            .filter_map(|s| s.hpas.get(app))
            .map(|r| r.current.max(r.desired))
            .max()
            .unwrap_or(0);
        assert!(
            peak > min,
            "{app} never scaled above minReplicas {min} under {RATE}/s"
        );
        say(&format!("{app}: scaled up to {peak} (min {min})"));
    }

    // 2. Drain against the PDBs, while the replicas are up.
    let before: BTreeMap<&str, Vec<String>> = SCALED
        .iter()
        .map(|a| (*a, ready_pods(&cluster, a)))
        .collect();
    let selector = format!("app.kubernetes.io/component in ({})", SCALED.join(","));
    let drain = cluster
        .kubectl()
        .expect("kubectl")
        .args([
            "drain",
            NODE_NAME,
            "--pod-selector",
            &selector,
            "--delete-emptydir-data",
            "--ignore-daemonsets",
            "--timeout=60s",
        ])
        .output()
        .expect("kubectl drain");
    let drain_text = format!(
        "{}{}",
        String::from_utf8_lossy(&drain.stdout),
        String::from_utf8_lossy(&drain.stderr)
    );
    record("drain", &mut samples);
    let after: BTreeMap<&str, Vec<String>> = SCALED
        .iter()
        .map(|a| (*a, ready_pods(&cluster, a)))
        .collect();
    let uncordon = cluster.kubectl_output(&["uncordon", NODE_NAME]);
    say(&format!(
        "drain ({}): ready before {before:?}, after {after:?}",
        drain.status
    ));
    uncordon.expect("kubectl uncordon");
    assert!(
        !drain.status.success() && drain_text.contains("disruption budget"),
        "drain should have been refused by the PDBs until its timeout:\n{drain_text}"
    );
    for app in SCALED {
        let survivors = before[app]
            .iter()
            .filter(|pod| after[app].contains(pod))
            .count();
        assert_eq!(
            survivors,
            before[app].len() - 1,
            "{app}: maxUnavailable 1 allows exactly one eviction at a time \
             (ready before {:?}, after {:?})",
            before[app],
            after[app]
        );
    }
    say("drain: one pod of each Deployment evicted, the rest held by the PDBs");
    let recovered = Instant::now();
    loop {
        let whole = SCALED
            .iter()
            .all(|app| ready_pods(&cluster, app).len() >= before[app].len());
        if whole {
            break;
        }
        assert!(
            recovered.elapsed() < Duration::from_secs(180),
            "after uncordon the Deployments were not whole again within 180 s"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    say(&format!(
        "uncordoned: every Deployment whole again after {:.0} s",
        recovered.elapsed().as_secs_f64()
    ));
    lesson_goes_through(&installed);
    say("a lesson went through after the drain");

    // 3. Scale-down, not before the window, to the minimum within the bound.
    let deadline = SCALED
        .iter()
        .map(|app| {
            let s = &specs[*app];
            s.down_window_s + (s.max - s.min) as f64 * s.down_period_s + MARGIN_S
        })
        .fold(0.0, f64::max);
    loop {
        record("after load", &mut samples);
        let all_at_min = SCALED.iter().all(|app| {
            samples
                .last()
                .and_then(|s| s.hpas.get(*app))
                .map(|r| r.current)
                == Some(specs[*app].min)
        });
        if all_at_min {
            break;
        }
        assert!(
            load_started.elapsed().as_secs_f64() - load_ended < deadline,
            "not every HPA was back at minReplicas {deadline:.0} s after the load:\n{}",
            timeline_markdown(&specs, &samples)
        );
        std::thread::sleep(SYNC);
    }
    let markdown = timeline_markdown(&specs, &samples);
    let out = target_dir().join("learnflow");
    std::fs::create_dir_all(&out).expect("target/learnflow");
    std::fs::write(out.join("hpa-timeline.md"), &markdown).expect("timeline");
    std::fs::write(
        out.join("hpa-timeline.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "rate": RATE, "load_seconds": LOAD_S, "load_ended_at": load_ended,
            "hpas": specs, "samples": samples,
        }))
        .expect("json"),
    )
    .expect("timeline json");
    eprintln!("{markdown}");

    for app in SCALED {
        let s = &specs[app];
        let readings: Vec<(f64, u64)> = samples
            .iter()
            .filter_map(|sample| sample.hpas.get(app).map(|r| (sample.at, r.current)))
            .collect();
        let peak = readings.iter().map(|(_, r)| *r).max().unwrap_or(0);
        let first_down = readings
            .iter()
            .skip_while(|(_, r)| *r < peak)
            .find(|(_, r)| *r < peak)
            .map(|(at, _)| at - load_ended)
            .expect("it scaled down");
        let at_min = readings
            .iter()
            .find(|(at, r)| *at > load_ended && *r == s.min)
            .map(|(at, _)| at - load_ended)
            .expect("it reached minReplicas");
        say(&format!(
            "{app}: first scale-down {first_down:.0} s after the load (window {:.0} s), \
             at {} after {at_min:.0} s",
            s.down_window_s, s.min
        ));
        // The window counts from the last high proposal, which the sampled CPU lags.
        assert!(
            first_down >= s.down_window_s - SYNC.as_secs_f64(),
            "{app} scaled down {first_down:.0} s after the load, before its {:.0} s window",
            s.down_window_s
        );
    }
    cluster.down(&mut say).expect("cluster down");
}

/// Creates a lesson through the gateway Service and waits for it in the progress.
fn lesson_goes_through(installed: &learnflow::LearnFlow) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        let learner = format!("scaling-{}", uuid::Uuid::new_v4().simple());
        let token = lf_auth::mint(&installed.jwt_secret, &learner, 3600);
        learnflow_e2e::lesson_reaches_progress(&http, &installed.gateway, &token).await;
    });
}
