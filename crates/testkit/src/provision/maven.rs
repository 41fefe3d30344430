//! What comes from Maven Central: the Kafka broker's jars and the JMX exporter agent.

use std::path::PathBuf;
use std::process::Command;

use super::*;
use crate::tools::{self, kafka_dir};
use crate::{HarnessError, Result, versions};

/// Apache Kafka's broker jars from Maven Central, resolved by Maven from `deploy/local/kafka-pom.xml`.
pub fn ensure_kafka(say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    ensure("kafka", versions::KAFKA, &kafka_dir(), say, |dir, say| {
        let libs = dir.join("libs");
        let _ = std::fs::remove_dir_all(&libs);
        // The bytes the directory is keyed by (tools::kafka_dir), not a later edit of the file.
        std::fs::write(dir.join("pom.xml"), tools::kafka_pom())
            .map_err(HarnessError::io("writing kafka-pom.xml"))?;
        let m2 = maven_repo();
        let before = disk_usage(&m2);
        let mut cmd = Command::new(tools::system_binary("mvn", "apt-get install -y maven")?);
        cmd.current_dir(dir).args([
            "-B",
            &format!("-Dkafka.version={}", versions::KAFKA),
            &format!("-Dlog4j.version={}", versions::LOG4J),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            "-DoutputDirectory=libs",
        ]);
        run_with_heartbeat(
            "kafka: mvn dependency:copy-dependencies",
            &mut cmd,
            "kafka-mvn",
            say,
        )?;
        Ok((libs, Some(disk_usage(&m2).saturating_sub(before))))
    })
}

/// The Prometheus JMX exporter's java agent from Maven Central (one shaded jar).
pub fn ensure_jmx_exporter(say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    ensure(
        "jmx-exporter",
        versions::JMX_EXPORTER,
        &tools::jmx_exporter_dir(),
        say,
        |dir, say| {
            let m2 = maven_repo();
            let before = disk_usage(&m2);
            let mut cmd = Command::new(tools::system_binary("mvn", "apt-get install -y maven")?);
            // `dependency:copy` needs no project: the directory only has to exist.
            cmd.current_dir(dir).args([
                "-B",
                "dependency:copy",
                &format!(
                    "-Dartifact=io.prometheus.jmx:jmx_prometheus_javaagent:{}",
                    versions::JMX_EXPORTER
                ),
                &format!("-DoutputDirectory={}", dir.display()),
            ]);
            run_with_heartbeat(
                "jmx-exporter: mvn dependency:copy",
                &mut cmd,
                "jmx-exporter-mvn",
                say,
            )?;
            Ok((
                dir.join(tools::jmx_agent_jar()),
                Some(disk_usage(&m2).saturating_sub(before)),
            ))
        },
    )
}

pub(super) fn maven_repo() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default()
        .join(".m2/repository")
}
