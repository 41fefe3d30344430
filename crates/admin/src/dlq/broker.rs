//! The replay's conversations with the broker: the extent of each partition, where to
//! start reading, and republishing with delivery confirmations.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rdkafka::consumer::{BaseConsumer, Consumer, DefaultConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::ReplayError;

/// How long one metadata, watermark or offset lookup may take.
pub(super) const LOOKUP_TIMEOUT: Duration = Duration::from_secs(15);

/// Wraps a broker error with what the replay was doing.
pub(super) fn kafka(doing: impl Into<String>) -> impl FnOnce(KafkaError) -> ReplayError {
    let doing = doing.into();
    move |source| ReplayError::Kafka { doing, source }
}

/// Collects the broker's answer for every republished event.
#[derive(Default)]
pub(super) struct Confirmations {
    pub(super) failed: Mutex<Vec<String>>,
}

impl ClientContext for Confirmations {}

impl ProducerContext for Confirmations {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result
            && let Ok(mut failed) = self.failed.lock()
        {
            failed.push(e.to_string());
        }
    }
}

/// Sends one event, waiting while the producer's queue is full.
pub(super) fn send(
    producer: &BaseProducer<Confirmations>,
    topic: &str,
    key: &str,
    payload: &[u8],
    headers: OwnedHeaders,
) -> Result<(), ReplayError> {
    let mut record = BaseRecord::to(topic)
        .key(key)
        .payload(payload)
        .headers(headers);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                producer.poll(Duration::from_millis(100));
                record = back;
            }
            Err((e, _)) => return Err(kafka(format!("republishing to {topic}"))(e)),
        }
    }
}

/// Each partition's first offset and its end (the offset the next message will get), as
/// the replay starts.
pub(super) fn partition_extents(
    consumer: &BaseConsumer<DefaultConsumerContext>,
    topic: &str,
) -> Result<BTreeMap<i32, (i64, i64)>, ReplayError> {
    let metadata = consumer
        .fetch_metadata(Some(topic), LOOKUP_TIMEOUT)
        .map_err(kafka(format!("reading the metadata of {topic}")))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic && t.error().is_none())
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(ReplayError::NoTopic(topic.into()));
    }
    partitions
        .into_iter()
        .map(|partition| {
            consumer
                .fetch_watermarks(topic, partition, LOOKUP_TIMEOUT)
                .map(|watermarks| (partition, watermarks))
                .map_err(kafka(format!("reading the offsets of {topic}/{partition}")))
        })
        .collect()
}

/// Where to start in each partition that has something to read: its first message, or
/// its first written at or after `since`.
pub(super) fn partition_starts(
    consumer: &BaseConsumer<DefaultConsumerContext>,
    topic: &str,
    extents: &BTreeMap<i32, (i64, i64)>,
    since: Option<DateTime<Utc>>,
) -> Result<BTreeMap<i32, i64>, ReplayError> {
    let mut starts = BTreeMap::new();
    match since {
        None => starts.extend(extents.iter().map(|(p, (first, _))| (*p, *first))),
        Some(since) => {
            let mut wanted = TopicPartitionList::new();
            for partition in extents.keys() {
                wanted
                    .add_partition_offset(
                        topic,
                        *partition,
                        Offset::Offset(since.timestamp_millis()),
                    )
                    .map_err(kafka("asking for offsets by time"))?;
            }
            let found = consumer
                .offsets_for_times(wanted, LOOKUP_TIMEOUT)
                .map_err(kafka(format!("finding the offsets of {topic} at {since}")))?;
            for element in found.elements() {
                // No message at or after `since`: the lookup answers End (or -1).
                if let Offset::Offset(at) = element.offset()
                    && at >= 0
                {
                    starts.insert(element.partition(), at);
                }
            }
        }
    }
    starts.retain(|partition, start| extents.get(partition).is_some_and(|(_, end)| *start < *end));
    Ok(starts)
}
