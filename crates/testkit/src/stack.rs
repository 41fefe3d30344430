//! The whole LearnFlow stack on one machine, and its JSON description.
//!
//! Start order: PostgreSQL, Kafka, Jaeger, Alertmanager and VictoriaLogs together (vlagent
//! once VictoriaLogs answers); then the services; then
//! one daprd per Dapr-enabled service (daprd waits for its app's port before it
//! subscribes); then Prometheus, which scrapes all of them.
//!
//! Parts: this module (the definitions and [`Stack`]), `start` (the start order, as
//! above), `replicas` (more instances of a service), `env` (each service's environment)
//! and `info` ([`StackInfo`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::Result;
use crate::components::RunDir;
use crate::components::alertmanager::{AlertWebhooks, Alertmanager};
use crate::components::daprd::{DaprEnv, DaprPorts, Daprd};
use crate::components::jaeger::Jaeger;
use crate::components::kafka::Kafka;
use crate::components::postgres::{Postgres, Transport};
use crate::components::postgres_exporter::PostgresExporter;
use crate::components::prometheus::{Alerting, Prometheus, ScrapeTarget};
use crate::components::service::Service;
use crate::components::victorialogs::{LogAgent, VictoriaLogs};
use crate::tools::Toolchain;
use crate::wait::{free_port, preferred_or_free, require_port};

mod env;
mod info;
mod replicas;
mod start;

use env::service_env;
pub use info::{ServiceInfo, StackInfo};

/// A LearnFlow service the stack runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceDef {
    /// Binary name and Dapr app id.
    pub name: &'static str,
    /// Whether it runs beside a daprd.
    pub sidecar: bool,
    /// Its PostgreSQL database, if it owns one.
    pub database: Option<&'static str>,
}

/// Every service, in start order.
pub const SERVICES: &[ServiceDef] = &[
    ServiceDef {
        name: "user-progress",
        sidecar: true,
        database: Some("user_progress"),
    },
    ServiceDef {
        name: "course-agent",
        sidecar: true,
        database: Some("course_agent"),
    },
    ServiceDef {
        name: "frontend-gateway",
        sidecar: true,
        database: None,
    },
    ServiceDef {
        name: "kafka-monitor",
        sidecar: false,
        database: None,
    },
];

/// How to start the stack.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Outlive this process (`xtask up --detach`).
    pub detached: bool,
    /// The gateway's port: `Some(p)` requires `p` to be free; `None` picks one.
    pub gateway_port: Option<u16>,
    /// Prefer the well-known ports for Prometheus, the trace UI and Alertmanager when free
    /// (xtask up), else pick free ones.
    pub prefer_well_known_ports: bool,
    /// Trace sampling rate passed to daprd and the services (`"1"` in dev).
    pub sampling_rate: String,
    /// Export traces at all; `false` runs the services without an OTLP exporter
    /// and daprd with sampling 0 (the benchmark's "telemetry off").
    pub tracing: bool,
    /// Browser origins the gateway allows (CORS); empty = its default, none.
    pub gateway_allowed_origins: Vec<String>,
    /// PostgreSQL serves TLS only and the services connect with `sslmode=verify-full` and
    /// the run's CA (the chart's production default); `false`: plaintext, `sslmode=disable`.
    pub database_tls: bool,
    /// Where Alertmanager's two receivers send (none by default).
    pub alert_webhooks: AlertWebhooks,
}

impl Default for StackOptions {
    fn default() -> Self {
        Self {
            detached: false,
            gateway_port: None,
            prefer_well_known_ports: false,
            sampling_rate: "1".into(),
            tracing: true,
            gateway_allowed_origins: Vec::new(),
            database_tls: true,
            alert_webhooks: AlertWebhooks::default(),
        }
    }
}

/// Secrets of one stack run (random per run).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackSecrets {
    /// Token apps present to their daprd.
    pub dapr_api_token: String,
    /// The token each sidecar presents to its app, one per service daprd calls
    /// (course-agent, user-progress; the gateway takes no calls from its sidecar).
    pub app_tokens: BTreeMap<String, String>,
    /// HS256 secret the gateway verifies learner tokens with.
    pub jwt_secret: String,
}

/// A running service and its sidecar.
#[derive(Debug)]
pub struct RunningService {
    /// Its daprd, if it has one (declared first: it stops before its app).
    pub daprd: Option<Daprd>,
    /// The service process.
    pub service: Service,
}

impl RunningService {
    /// URL of the service's Prometheus metrics (its admin port).
    pub fn metrics_url(&self) -> String {
        format!("http://127.0.0.1:{}/metrics", self.service.admin_port())
    }
}

/// One more instance of a service, beside its first one in [`Stack::services`]: its own
/// process and its own daprd under the same app id (so callers' sidecars resolve to either,
/// and a subscriber joins the same Kafka consumer group). See [`Stack::add_replica`].
#[derive(Debug)]
pub struct Replica {
    /// The service's name (binary and app id).
    pub name: &'static str,
    /// `<name>-<n>`, n ≥ 2: its process and log names.
    pub instance: String,
    /// The processes.
    pub running: RunningService,
}

/// The running stack. Dropping it stops everything (unless detached).
#[derive(Debug)]
pub struct Stack {
    /// Extra instances started by [`Stack::add_replica`] (declared first: they stop first).
    pub replicas: Vec<Replica>,
    /// Per-service processes, by name.
    pub services: BTreeMap<&'static str, RunningService>,
    /// Prometheus.
    pub prometheus: Prometheus,
    /// Alertmanager, which Prometheus sends alerts to.
    pub alertmanager: Alertmanager,
    /// The trace backend.
    pub jaeger: Jaeger,
    /// vlagent, shipping the services' and sidecars' logs to [`Stack::logs`].
    pub log_agent: LogAgent,
    /// The log backend (VictoriaLogs).
    pub logs: VictoriaLogs,
    /// The broker.
    pub kafka: Kafka,
    /// PostgreSQL's metrics (the broker serves its own, [`Kafka::metrics_port`]); declared
    /// before the server so that it stops first.
    pub postgres_exporter: PostgresExporter,
    /// The database server.
    pub postgres: Postgres,
    /// This run's secrets.
    pub secrets: StackSecrets,
    /// Tools used.
    pub tools: Toolchain,
    /// Dapr environment shared by all sidecars.
    pub dapr_env: DaprEnv,
    /// How it was started (replicas are started the same way).
    options: StackOptions,
    // Declared last: dropped after every process is stopped.
    run: RunDir,
}

fn random_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The services daprd calls (invocations, deliveries): each gets its own app token.
pub const CALLED_BY_SIDECAR: [&str; 2] = ["course-agent", "user-progress"];

impl StackSecrets {
    /// `service`'s app token (empty for a service no sidecar calls).
    pub fn app_token(&self, service: &str) -> String {
        self.app_tokens.get(service).cloned().unwrap_or_default()
    }
}

impl Stack {
    /// Starts everything and waits until all of it is ready.
    pub fn start(options: &StackOptions) -> Result<Self> {
        let tools = Toolchain::locate()?;
        let gateway_port = match options.gateway_port {
            Some(p) => require_port(p, "the gateway API")?,
            None => free_port()?,
        };
        let ui_port = |well_known| {
            if options.prefer_well_known_ports {
                preferred_or_free(well_known)
            } else {
                free_port()
            }
        };
        let ports = UiPorts {
            prometheus: ui_port(9090)?,
            traces: ui_port(16686)?,
            alertmanager: ui_port(9093)?,
            logs: ui_port(9428)?,
        };
        let mut run = RunDir::create("stack", options.detached)?;
        match Self::start_in(&mut run, tools, options, gateway_port, &ports) {
            Ok(p) => Ok(Self {
                replicas: Vec::new(),
                services: p.services,
                prometheus: p.prometheus,
                alertmanager: p.alertmanager,
                jaeger: p.jaeger,
                log_agent: p.log_agent,
                logs: p.logs,
                kafka: p.kafka,
                postgres: p.postgres,
                postgres_exporter: p.postgres_exporter,
                secrets: p.secrets,
                tools: p.tools,
                dapr_env: p.dapr_env,
                options: options.clone(),
                run,
            }),
            Err(e) => {
                // Keep the logs the error points at; stop what a detached start left behind.
                run.keep();
                if options.detached {
                    run.stop_recorded();
                }
                Err(e)
            }
        }
    }

    /// The run directory (logs live under it).
    pub fn run_dir(&self) -> PathBuf {
        self.run.path().to_owned()
    }

    /// Keeps logs after the stack stops.
    pub fn keep_logs(&mut self) {
        self.run.keep();
    }

    /// Base URL of the gateway API.
    pub fn gateway_url(&self) -> String {
        self.service_url("frontend-gateway")
    }

    /// Base URL of a service's API port.
    pub fn service_url(&self, name: &str) -> String {
        self.services
            .get(name)
            .map(|s| format!("http://127.0.0.1:{}", s.service.api_port()))
            .unwrap_or_default()
    }

    /// URL of a service's Prometheus metrics (its admin port).
    pub fn metrics_url(&self, name: &str) -> String {
        self.services
            .get(name)
            .map(RunningService::metrics_url)
            .unwrap_or_default()
    }

    /// A service and its sidecar.
    pub fn service(&mut self, name: &str) -> Option<&mut RunningService> {
        self.services.get_mut(name)
    }

    /// A day-long learner token for `learner`, accepted by this stack's gateway.
    pub fn dev_token(&self, learner: &str) -> String {
        lf_auth::mint(&self.secrets.jwt_secret, learner, 24 * 3600)
    }
}

/// Ports of the stack's web UIs and APIs.
#[derive(Debug, Clone, Copy)]
struct UiPorts {
    prometheus: u16,
    traces: u16,
    alertmanager: u16,
    logs: u16,
}
