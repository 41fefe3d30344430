//! daprd sidecars, standalone, loading `deploy/dapr/` as their resources and configuration.

use std::path::PathBuf;
use std::time::Duration;

use super::RunDir;
use crate::paths::repo_root;
use crate::process::{ManagedProcess, ProcessSpec};
use crate::tools::Toolchain;
use crate::wait::{free_port, http_status_is, until_ready};
use crate::{HarnessError, Result};

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
    /// Token daprd presents to its app (`APP_API_TOKEN`): each app's own, empty for an
    /// app no sidecar calls.
    pub app_token: String,
}

impl DaprEnv {
    /// The same environment for the sidecar of an app whose token is `app_token`.
    pub fn for_app(&self, app_token: String) -> Self {
        Self {
            app_token,
            ..self.clone()
        }
    }
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
    /// Length of its (appended) log when this run of it started: readiness reads on from here.
    log_from: u64,
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
        Self::spawn_instance(run, tools, app_id, app_id, app_port, ports, env)
    }

    /// Like [`Daprd::spawn`] for one more instance of `app_id` (same app id, so it
    /// registers beside the others and joins the same consumer group), called
    /// `instance` in its process name and log file (`daprd/<instance>.log`).
    pub fn spawn_instance(
        run: &mut RunDir,
        tools: &Toolchain,
        app_id: &str,
        instance: &str,
        app_port: u16,
        ports: DaprPorts,
        env: &DaprEnv,
    ) -> Result<Self> {
        let dir = run.subdir("daprd")?;
        let resources = repo_root().join("deploy/dapr");
        let mut spec = ProcessSpec::new(
            format!("daprd[{instance}]"),
            &tools.daprd,
            dir.join(format!("{instance}.log")),
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
        let log_from = log_len(&spec.log);
        let process = run.spawn(spec)?;
        Ok(Self {
            process,
            app_id: app_id.to_owned(),
            ports,
            log_from,
        })
    }

    /// Waits for `/v1.0/healthz` to answer 204, then refuses a sidecar that logged a
    /// component it could not initialise since it started. daprd 1.18 logs a failed name
    /// resolver and goes on: healthy, but never registered, so no other sidecar can reach
    /// its app (CI saw this once, with every call to user-progress a 503 for a whole run).
    pub fn wait_ready(&mut self) -> Result<()> {
        let http = self.ports.http;
        let started = std::time::Instant::now();
        until_ready(&mut self.process, Duration::from_secs(60), || {
            http_status_is(http, "/v1.0/healthz", 204)
        })?;
        let log = self.process.log_path().to_owned();
        match component_failure(&read_from(&log, self.log_from)) {
            None => Ok(()),
            Some(line) => Err(HarnessError::NotReady {
                component: self.process.name().to_owned(),
                waited: started.elapsed(),
                reason: format!("it could not initialise a component: {line}"),
                tail: self.process.log_tail(40),
                log,
            }),
        }
    }

    /// Waits until its name resolver has initialised — the shared SQLite file created in WAL
    /// mode and migrated — or failed (an error naming the log line).
    ///
    /// The stack starts one sidecar this far before the others: the first connection to a
    /// new file switches it to WAL, which needs the file to itself and does not wait for a
    /// busy one, so sidecars racing there fail with `database is locked` (seen in CI).
    pub fn wait_name_resolution(&mut self, timeout: Duration) -> Result<()> {
        let log = self.process.log_path().to_owned();
        let started = std::time::Instant::now();
        loop {
            let text = read_from(&log, self.log_from);
            let failed = if let Some(line) = component_failure(&text) {
                Some(format!("it could not initialise a component: {line}"))
            } else if name_resolution_initialised(&text) {
                return Ok(());
            } else if let Some(exit) = self.process.exited() {
                Some(exit)
            } else if started.elapsed() > timeout {
                Some("its name resolver did not initialise".into())
            } else {
                None
            };
            if let Some(reason) = failed {
                return Err(HarnessError::NotReady {
                    component: self.process.name().to_owned(),
                    waited: started.elapsed(),
                    reason,
                    tail: self.process.log_tail(40),
                    log,
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
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
        self.respawn()?;
        self.wait_ready()
    }

    /// Stops it and starts it again (same ports) without waiting: [`Daprd::wait_ready`] next.
    pub fn respawn(&mut self) -> Result<()> {
        self.process.stop(Duration::from_secs(10));
        self.log_from = log_len(self.process.log_path());
        self.process.restart(Duration::from_secs(10))
    }
}

fn log_len(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn read_from(path: &std::path::Path, offset: u64) -> String {
    use std::io::{Read as _, Seek as _};
    let mut text = String::new();
    if let Ok(mut file) = std::fs::File::open(path)
        && file.seek(std::io::SeekFrom::Start(offset)).is_ok()
    {
        let mut bytes = Vec::new();
        let _ = file.read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    text
}

/// True once a daprd log says its name resolver is initialised.
fn name_resolution_initialised(log: &str) -> bool {
    log.lines()
        .any(|line| line.contains("Initialized name resolution to"))
}

/// The first line of a daprd log reporting a component that failed to initialise.
fn component_failure(log: &str) -> Option<&str> {
    log.lines()
        .find(|line| line.contains("INIT_COMPONENT_FAILURE"))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::{component_failure, name_resolution_initialised};

    #[test]
    fn a_component_that_failed_to_initialise_is_found_in_the_log() {
        let healthy = r#"{"level":"info","msg":"Initialized name resolution to sqlite","scope":"dapr.runtime"}
{"level":"info","msg":"Component loaded: kafka-pubsub (pubsub.kafka/v1)","scope":"dapr.runtime"}"#;
        assert_eq!(component_failure(healthy), None);
        assert!(name_resolution_initialised(healthy));
        assert!(!name_resolution_initialised(
            r#"{"level":"info","msg":"Loading components…","scope":"dapr.runtime"}"#
        ));
        let failed = format!(
            "{healthy}\n{}\n",
            r#"{"level":"error","msg":"[INIT_COMPONENT_FAILURE]: initialization error occurred for nr (sqlite/v1): failed to perform migrations: failed to begin transaction: database is locked","scope":"dapr.runtime"}"#
        );
        let line = component_failure(&failed).expect("the failure is found");
        assert!(line.contains("nr (sqlite/v1)"), "{line}");
    }
}
