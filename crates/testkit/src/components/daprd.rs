//! daprd sidecars, standalone, loading `deploy/dapr/` as their resources and configuration.

use std::path::PathBuf;
use std::time::Duration;

use super::RunDir;
use crate::Result;
use crate::paths::repo_root;
use crate::process::{ManagedProcess, ProcessSpec};
use crate::tools::Toolchain;
use crate::wait::{free_port, http_status_is, until_ready};

/// Environment the Dapr YAML in `deploy/dapr/` reads (`envRef` in components,
/// `${...}` in the Configuration).
#[derive(Debug, Clone)]
pub struct DaprEnv {
    /// Kafka bootstrap servers (`LEARNFLOW_KAFKA_BROKERS`).
    pub kafka_brokers: String,
    /// Shared SQLite file for name resolution (`LEARNFLOW_NAMERES_DB`).
    pub nameres_db: PathBuf,
    /// OTLP/HTTP `host:port` of the trace backend (`LEARNFLOW_OTLP_ENDPOINT`).
    pub otlp_endpoint: String,
    /// Trace sampling rate, `"1"` in dev (`LEARNFLOW_TRACE_SAMPLING`).
    pub sampling_rate: String,
    /// Token apps must present to daprd (`DAPR_API_TOKEN`).
    pub api_token: String,
    /// Token daprd presents to its app (`APP_API_TOKEN`).
    pub app_token: String,
}

/// Ports of one sidecar.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct DaprPorts {
    /// HTTP API.
    pub http: u16,
    /// gRPC API.
    pub grpc: u16,
    /// Sidecar-to-sidecar gRPC.
    pub internal_grpc: u16,
    /// Prometheus metrics.
    pub metrics: u16,
}

impl DaprPorts {
    /// Four free ports.
    pub fn free() -> Result<Self> {
        Ok(Self {
            http: free_port()?,
            grpc: free_port()?,
            internal_grpc: free_port()?,
            metrics: free_port()?,
        })
    }
}

/// A running sidecar.
#[derive(Debug)]
pub struct Daprd {
    process: ManagedProcess,
    app_id: String,
    ports: DaprPorts,
}

impl Daprd {
    /// Starts a sidecar for `app_id` whose app listens on `app_port`, and waits for `/v1.0/healthz`.
    pub fn start(
        run: &mut RunDir,
        tools: &Toolchain,
        app_id: &str,
        app_port: u16,
        ports: DaprPorts,
        env: &DaprEnv,
    ) -> Result<Self> {
        let mut daprd = Self::spawn(run, tools, app_id, app_port, ports, env)?;
        daprd.wait_ready()?;
        Ok(daprd)
    }

    /// Like [`Daprd::start`] without waiting for readiness.
    pub fn spawn(
        run: &mut RunDir,
        tools: &Toolchain,
        app_id: &str,
        app_port: u16,
        ports: DaprPorts,
        env: &DaprEnv,
    ) -> Result<Self> {
        let dir = run.subdir("daprd")?;
        let resources = repo_root().join("deploy/dapr");
        let mut spec = ProcessSpec::new(
            format!("daprd[{app_id}]"),
            &tools.daprd,
            dir.join(format!("{app_id}.log")),
        )
        .args([
            "--app-id",
            app_id,
            "--app-protocol",
            "http",
            "--app-channel-address",
            "127.0.0.1",
        ])
        .args(["--app-port".to_owned(), app_port.to_string()])
        .args(["--dapr-http-port".to_owned(), ports.http.to_string()])
        .args(["--dapr-grpc-port".to_owned(), ports.grpc.to_string()])
        .args([
            "--dapr-internal-grpc-port".to_owned(),
            ports.internal_grpc.to_string(),
        ])
        .args(["--dapr-internal-grpc-listen-address", "127.0.0.1"])
        .args(["--dapr-listen-addresses", "127.0.0.1"])
        .args(["--metrics-port".to_owned(), ports.metrics.to_string()])
        .args(["--metrics-listen-address", "127.0.0.1"])
        .args([
            "--resources-path".into(),
            resources.clone().into_os_string(),
        ])
        .args([
            "--config".into(),
            resources.join("config.yaml").into_os_string(),
        ])
        .args(["--log-level", "info", "--log-as-json"])
        // No app health checks: with them, daprd 1.18.3 unsubscribes when the app turns
        // unhealthy, and after a 5 s kill of user-progress its Kafka consumer left the
        // group and never rejoined (chaos suite; ADR 0006). Without them a down app just
        // fails deliveries, which the inbound retry policy rides out.
        .args(["--dapr-graceful-shutdown-seconds", "2"])
        .env("LEARNFLOW_KAFKA_BROKERS", env.kafka_brokers.clone())
        .env("LEARNFLOW_KAFKA_VERSION", crate::versions::KAFKA_PROTOCOL)
        .env("LEARNFLOW_NAMERES_DB", env.nameres_db.display().to_string())
        .env("LEARNFLOW_OTLP_ENDPOINT", env.otlp_endpoint.clone())
        .env("LEARNFLOW_TRACE_SAMPLING", env.sampling_rate.clone())
        .env("DAPR_API_TOKEN", env.api_token.clone())
        .env("APP_API_TOKEN", env.app_token.clone());
        spec.cwd = Some(dir.clone());
        spec.detached = run.detached();
        let process = ManagedProcess::spawn(spec)?;
        run.track(process.pid())?;
        Ok(Self {
            process,
            app_id: app_id.to_owned(),
            ports,
        })
    }

    /// Waits for `/v1.0/healthz` to answer 204.
    pub fn wait_ready(&mut self) -> Result<()> {
        let http = self.ports.http;
        until_ready(&mut self.process, Duration::from_secs(60), || {
            http_status_is(http, "/v1.0/healthz", 204)
        })
    }

    /// Its app id.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// Its ports.
    pub fn ports(&self) -> DaprPorts {
        self.ports
    }

    /// Base URL of its HTTP API.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.http)
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The underlying process, for chaos.
    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }

    /// Restarts it (same ports) and waits until healthy.
    pub fn restart(&mut self) -> Result<()> {
        self.process.restart(Duration::from_secs(10))?;
        self.wait_ready()
    }
}
