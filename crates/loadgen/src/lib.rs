//! A load driver for the LearnFlow gateway, shared by the chaos suite, the benchmark
//! and people driving a cluster.
//!
//! Layout: [`LoadSpec`] says what to send; [`run`] sends it and returns a [`Report`]
//! with every status, the ids of accepted lessons, when each refused request was sent
//! ([`Refused`]), and an HDR latency histogram.
//! Two modes:
//! - [`Mode::FixedRate`] — open loop: request *i* is due at `start + i / rate` and is
//!   sent then whether or not earlier ones have answered; latency is measured from
//!   the due time, so a stall shows as latency instead of hiding as fewer requests
//!   (no coordinated omission);
//! - [`Mode::FixedConcurrency`] — closed loop: `n` workers, each sending its next
//!   request when the last one answered;
//! - [`Mode::FixedRateOverConnections`] — the open loop spread round-robin over
//!   `connections` keep-alive connections opened before the clock starts, so that
//!   many connections stay open while the offered rate stays what it says.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// How requests are paced.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// Open loop at this many requests per second.
    FixedRate(f64),
    /// Closed loop with this many requests in flight.
    FixedConcurrency(usize),
    /// Open loop at `rate` requests per second over `connections` open connections.
    FixedRateOverConnections {
        /// Requests per second.
        rate: f64,
        /// Connections opened up front and used round-robin.
        connections: usize,
    },
}

/// What to send.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// Gateway base URL, e.g. `http://127.0.0.1:8080`.
    pub gateway: String,
    /// Bearer tokens to rotate through (one per simulated learner).
    pub tokens: Vec<String>,
    /// Pacing.
    pub mode: Mode,
    /// How long to send.
    pub duration: Duration,
    /// Per-request deadline.
    pub timeout: Duration,
    /// Print a progress line every this often (None = quiet).
    pub progress_every: Option<Duration>,
}

/// One accepted lesson.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// Lesson id.
    pub lesson_id: String,
    /// Index of the token (learner) that created it.
    pub learner: usize,
    /// When the gateway's answer arrived, from the start of the run.
    pub answered_at: Duration,
}

/// One request not answered 201.
#[derive(Debug, Clone, Copy)]
pub struct Refused {
    /// Its HTTP status, 0 when no answer came.
    pub status: u16,
    /// When it was due (sent), from the start of the run.
    pub due_at: Duration,
}

/// What happened.
#[derive(Debug)]
pub struct Report {
    /// Requests sent.
    pub sent: u64,
    /// Responses by HTTP status; transport failures count under 0.
    pub statuses: BTreeMap<u16, u64>,
    /// Lessons the gateway acknowledged (201).
    pub accepted: Vec<Accepted>,
    /// Every request that was not acknowledged, with when it was sent.
    pub refused: Vec<Refused>,
    /// Latency of every answered request, in microseconds.
    pub latency_us: Histogram<u64>,
    /// Wall time of the run (until the last answer).
    pub elapsed: Duration,
}

impl Report {
    /// Requests answered with a 5xx or not answered at all.
    pub fn server_errors(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(s, _)| **s == 0 || **s >= 500)
            .map(|(_, n)| n)
            .sum()
    }

    /// Latency at quantile `q` (0–1), in milliseconds.
    pub fn latency_ms(&self, q: f64) -> f64 {
        self.latency_us.value_at_quantile(q) as f64 / 1000.0
    }

    /// Accepted lessons per second of wall time.
    pub fn throughput(&self) -> f64 {
        self.accepted.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

#[derive(Default)]
struct Shared {
    statuses: BTreeMap<u16, u64>,
    accepted: Vec<Accepted>,
    refused: Vec<Refused>,
    latencies: Vec<u64>,
}

async fn one(
    http: &reqwest::Client,
    spec: &LoadSpec,
    i: u64,
    due: Instant,
    started: Instant,
    shared: &Mutex<Shared>,
) {
    let learner = (i as usize) % spec.tokens.len().max(1);
    let token = spec.tokens.get(learner).cloned().unwrap_or_default();
    let result = http
        .post(format!("{}/api/v1/lessons", spec.gateway))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body("{}")
        .timeout(spec.timeout)
        .send()
        .await;
    let (status, id) = match result {
        Ok(r) => {
            let status = r.status().as_u16();
            let id = if status == 201 {
                r.json::<serde_json::Value>()
                    .await
                    .ok()
                    .and_then(|v| v["id"].as_str().map(str::to_owned))
            } else {
                let _ = r.bytes().await;
                None
            };
            (status, id)
        }
        Err(_) => (0, None),
    };
    let latency = due.elapsed().as_micros() as u64;
    if let Ok(mut s) = shared.lock() {
        *s.statuses.entry(status).or_default() += 1;
        match id {
            Some(lesson_id) => s.accepted.push(Accepted {
                lesson_id,
                learner,
                answered_at: started.elapsed(),
            }),
            None => s.refused.push(Refused {
                status,
                due_at: due.saturating_duration_since(started),
            }),
        }
        s.latencies.push(latency.max(1));
    }
}

/// `n` clients with one kept-alive connection each, opened before measuring by a request
/// without a token: answered 401 with a small body, it creates nothing and, unlike a large
/// document, does not grow the connection's buffers beyond what lesson traffic does.
async fn open_connections(gateway: &str, n: usize) -> Vec<reqwest::Client> {
    let clients: Vec<reqwest::Client> = (0..n)
        .map(|_| {
            reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .pool_idle_timeout(None)
                .build()
                .unwrap_or_default()
        })
        .collect();
    for chunk in clients.chunks(100) {
        let mut opening = tokio::task::JoinSet::new();
        for c in chunk {
            let c = c.clone();
            let url = format!("{gateway}/api/v1/progress");
            opening.spawn(async move {
                if let Ok(r) = c.get(url).send().await {
                    let _ = r.bytes().await;
                }
            });
        }
        opening.join_all().await;
    }
    clients
}

/// Runs the load described by `spec`.
pub async fn run(spec: LoadSpec) -> Report {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        // Shorter than the gateway's 10 s idle timeout: never send on a connection it is
        // just closing.
        .pool_idle_timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default();
    let shared = Arc::new(Mutex::new(Shared::default()));
    let spec = Arc::new(spec);
    // Connections are opened before the clock starts: opening them is not the load.
    let clients = match spec.mode {
        Mode::FixedRateOverConnections { connections, .. } => {
            open_connections(&spec.gateway, connections.max(1)).await
        }
        _ => Vec::new(),
    };
    let started = Instant::now();
    let progress = spec.progress_every.map(|every| {
        let (shared, spec) = (shared.clone(), spec.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Ok(s) = shared.lock() {
                    let answered: u64 = s.statuses.values().sum();
                    eprintln!(
                        "[load] {:>5.1}s  answered {answered}  accepted {}  errors {}  ({:?})",
                        started.elapsed().as_secs_f64(),
                        s.accepted.len(),
                        s.statuses
                            .iter()
                            .filter(|(k, _)| **k != 201)
                            .map(|(_, n)| n)
                            .sum::<u64>(),
                        spec.mode,
                    );
                }
            }
        })
    });
    let mut tasks = Vec::new();
    let mut sent = 0u64;
    match spec.mode {
        Mode::FixedRate(rate) | Mode::FixedRateOverConnections { rate, .. } => {
            let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
            loop {
                let due = started + interval.mul_f64(sent as f64);
                if due.duration_since(started) >= spec.duration {
                    break;
                }
                tokio::time::sleep_until(due.into()).await;
                // Round-robin over the pre-opened connections, or the shared pool.
                let http = clients
                    .get((sent as usize) % clients.len().max(1))
                    .unwrap_or(&http)
                    .clone();
                let (spec, shared) = (spec.clone(), shared.clone());
                let i = sent;
                tasks.push(tokio::spawn(async move {
                    one(&http, &spec, i, due, started, &shared).await
                }));
                sent += 1;
            }
        }
        Mode::FixedConcurrency(n) => {
            let counter = Arc::new(std::sync::atomic::AtomicU64::new(0));
            for _ in 0..n.max(1) {
                let (http, spec, shared, counter) =
                    (http.clone(), spec.clone(), shared.clone(), counter.clone());
                tasks.push(tokio::spawn(async move {
                    while started.elapsed() < spec.duration {
                        let i = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        one(&http, &spec, i, Instant::now(), started, &shared).await;
                    }
                }));
            }
        }
    }
    for t in tasks {
        let _ = t.await;
    }
    if let Some(p) = progress {
        p.abort();
    }
    let elapsed = started.elapsed();
    let shared = std::mem::take(&mut *shared.lock().unwrap_or_else(|e| e.into_inner()));
    // 1 µs to 120 s at 3 significant digits: valid bounds, so construction cannot fail.
    let mut latency_us =
        Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds");
    for l in &shared.latencies {
        let _ = latency_us.record((*l).min(120_000_000));
    }
    if let Mode::FixedConcurrency(_) = spec.mode {
        sent = shared.statuses.values().sum();
    }
    Report {
        sent,
        statuses: shared.statuses,
        accepted: shared.accepted,
        refused: shared.refused,
        latency_us,
        elapsed,
    }
}

/// `n` learner tokens (`load-learner-0`, …) signed with the gateway's `secret`.
pub fn tokens(secret: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| lf_auth::mint(secret, &format!("load-learner-{i}"), 24 * 3600))
        .collect()
}
