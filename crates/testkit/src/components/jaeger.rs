//! Jaeger v2: OTLP in (gRPC and HTTP), trace query API out, in-memory storage.

use std::time::Duration;

use super::{RunDir, render};
use crate::Result;
use crate::paths::repo_root;
use crate::process::{ManagedProcess, ProcessSpec};
use crate::tools::Toolchain;
use crate::wait::{free_port, http_status_is, until_ready};

/// A running Jaeger.
#[derive(Debug)]
pub struct Jaeger {
    process: ManagedProcess,
    /// OTLP/gRPC receiver port.
    pub otlp_grpc_port: u16,
    /// OTLP/HTTP receiver port.
    pub otlp_http_port: u16,
    /// Query API and UI port.
    pub query_port: u16,
}

impl Jaeger {
    /// Renders `deploy/local/jaeger.yaml` and starts Jaeger with the query API on `query_port`.
    pub fn start(run: &mut RunDir, tools: &Toolchain, query_port: u16) -> Result<Self> {
        let mut jaeger = Self::spawn(run, tools, query_port)?;
        jaeger.wait_ready()?;
        Ok(jaeger)
    }

    /// Like [`Jaeger::start`] without waiting for readiness.
    pub fn spawn(run: &mut RunDir, tools: &Toolchain, query_port: u16) -> Result<Self> {
        let dir = run.subdir("jaeger")?;
        let otlp_grpc_port = free_port()?;
        let otlp_http_port = free_port()?;
        let config = dir.join("jaeger.yaml");
        render(
            &repo_root().join("deploy/local/jaeger.yaml"),
            &[
                ("OTLP_GRPC_PORT", otlp_grpc_port.to_string()),
                ("OTLP_HTTP_PORT", otlp_http_port.to_string()),
                ("QUERY_HTTP_PORT", query_port.to_string()),
                ("QUERY_GRPC_PORT", free_port()?.to_string()),
                ("HEALTH_PORT", free_port()?.to_string()),
            ],
            &config,
        )?;
        let mut spec = ProcessSpec::new("jaeger", &tools.jaeger, dir.join("jaeger.log"))
            .args([format!("--config={}", config.display())]);
        spec.cwd = Some(dir.clone());
        let process = run.spawn(spec)?;
        Ok(Self {
            process,
            otlp_grpc_port,
            otlp_http_port,
            query_port,
        })
    }

    /// Waits until the query API answers.
    pub fn wait_ready(&mut self) -> Result<()> {
        let port = self.query_port;
        until_ready(&mut self.process, Duration::from_secs(30), || {
            http_status_is(port, "/api/services", 200)
        })
    }

    /// Base URL of the query API (and UI).
    pub fn query_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.query_port)
    }

    /// `host:port` of the OTLP/HTTP receiver.
    pub fn otlp_http_endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.otlp_http_port)
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The underlying process.
    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }
}
