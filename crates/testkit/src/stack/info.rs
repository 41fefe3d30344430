//! The stack's description: what `cargo xtask up --detach` writes to
//! `target/learnflow/stack.json`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::*;

impl Stack {
    /// The description `xtask up --detach` writes to `target/learnflow/stack.json`.
    pub fn info(&self) -> StackInfo {
        let mut services = BTreeMap::new();
        for (name, running) in &self.services {
            let daprd = running.daprd.as_ref();
            services.insert(
                (*name).to_owned(),
                ServiceInfo {
                    api: format!("http://127.0.0.1:{}", running.service.api_port()),
                    metrics: format!("http://127.0.0.1:{}/metrics", running.service.admin_port()),
                    daprd_http: daprd.map(Daprd::http_url),
                    daprd_metrics: daprd
                        .map(|d| format!("http://127.0.0.1:{}/metrics", d.ports().metrics)),
                },
            );
        }
        StackInfo {
            run_dir: self.run.path().to_owned(),
            gateway: self.gateway_url(),
            prometheus: self.prometheus.url(),
            alertmanager: self.alertmanager.url(),
            traces: self.jaeger.query_url(),
            logs: self.logs.url(),
            kafka_bootstrap: self.kafka.bootstrap(),
            postgres: self.postgres.url("postgres"),
            exporters: BTreeMap::from([
                (
                    "postgresql".to_owned(),
                    format!("http://127.0.0.1:{}/metrics", self.postgres_exporter.port()),
                ),
                (
                    "kafka-broker".to_owned(),
                    format!("http://127.0.0.1:{}/metrics", self.kafka.metrics_port()),
                ),
            ]),
            services,
            pids: self.pids(),
            dapr_api_token: self.secrets.dapr_api_token.clone(),
            dev_token: Some(self.dev_token("dev-learner")),
        }
    }

    fn pids(&self) -> BTreeMap<String, u32> {
        let mut pids = BTreeMap::new();
        pids.insert("postgres".to_owned(), self.postgres.pid());
        pids.insert("postgres-exporter".to_owned(), self.postgres_exporter.pid());
        pids.insert("kafka".to_owned(), self.kafka.pid());
        pids.insert("jaeger".to_owned(), self.jaeger.pid());
        pids.insert("prometheus".to_owned(), self.prometheus.pid());
        pids.insert("alertmanager".to_owned(), self.alertmanager.pid());
        pids.insert("victoria-logs".to_owned(), self.logs.pid());
        pids.insert("vlagent".to_owned(), self.log_agent.pid());
        for (name, running) in &self.services {
            pids.insert((*name).to_owned(), running.service.pid());
            if let Some(d) = &running.daprd {
                pids.insert(format!("daprd-{name}"), d.pid());
            }
        }
        pids
    }
}

/// One service's endpoints in [`StackInfo`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// Base URL of its API port.
    pub api: String,
    /// Its `/metrics` URL (admin port).
    pub metrics: String,
    /// Base URL of its daprd's HTTP API.
    pub daprd_http: Option<String>,
    /// Its daprd's metrics URL.
    pub daprd_metrics: Option<String>,
}

/// What `cargo xtask up --detach` writes to `target/learnflow/stack.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StackInfo {
    /// Run directory holding logs and data.
    pub run_dir: PathBuf,
    /// Base URL of the gateway API.
    pub gateway: String,
    /// Base URL of Prometheus.
    pub prometheus: String,
    /// Base URL of Alertmanager's API and UI.
    pub alertmanager: String,
    /// Base URL of the trace backend's query API (Jaeger).
    pub traces: String,
    /// Base URL of the log backend's HTTP API (VictoriaLogs: LogsQL at
    /// `/select/logsql/query`, its UI at `/select/vmui`).
    pub logs: String,
    /// Kafka bootstrap `host:port`.
    pub kafka_bootstrap: String,
    /// PostgreSQL superuser URL.
    pub postgres: String,
    /// `/metrics` URLs of the exporters of PostgreSQL and the Kafka broker, by component.
    #[serde(default)]
    pub exporters: BTreeMap<String, String>,
    /// Endpoints per service.
    pub services: BTreeMap<String, ServiceInfo>,
    /// Pid of every process started, by component.
    pub pids: BTreeMap<String, u32>,
    /// Token for calling a daprd API directly (dev stacks only).
    pub dapr_api_token: String,
    /// A learner bearer token for the gateway (dev stacks only).
    pub dev_token: Option<String>,
}
