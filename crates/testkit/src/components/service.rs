//! A LearnFlow service binary from this workspace, configured through `LEARNFLOW_*` environment.

use std::time::Duration;

use super::RunDir;
use crate::paths::workspace_binary;
use crate::process::{ManagedProcess, ProcessSpec};
use crate::wait::{http_status_is, until_ready};
use crate::{HarnessError, Result};

/// A running service.
#[derive(Debug)]
pub struct Service {
    process: ManagedProcess,
    name: String,
    api_port: u16,
    admin_port: u16,
}

impl Service {
    /// Starts binary `name` with `env` and waits until `GET /readyz` answers 200 on
    /// `admin_port` (every service serves health there; the gateway only there).
    pub fn start(
        run: &mut RunDir,
        name: &str,
        api_port: u16,
        admin_port: u16,
        env: Vec<(String, String)>,
    ) -> Result<Self> {
        let mut service = Self::spawn(run, name, api_port, admin_port, env)?;
        service.wait_ready()?;
        Ok(service)
    }

    /// Like [`Service::start`] without waiting for readiness.
    pub fn spawn(
        run: &mut RunDir,
        name: &str,
        api_port: u16,
        admin_port: u16,
        env: Vec<(String, String)>,
    ) -> Result<Self> {
        Self::spawn_instance(run, name, name, api_port, admin_port, env)
    }

    /// Like [`Service::spawn`] for one more instance of binary `name`, called `instance`
    /// in its process name and log file (`services/<instance>.log`).
    pub fn spawn_instance(
        run: &mut RunDir,
        name: &str,
        instance: &str,
        api_port: u16,
        admin_port: u16,
        env: Vec<(String, String)>,
    ) -> Result<Self> {
        let binary = workspace_binary(name);
        if !binary.is_file() {
            return Err(HarnessError::Missing {
                what: format!("service binary {}", binary.display()),
                fix: "cargo build --workspace --bins".into(),
            });
        }
        let dir = run.subdir("services")?;
        let mut spec = ProcessSpec::new(instance, binary, dir.join(format!("{instance}.log")))
            .env("LEARNFLOW_SERVER__PORT", api_port.to_string())
            .env("LEARNFLOW_ADMIN__PORT", admin_port.to_string())
            // A startup error should read as one line in the log, not a backtrace.
            .env("RUST_BACKTRACE", "0")
            .env("RUST_LIB_BACKTRACE", "0");
        spec.env.extend(env);
        spec.cwd = Some(dir.clone());
        let process = run.spawn(spec)?;
        Ok(Self {
            process,
            name: name.to_owned(),
            api_port,
            admin_port,
        })
    }

    /// Waits until `/healthz` answers 200 (it serves; dependencies may not be ready).
    pub fn wait_healthy(&mut self) -> Result<()> {
        let port = self.admin_port;
        until_ready(&mut self.process, Duration::from_secs(30), || {
            http_status_is(port, "/healthz", 200)
        })
    }

    /// Waits until `/readyz` answers 200.
    pub fn wait_ready(&mut self) -> Result<()> {
        let port = self.admin_port;
        until_ready(&mut self.process, Duration::from_secs(30), || {
            http_status_is(port, "/readyz", 200)
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// API port.
    pub fn api_port(&self) -> u16 {
        self.api_port
    }

    /// Admin (metrics) port.
    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The underlying process, for chaos.
    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }

    /// Restarts it (same ports) and waits until ready.
    pub fn restart(&mut self) -> Result<()> {
        self.process.restart(Duration::from_secs(10))?;
        self.wait_ready()
    }
}
