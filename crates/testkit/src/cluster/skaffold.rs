//! skaffold against the cluster (ADR 0019): the provisioned binary, run from the
//! repository root with the cluster's kubeconfig (whose context `learnflow` activates
//! skaffold.yaml's `local` profile), helm and kubectl on `PATH`, a Docker Engine to build
//! with, and a global config of its own under `target/learnflow` (no metrics, no update
//! check, no prompts; the user's `~/.skaffold` stays untouched).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::provision::{kubernetes_dir, skaffold_dir};
use crate::paths::target_dir;
use crate::{HarnessError, Result};

/// The port `skaffold … --port-forward` forwards the gateway to (skaffold.yaml).
pub const GATEWAY_FORWARD_PORT: u16 = 18080;

/// skaffold's global config for this project: metrics and update checks off (nothing
/// outside the machine is reachable, and the first-run prompt would turn metrics on).
const GLOBAL_CONFIG: &str = "\
global:
  collect-metrics: false
  update-check: false
  survey:
    disable-prompt: true
kubeContexts: []
";

/// The provisioned skaffold binary.
pub fn binary() -> PathBuf {
    skaffold_dir().join("skaffold")
}

/// A `skaffold` command run in `workspace` (a checkout: skaffold.yaml and the build
/// context) for the cluster whose admin kubeconfig is `kubeconfig`, building with the
/// engine at `docker_host` (a `DOCKER_HOST` value).
pub fn command(workspace: &Path, kubeconfig: &Path, docker_host: &str) -> Result<Command> {
    let config = target_dir().join("learnflow/skaffold-global.yaml");
    if let Some(dir) = config.parent() {
        std::fs::create_dir_all(dir).map_err(HarnessError::io("creating target/learnflow"))?;
    }
    std::fs::write(&config, GLOBAL_CONFIG)
        .map_err(HarnessError::io("writing skaffold's global config"))?;
    let path = std::env::join_paths(
        [
            skaffold_dir(),
            crate::devtools::helm_dir(),
            kubernetes_dir(),
        ]
        .into_iter()
        .chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )),
    )
    .map_err(|e| HarnessError::Command {
        what: "building PATH for skaffold".into(),
        detail: e.to_string(),
    })?;
    let mut cmd = Command::new(binary());
    cmd.current_dir(workspace)
        .env("PATH", path)
        .env("KUBECONFIG", kubeconfig)
        .env("DOCKER_HOST", docker_host)
        .env("SKAFFOLD_CONFIG", &config)
        .env("SKAFFOLD_INTERACTIVE", "false")
        .env("SKAFFOLD_UPDATE_CHECK", "false");
    Ok(cmd)
}
