//! Finds the provisioned components and system prerequisites.
//!
//! Every lookup that fails says what is missing and the command that gets it.

use std::path::{Path, PathBuf};

use crate::paths::{cache_dir, repo_root};
use crate::versions;
use crate::{HarnessError, Result};

/// Locations of everything the native stack runs.
#[derive(Debug, Clone)]
pub struct Toolchain {
    /// The daprd binary.
    pub daprd: PathBuf,
    /// The Jaeger v2 binary.
    pub jaeger: PathBuf,
    /// Directory of the Kafka broker's jars.
    pub kafka_libs: PathBuf,
    /// The JMX exporter's java agent jar the broker runs with.
    pub kafka_jmx_agent: PathBuf,
    /// The `java` launcher.
    pub java: PathBuf,
    /// Directory with `postgres`, `initdb`, `pg_isready`, `psql`.
    pub postgres_bin: PathBuf,
    /// The Alertmanager binary.
    pub alertmanager: PathBuf,
    /// Alertmanager's `amtool` (config checks and route tests).
    pub amtool: PathBuf,
    /// The `prometheus` binary.
    pub prometheus: PathBuf,
    /// The `promtool` binary.
    pub promtool: PathBuf,
    /// PostgreSQL's Prometheus exporter (Debian `prometheus-postgres-exporter`).
    pub postgres_exporter: PathBuf,
    /// The VictoriaLogs log store.
    pub victoria_logs: PathBuf,
    /// vlagent, which tails log files into VictoriaLogs.
    pub vlagent: PathBuf,
}

/// Directory of provisioned daprd.
pub fn daprd_dir() -> PathBuf {
    cache_dir().join(format!("daprd-{}", versions::DAPR))
}
/// Directory of provisioned Jaeger.
pub fn jaeger_dir() -> PathBuf {
    cache_dir().join(format!("jaeger-{}", versions::JAEGER_MODULE))
}
/// Directory of provisioned Alertmanager (and amtool).
pub fn alertmanager_dir() -> PathBuf {
    cache_dir().join(format!("alertmanager-{}", versions::ALERTMANAGER_MODULE))
}
/// Directory of provisioned VictoriaLogs (and vlagent).
pub fn victorialogs_dir() -> PathBuf {
    cache_dir().join(format!("victorialogs-{}", versions::VICTORIALOGS_MODULE))
}
/// Directory of the provisioned JMX exporter agent.
pub fn jmx_exporter_dir() -> PathBuf {
    cache_dir().join(format!("jmx-exporter-{}", versions::JMX_EXPORTER))
}
/// The agent jar's file name inside [`jmx_exporter_dir`].
pub fn jmx_agent_jar() -> String {
    format!("jmx_prometheus_javaagent-{}.jar", versions::JMX_EXPORTER)
}
/// `deploy/local/kafka-pom.xml`, which decides which jars provisioning resolves. Read at
/// run time, not compiled in: crates that link the testkit (the load driver) are built in
/// images whose context holds no `deploy/`.
pub(crate) fn kafka_pom() -> Vec<u8> {
    std::fs::read(repo_root().join("deploy/local/kafka-pom.xml")).unwrap_or_default()
}

/// Directory of provisioned Kafka, keyed by the version and the pom's content: jars resolved
/// from an older pom (say, without kafka-tools) are never mistaken for the current ones.
pub fn kafka_dir() -> PathBuf {
    let key = crate::devtools::bytes_key(&kafka_pom());
    cache_dir().join(format!("kafka-{}-{}", versions::KAFKA, &key[..8]))
}

/// Marker file written when a provisioning step completed.
pub const DONE_MARKER: &str = ".complete";

impl Toolchain {
    /// Finds everything, or names the first thing missing.
    pub fn locate() -> Result<Self> {
        let daprd = provisioned(&daprd_dir(), "daprd", "daprd")?;
        let jaeger = provisioned(&jaeger_dir(), "jaeger", "Jaeger")?;
        let alertmanager = provisioned(&alertmanager_dir(), "alertmanager", "Alertmanager")?;
        let amtool = provisioned(&alertmanager_dir(), "amtool", "amtool")?;
        let victoria_logs = provisioned(&victorialogs_dir(), "victoria-logs", "VictoriaLogs")?;
        let vlagent = provisioned(&victorialogs_dir(), "vlagent", "vlagent")?;
        let kafka_libs = kafka_dir().join("libs");
        if !kafka_dir().join(DONE_MARKER).exists() {
            return Err(not_provisioned("Apache Kafka jars", &kafka_libs));
        }
        Ok(Self {
            daprd,
            jaeger,
            alertmanager,
            amtool,
            victoria_logs,
            vlagent,
            kafka_libs,
            kafka_jmx_agent: provisioned(
                &jmx_exporter_dir(),
                &jmx_agent_jar(),
                "the Prometheus JMX exporter agent",
            )?,
            java: java()?,
            postgres_bin: postgres_bin()?,
            prometheus: system_binary("prometheus", "apt-get install -y prometheus")?,
            promtool: system_binary("promtool", "apt-get install -y prometheus")?,
            postgres_exporter: system_binary(
                "prometheus-postgres-exporter",
                "apt-get install -y prometheus-postgres-exporter",
            )?,
        })
    }
}

fn provisioned(dir: &Path, binary: &str, what: &str) -> Result<PathBuf> {
    let path = dir.join(binary);
    if dir.join(DONE_MARKER).exists() && path.exists() {
        Ok(path)
    } else {
        Err(not_provisioned(what, &path))
    }
}

fn not_provisioned(what: &str, path: &Path) -> HarnessError {
    HarnessError::Missing {
        what: format!("{what} (expected at {})", path.display()),
        fix: "cargo xtask deps".into(),
    }
}

/// Finds `name` on `PATH` (or in `/usr/sbin`, `/usr/bin`).
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A system binary, or a [`HarnessError::Missing`] naming `fix`.
pub fn system_binary(name: &str, fix: &str) -> Result<PathBuf> {
    which(name).ok_or_else(|| HarnessError::Missing {
        what: format!("`{name}` on PATH"),
        fix: fix.into(),
    })
}

/// The PostgreSQL server binaries of the pinned major version.
pub fn postgres_bin() -> Result<PathBuf> {
    let dir = PathBuf::from(format!(
        "/usr/lib/postgresql/{}/bin",
        versions::POSTGRES_MAJOR
    ));
    if dir.join("postgres").is_file() && dir.join("initdb").is_file() {
        Ok(dir)
    } else {
        Err(HarnessError::Missing {
            what: format!(
                "PostgreSQL {} server ({})",
                versions::POSTGRES_MAJOR,
                dir.display()
            ),
            fix: "apt-get update && apt-get install -y postgresql".into(),
        })
    }
}

/// The `java` launcher (JDK 17 or newer).
pub fn java() -> Result<PathBuf> {
    if let Some(home) = std::env::var_os("JAVA_HOME") {
        let java = PathBuf::from(home).join("bin").join("java");
        if java.is_file() {
            return Ok(java);
        }
    }
    system_binary("java", "apt-get install -y openjdk-17-jre-headless")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_prerequisite_names_the_command_that_installs_it() {
        let err = system_binary(
            "learnflow-no-such-tool",
            "apt-get install -y learnflow-no-such-tool",
        )
        .expect_err("not installed");
        let msg = err.to_string();
        assert!(
            msg.contains("missing prerequisite: `learnflow-no-such-tool` on PATH"),
            "{msg}"
        );
        assert!(
            msg.contains("install it with: apt-get install -y learnflow-no-such-tool"),
            "{msg}"
        );
    }

    #[test]
    fn the_kafka_directory_is_keyed_by_the_pom_on_disk() {
        let pom = std::fs::read(crate::paths::repo_root().join("deploy/local/kafka-pom.xml"))
            .expect("kafka-pom.xml");
        let key = crate::devtools::bytes_key(&pom);
        let dir = kafka_dir();
        let name = dir.file_name().and_then(|n| n.to_str()).expect("a name");
        assert_eq!(name, format!("kafka-{}-{}", versions::KAFKA, &key[..8]));
        // Any edit moves it.
        let mut edited = pom.clone();
        edited.extend_from_slice(b"<!-- -->");
        assert_ne!(&crate::devtools::bytes_key(&edited)[..8], &key[..8]);
    }

    #[test]
    fn an_unprovisioned_component_points_at_xtask_deps() {
        let dir = std::env::temp_dir().join(format!("lf-tools-{}", uuid::Uuid::new_v4()));
        let err = provisioned(&dir, "daprd", "daprd").expect_err("not provisioned");
        assert!(err.to_string().contains("cargo xtask deps"), "{err}");
    }
}
