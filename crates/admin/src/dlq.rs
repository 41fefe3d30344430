//! Replaying the lesson dead-letter topic.
//!
//! daprd writes an event there when user-progress answers DROP: one it could not take. It
//! can become takeable (a consumer that learned a new schema version, an event dead-lettered
//! by an older retry policy during an outage), so [`replay`] reads the topic up to where it
//! ends when the replay starts, judges each event with the consumer's own decoder
//! ([`classify`]), republishes the valid ones to `lesson-events` and reports the rest.
//!
//! The talking to the broker (partition extents, where to start, republishing with
//! delivery confirmations) is in `broker`; the unit tests are in `dlq/tests.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use lf_events::{LESSON_DLQ_TOPIC, LESSON_TOPIC, decode_cloud_event};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, DefaultConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

mod broker;
use broker::{Confirmations, kafka, partition_extents, partition_starts, send};

/// At most this many skipped events are listed one by one in the report.
const LISTED_SKIPS: usize = 1000;

/// What to replay, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    /// Kafka bootstrap servers.
    pub brokers: String,
    /// Only events written at or after this time (all when `None`).
    pub since: Option<DateTime<Utc>>,
    /// Judge and report, republish nothing.
    pub dry_run: bool,
    /// Give up (loudly) when no message arrives for this long before the end is reached.
    pub idle_timeout: Duration,
    /// The dead-letter topic.
    pub source: String,
    /// Where valid events go back to.
    pub target: String,
}

impl Default for Replay {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            since: None,
            dry_run: false,
            idle_timeout: Duration::from_secs(30),
            source: LESSON_DLQ_TOPIC.into(),
            target: LESSON_TOPIC.into(),
        }
    }
}

/// What becomes of one dead-lettered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// user-progress would take it now: republish it, keyed by its learner.
    Republish {
        /// Kafka key (the learner id, as course-agent publishes it).
        key: String,
    },
    /// It would be dropped again.
    Skip {
        /// `empty`, or the consumer's drop reason (`malformed`, `unsupported_version`, `invalid`).
        reason: &'static str,
        /// The decoder's words.
        error: String,
    },
}

/// Judges a dead-lettered payload exactly as user-progress judges a delivery.
pub fn classify(payload: Option<&[u8]>) -> Verdict {
    match payload {
        None | Some([]) => Verdict::Skip {
            reason: "empty",
            error: "the message has no payload".into(),
        },
        Some(bytes) => match decode_cloud_event(bytes) {
            Ok(event) => Verdict::Republish {
                key: event.learner_id,
            },
            Err(e) => Verdict::Skip {
                reason: e.reason(),
                error: e.to_string(),
            },
        },
    }
}

/// One event left in the dead-letter topic.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Skipped {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Why (see [`Verdict::Skip`]).
    pub reason: &'static str,
    /// The decoder's words.
    pub error: String,
}

/// What a replay did (or, dry, would do).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Report {
    /// The dead-letter topic read.
    pub source: String,
    /// Where valid events went.
    pub target: String,
    /// The `--since` time, if any.
    pub since: Option<String>,
    /// Whether nothing was republished on purpose.
    pub dry_run: bool,
    /// Messages read.
    pub read: u64,
    /// Events republished (with `dry_run`, that would have been).
    pub republished: u64,
    /// Events left behind.
    pub skipped: u64,
    /// Those, by reason.
    pub skipped_by_reason: BTreeMap<&'static str, u64>,
    /// Those, one by one (the first [`LISTED_SKIPS`]).
    pub skipped_events: Vec<Skipped>,
}

impl Report {
    fn new(replay: &Replay) -> Self {
        Self {
            source: replay.source.clone(),
            target: replay.target.clone(),
            since: replay.since.map(|t| t.to_rfc3339()),
            dry_run: replay.dry_run,
            read: 0,
            republished: 0,
            skipped: 0,
            skipped_by_reason: BTreeMap::new(),
            skipped_events: Vec::new(),
        }
    }

    /// Counts one message's verdict.
    pub fn count(&mut self, partition: i32, offset: i64, verdict: &Verdict) {
        self.read += 1;
        match verdict {
            Verdict::Republish { .. } => self.republished += 1,
            Verdict::Skip { reason, error } => {
                self.skipped += 1;
                *self.skipped_by_reason.entry(reason).or_default() += 1;
                if self.skipped_events.len() < LISTED_SKIPS {
                    self.skipped_events.push(Skipped {
                        partition,
                        offset,
                        reason,
                        error: error.clone(),
                    });
                }
            }
        }
    }
}

/// Why a replay stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Kafka refused or failed an operation.
    #[error("{doing}: {source}")]
    Kafka {
        /// What we were doing.
        doing: String,
        /// Kafka's error.
        #[source]
        source: KafkaError,
    },
    /// The topic is not there.
    #[error("topic {0:?} does not exist on these brokers")]
    NoTopic(String),
    /// Nothing arrived for too long with messages still to read.
    #[error(
        "no message for {idle:?} with partitions {partitions:?} not read to their end; \
         {republished} events were republished before that"
    )]
    Stalled {
        /// The idle time allowed.
        idle: Duration,
        /// Partitions still short of their end.
        partitions: Vec<i32>,
        /// Events republished before stopping.
        republished: u64,
    },
    /// The broker did not confirm every republished event.
    #[error("{failed} of {sent} republished events were not confirmed by Kafka: {first}")]
    Unconfirmed {
        /// Events sent.
        sent: u64,
        /// Events not confirmed.
        failed: usize,
        /// The first error.
        first: String,
    },
}

/// Replays the dead-letter topic as `replay` says; see the module documentation.
pub fn replay(replay: &Replay) -> Result<Report, ReplayError> {
    let consumer: BaseConsumer<DefaultConsumerContext> = ClientConfig::new()
        .set("bootstrap.servers", &replay.brokers)
        // Offsets are assigned, never committed: the group only names the client.
        .set(
            "group.id",
            format!("learnflow-admin-replay-{}", std::process::id()),
        )
        .set("enable.auto.commit", "false")
        .set("log_level", "3")
        .create()
        .map_err(kafka("connecting a consumer"))?;
    let extents = partition_extents(&consumer, &replay.source)?;
    let ends: BTreeMap<i32, i64> = extents.iter().map(|(p, (_, end))| (*p, *end)).collect();
    let starts = partition_starts(&consumer, &replay.source, &extents, replay.since)?;
    let mut report = Report::new(replay);
    let mut unread: BTreeSet<i32> = starts.keys().copied().collect();
    if unread.is_empty() {
        return Ok(report);
    }
    let mut assignment = TopicPartitionList::new();
    for (partition, offset) in &starts {
        assignment
            .add_partition_offset(&replay.source, *partition, Offset::Offset(*offset))
            .map_err(kafka("assigning partitions"))?;
    }
    consumer
        .assign(&assignment)
        .map_err(kafka("assigning partitions"))?;
    let producer: Option<BaseProducer<Confirmations>> = if replay.dry_run {
        None
    } else {
        Some(
            ClientConfig::new()
                .set("bootstrap.servers", &replay.brokers)
                .set("acks", "all")
                .set("enable.idempotence", "true")
                .set("log_level", "3")
                .create_with_context(Confirmations::default())
                .map_err(kafka("connecting a producer"))?,
        )
    };
    let mut idle_since = Instant::now();
    while !unread.is_empty() {
        if let Some(producer) = &producer {
            producer.poll(Duration::ZERO);
        }
        let message = match consumer.poll(Duration::from_millis(500)) {
            Some(message) => message.map_err(kafka(format!("reading {}", replay.source)))?,
            None => {
                // An offset can be skipped (a transaction marker): the position says more
                // than the last message seen.
                if let Ok(positions) = consumer.position() {
                    for element in positions.elements() {
                        if let Offset::Offset(at) = element.offset()
                            && ends.get(&element.partition()).is_some_and(|end| at >= *end)
                        {
                            unread.remove(&element.partition());
                        }
                    }
                }
                if !unread.is_empty() && idle_since.elapsed() > replay.idle_timeout {
                    return Err(ReplayError::Stalled {
                        idle: replay.idle_timeout,
                        partitions: unread.into_iter().collect(),
                        republished: if replay.dry_run {
                            0
                        } else {
                            report.republished
                        },
                    });
                }
                continue;
            }
        };
        idle_since = Instant::now();
        let (partition, offset) = (message.partition(), message.offset());
        let Some(end) = ends.get(&partition).copied() else {
            continue;
        };
        if offset >= end {
            // Written after the replay started: the next replay's business.
            unread.remove(&partition);
            continue;
        }
        let verdict = classify(message.payload());
        if let (Verdict::Republish { key }, Some(producer)) = (&verdict, &producer) {
            let headers = message
                .headers()
                .map(|h| h.detach())
                .unwrap_or_else(OwnedHeaders::new);
            send(
                producer,
                &replay.target,
                key,
                message.payload().unwrap_or_default(),
                headers,
            )?;
        }
        report.count(partition, offset, &verdict);
        if offset + 1 >= end {
            unread.remove(&partition);
        }
    }
    if let Some(producer) = producer {
        producer
            .flush(Duration::from_secs(60))
            .map_err(kafka("waiting for Kafka to confirm the republished events"))?;
        let failed = producer
            .context()
            .failed
            .lock()
            .map(|f| f.clone())
            .unwrap_or_default();
        if let Some(first) = failed.first() {
            return Err(ReplayError::Unconfirmed {
                sent: report.republished,
                failed: failed.len(),
                first: first.clone(),
            });
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
