//! Polls the broker for watermarks and committed offsets, and turns them into gauges.
//!
//! Uses librdkafka's metadata, watermark and committed-offset requests; it never
//! joins the consumer groups it watches. While the broker is down every poll fails,
//! `learnflow_kafka_monitor_up` drops to 0, [`PollStatus`] (behind `/readyz`) says why and
//! the last known values stay; when it returns the next poll succeeds and everything is
//! current again. Clients that cannot be made are retried every interval.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use crate::config::KafkaConfig;
use crate::metrics as names;

/// Whether the numbers kafka-monitor exports are current: the outcome of its last poll.
/// Ready only after a poll succeeded, and not while the latest one failed.
#[derive(Debug)]
pub struct PollStatus {
    last: RwLock<Result<(), String>>,
}

impl Default for PollStatus {
    fn default() -> Self {
        Self {
            last: RwLock::new(Err("no poll of the broker has succeeded yet".into())),
        }
    }
}

impl PollStatus {
    /// `Ok` after a successful poll; else why the numbers are not current.
    pub fn current(&self) -> Result<(), String> {
        self.last.read().map_or_else(
            |poisoned| poisoned.into_inner().clone(),
            |last| last.clone(),
        )
    }

    fn record(&self, outcome: Result<(), String>) {
        match self.last.write() {
            Ok(mut last) => *last = outcome,
            Err(poisoned) => *poisoned.into_inner() = outcome,
        }
    }
}

/// One partition's numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionReading {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// First retained offset.
    pub low: i64,
    /// Next offset to be written.
    pub high: i64,
    /// Committed offset per group (`None` when the group has committed nothing).
    pub committed: Vec<(String, Option<i64>)>,
}

/// Lag of a group on a partition.
pub fn lag(reading: &PartitionReading, committed: Option<i64>) -> i64 {
    match committed {
        Some(c) => (reading.high - c).max(0),
        None => (reading.high - reading.low).max(0),
    }
}

fn client(brokers: &str, group: &str) -> Result<BaseConsumer, rdkafka::error::KafkaError> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("socket.timeout.ms", "3000")
        .set("log_level", "3")
        .create()
}

/// The broker clients, made once and kept: librdkafka reconnects by itself after an
/// outage, and a client per poll would start its threads and connections every time.
pub struct Clients {
    admin: BaseConsumer,
    groups: Vec<(String, BaseConsumer)>,
}

impl Clients {
    /// One metadata client plus one (never subscribing) client per watched group.
    pub fn new(config: &KafkaConfig) -> Result<Self, rdkafka::error::KafkaError> {
        Ok(Self {
            admin: client(&config.brokers, "learnflow-kafka-monitor")?,
            groups: config
                .consumer_groups
                .iter()
                .map(|g| client(&config.brokers, g).map(|c| (g.clone(), c)))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// Reads every configured topic's partitions and the configured groups' offsets.
pub fn poll(
    clients: &Clients,
    config: &KafkaConfig,
) -> Result<Vec<PartitionReading>, rdkafka::error::KafkaError> {
    let timeout = Duration::from_secs(3);
    let admin = &clients.admin;
    let mut readings = Vec::new();
    for topic in &config.topics {
        let metadata = admin.fetch_metadata(Some(topic), timeout)?;
        for t in metadata.topics() {
            // A topic nobody has written to yet has no partitions (or an error): nothing to report.
            if t.error().is_some() {
                continue;
            }
            for p in t.partitions() {
                let (low, high) = admin.fetch_watermarks(topic, p.id(), timeout)?;
                readings.push(PartitionReading {
                    topic: topic.clone(),
                    partition: p.id(),
                    low,
                    high,
                    committed: Vec::new(),
                });
            }
        }
    }
    for (group, consumer) in &clients.groups {
        let mut list = TopicPartitionList::new();
        for r in &readings {
            list.add_partition(&r.topic, r.partition);
        }
        if list.count() == 0 {
            continue;
        }
        let committed = consumer.committed_offsets(list, timeout)?;
        for r in &mut readings {
            let offset = committed
                .find_partition(&r.topic, r.partition)
                .and_then(|e| match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                });
            r.committed.push((group.clone(), offset));
        }
    }
    Ok(readings)
}

fn publish(readings: &[PartitionReading]) {
    for r in readings {
        let partition = r.partition.to_string();
        let labels = [("topic", r.topic.clone()), ("partition", partition.clone())];
        ::metrics::gauge!(names::HIGH_WATERMARK, &labels).set(r.high as f64);
        ::metrics::gauge!(names::LOW_WATERMARK, &labels).set(r.low as f64);
        for (group, committed) in &r.committed {
            let labels = [
                ("group", group.clone()),
                ("topic", r.topic.clone()),
                ("partition", partition.clone()),
            ];
            if let Some(c) = committed {
                ::metrics::gauge!(names::COMMITTED, &labels).set(*c as f64);
            }
            ::metrics::gauge!(names::LAG, &labels).set(lag(r, *committed) as f64);
        }
    }
}

/// Polls every `config.poll_interval_secs` until `stop` is cancelled, recording each
/// outcome in `status`; a poll in progress is finished first.
pub async fn run(config: KafkaConfig, status: Arc<PollStatus>, stop: CancellationToken) {
    let interval = Duration::from_secs(config.poll_interval_secs.max(1));
    ::metrics::gauge!(names::UP).set(0.0);
    ::metrics::counter!(names::POLL_ERRORS).increment(0);
    let clients = loop {
        match Clients::new(&config) {
            Ok(c) => break Arc::new(c),
            Err(e) => {
                tracing::error!(error = %e, "cannot create Kafka clients; retrying");
                ::metrics::counter!(names::POLL_ERRORS).increment(1);
                status.record(Err(format!("cannot create Kafka clients: {e}")));
            }
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = stop.cancelled() => return,
        }
    };
    loop {
        let started = Instant::now();
        let (cfg, cl) = (config.clone(), clients.clone());
        match tokio::task::spawn_blocking(move || poll(&cl, &cfg)).await {
            Ok(Ok(readings)) => {
                publish(&readings);
                ::metrics::gauge!(names::UP).set(1.0);
                status.record(Ok(()));
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "polling Kafka failed");
                ::metrics::gauge!(names::UP).set(0.0);
                ::metrics::counter!(names::POLL_ERRORS).increment(1);
                status.record(Err(format!("the last poll of the broker failed: {e}")));
            }
            Err(e) => {
                tracing::error!(error = %e, "poller task failed");
                status.record(Err(format!("the poller task failed: {e}")));
            }
        }
        ::metrics::histogram!(names::POLL_DURATION).record(started.elapsed().as_secs_f64());
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = stop.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(low: i64, high: i64) -> PartitionReading {
        PartitionReading {
            topic: "t".into(),
            partition: 0,
            low,
            high,
            committed: Vec::new(),
        }
    }

    #[test]
    fn lag_is_what_the_group_has_not_consumed() {
        assert_eq!(lag(&reading(0, 100), Some(60)), 40);
        assert_eq!(lag(&reading(0, 100), Some(100)), 0);
        assert_eq!(
            lag(&reading(20, 100), None),
            80,
            "nothing committed: all retained messages"
        );
        assert_eq!(lag(&reading(0, 10), Some(12)), 0, "never negative");
    }

    #[test]
    fn an_unreachable_broker_is_an_error_not_a_hang() {
        let config = KafkaConfig {
            brokers: "127.0.0.1:1".into(),
            topics: vec!["t".into()],
            consumer_groups: vec!["g".into()],
            poll_interval_secs: 1,
        };
        let started = Instant::now();
        let clients = Clients::new(&config).expect("clients are made without a broker");
        assert!(poll(&clients, &config).is_err());
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}
