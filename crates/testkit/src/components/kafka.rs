//! Apache Kafka in KRaft mode, single node, from the provisioned Maven Central jars, with
//! the Prometheus JMX exporter's agent serving the broker's metrics
//! (`deploy/local/kafka-jmx-exporter.yaml` says which).

use std::process::Command;
use std::time::Duration;

use super::{RunDir, render, run_command};
use crate::Result;
use crate::paths::repo_root;
use crate::process::{ManagedProcess, ProcessSpec};
use crate::tools::Toolchain;
use crate::wait::{free_port, tcp_open, until_ready};

/// Partitions of topics created on first use (user-progress replicas beyond this idle).
pub const DEFAULT_PARTITIONS: u32 = 4;

/// The JMX exporter's rules, relative to the repo (compose and the chart load them too).
pub const JMX_EXPORTER_RULES: &str = "deploy/local/kafka-jmx-exporter.yaml";

/// A running single-node broker.
#[derive(Debug)]
pub struct Kafka {
    process: ManagedProcess,
    port: u16,
    metrics_port: u16,
    starts_seen: usize,
}

impl Kafka {
    /// Formats storage in the run directory and starts the broker on free ports.
    pub fn start(run: &mut RunDir, tools: &Toolchain) -> Result<Self> {
        let mut kafka = Self::spawn(run, tools)?;
        kafka.wait_ready()?;
        Ok(kafka)
    }

    /// Like [`Kafka::start`] without waiting for readiness.
    pub fn spawn(run: &mut RunDir, tools: &Toolchain) -> Result<Self> {
        let port = free_port()?;
        let controller_port = free_port()?;
        let metrics_port = free_port()?;
        let dir = run.subdir("kafka")?;
        let data = dir.join("data");
        let props = dir.join("server.properties");
        render(
            &repo_root().join("deploy/local/kafka-server.properties"),
            &[
                ("BROKER_PORT", port.to_string()),
                ("CONTROLLER_PORT", controller_port.to_string()),
                ("DATA_DIR", data.display().to_string()),
                ("PARTITIONS", DEFAULT_PARTITIONS.to_string()),
            ],
            &props,
        )?;
        let classpath = format!("{}/*", tools.kafka_libs.display());
        let log_config = format!(
            "-Dlog4j2.configurationFile={}",
            repo_root().join("deploy/local/kafka-log4j2.yaml").display()
        );
        // KRaft cluster ids are 16 bytes in URL-safe base64. The first byte is kept below
        // 0x80 so the id starts with a letter: one starting with '-' reads as an option.
        let mut bytes = *uuid::Uuid::new_v4().as_bytes();
        bytes[0] &= 0x7f;
        let cluster_id = base64_id(&uuid::Uuid::from_bytes(bytes).simple().to_string());
        run_command(
            "formatting Kafka storage",
            Command::new(&tools.java)
                .args([
                    "-cp",
                    &classpath,
                    &log_config,
                    "kafka.tools.StorageTool",
                    "format",
                ])
                .args(["-t", &cluster_id, "-c"])
                .arg(&props),
        )?;
        let mut spec = ProcessSpec::new("kafka", &tools.java, dir.join("kafka.log")).args([
            "-Xms256m".to_owned(),
            "-Xmx768m".to_owned(),
            "-XX:+UseG1GC".to_owned(),
            "-Djava.awt.headless=true".to_owned(),
            format!(
                "-javaagent:{}=127.0.0.1:{metrics_port}:{}",
                tools.kafka_jmx_agent.display(),
                repo_root().join(JMX_EXPORTER_RULES).display()
            ),
            log_config,
            "-cp".to_owned(),
            classpath,
            "kafka.Kafka".to_owned(),
            props.display().to_string(),
        ]);
        spec.cwd = Some(dir.clone());
        let process = run.spawn(spec)?;
        Ok(Self {
            process,
            port,
            metrics_port,
            starts_seen: 0,
        })
    }

    /// Waits until the broker accepts connections and has logged a (new) start.
    pub fn wait_ready(&mut self) -> Result<()> {
        let log = self.process.log_path().to_owned();
        let port = self.port;
        let before = self.starts_seen;
        let mut now = before;
        until_ready(&mut self.process, Duration::from_secs(60), || {
            tcp_open(port)?;
            now = std::fs::read_to_string(&log)
                .map(|t| t.matches("Kafka Server started").count())
                .unwrap_or(0);
            if now > before {
                Ok(())
            } else {
                Err("broker has not logged \"Kafka Server started\" yet".into())
            }
        })?;
        self.starts_seen = now;
        Ok(())
    }

    /// `host:port` to bootstrap from.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the broker's `/metrics` (the JMX exporter agent).
    pub fn metrics_port(&self) -> u16 {
        self.metrics_port
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The underlying process, for chaos (stop, kill, freeze).
    pub fn process(&mut self) -> &mut ManagedProcess {
        &mut self.process
    }

    /// Restarts the broker on the same port and data, and waits until it serves again.
    pub fn restart(&mut self) -> Result<()> {
        self.process.restart(Duration::from_secs(30))?;
        self.wait_ready()
    }
}

/// 22 characters of URL-safe base64 from 32 hex digits (a Kafka cluster id).
fn base64_id(hex: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 0x3f) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64_id;

    #[test]
    fn cluster_ids_never_start_like_an_option() {
        for b in 0u8..=0x7f {
            let hex = format!("{b:02x}112233445566778899aabbccddeeff");
            let id = base64_id(&hex);
            assert!(id.starts_with(|c: char| c.is_ascii_alphabetic()), "{id}");
        }
    }

    #[test]
    fn cluster_ids_are_22_url_safe_chars() {
        let id = base64_id("00112233445566778899aabbccddeeff");
        assert_eq!(id.len(), 22);
        assert_eq!(id, "ABEiM0RVZneImaq7zN3u_w");
    }
}
