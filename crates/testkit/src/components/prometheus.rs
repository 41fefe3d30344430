//! Prometheus (Debian package) scraping every service, every daprd, kafka-monitor and the
//! exporters of PostgreSQL and the Kafka broker,
//! evaluating the rule file with absolute runbook links and sending alerts to Alertmanager.

use std::fmt::Write as _;

use super::{HttpProcess, RunDir, render, run_command};
use crate::Result;
use crate::paths::repo_root;
use crate::process::ProcessSpec;
use crate::tools::Toolchain;

/// The rule file every environment loads (recording rules and alerts), relative to the repo.
pub const RULES_FILE: &str = "deploy/monitoring/rules/learnflow.rules.yaml";

/// One scrape target: a job name, a port on loopback, and labels the dashboards rely on.
#[derive(Debug, Clone)]
pub struct ScrapeTarget {
    /// Prometheus job, e.g. `learnflow-services` or `dapr-sidecars`.
    pub job: &'static str,
    /// Port serving `/metrics`.
    pub port: u16,
    /// The `service` label (our service, kafka-monitor, or the exporter's component).
    pub service: String,
    /// The `app_id` label (Dapr app id, equal to the service), for our services and sidecars.
    pub app_id: Option<String>,
}

/// Where alerts go and where their runbook links point.
#[derive(Debug, Clone)]
pub struct Alerting {
    /// Alertmanager's `host:port`.
    pub alertmanager: String,
    /// Prefix of every `runbook_url` (ending in `/`): `<base>docs/runbooks/<Alert>.md`, as
    /// the chart's `monitoring.rules.runbookBaseUrl`.
    pub runbook_base: String,
}

impl Alerting {
    /// The runbook base of a native stack: this checkout, as a `file://` URL.
    pub fn local_runbooks() -> String {
        format!("file://{}/", repo_root().display())
    }
}

/// A running Prometheus.
#[derive(Debug)]
pub struct Prometheus {
    server: HttpProcess,
}

impl Prometheus {
    /// Renders `deploy/local/prometheus.yml` for `targets` and `alerting` (with
    /// [`RULES_FILE`]), checks it with promtool and starts Prometheus on `port`.
    pub fn start(
        run: &mut RunDir,
        tools: &Toolchain,
        port: u16,
        targets: &[ScrapeTarget],
        alerting: &Alerting,
    ) -> Result<Self> {
        let mut prometheus = Self::spawn(run, tools, port, targets, alerting)?;
        prometheus.wait_ready()?;
        Ok(prometheus)
    }

    /// Like [`Prometheus::start`] without waiting for readiness.
    pub fn spawn(
        run: &mut RunDir,
        tools: &Toolchain,
        port: u16,
        targets: &[ScrapeTarget],
        alerting: &Alerting,
    ) -> Result<Self> {
        let dir = run.subdir("prometheus")?;
        let config = dir.join("prometheus.yml");
        let rules = dir.join("learnflow.rules.yaml");
        write_rules(&alerting.runbook_base, &rules)?;
        render(
            &repo_root().join("deploy/local/prometheus.yml"),
            &[
                ("SCRAPE_CONFIGS", scrape_configs(targets)),
                ("RULES_FILE", rules.display().to_string()),
                ("ALERTMANAGER", alerting.alertmanager.clone()),
            ],
            &config,
        )?;
        run_command(
            "promtool check config",
            std::process::Command::new(&tools.promtool)
                .args(["check", "config"])
                .arg(&config),
        )?;
        let mut spec =
            ProcessSpec::new("prometheus", &tools.prometheus, dir.join("prometheus.log")).args([
                format!("--config.file={}", config.display()),
                format!("--storage.tsdb.path={}", dir.join("data").display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
                "--web.enable-lifecycle".to_owned(),
                "--storage.tsdb.retention.time=1d".to_owned(),
            ]);
        spec.cwd = Some(dir.clone());
        Ok(Self {
            server: HttpProcess::spawn(run, spec, port)?,
        })
    }

    /// Waits until `/-/ready` answers 200.
    pub fn wait_ready(&mut self) -> Result<()> {
        self.server.wait_answering("/-/ready")
    }
}

super::serves_http!(Prometheus);

/// [`RULES_FILE`] with every `runbook_url` prefixed by `runbook_base`, written to `out`.
fn write_rules(runbook_base: &str, out: &std::path::Path) -> Result<()> {
    let absolute = format!("runbook_url: \"{runbook_base}docs/runbooks/");
    super::rewrite(
        &repo_root().join(RULES_FILE),
        &[("runbook_url: \"docs/runbooks/", absolute.as_str())],
        out,
    )
}

/// The `scrape_configs` entries for `targets`, grouped by job, one static target each.
pub fn scrape_configs(targets: &[ScrapeTarget]) -> String {
    let mut jobs: Vec<&str> = targets.iter().map(|t| t.job).collect();
    jobs.dedup();
    let mut out = String::new();
    for job in jobs {
        // daprd labels its own series with app_id; honour it rather than renaming it exported_app_id.
        let _ = writeln!(
            out,
            "  - job_name: {job}\n    honor_labels: true\n    static_configs:"
        );
        for t in targets.iter().filter(|t| t.job == job) {
            let app_id = t
                .app_id
                .as_ref()
                .map(|id| format!(", app_id: \"{id}\""))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "      - targets: [\"127.0.0.1:{}\"]\n        labels: {{service: \"{}\"{app_id}}}",
                t.port, t.service
            );
        }
    }
    out
}
