//! PostgreSQL's Prometheus exporter (Debian `prometheus-postgres-exporter`), connecting as
//! a role that holds only `pg_monitor` — what a deployment should give it too — over the
//! server's own transport (TLS with the run's CA when the server serves TLS only).

use super::postgres::Postgres;
use super::{HttpProcess, RunDir};
use crate::Result;
use crate::process::ProcessSpec;
use crate::tools::Toolchain;
use crate::wait::free_port;

/// The monitoring role the exporter logs in as.
pub const MONITOR_ROLE: &str = "learnflow_monitor";

/// A running exporter.
#[derive(Debug)]
pub struct PostgresExporter {
    server: HttpProcess,
}

impl PostgresExporter {
    /// Creates [`MONITOR_ROLE`] (with a password made for this run) and starts the exporter
    /// on a free loopback port. `postgres` must be ready.
    pub fn spawn(run: &mut RunDir, tools: &Toolchain, postgres: &Postgres) -> Result<Self> {
        let dir = run.subdir("postgres-exporter")?;
        let password = uuid::Uuid::new_v4().simple().to_string();
        postgres.psql(
            "postgres",
            &format!(
                "CREATE ROLE {MONITOR_ROLE} LOGIN PASSWORD '{password}'; \
                 GRANT pg_monitor TO {MONITOR_ROLE};"
            ),
        )?;
        let port = free_port()?;
        let url = postgres.url_as(MONITOR_ROLE, &password, "postgres");
        let mut spec = ProcessSpec::new(
            "postgres-exporter",
            &tools.postgres_exporter,
            dir.join("postgres-exporter.log"),
        )
        .args([
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--log.format=json".to_owned(),
        ])
        // The exporter reads its connection only from the environment (never argv: `ps`).
        .env("DATA_SOURCE_NAME", url);
        spec.cwd = Some(dir.clone());
        Ok(Self {
            server: HttpProcess::spawn(run, spec, port)?,
        })
    }

    /// Waits until `/metrics` answers.
    pub fn wait_ready(&mut self) -> Result<()> {
        self.server.wait_answering("/metrics")
    }
}

super::serves_http!(PostgresExporter);
