//! Alertmanager with LearnFlow's route tree (`deploy/monitoring/alertmanager.yml`): the
//! webhook URL files it reads are written into the run directory, and its waits are
//! shortened so a resolved alert is announced within seconds, not five minutes.

use std::path::Path;

use super::{HttpProcess, RunDir};
use crate::paths::repo_root;
use crate::process::ProcessSpec;
use crate::tools::Toolchain;
use crate::{HarnessError, Result};

/// The configuration every environment uses, relative to the repo.
pub const CONFIG_FILE: &str = "deploy/monitoring/alertmanager.yml";

/// Where that configuration reads its webhook URLs (`pager-url`, `chat-url`): the mount
/// path of the Kubernetes Secret `learnflow-alert-webhooks`.
pub const WEBHOOK_DIR: &str = "/etc/alertmanager/secrets/learnflow-alert-webhooks/";

/// The native stack's waits, replacing the file's (30 s, 5 min): a developer, and the
/// alert tests, see a notification and its resolution within seconds.
const NATIVE_TIMINGS: [(&str, &str); 2] = [
    ("group_wait: 30s", "group_wait: 5s"),
    ("group_interval: 5m", "group_interval: 15s"),
];

/// The receivers' webhook URLs. `None`: the receiver's URL file is empty, so Alertmanager
/// still groups, inhibits and shows alerts, and logs each failed send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertWebhooks {
    /// Receives `severity: critical`.
    pub pager: Option<String>,
    /// Receives `severity: warning` (and anything unrouted).
    pub chat: Option<String>,
}

/// A running Alertmanager.
#[derive(Debug)]
pub struct Alertmanager {
    server: HttpProcess,
}

impl Alertmanager {
    /// Renders [`CONFIG_FILE`] for this run, checks it with amtool and starts Alertmanager on
    /// `port` (its cluster listener off: one instance).
    pub fn spawn(
        run: &mut RunDir,
        tools: &Toolchain,
        port: u16,
        webhooks: &AlertWebhooks,
    ) -> Result<Self> {
        let dir = run.subdir("alertmanager")?;
        let secrets = dir.join("webhooks");
        std::fs::create_dir_all(&secrets)
            .map_err(HarnessError::io(format!("creating {}", secrets.display())))?;
        for (file, url) in [("pager-url", &webhooks.pager), ("chat-url", &webhooks.chat)] {
            let path = secrets.join(file);
            std::fs::write(&path, url.as_deref().unwrap_or_default())
                .map_err(HarnessError::io(format!("writing {}", path.display())))?;
        }
        let config = dir.join("alertmanager.yml");
        write_native_config(&repo_root().join(CONFIG_FILE), &secrets, &config)?;
        super::run_command(
            "amtool check-config",
            std::process::Command::new(&tools.amtool)
                .arg("check-config")
                .arg(&config),
        )?;
        let mut spec = ProcessSpec::new(
            "alertmanager",
            &tools.alertmanager,
            dir.join("alertmanager.log"),
        )
        .args([
            format!("--config.file={}", config.display()),
            format!("--storage.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            // A single instance: no gossip port to bind or to collide with another stack's.
            "--cluster.listen-address=".to_owned(),
            format!("--web.external-url=http://127.0.0.1:{port}/"),
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

super::serves_http!(Alertmanager);

/// `template` with its webhook files in `secrets` and [`NATIVE_TIMINGS`], written to `out`.
fn write_native_config(template: &Path, secrets: &Path, out: &Path) -> Result<()> {
    let secrets_dir = format!("{}/", secrets.display());
    let mut replacements = vec![(WEBHOOK_DIR, secrets_dir.as_str())];
    replacements.extend(NATIVE_TIMINGS);
    super::rewrite(template, &replacements, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_native_config_reads_the_run_s_webhook_files_and_waits_less() {
        let dir = std::env::temp_dir().join(format!("lf-am-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let out = dir.join("alertmanager.yml");
        write_native_config(&repo_root().join(CONFIG_FILE), &dir.join("hooks"), &out)
            .expect("rendered");
        let text = std::fs::read_to_string(&out).expect("written");
        assert!(!text.contains(WEBHOOK_DIR), "{text}");
        let hooks = dir.join("hooks").display().to_string();
        assert!(
            text.contains(&format!("url_file: {hooks}/pager-url")),
            "{text}"
        );
        assert!(
            text.contains(&format!("url_file: {hooks}/chat-url")),
            "{text}"
        );
        assert!(text.contains("group_wait: 5s") && text.contains("group_interval: 15s"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_config_without_what_the_harness_replaces_is_refused() {
        let dir = std::env::temp_dir().join(format!("lf-am-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let template = dir.join("in.yml");
        std::fs::write(&template, "route:\n  group_wait: 10s\n").expect("written");
        let err = write_native_config(&template, &dir, &dir.join("out.yml"))
            .expect_err("nothing to replace");
        assert!(err.to_string().contains(WEBHOOK_DIR), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
