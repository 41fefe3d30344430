//! `cargo xtask deploy-check`: the offline checks of every deploy asset (Helm chart,
//! skaffold, compose, Dockerfile, Prometheus rules, Grafana dashboards, the scaling
//! calculation, the Alertmanager routes), as the pytest suite in `tests/deploy/`, with the provisioned Helm, Python
//! tools and JSON schemas. No cluster, no Docker engine, no network.

use std::process::Command;

use lf_testkit::devtools::DevTools;
use lf_testkit::paths::repo_root;
use lf_testkit::schemas::{self, SCHEMAS_ENV};
use lf_testkit::tools::system_binary;

pub fn run() -> Result<(), String> {
    crate::deps::ensure()?;
    check()
}

/// Runs the suite; assumes provisioning is done.
pub fn check() -> Result<(), String> {
    let tools = DevTools::locate().map_err(|e| e.to_string())?;
    let schemas = schemas::locate().map_err(|e| e.to_string())?;
    let promtool =
        system_binary("promtool", "apt-get install -y prometheus").map_err(|e| e.to_string())?;
    let amtool = lf_testkit::tools::alertmanager_dir().join("amtool");
    if !amtool.is_file() {
        return Err(format!(
            "amtool is not provisioned ({}): run `cargo xtask deps`",
            amtool.display()
        ));
    }
    crate::say("offline deploy checks (pytest tests/deploy)");
    let status = Command::new(tools.python_tool("pytest"))
        .current_dir(repo_root())
        .args(["-q", "-p", "no:cacheprovider", "tests/deploy"])
        .env("HELM", &tools.helm)
        .env("PROMTOOL", &promtool)
        .env("AMTOOL", &amtool)
        .env(SCHEMAS_ENV, &schemas)
        .status()
        .map_err(|e| format!("running pytest: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("offline deploy checks failed ({status})"))
    }
}
