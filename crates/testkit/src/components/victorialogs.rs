//! Logs searchable by trace id (ADR 0030): VictoriaLogs stores them and answers LogsQL;
//! vlagent tails the services' and sidecars' log files into it.
//!
//! Nothing in the services changes: they keep writing JSON lines (request spans carry
//! `span.trace_id`), daprd writes its own JSON, and vlagent parses each line as JSON and
//! adds `service` (and `component` for sidecars) from the file it came from.

use std::path::Path;

use super::{HttpProcess, RunDir};
use crate::Result;
use crate::process::ProcessSpec;
use crate::tools::Toolchain;
use crate::wait::free_port;

/// The LogsQL query for every log line of one trace: lines written inside a request carry
/// its id as `span.trace_id` (the JSON logger nests the current span's fields).
pub fn trace_query(trace_id: &str) -> String {
    format!("span.trace_id:={trace_id}")
}

/// A running VictoriaLogs.
#[derive(Debug)]
pub struct VictoriaLogs {
    server: HttpProcess,
}

impl VictoriaLogs {
    /// Starts VictoriaLogs on `port` with its data in the run directory.
    pub fn spawn(run: &mut RunDir, tools: &Toolchain, port: u16) -> Result<Self> {
        let dir = run.subdir("victorialogs")?;
        let mut spec = ProcessSpec::new(
            "victoria-logs",
            &tools.victoria_logs,
            dir.join("victoria-logs.log"),
        )
        .args([
            format!("-httpListenAddr=127.0.0.1:{port}"),
            format!("-storageDataPath={}", dir.join("data").display()),
            // A dev stack's logs are worth a day; a run directory is not an archive.
            "-retentionPeriod=1d".to_owned(),
            "-loggerFormat=json".to_owned(),
        ]);
        spec.cwd = Some(dir.clone());
        Ok(Self {
            server: HttpProcess::spawn(run, spec, port)?,
        })
    }

    /// Waits until `/health` answers.
    pub fn wait_ready(&mut self) -> Result<()> {
        self.server.wait_answering("/health")
    }

    /// The URL vlagent writes to.
    pub fn insert_url(&self) -> String {
        format!("{}/insert/native", self.server.url())
    }
}

super::serves_http!(VictoriaLogs);

/// A running vlagent, shipping the log files of `services` (and of their sidecars and
/// replicas) to a [`VictoriaLogs`].
#[derive(Debug)]
pub struct LogAgent {
    server: HttpProcess,
}

impl LogAgent {
    /// Starts vlagent for the log files the harness writes for each of `services`:
    /// `services/<name>*.log` and `daprd/<name>*.log`, replicas included.
    pub fn spawn(
        run: &mut RunDir,
        tools: &Toolchain,
        store: &VictoriaLogs,
        services: &[&str],
    ) -> Result<Self> {
        let dir = run.subdir("vlagent")?;
        let port = free_port()?;
        let mut args = vec![
            format!("-httpListenAddr=127.0.0.1:{port}"),
            format!("-tmpDataPath={}", dir.join("data").display()),
            format!("-remoteWrite.url={}", store.insert_url()),
            // New files (a replica started by a test) are found within a second.
            "-fileCollector.refreshInterval=1s".to_owned(),
            "-fileCollector.streamFields=service,component".to_owned(),
            "-loggerFormat=json".to_owned(),
        ];
        for (glob, fields) in collected_files(run.path(), services) {
            args.push(format!("-fileCollector.glob={glob}"));
            args.push(format!("-fileCollector.extraFields={fields}"));
        }
        let mut spec =
            ProcessSpec::new("vlagent", &tools.vlagent, dir.join("vlagent.log")).args(args);
        spec.cwd = Some(dir.clone());
        Ok(Self {
            server: HttpProcess::spawn(run, spec, port)?,
        })
    }

    /// Waits until `/health` answers.
    pub fn wait_ready(&mut self) -> Result<()> {
        self.server.wait_answering("/health")
    }
}

super::serves_http!(LogAgent);

/// One `(glob, extra fields as JSON)` pair per collected kind of file: each service's own
/// log and its sidecar's. Replicas' files start with the service's name, so the same globs
/// take them.
fn collected_files(run: &Path, services: &[&str]) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for service in services {
        for (subdir, component) in [("services", "service"), ("daprd", "daprd")] {
            let glob = run.join(subdir).join(format!("{service}*.log"));
            let fields = serde_json::json!({ "service": service, "component": component });
            files.push((glob.display().to_string(), fields.to_string()));
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_service_and_its_sidecar_is_collected_with_its_name() {
        let files = collected_files(Path::new("/runs/1"), &["frontend-gateway", "user-progress"]);
        assert_eq!(files.len(), 4);
        let (glob, fields) = &files[1];
        assert_eq!(glob, "/runs/1/daprd/frontend-gateway*.log");
        let fields: serde_json::Value = serde_json::from_str(fields).unwrap();
        assert_eq!(fields["service"], "frontend-gateway");
        assert_eq!(fields["component"], "daprd");
        assert_eq!(files[2].0, "/runs/1/services/user-progress*.log");
    }
}
