//! The docker compose stack for real (`cargo xtask compose-test`): every image built on
//! this machine, `docker compose -f compose.yaml -f compose.observability.yaml
//! -f compose.logs.yaml up --wait` on a real Docker Engine, then against it —
//!
//! 1. a lesson created through the published gateway shows in the learner's progress;
//! 2. its trace in Jaeger spans the gateway, course-agent and user-progress, and its trace
//!    id finds log lines of all three in VictoriaLogs (shipped by Docker's splunk driver),
//!    beside the sidecars' and the broker's own lines;
//! 3. every Prometheus target is up;
//! 4. the load layer (`compose.load.yaml`) runs 30 s with no failed request;
//! 5. under load, the course-agent and user-progress app processes are killed (a crash:
//!    Docker's restart policy brings them back in their pod's namespace) and every
//!    accepted lesson still reaches user-progress exactly once in effect;
//! 6. `down --volumes` leaves no container, network or volume of the project behind.
//!
//! Grafana has no stand-in (docker/README.md): the observability layer runs without it,
//! and the test says so. The engine is the one `DOCKER_HOST` names or one the harness
//! starts (root only) and stops again.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use lf_loadgen::{LoadSpec, Mode};
use lf_testkit::components::alertmanager::WEBHOOK_DIR;
use lf_testkit::containers::{self, Engine};
use lf_testkit::paths::repo_root;
use lf_testkit::wait::free_port;
use serde_json::json;

/// The project name, apart from a user's own `learnflow` stack.
const PROJECT: &str = "learnflow-compose-test";
/// Largest uncompressed size of a service image (ISSUE: distroless/scratch if exceeded).
const SERVICE_IMAGE_LIMIT_BYTES: u64 = 100 * 1000 * 1000;
const SERVICE_IMAGES: &[&str] = &[
    "frontend-gateway",
    "course-agent",
    "user-progress",
    "kafka-monitor",
    "loadgen",
];

fn say(line: &str) {
    eprintln!("[compose-test] {line}");
}

/// One compose project of the repository's files, torn down (with its volumes) on drop.
struct Project<'e> {
    engine: &'e Engine,
    env_file: PathBuf,
    secrets: BTreeMap<&'static str, String>,
    gateway_port: u16,
    prometheus_port: u16,
    jaeger_port: u16,
    alertmanager_port: u16,
    logs_port: u16,
    /// The pager webhook URL, given to compose as a file; the chat one is left unset.
    pager_url: String,
}

impl<'e> Project<'e> {
    fn new(engine: &'e Engine, dir: &Path) -> Self {
        let secrets: BTreeMap<&'static str, String> = [
            "LEARNFLOW_POSTGRES_PASSWORD",
            "LEARNFLOW_JWT_SECRET",
            "LEARNFLOW_DAPR_API_TOKEN",
            "LEARNFLOW_COURSE_AGENT_APP_TOKEN",
            "LEARNFLOW_USER_PROGRESS_APP_TOKEN",
            "LEARNFLOW_GRAFANA_ADMIN_PASSWORD",
            "LEARNFLOW_LOGS_TOKEN",
        ]
        .into_iter()
        .map(|k| (k, uuid::Uuid::new_v4().simple().to_string()))
        .collect();
        let project = Self {
            engine,
            env_file: dir.join("compose.env"),
            secrets,
            gateway_port: free_port().expect("port"),
            prometheus_port: free_port().expect("port"),
            jaeger_port: free_port().expect("port"),
            alertmanager_port: free_port().expect("port"),
            logs_port: free_port().expect("port"),
            pager_url: format!("http://pager.invalid/{}", uuid::Uuid::new_v4().simple()),
        };
        let pager_url_file = dir.join("alert-pager-url");
        std::fs::write(&pager_url_file, &project.pager_url).expect("writing the pager URL");
        let mut text: String = project
            .secrets
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect();
        text.push_str(&format!(
            "LEARNFLOW_GATEWAY_PORT={}\nLEARNFLOW_PROMETHEUS_PORT={}\nLEARNFLOW_JAEGER_PORT={}\n\
             LEARNFLOW_ALERTMANAGER_PORT={}\nLEARNFLOW_ALERT_PAGER_URL_FILE={}\n\
             LEARNFLOW_GRAFANA_PORT={}\nLEARNFLOW_LOGS_PORT={}\n\
             LEARNFLOW_LOAD_RATE=20\nLEARNFLOW_LOAD_DURATION=30\n",
            project.gateway_port,
            project.prometheus_port,
            project.jaeger_port,
            project.alertmanager_port,
            pager_url_file.display(),
            free_port().expect("port"),
            project.logs_port,
        ));
        std::fs::write(&project.env_file, text).expect("writing the env file");
        project
    }

    /// `docker compose` with the project's name, env file and the given layers.
    fn compose(&self, layers: &[&str]) -> Command {
        let mut cmd = self.engine.docker();
        cmd.current_dir(repo_root().join("docker"))
            .args(["compose", "-p", PROJECT, "--env-file"])
            .arg(&self.env_file);
        for layer in layers {
            cmd.args(["-f", layer]);
        }
        cmd
    }

    fn run(&self, layers: &[&str], args: &[&str]) -> String {
        let started = Instant::now();
        let out = self
            .compose(layers)
            .args(args)
            .output()
            .expect("running docker compose");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "docker compose {} failed ({}):\n{text}",
            args.join(" "),
            out.status
        );
        say(&format!(
            "docker compose {} ({:.1} s)",
            args.join(" "),
            started.elapsed().as_secs_f64()
        ));
        text
    }

    fn secret(&self, key: &str) -> &str {
        &self.secrets[key]
    }

    fn gateway(&self) -> String {
        format!("http://127.0.0.1:{}", self.gateway_port)
    }

    fn psql(&self, database: &str, query: &str) -> String {
        self.run(
            STACK_LAYERS,
            &[
                "exec",
                "-T",
                "postgres",
                "psql",
                "-U",
                "learnflow",
                "-d",
                database,
                "-Atc",
                query,
            ],
        )
    }

    fn container_id(&self, service: &str) -> String {
        self.run(STACK_LAYERS, &["ps", "-q", service])
            .trim()
            .to_owned()
    }

    fn leftovers(&self) -> Vec<String> {
        let label = format!("label=com.docker.compose.project={PROJECT}");
        let mut left = Vec::new();
        for (kind, args) in [
            ("container", vec!["ps", "-a", "-q", "--filter", &label]),
            ("network", vec!["network", "ls", "-q", "--filter", &label]),
            ("volume", vec!["volume", "ls", "-q", "--filter", &label]),
        ] {
            let out = self.engine.run("docker ls", &args).expect("docker ls");
            left.extend(out.lines().map(|id| format!("{kind} {id}")));
        }
        left
    }
}

impl Drop for Project<'_> {
    fn drop(&mut self) {
        let _ = self
            .compose(ALL_LAYERS)
            .args(["down", "--volumes", "--remove-orphans", "--timeout", "10"])
            .output();
    }
}

/// The long-running layers: core, observability and logs.
const STACK_LAYERS: &[&str] = &[
    "compose.yaml",
    "compose.observability.yaml",
    "compose.logs.yaml",
];
const ALL_LAYERS: &[&str] = &[
    "compose.yaml",
    "compose.observability.yaml",
    "compose.logs.yaml",
    "compose.load.yaml",
];

fn kill_app_process(project: &Project, service: &str) {
    let id = project.container_id(service);
    let pid = project
        .engine
        .run(
            "docker inspect",
            &["inspect", "--format", "{{.State.Pid}}", &id],
        )
        .expect("inspect")
        .trim()
        .parse::<i32>()
        .expect("pid");
    say(&format!(
        "kill -9 of {service} (container {id:.12}, host pid {pid})"
    ));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
}

fn restart_count(project: &Project, service: &str) -> u64 {
    let id = project.container_id(service);
    project
        .engine
        .run(
            "docker inspect",
            &["inspect", "--format", "{{.RestartCount}}", &id],
        )
        .expect("inspect")
        .trim()
        .parse()
        .expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_stack_runs_the_flow_and_survives_app_crashes() {
    let mut log = say;
    let engine = Engine::ensure(&mut log).expect("a Docker Engine");
    containers::ensure_plugins(&mut log).expect("compose and buildx");
    let stand_ins = containers::ensure_third_party_images(&engine, &mut log).expect("images");
    say(&format!(
        "stand-ins in use: {}",
        if stand_ins.is_empty() {
            "none".into()
        } else {
            stand_ins.join(", ")
        }
    ));

    let dir = std::env::temp_dir().join(format!("learnflow-compose-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("run dir");
    let project = Project::new(&engine, &dir);
    // The project name is fixed: containers and volumes an interrupted run left behind
    // (its database volume initialised with that run's password) would be reused.
    project.run(
        ALL_LAYERS,
        &["down", "--volumes", "--remove-orphans", "--timeout", "10"],
    );
    project.run(ALL_LAYERS, &["build"]);
    for service in SERVICE_IMAGES {
        let image = format!("learnflow/{service}:dev");
        let size = engine.image_size(&image).expect("size");
        say(&format!("{image}: {:.1} MB", size as f64 / 1e6));
        assert!(
            size <= SERVICE_IMAGE_LIMIT_BYTES,
            "{image} is {size} bytes, over the 100 MB budget"
        );
    }

    // Every service of the two layers but Grafana, which cannot be had here.
    let services = project.run(STACK_LAYERS, &["config", "--services"]);
    let mut up: Vec<&str> = vec!["up", "-d", "--wait", "--wait-timeout", "300"];
    let skipped: Vec<&str> = services
        .lines()
        .filter(|s| {
            containers::WITHOUT_STAND_IN
                .iter()
                .any(|i| i.contains(&format!("/{s}:")))
        })
        .collect();
    up.extend(services.lines().filter(|s| !skipped.contains(s)));
    say(&format!(
        "starting without {} (no image and no stand-in on this machine)",
        skipped.join(", ")
    ));
    project.run(STACK_LAYERS, &up);

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let secret = project.secret("LEARNFLOW_JWT_SECRET").to_owned();

    // 1. A lesson through the published gateway reaches the learner's progress.
    let learner = format!("compose-{}", uuid::Uuid::new_v4().simple());
    let token = lf_auth::mint(&secret, &learner, 3600);
    let created = http
        .post(format!("{}/api/v1/lessons", project.gateway()))
        .bearer_auth(&token)
        .json(&json!({"course": "arithmetic"}))
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(created.status().as_u16(), 201, "lesson created");
    let trace_id = learnflow_e2e::trace_id_of(&created);
    let progress_url = format!("{}/api/v1/progress", project.gateway());
    learnflow_e2e::within(
        "the lesson in the learner's progress",
        Duration::from_secs(60),
        async || {
            let progress = learnflow_e2e::get_json(&http, &progress_url, Some(&token)).await?;
            match progress["lessons_received"].as_u64() {
                Some(1) => Ok(()),
                other => Err(format!("lessons_received {other:?}")),
            }
        },
    )
    .await;
    say("lesson created and shown in progress");

    // 2. One trace across the three services (through Kafka).
    let trace_url = format!(
        "http://127.0.0.1:{}/api/traces/{trace_id}",
        project.jaeger_port
    );
    learnflow_e2e::within(
        "a whole trace in Jaeger",
        Duration::from_secs(60),
        async || {
            let trace = learnflow_e2e::get_json(&http, &trace_url, None).await?;
            let services: BTreeSet<String> = trace["data"][0]["processes"]
                .as_object()
                .map(|p| {
                    p.values()
                        .filter_map(|v| v["serviceName"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let wanted = ["frontend-gateway", "course-agent", "user-progress"];
            if wanted.iter().all(|s| services.contains(*s)) {
                Ok(())
            } else {
                Err(format!("trace has {services:?}"))
            }
        },
    )
    .await;
    say("trace spans gateway, course-agent and user-progress");

    // 2b. The same trace id finds each service's lines in VictoriaLogs: Docker's splunk
    // driver parsed the JSON lines, so the id is at event.line.span.trace_id.
    let logs = format!("http://127.0.0.1:{}", project.logs_port);
    let query = format!("event.line.span.trace_id:=\"{trace_id}\"");
    let wanted = BTreeSet::from(["frontend-gateway", "course-agent", "user-progress"]);
    // Its image has no healthcheck (distroless): ask from here.
    let health = format!("{logs}/health");
    learnflow_e2e::within(
        "VictoriaLogs answering",
        Duration::from_secs(60),
        async || match http.get(&health).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            other => Err(format!("{other:?}")),
        },
    )
    .await;
    let lines = learnflow_e2e::within(
        "the lesson's log lines in VictoriaLogs",
        Duration::from_secs(90),
        async || {
            let lines = learnflow_e2e::logs::logsql(&http, &logs, &query).await;
            let sources: BTreeSet<&str> =
                lines.iter().filter_map(|l| l["source"].as_str()).collect();
            if wanted.is_subset(&sources) {
                Ok(lines)
            } else {
                Err(format!("{} lines, from {sources:?}", lines.len()))
            }
        },
    )
    .await;
    for line in &lines {
        assert_eq!(
            line["event.line.span.trace_id"],
            trace_id.as_str(),
            "{line}"
        );
        assert_eq!(line["sourcetype"], "service", "{line}");
    }
    let other = format!("event.line.span.trace_id:=\"{}\"", "f".repeat(32));
    assert!(
        learnflow_e2e::logs::logsql(&http, &logs, &other)
            .await
            .is_empty()
    );
    // daprd's JSON and the broker's plain text arrive too, as their message.
    for (source, kind) in [("course-agent-dapr", "daprd"), ("kafka", "kafka")] {
        let query = format!("source:={source} sourcetype:={kind}");
        learnflow_e2e::within(
            &format!("{source} lines in VictoriaLogs"),
            Duration::from_secs(30),
            async || {
                let found = learnflow_e2e::logs::logsql(&http, &logs, &query).await;
                let with_text = found
                    .iter()
                    .filter(|l| !l["_msg"].as_str().unwrap_or_default().is_empty())
                    .count();
                if with_text > 0 {
                    Ok(())
                } else {
                    Err(format!("{} lines, none with a message", found.len()))
                }
            },
        )
        .await;
    }
    say(&format!(
        "VictoriaLogs: {} lines of the trace from {wanted:?}; daprd and broker lines there",
        lines.len()
    ));

    // 3. Every Prometheus target is up.
    let targets_url = format!(
        "http://127.0.0.1:{}/api/v1/targets?state=active",
        project.prometheus_port
    );
    let count = learnflow_e2e::within(
        "every Prometheus target up",
        Duration::from_secs(90),
        async || {
            let targets = learnflow_e2e::get_json(&http, &targets_url, None).await?;
            let active = targets["data"]["activeTargets"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let down: Vec<String> = active
                .iter()
                .filter(|t| t["health"] != "up")
                .map(|t| format!("{} ({})", t["scrapeUrl"], t["lastError"]))
                .collect();
            if active.len() >= 8 && down.is_empty() {
                Ok(active.len())
            } else {
                Err(format!("{} targets, down: {down:?}", active.len()))
            }
        },
    )
    .await;
    say(&format!("all {count} Prometheus targets up"));

    // 3b. Prometheus sends its alerts to the overlay's Alertmanager, which runs the
    // repository's route tree.
    let alertmanagers_url = format!(
        "http://127.0.0.1:{}/api/v1/alertmanagers",
        project.prometheus_port
    );
    learnflow_e2e::within(
        "Prometheus sending to Alertmanager",
        Duration::from_secs(60),
        async || {
            let answer = learnflow_e2e::get_json(&http, &alertmanagers_url, None).await?;
            let active = answer["data"]["activeAlertmanagers"].to_string();
            if active.contains("alertmanager:9093") {
                Ok(())
            } else {
                Err(format!("active Alertmanagers: {active}"))
            }
        },
    )
    .await;
    let status_url = format!(
        "http://127.0.0.1:{}/api/v2/status",
        project.alertmanager_port
    );
    let status = learnflow_e2e::get_json(&http, &status_url, None)
        .await
        .expect("Alertmanager's status");
    let original = status["config"]["original"].as_str().unwrap_or_default();
    for receiver in ["name: pager", "name: chat"] {
        assert!(original.contains(receiver), "{receiver} in {original}");
    }
    // The webhook URLs reach the files the route tree reads: the pager's from the file its
    // variable names, the unset chat one empty.
    let webhook_file = |receiver: &str| {
        let out = project
            .compose(ALL_LAYERS)
            .args(["exec", "-T", "alertmanager", "cat"])
            .arg(format!("{WEBHOOK_DIR}{receiver}-url"))
            .output()
            .expect("docker compose exec");
        assert!(
            out.status.success(),
            "reading the {receiver} URL file: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(webhook_file("pager").trim(), project.pager_url);
    assert_eq!(webhook_file("chat").trim(), "");
    say("Prometheus sends to Alertmanager, which routes to pager and chat with their URLs");

    // 4. The load layer: 30 s at 20 lessons/s, and no failed request (its exit code).
    let load = project.run(ALL_LAYERS, &["run", "--rm", "--no-deps", "loadgen"]);
    say(&format!(
        "load layer: {}",
        load.lines()
            .filter(|l| l.starts_with("sent "))
            .collect::<Vec<_>>()
            .join(" ")
    ));

    // 5. App crashes under load: nothing accepted is lost, nothing applied twice.
    let before = [
        ("course-agent", restart_count(&project, "course-agent")),
        ("user-progress", restart_count(&project, "user-progress")),
    ];
    let learners = 16;
    let spec = LoadSpec {
        gateway: project.gateway(),
        tokens: (0..learners)
            .map(|i| lf_auth::mint(&secret, &format!("{learner}-crash-{i}"), 3600))
            .collect(),
        mode: Mode::FixedRate(20.0),
        duration: Duration::from_secs(45),
        timeout: Duration::from_secs(10),
        progress_every: None,
    };
    let tokens = spec.tokens.clone();
    let load = tokio::spawn(lf_loadgen::run(spec));
    tokio::time::sleep(Duration::from_secs(10)).await;
    kill_app_process(&project, "course-agent");
    tokio::time::sleep(Duration::from_secs(15)).await;
    kill_app_process(&project, "user-progress");
    let report = load.await.expect("load run");
    for (service, count) in before {
        let now = restart_count(&project, service);
        assert!(
            now > count,
            "{service} was not restarted by Docker ({count} → {now})"
        );
    }
    let accepted: BTreeSet<String> = report
        .accepted
        .iter()
        .map(|a| a.lesson_id.clone())
        .collect();
    say(&format!(
        "under crashes: sent {}, accepted {}, statuses {:?}",
        report.sent,
        accepted.len(),
        report.statuses
    ));
    assert!(
        accepted.len() >= 200,
        "too few lessons accepted to judge: {}",
        accepted.len()
    );
    let delivered = learnflow_e2e::within(
        "every accepted lesson in user-progress",
        Duration::from_secs(180),
        async || {
            let rows = project.psql("user_progress", "SELECT lesson_id FROM processed_events");
            let recorded: BTreeSet<String> = rows.lines().map(str::to_owned).collect();
            let missing = accepted.difference(&recorded).count();
            if missing == 0 {
                Ok(recorded)
            } else {
                Err(format!("{missing} of {} not recorded yet", accepted.len()))
            }
        },
    )
    .await;
    let lost = accepted.difference(&delivered).count();
    assert_eq!(lost, 0, "lessons lost");
    learnflow_e2e::assert_each_learner_applied_once(&http, &project.gateway(), &tokens, &report)
        .await;
    say(&format!(
        "0 lost, 0 applied twice: {} accepted lessons of {learners} learners",
        accepted.len()
    ));

    // 6. down --volumes leaves nothing of the project.
    project.run(
        ALL_LAYERS,
        &["down", "--volumes", "--remove-orphans", "--timeout", "10"],
    );
    let left = project.leftovers();
    assert!(left.is_empty(), "left behind: {left:?}");
    drop(project);
    let _ = std::fs::remove_dir_all(&dir);
    say("down --volumes left nothing behind");
}
