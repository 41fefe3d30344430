//! The chaos suite: one fault at a time, under steady load, on the real native stack.
//!
//! Each scenario drives the gateway at a fixed rate (open loop), injects its fault
//! through the harness, ends it, keeps the load on for a while, then waits until
//! every lesson the gateway acknowledged is in user-progress. It reports what was
//! accepted, delivered, lost (comparing id sets), applied twice (user-progress's counters
//! against the lessons it newly recorded, see [`delivery`]), recorded though unknown, the
//! largest outbox backlog, the recovery time (fault end → everything delivered and
//! the outbox empty), gateway answers by status, the resiliency retries and circuit
//! breaker transitions daprd reported, and any process that died unasked.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lf_loadgen::{LoadSpec, Mode};
use lf_testkit::stack::Stack;

use crate::metric_sum;

/// Load and fault lengths.
#[derive(Debug, Clone)]
pub struct ChaosParams {
    /// Lessons per second offered.
    pub rate: f64,
    /// Simulated learners.
    pub learners: usize,
    /// Load before the fault.
    pub warmup: Duration,
    /// Kafka stopped for this long.
    pub kafka_stop: Duration,
    /// Kafka frozen (SIGSTOP) for this long.
    pub kafka_freeze: Duration,
    /// How long a killed process stays down before it is restarted.
    pub down: Duration,
    /// Load after the fault ends.
    pub tail: Duration,
    /// Poison events in the burst.
    pub poison: usize,
    /// Longest wait for everything to be delivered.
    pub drain_timeout: Duration,
    /// How long user-progress stays stopped while everything else runs (longer than the
    /// old 90 s delivery retry budget); full suite only.
    pub progress_outage: Option<Duration>,
    /// How long PostgreSQL stays stopped under load (longer than the old delivery retry
    /// budget, too); full suite only.
    pub postgres_outage: Option<Duration>,
    /// How long the sidecars' name-resolution file stays locked against writers.
    pub nameres_stall: Duration,
    /// How long the file stays locked while a sidecar starts: longer than the resolver's
    /// default busy timeout (800 ms), shorter than ours (10 s, ADR 0018).
    pub nameres_start_lock: Duration,
    /// The overload surge: lessons/s offered on top of [`ChaosParams::rate`], and for how long.
    pub surge_rate: f64,
    /// How long the surge lasts.
    pub surge: Duration,
    /// How long two instances share the work before one goes (replica scenarios).
    pub replica_fault: Duration,
}

/// After a surge, the normal load must be answered 201 again within this: no request sent
/// later than this after the surge's end may be refused.
pub const REFUSALS_END_WITHIN: Duration = Duration::from_secs(15);

/// Normal load kept on after the surge: long enough to see the refusals end.
const AFTER_SURGE: Duration = Duration::from_secs(30);

/// Learners the surge is spread over: enough that the per-learner limits (50/s, 32 in
/// flight) are not what refuses it.
const SURGE_LEARNERS: usize = 64;

impl ChaosParams {
    /// The full suite (`cargo xtask chaos`).
    pub fn full() -> Self {
        Self {
            rate: 20.0,
            learners: 16,
            warmup: Duration::from_secs(10),
            kafka_stop: Duration::from_secs(60),
            kafka_freeze: Duration::from_secs(30),
            down: Duration::from_secs(5),
            tail: Duration::from_secs(10),
            poison: 50,
            drain_timeout: Duration::from_secs(180),
            progress_outage: Some(Duration::from_secs(180)),
            postgres_outage: Some(Duration::from_secs(180)),
            nameres_stall: Duration::from_secs(8),
            nameres_start_lock: Duration::from_secs(4),
            // Twice the highest sustained rate of docs/benchmarks.md (350/s, release build).
            surge_rate: 700.0,
            surge: Duration::from_secs(30),
            replica_fault: Duration::from_secs(20),
        }
    }

    /// The reduced suite CI runs: shorter outages, lower load.
    pub fn reduced() -> Self {
        Self {
            rate: 8.0,
            learners: 8,
            warmup: Duration::from_secs(3),
            kafka_stop: Duration::from_secs(15),
            kafka_freeze: Duration::from_secs(10),
            down: Duration::from_secs(2),
            tail: Duration::from_secs(3),
            poison: 10,
            drain_timeout: Duration::from_secs(120),
            progress_outage: None,
            postgres_outage: None,
            nameres_stall: Duration::from_secs(8),
            nameres_start_lock: Duration::from_secs(4),
            surge_rate: 700.0,
            surge: Duration::from_secs(15),
            replica_fault: Duration::from_secs(10),
        }
    }
}

/// One fault.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// Stop the broker, start it again.
    KafkaStop,
    /// SIGSTOP the broker ("Kafka is busy"), then SIGCONT.
    KafkaFreeze,
    /// kill -9 a service, restart it.
    KillService(&'static str),
    /// kill -9 a service's daprd, restart it.
    KillDaprd(&'static str),
    /// Restart PostgreSQL.
    PostgresRestart,
    /// user-progress stopped for [`ChaosParams::progress_outage`] while course-agent keeps
    /// publishing: the events wait in Kafka and daprd tries to deliver them again and again.
    ProgressOutage,
    /// PostgreSQL stopped for [`ChaosParams::postgres_outage`] under load: course-agent
    /// refuses new lessons (503), user-progress answers RETRY to every delivery.
    PostgresOutage,
    /// Publish a burst of malformed events onto the topic.
    PoisonBurst,
    /// The SQLite file the sidecars resolve each other through is locked against writers
    /// for [`ChaosParams::nameres_stall`] (as a slow disk or a stuck writer would hold
    /// it): no sidecar can renew its registration meanwhile.
    NameResolutionStall,
    /// user-progress's daprd stopped, then started while the name-resolution file is
    /// locked for [`ChaosParams::nameres_start_lock`]: its resolver's migrations must
    /// wait for the file, not give up and leave the app unregistered.
    SidecarStartsWhileFileLocked,
    /// [`ChaosParams::surge_rate`] more lessons/s for [`ChaosParams::surge`], beyond what
    /// the stack can take, then the normal load again: refusals during the surge are
    /// fine, afterwards every lesson must be accepted again within [`REFUSALS_END_WITHIN`].
    Overload,
    /// A second course-agent (own daprd, same database) for the whole scenario: both
    /// relay the one outbox (`FOR UPDATE SKIP LOCKED`), both must publish, and no event
    /// may reach user-progress twice. The second one is stopped after
    /// [`ChaosParams::replica_fault`].
    TwoRelays,
    /// A second user-progress (own daprd, same consumer group) joins; once it has taken
    /// deliveries (the group rebalanced), it and its daprd are killed -9 under load and
    /// the group rebalances back: nothing lost, nothing applied twice.
    ConsumerKilled,
}

impl Fault {
    /// A short name for reports.
    pub fn name(&self) -> String {
        match self {
            Self::KafkaStop => "Kafka stopped".into(),
            Self::KafkaFreeze => "Kafka frozen (SIGSTOP)".into(),
            Self::KillService(s) => format!("kill -9 {s}"),
            Self::KillDaprd(s) => format!("kill -9 daprd of {s}"),
            Self::PostgresRestart => "PostgreSQL stopped, then started".into(),
            Self::ProgressOutage => "user-progress down for minutes".into(),
            Self::PostgresOutage => "PostgreSQL down for minutes".into(),
            Self::PoisonBurst => "poison burst".into(),
            Self::NameResolutionStall => "name-resolution file locked".into(),
            Self::SidecarStartsWhileFileLocked => {
                "daprd of user-progress started while the name-resolution file is locked".into()
            }
            Self::Overload => "overload surge, then normal load".into(),
            Self::TwoRelays => "two course-agents relaying one outbox".into(),
            Self::ConsumerKilled => {
                "two user-progress consumers, kill -9 of one (rebalance)".into()
            }
        }
    }

    /// True for the Kafka faults (daprd must retry publishing through them).
    pub fn is_kafka(&self) -> bool {
        matches!(self, Self::KafkaStop | Self::KafkaFreeze)
    }

    /// True for the faults during which the gateway must not answer 5xx.
    pub fn answers_throughout(&self) -> bool {
        self.is_kafka() || matches!(self, Self::NameResolutionStall)
    }

    /// The whole suite, in order.
    pub fn all() -> Vec<Fault> {
        vec![
            Self::KafkaStop,
            Self::KafkaFreeze,
            Self::KillService("course-agent"),
            Self::KillService("user-progress"),
            Self::KillDaprd("frontend-gateway"),
            Self::KillDaprd("course-agent"),
            Self::KillDaprd("user-progress"),
            Self::PostgresRestart,
            Self::PoisonBurst,
            Self::NameResolutionStall,
            Self::SidecarStartsWhileFileLocked,
            Self::Overload,
            Self::TwoRelays,
            Self::ConsumerKilled,
        ]
    }

    /// The suite `params` asks for: [`Fault::all`], plus the long outages when it has them.
    pub fn suite(params: &ChaosParams) -> Vec<Fault> {
        let mut faults = Self::all();
        if params.progress_outage.is_some() {
            faults.push(Self::ProgressOutage);
        }
        if params.postgres_outage.is_some() {
            faults.push(Self::PostgresOutage);
        }
        faults
    }

    /// Whether events are dead-lettered on purpose in this scenario.
    pub fn dead_letters(&self) -> bool {
        matches!(self, Self::PoisonBurst)
    }
}

/// What one scenario measured.
#[derive(Debug, Clone)]
pub struct ScenarioReport {
    /// The fault.
    pub fault: String,
    /// Whether it was a Kafka fault.
    pub kafka_fault: bool,
    /// Whether the gateway had to answer every request without a 5xx.
    pub answers_throughout: bool,
    /// Offered load (lessons/s).
    pub rate: f64,
    /// How long the fault lasted.
    pub fault_secs: f64,
    /// Lessons the gateway acknowledged (201).
    pub accepted: usize,
    /// Of those, recorded by user-progress.
    pub delivered: usize,
    /// Acknowledged but never recorded.
    pub lost: usize,
    /// Applications by user-progress not matched one-to-one by a newly recorded lesson.
    pub double_applied: i64,
    /// Lessons user-progress recorded that course-agent never committed.
    pub unknown: usize,
    /// Lessons course-agent committed during the scenario that the gateway did not
    /// acknowledge (the client got a 503 or no answer): delivered all the same.
    pub committed_unacknowledged: usize,
    /// Largest outbox backlog seen.
    pub max_backlog: f64,
    /// Fault end → the last lesson acknowledged before it was recorded by user-progress
    /// (0 when nothing was held up); None if not everything was delivered in the end.
    pub recovery_secs: Option<f64>,
    /// Gateway answers by status (0 = no answer).
    pub statuses: BTreeMap<u16, u64>,
    /// Resiliency retries daprd made during the scenario, by target.
    pub retries: BTreeMap<String, f64>,
    /// Circuit-breaker transitions daprd reported, as `target→state`.
    pub breaker_transitions: Vec<String>,
    /// Breaker states seen while sampling, as `target:state`.
    pub breaker_states_seen: BTreeSet<String>,
    /// Processes found dead that nobody killed.
    pub crashed: Vec<String>,
    /// Events that reached the dead-letter topic during the scenario: the poison burst's
    /// and nothing else (a transient failure must never dead-letter a valid event).
    pub dead_lettered: f64,
    /// Whether, after the drain, a learner's progress could be read through the gateway
    /// (gateway → user-progress through both sidecars and name resolution) within
    /// [`REACHABLE_WITHIN`].
    pub progress_reachable: bool,
    /// The surge's answers by status (overload only).
    pub surge_statuses: BTreeMap<u16, u64>,
    /// Overload only: from the surge's end to the last refused request of the normal
    /// load (0 when none was refused after it ended).
    pub refusals_after_surge_secs: Option<f64>,
    /// Events each course-agent instance published during the scenario (two relays only).
    pub published_by: BTreeMap<String, f64>,
    /// Events delivered to user-progress again after it had applied them (its
    /// `duplicate` outcome), first instance only.
    pub duplicates_delivered: f64,
    /// Deliveries the second user-progress took before it was killed (rebalance only).
    pub replica_consumed: Option<f64>,
}

/// How long after the drain a learner's progress must be readable again.
pub const REACHABLE_WITHIN: Duration = Duration::from_secs(30);

impl ScenarioReport {
    /// Gateway answers that were 5xx or none.
    pub fn gateway_5xx(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(s, _)| **s == 0 || **s >= 500)
            .map(|(_, n)| n)
            .sum()
    }
}

async fn scrape(http: &reqwest::Client, url: &str) -> String {
    match http.get(url).timeout(Duration::from_secs(2)).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// `(policy, target, status)` → value of `dapr_resiliency_activations_total`, summed over sidecars.
fn activations(expositions: &[String]) -> BTreeMap<(String, String, String), f64> {
    let mut out = BTreeMap::new();
    for text in expositions {
        for line in text
            .lines()
            .filter(|l| l.starts_with("dapr_resiliency_activations_total{"))
        {
            let label = |k: &str| {
                line.split(&format!("{k}=\""))
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .unwrap_or_default()
                    .to_owned()
            };
            let value: f64 = line
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            *out.entry((label("policy"), label("target"), label("status")))
                .or_default() += value;
        }
    }
    out
}

/// Breaker states currently 1 in `dapr_resiliency_cb_state`, as `target:state`.
fn breaker_states(expositions: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for text in expositions {
        for line in text
            .lines()
            .filter(|l| l.starts_with("dapr_resiliency_cb_state{") && l.ends_with(" 1"))
        {
            let label = |k: &str| {
                line.split(&format!("{k}=\""))
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .unwrap_or_default()
                    .to_owned()
            };
            out.insert(format!("{}:{}", label("target"), label("status")));
        }
    }
    out
}

fn sidecar_metric_urls(stack: &Stack) -> Vec<String> {
    stack
        .services
        .values()
        .filter_map(|s| s.daprd.as_ref())
        .map(|d| format!("http://127.0.0.1:{}/metrics", d.ports().metrics))
        .collect()
}

/// What user-progress has applied, read in one statement (one snapshot): the lessons it
/// recorded and the two counters each application increments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Lesson ids in `processed_events`.
    pub lessons: BTreeSet<String>,
    /// `sum(learner_progress.lessons_received)`.
    pub received: i64,
    /// `sum(topic_mastery.lessons)`.
    pub topic_lessons: i64,
}

const COUNTERS: &str = "counters ";

fn applied(stack: &Stack) -> Option<Applied> {
    let rows = stack
        .postgres
        .psql(
            "user_progress",
            &format!(
                "SELECT '{COUNTERS}' || coalesce((SELECT sum(lessons_received) FROM learner_progress), 0) \
                 || ' ' || coalesce((SELECT sum(lessons) FROM topic_mastery), 0) \
                 UNION ALL SELECT lesson_id::text FROM processed_events"
            ),
        )
        .ok()?;
    let mut out = Applied::default();
    for line in rows.lines() {
        if let Some(counters) = line.strip_prefix(COUNTERS) {
            let (received, topic) = counters.split_once(' ')?;
            out.received = received.trim().parse().ok()?;
            out.topic_lessons = topic.trim().parse().ok()?;
        } else if !line.trim().is_empty() {
            out.lessons.insert(line.trim().to_owned());
        }
    }
    Some(out)
}

fn course_agent_lessons(stack: &Stack) -> Option<BTreeSet<String>> {
    let rows = stack
        .postgres
        .psql("course_agent", "SELECT id::text FROM lessons")
        .ok()?;
    Some(
        rows.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

/// What a scenario's deliveries came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Acknowledged lessons user-progress recorded.
    pub delivered: usize,
    /// Acknowledged lessons it did not.
    pub lost: usize,
    /// How far either counter's growth departs from the number of newly recorded lessons:
    /// a lesson applied twice (or applied without being recorded) makes it non-zero,
    /// whatever the event ids were.
    pub double_applied: i64,
    /// Recorded lessons course-agent never committed.
    pub unknown: usize,
    /// Lessons committed during the scenario that the gateway did not acknowledge.
    pub committed_unacknowledged: usize,
}

/// Compares what the gateway acknowledged with what course-agent committed and what
/// user-progress applied, before and after the scenario.
pub fn delivery(
    acknowledged: &BTreeSet<String>,
    committed_before: &BTreeSet<String>,
    committed_after: &BTreeSet<String>,
    before: &Applied,
    after: &Applied,
) -> Delivery {
    let delivered = acknowledged.intersection(&after.lessons).count();
    let newly_recorded =
        i64::try_from(after.lessons.difference(&before.lessons).count()).unwrap_or(i64::MAX);
    let received = (after.received - before.received - newly_recorded).abs();
    let topic = (after.topic_lessons - before.topic_lessons - newly_recorded).abs();
    Delivery {
        delivered,
        lost: acknowledged.len() - delivered,
        double_applied: received.max(topic),
        unknown: after.lessons.difference(committed_after).count(),
        committed_unacknowledged: committed_after
            .difference(committed_before)
            .filter(|id| !acknowledged.contains(*id))
            .count(),
    }
}

fn outbox_backlog(stack: &Stack) -> Option<i64> {
    stack
        .postgres
        .psql(
            "course_agent",
            "SELECT count(*) FROM outbox WHERE sent_at IS NULL",
        )
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

fn crashed_processes(stack: &mut Stack) -> Vec<String> {
    let mut dead = Vec::new();
    for (name, running) in stack.services.iter_mut() {
        if !running.service.process().is_running() {
            dead.push((*name).to_owned());
        }
        if let Some(d) = running.daprd.as_mut()
            && !d.process().is_running()
        {
            dead.push(format!("daprd[{name}]"));
        }
    }
    if !stack.kafka.process().is_running() {
        dead.push("kafka".into());
    }
    if !stack.postgres.process().is_running() {
        dead.push("postgres".into());
    }
    if !stack.prometheus.process().is_running() {
        dead.push("prometheus".into());
    }
    if !stack.jaeger.process().is_running() {
        dead.push("jaeger".into());
    }
    dead
}

async fn poison(stack: &Stack, http: &reqwest::Client, n: usize) {
    let Some(daprd) = stack
        .services
        .get("course-agent")
        .and_then(|s| s.daprd.as_ref())
    else {
        return;
    };
    for i in 0..n {
        let _ = http
            .post(format!(
                "{}/v1.0/publish/kafka-pubsub/lesson-events?metadata.rawPayload=true",
                daprd.http_url()
            ))
            .header("dapr-api-token", &stack.secrets.dapr_api_token)
            .header("content-type", "text/plain")
            .body(format!("poison {i}: not a lesson event {{"))
            .send()
            .await;
    }
}

fn dlq_total(kafka_monitor_text: &str) -> f64 {
    metric_sum(
        kafka_monitor_text,
        "learnflow_kafka_partition_high_watermark",
        &[("topic", "lesson-events-dlq")],
    )
}

/// A writer's lock on the name-resolution SQLite file, held by a `python3` child (its
/// standard `sqlite3` module: no SQLite in our own build just for this) until released.
struct NameResolutionLock {
    child: std::process::Child,
}

impl NameResolutionLock {
    /// Takes the lock (`BEGIN EXCLUSIVE`: in WAL mode readers go on, writers wait).
    fn take(db: &std::path::Path) -> Self {
        use std::io::BufRead as _;
        const SCRIPT: &str = "import sqlite3, sys\n\
            c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)\n\
            c.execute('BEGIN EXCLUSIVE')\n\
            print('locked', flush=True)\n\
            sys.stdin.read()\n\
            c.execute('COMMIT')\n";
        let mut child = std::process::Command::new("python3")
            .args(["-c", SCRIPT])
            .arg(db)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs (it locks the name-resolution file)");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped stdout");
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read python3's answer");
        assert_eq!(
            line.trim(),
            "locked",
            "python3 locked {} (its answer: {line:?})",
            db.display()
        );
        Self { child }
    }

    /// Commits the empty transaction (closing its standard input) and waits for the child.
    fn release(mut self) {
        drop(self.child.stdin.take());
        let status = self.child.wait().expect("wait for python3");
        assert!(status.success(), "python3 released the lock: {status}");
    }
}

/// Waits until a lesson can be created again (breakers of the last scenario have
/// closed), so each scenario starts from a healthy stack.
async fn settle(stack: &Stack, http: &reqwest::Client) {
    let token = lf_auth::mint(&stack.secrets.jwt_secret, "chaos-probe", 3600);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let created = http
            .post(format!("{}/api/v1/lessons", stack.gateway_url()))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .is_ok_and(|r| r.status().as_u16() == 201);
        if created {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Runs one scenario on `stack`.
pub async fn run_scenario(stack: &mut Stack, params: &ChaosParams, fault: Fault) -> ScenarioReport {
    let http = reqwest::Client::new();
    let second = match fault {
        Fault::TwoRelays => Some("course-agent"),
        Fault::ConsumerKilled => Some("user-progress"),
        _ => None,
    };
    let replica_metrics = second.map(|name| {
        let i = stack
            .add_replica(name)
            .unwrap_or_else(|e| panic!("a second {name} starts: {e}"));
        let replica = &stack.replicas[i];
        (replica.instance.clone(), replica.running.metrics_url())
    });
    settle(stack, &http).await;
    // Both relays' metrics (two relays only), and what each had published before the load.
    let relays = match &replica_metrics {
        Some((instance, url)) if matches!(fault, Fault::TwoRelays) => vec![
            ("course-agent".to_owned(), stack.metrics_url("course-agent")),
            (instance.clone(), url.clone()),
        ],
        _ => Vec::new(),
    };
    let mut published_counts = BTreeMap::new();
    for (instance, url) in &relays {
        published_counts.insert(instance.clone(), published(&scrape(&http, url).await));
    }
    let progress_metrics = stack.metrics_url("user-progress");
    let duplicates_before = duplicates(&scrape(&http, &progress_metrics).await);
    let sidecars = sidecar_metric_urls(stack);
    let course_agent_metrics = stack.metrics_url("course-agent");
    let monitor_metrics = stack.metrics_url("kafka-monitor");
    let mut before = Vec::new();
    for u in &sidecars {
        before.push(scrape(&http, u).await);
    }
    let activations_before = activations(&before);
    let dlq_before = dlq_total(&scrape(&http, &monitor_metrics).await);
    let applied_before = applied(stack).expect("user-progress's applied lessons are readable");
    let committed_before =
        course_agent_lessons(stack).expect("course-agent's lessons are readable");

    let fault_len = match fault {
        Fault::KafkaStop => params.kafka_stop,
        Fault::KafkaFreeze => params.kafka_freeze,
        Fault::PoisonBurst => Duration::ZERO,
        Fault::NameResolutionStall => params.nameres_stall,
        Fault::SidecarStartsWhileFileLocked => params.nameres_start_lock,
        Fault::Overload => params.surge,
        Fault::TwoRelays | Fault::ConsumerKilled => params.replica_fault,
        Fault::ProgressOutage => params.progress_outage.unwrap_or(params.down),
        Fault::PostgresOutage => params.postgres_outage.unwrap_or(params.down),
        _ => params.down,
    };
    let tokens = lf_loadgen::tokens(&stack.secrets.jwt_secret, params.learners);
    let tail = match fault {
        Fault::Overload => AFTER_SURGE,
        _ => params.tail,
    };
    let load_started = std::time::SystemTime::now();
    let load_clock = Instant::now();
    let load = tokio::spawn(lf_loadgen::run(LoadSpec {
        gateway: stack.gateway_url(),
        tokens,
        mode: Mode::FixedRate(params.rate),
        duration: params.warmup + fault_len + tail,
        timeout: Duration::from_secs(15),
        progress_every: None,
    }));

    // Sample the backlog and breaker states while the scenario runs.
    let max_backlog = Arc::new(Mutex::new(0.0f64));
    let states_seen = Arc::new(Mutex::new(BTreeSet::new()));
    let sampler = {
        let (http, sidecars, url) = (http.clone(), sidecars.clone(), course_agent_metrics.clone());
        let (max_backlog, states_seen) = (max_backlog.clone(), states_seen.clone());
        tokio::spawn(async move {
            loop {
                let text = scrape(&http, &url).await;
                let backlog = metric_sum(&text, "learnflow_outbox_backlog", &[]);
                if let Ok(mut m) = max_backlog.lock() {
                    *m = m.max(backlog);
                }
                let mut texts = Vec::new();
                for u in &sidecars {
                    texts.push(scrape(&http, u).await);
                }
                if let Ok(mut s) = states_seen.lock() {
                    s.extend(breaker_states(&texts));
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
    };

    tokio::time::sleep(params.warmup).await;
    let mut surge = None;
    let mut replica_consumed = None;
    match fault {
        Fault::KafkaStop => {
            stack.kafka.process().stop(Duration::from_secs(20));
            tokio::time::sleep(fault_len).await;
            stack.kafka.restart().expect("kafka restarts");
        }
        Fault::KafkaFreeze => {
            stack.kafka.process().freeze().expect("freeze kafka");
            tokio::time::sleep(fault_len).await;
            stack.kafka.process().thaw().expect("thaw kafka");
        }
        Fault::KillService(name) => {
            let s = stack.service(name).expect("service");
            s.service.process().kill9();
            tokio::time::sleep(fault_len).await;
            s.service.restart().expect("service restarts");
        }
        Fault::KillDaprd(name) => {
            let d = stack
                .service(name)
                .and_then(|s| s.daprd.as_mut())
                .expect("daprd");
            d.process().kill9();
            tokio::time::sleep(fault_len).await;
            d.restart().expect("daprd restarts");
            if let Some(s) = stack.service(name) {
                s.service.wait_ready().expect("service ready again");
            }
        }
        Fault::PostgresRestart | Fault::PostgresOutage => {
            stack.postgres.process().stop(Duration::from_secs(20));
            tokio::time::sleep(fault_len).await;
            stack.postgres.restart().expect("postgres restarts");
        }
        Fault::ProgressOutage => {
            let s = stack.service("user-progress").expect("user-progress");
            s.service.process().stop(Duration::from_secs(10));
            tokio::time::sleep(fault_len).await;
            s.service.restart().expect("user-progress restarts");
        }
        Fault::PoisonBurst => poison(stack, &http, params.poison).await,
        Fault::NameResolutionStall => {
            let lock = NameResolutionLock::take(&stack.dapr_env.nameres_db);
            tokio::time::sleep(fault_len).await;
            lock.release();
        }
        Fault::SidecarStartsWhileFileLocked => {
            let nameres_db = stack.dapr_env.nameres_db.clone();
            let s = stack.service("user-progress").expect("user-progress");
            let d = s.daprd.as_mut().expect("daprd");
            // Stopped before the lock, so that its deregistration is not what waits.
            d.process().stop(Duration::from_secs(10));
            let lock = NameResolutionLock::take(&nameres_db);
            d.respawn().expect("daprd of user-progress starts");
            tokio::time::sleep(fault_len).await;
            lock.release();
            d.wait_ready()
                .expect("daprd of user-progress ready, its name resolver included");
            s.service.wait_ready().expect("user-progress ready again");
        }
        Fault::Overload => {
            let surge_started = Instant::now();
            let surged = lf_loadgen::run(LoadSpec {
                gateway: stack.gateway_url(),
                tokens: lf_loadgen::tokens(&stack.secrets.jwt_secret, SURGE_LEARNERS),
                mode: Mode::FixedRate(params.surge_rate),
                duration: params.surge,
                timeout: Duration::from_secs(15),
                progress_every: None,
            })
            .await;
            surge = Some((surge_started + params.surge, surged));
        }
        Fault::TwoRelays => {
            tokio::time::sleep(fault_len).await;
            for (instance, url) in &relays {
                let now = published(&scrape(&http, url).await);
                if let Some(count) = published_counts.get_mut(instance) {
                    *count = now - *count;
                }
            }
            stack.stop_replicas();
        }
        Fault::ConsumerKilled => {
            let (instance, url) = replica_metrics.clone().expect("the second user-progress");
            // Killed only once it owns partitions: the group has rebalanced to two.
            let started = Instant::now();
            let mut consumed = 0.0;
            while started.elapsed() < Duration::from_secs(60) {
                consumed = metric_sum(
                    &scrape(&http, &url).await,
                    "learnflow_events_consumed_total",
                    &[],
                );
                if consumed > 0.0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            replica_consumed = Some(consumed);
            if let Some(replica) = stack.replicas.iter_mut().find(|r| r.instance == instance) {
                if let Some(d) = replica.running.daprd.as_mut() {
                    d.process().kill9();
                }
                replica.running.service.process().kill9();
            }
            tokio::time::sleep(fault_len).await;
            stack.stop_replicas();
        }
    }
    let fault_end = Instant::now();
    let fault_end_wall = std::time::SystemTime::now();
    let report = load.await.expect("load task");
    // Measured from when the surge stopped sending (its last answers came later).
    let refusals_after_surge_secs = surge.as_ref().map(|(surge_end, _)| {
        let end = surge_end.saturating_duration_since(load_clock);
        refusals_after(&report.refused, end).as_secs_f64()
    });

    // Wait until everything acknowledged is recorded and the outbox is empty.
    let accepted: BTreeSet<String> = report
        .accepted
        .iter()
        .chain(surge.iter().flat_map(|(_, s)| s.accepted.iter()))
        .map(|a| a.lesson_id.clone())
        .collect();
    let mut drained = false;
    let mut last = Applied::default();
    while fault_end.elapsed() < params.drain_timeout + fault_len {
        last = applied(stack).unwrap_or_default();
        if accepted.is_subset(&last.lessons) && outbox_backlog(stack) == Some(0) {
            drained = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Lessons committed but refused to the client are in the outbox too: they are still on
    // their way when the outbox is empty. Wait until everything committed is recorded (or
    // the drain time is up) so that the counters are compared at rest.
    let committed_after = course_agent_lessons(stack).expect("course-agent's lessons are readable");
    while drained && fault_end.elapsed() < params.drain_timeout + fault_len {
        if committed_after
            .difference(&committed_before)
            .all(|id| last.lessons.contains(id))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        last = applied(stack).unwrap_or_default();
    }
    let counted = delivery(
        &accepted,
        &committed_before,
        &committed_after,
        &applied_before,
        &last,
    );
    // Recovery: from the fault's end until the last lesson acknowledged before it
    // was recorded (processed_at is stamped by PostgreSQL on this same machine).
    let fault_end_offset = fault_end_wall
        .duration_since(load_started)
        .unwrap_or_default();
    let held: Vec<&str> = report
        .accepted
        .iter()
        .filter(|a| a.answered_at <= fault_end_offset)
        .map(|a| a.lesson_id.as_str())
        .collect();
    let recovery = drained.then(|| {
        let epoch_end = fault_end_wall.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        // In chunks: one psql argument must stay under the kernel's 128 KiB limit.
        let latest = held
            .chunks(500)
            .filter_map(|chunk| {
                let ids = chunk.iter().map(|id| format!("'{id}'")).collect::<Vec<_>>().join(",");
                stack
                    .postgres
                    .psql(
                        "user_progress",
                        &format!("SELECT extract(epoch from max(processed_at)) FROM processed_events WHERE lesson_id IN ({ids})"),
                    )
                    .ok()
                    .and_then(|v| v.trim().parse::<f64>().ok())
            })
            .reduce(f64::max);
        latest.map(|t| (t - epoch_end).max(0.0)).unwrap_or(0.0)
    });
    sampler.abort();
    let mut after = Vec::new();
    for u in &sidecars {
        after.push(scrape(&http, u).await);
    }
    let activations_after = activations(&after);
    let mut retries = BTreeMap::new();
    let mut transitions = Vec::new();
    for ((policy, target, status), value) in &activations_after {
        let delta = value
            - activations_before
                .get(&(policy.clone(), target.clone(), status.clone()))
                .copied()
                .unwrap_or(0.0);
        if delta <= 0.0 {
            continue;
        }
        match policy.as_str() {
            "retry" => *retries.entry(target.clone()).or_default() += delta,
            "circuitbreaker" => transitions.push(format!("{target}→{status} ×{delta}")),
            _ => {}
        }
    }
    // kafka-monitor polls the broker every 5 s: wait for a reading newer than the drain
    // (and, for the poison burst, until all of it has arrived).
    let expected_dead = if fault.dead_letters() {
        params.poison as f64
    } else {
        0.0
    };
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut dead_lettered = 0.0;
    for _ in 0..60 {
        dead_lettered = dlq_total(&scrape(&http, &monitor_metrics).await) - dlq_before;
        if dead_lettered >= expected_dead {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let progress_reachable = progress_readable(stack, &http).await;
    let duplicates_delivered =
        duplicates(&scrape(&http, &progress_metrics).await) - duplicates_before;
    let max_backlog = max_backlog.lock().map(|m| *m).unwrap_or(0.0);
    let breaker_states_seen = states_seen.lock().map(|s| s.clone()).unwrap_or_default();
    ScenarioReport {
        fault: fault.name(),
        kafka_fault: fault.is_kafka(),
        answers_throughout: fault.answers_throughout(),
        rate: params.rate,
        fault_secs: fault_len.as_secs_f64(),
        accepted: accepted.len(),
        delivered: counted.delivered,
        lost: counted.lost,
        double_applied: counted.double_applied,
        unknown: counted.unknown,
        committed_unacknowledged: counted.committed_unacknowledged,
        max_backlog,
        recovery_secs: recovery,
        statuses: report.statuses,
        retries,
        breaker_transitions: transitions,
        breaker_states_seen,
        crashed: crashed_processes(stack),
        dead_lettered,
        progress_reachable,
        surge_statuses: surge.map(|(_, s)| s.statuses).unwrap_or_default(),
        refusals_after_surge_secs,
        // Empty unless two relays ran; then each one's count during the scenario.
        published_by: published_counts,
        duplicates_delivered,
        replica_consumed,
    }
}

/// Events course-agent published successfully (`learnflow_outbox_publish_total`).
fn published(exposition: &str) -> f64 {
    metric_sum(
        exposition,
        "learnflow_outbox_publish_total",
        &[("outcome", "success")],
    )
}

/// Deliveries user-progress had already applied (`learnflow_events_consumed_total`).
fn duplicates(exposition: &str) -> f64 {
    metric_sum(
        exposition,
        "learnflow_events_consumed_total",
        &[("outcome", "duplicate")],
    )
}

/// From `end` to the last refused request sent after it (zero when none was).
pub fn refusals_after(refused: &[lf_loadgen::Refused], end: Duration) -> Duration {
    refused
        .iter()
        .filter(|r| r.due_at > end)
        .map(|r| r.due_at - end)
        .max()
        .unwrap_or_default()
}

/// Whether `GET /api/v1/progress` answers 200 within [`REACHABLE_WITHIN`].
async fn progress_readable(stack: &Stack, http: &reqwest::Client) -> bool {
    let token = lf_auth::mint(&stack.secrets.jwt_secret, "chaos-probe", 3600);
    let started = Instant::now();
    while started.elapsed() < REACHABLE_WITHIN {
        let read = http
            .get(format!("{}/api/v1/progress", stack.gateway_url()))
            .bearer_auth(&token)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .is_ok_and(|r| r.status().as_u16() == 200);
        if read {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    false
}

fn status_text(statuses: &BTreeMap<u16, u64>) -> String {
    statuses
        .iter()
        .map(|(s, n)| {
            format!(
                "{}: {n}",
                if *s == 0 {
                    "none".to_owned()
                } else {
                    s.to_string()
                }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The markdown report (`docs/resilience.md`).
pub fn markdown(reports: &[ScenarioReport], params: &ChaosParams, mode: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Resilience report\n");
    let _ = writeln!(
        out,
        "Generated by `cargo xtask chaos` ({mode} suite) against the real native stack: daprd {}, \
         Apache Kafka {}, PostgreSQL {}, with `deploy/dapr/resiliency.yaml`. Each scenario offers \
         {} lessons/s (open loop, {} learners) for {} s before the fault, during it, and {} s after; \
         then it waits until every acknowledged lesson is in user-progress. Lost compares lesson-id \
         sets. Applied twice compares the growth of user-progress's counters (lessons received, \
         lessons per topic) with the lessons it newly recorded; unknown counts recorded lessons \
         course-agent never committed; committed, not acknowledged counts lessons a client was \
         refused (503 or no answer) after course-agent had committed them (they are published \
         from the outbox like any other). Do not edit by hand.\n",
        lf_testkit::versions::DAPR,
        lf_testkit::versions::KAFKA,
        lf_testkit::versions::POSTGRES_MAJOR,
        params.rate,
        params.learners,
        params.warmup.as_secs(),
        params.tail.as_secs(),
    );
    let _ = writeln!(
        out,
        "| scenario | fault (s) | accepted | delivered | lost | applied twice | unknown | committed, not acknowledged | dead-lettered | max outbox backlog | recovery (s) | gateway answers | retries by daprd | breaker transitions | crashed | progress readable after |"
    );
    let _ = writeln!(
        out,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for r in reports {
        let mut statuses = status_text(&r.statuses);
        if let Some(after) = r.refusals_after_surge_secs {
            let _ = write!(
                statuses,
                "; the surge's own: {}; last refusal {after:.1} s after the surge",
                status_text(&r.surge_statuses)
            );
        }
        let retries = if r.retries.is_empty() {
            "—".to_owned()
        } else {
            r.retries
                .iter()
                .map(|(t, n)| format!("{t}: {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let transitions = if r.breaker_transitions.is_empty() {
            "—".to_owned()
        } else {
            r.breaker_transitions.join(", ")
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.fault,
            r.fault_secs,
            r.accepted,
            r.delivered,
            r.lost,
            r.double_applied,
            r.unknown,
            r.committed_unacknowledged,
            r.dead_lettered,
            r.max_backlog,
            r.recovery_secs
                .map(|s| format!("{s:.1}"))
                .unwrap_or_else(|| "did not drain".into()),
            statuses,
            retries,
            transitions,
            if r.crashed.is_empty() {
                "none".to_owned()
            } else {
                r.crashed.join(", ")
            },
            if r.progress_reachable { "yes" } else { "no" },
        );
    }
    let _ = writeln!(
        out,
        "\nDead-lettered counts what reached `lesson-events-dlq` during a scenario: the poison \
         burst's {} malformed events must, nothing else may (transient failures are retried \
         until they pass).",
        params.poison
    );
    let _ = writeln!(
        out,
        "\nRecovery time runs from the end of the fault until user-progress has recorded the last \
         lesson acknowledged before that moment (0 when nothing was held up); every scenario also \
         waited until all acknowledged lessons were recorded and the outbox was empty. Gateway \
         503s while course-agent, its daprd or PostgreSQL are down are lessons that were refused \
         (with Retry-After), not lost; during Kafka faults the gateway must answer no 5xx at all. \
         Progress readable after: a learner's progress (gateway → user-progress, through both \
         sidecars and name resolution) answered 200 within {} s of the drain.",
        REACHABLE_WITHIN.as_secs()
    );
    for r in reports {
        if !r.published_by.is_empty() {
            let shares = r
                .published_by
                .iter()
                .map(|(instance, n)| format!("{instance} {n}"))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                out,
                "\n{}: events published by each instance: {shares}; events delivered to \
                 user-progress a second time: {}.",
                r.fault, r.duplicates_delivered
            );
        }
        if let Some(taken) = r.replica_consumed {
            let _ = writeln!(
                out,
                "\n{}: the second user-progress took {taken} deliveries before it and its daprd \
                 were killed; events delivered again after the rebalance: {} (applied once, \
                 see applied twice).",
                r.fault, r.duplicates_delivered
            );
        }
    }
    let _ = writeln!(
        out,
        "\nOverload: {} lessons/s more (twice the highest sustained rate of docs/benchmarks.md) \
         for {} s over {SURGE_LEARNERS} learners, then the normal load for {} s; no normal \
         request sent later than {} s after the surge may be refused.",
        params.surge_rate,
        params.surge.as_secs(),
        AFTER_SURGE.as_secs(),
        REFUSALS_END_WITHIN.as_secs()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_timed_from_the_surge_end() {
        let at = |status, secs| lf_loadgen::Refused {
            status,
            due_at: Duration::from_secs(secs),
        };
        let end = Duration::from_secs(40);
        // Refused during the surge only: recovered at once.
        assert_eq!(
            refusals_after(&[at(503, 20), at(0, 39)], end),
            Duration::ZERO
        );
        // A normal request sent 22 s after the surge still refused: over the bound.
        let late = refusals_after(&[at(503, 20), at(503, 45), at(429, 62)], end);
        assert_eq!(late, Duration::from_secs(22));
        assert!(late > REFUSALS_END_WITHIN);
    }

    fn ids(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Before: lesson "a" recorded once. During: "b" and "c" acknowledged, "d" committed
    /// but refused to its client; all three recorded once each.
    fn clean_run() -> (
        BTreeSet<String>,
        BTreeSet<String>,
        BTreeSet<String>,
        Applied,
        Applied,
    ) {
        let before = Applied {
            lessons: ids(&["a"]),
            received: 1,
            topic_lessons: 1,
        };
        let after = Applied {
            lessons: ids(&["a", "b", "c", "d"]),
            received: 4,
            topic_lessons: 4,
        };
        (
            ids(&["b", "c"]),
            ids(&["a"]),
            ids(&["a", "b", "c", "d"]),
            before,
            after,
        )
    }

    #[test]
    fn a_clean_run_counts_nothing_wrong() {
        let (acknowledged, committed_before, committed_after, before, after) = clean_run();
        assert_eq!(
            delivery(
                &acknowledged,
                &committed_before,
                &committed_after,
                &before,
                &after
            ),
            Delivery {
                delivered: 2,
                lost: 0,
                double_applied: 0,
                unknown: 0,
                committed_unacknowledged: 1,
            }
        );
    }

    #[test]
    fn a_lesson_applied_twice_is_counted_although_it_is_recorded_once() {
        let (acknowledged, committed_before, committed_after, before, mut after) = clean_run();
        // "c" applied a second time (say, under another event id): both counters grow.
        after.received += 1;
        after.topic_lessons += 1;
        let counted = delivery(
            &acknowledged,
            &committed_before,
            &committed_after,
            &before,
            &after,
        );
        assert_eq!(counted.double_applied, 1);
        assert_eq!(counted.lost, 0);
        // Only one counter off is caught too.
        after.received -= 1;
        let counted = delivery(
            &acknowledged,
            &committed_before,
            &committed_after,
            &before,
            &after,
        );
        assert_eq!(counted.double_applied, 1);
    }

    #[test]
    fn a_lesson_recorded_but_not_counted_is_caught() {
        let (acknowledged, committed_before, committed_after, before, mut after) = clean_run();
        after.received -= 1;
        after.topic_lessons -= 1;
        let counted = delivery(
            &acknowledged,
            &committed_before,
            &committed_after,
            &before,
            &after,
        );
        assert_eq!(counted.double_applied, 1);
    }

    #[test]
    fn lost_and_unknown_lessons_are_counted() {
        let (acknowledged, committed_before, committed_after, before, mut after) = clean_run();
        after.lessons.remove("c");
        after.lessons.insert("z".into());
        let counted = delivery(
            &acknowledged,
            &committed_before,
            &committed_after,
            &before,
            &after,
        );
        assert_eq!(counted.lost, 1, "c was acknowledged and is not recorded");
        assert_eq!(counted.unknown, 1, "z was never committed by course-agent");
        assert_eq!(
            counted.double_applied, 0,
            "one lesson out, one in: the counters match"
        );
    }
}
