//! The outbox relay: publishes committed lesson events through Dapr.
//!
//! Each round claims pending rows (`FOR UPDATE SKIP LOCKED`, so replicas share the
//! work without publishing a row twice at once), publishes them — one alone, or
//! in a single bulk publish when a backlog has built — and stamps the ones the
//! sidecar took. While publishing fails it backs off exponentially; a row whose
//! publish succeeded but whose stamp was lost is published again, which the
//! consumer's deduplication makes harmless (at-least-once in, exactly-once in effect).
//! Poison is told from outages: an event the sidecar refuses for what it is (a 4xx
//! about the event) is parked at once, and one that fails while the rest of its bulk
//! publish goes out is parked after `max_rejections` such rounds; neither backs the
//! relay off, so the events behind it flow at full speed. Parked rows are counted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lf_dapr::{BulkEntry, DaprPort};
use lf_events::{LESSON_TOPIC, PUBSUB};
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::config::RelayConfig;
use crate::{db, metrics};

/// Why a relay round failed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The sidecar refused or could not be reached.
    #[error("publish: {0}")]
    Publish(#[from] lf_dapr::DaprError),
    /// Every event the round sent failed, each for its own reported reason (a bulk publish
    /// the sidecar answered entry by entry, or each event published alone): the broker or
    /// the sidecar, not the events. `reason` is the first event's.
    #[error("all {count} events sent failed; the first: {reason}")]
    AllFailed {
        /// Events sent this round.
        count: usize,
        /// Why the first one failed.
        reason: String,
    },
}

/// Content type of what we publish: our own CloudEvents, so the event id is ours
/// and the stored traceparent travels with the event.
const CLOUD_EVENT: &str = "application/cloudevents+json";

/// The producer span of one event: child of the stored request context.
fn producer_span(traceparent: Option<&str>, cloud_event: &serde_json::Value) -> tracing::Span {
    let span = tracing::info_span!(
        "messaging.publish",
        otel.name = %format!("publish {LESSON_TOPIC}"),
        otel.kind = "producer",
        messaging.system = "kafka",
        messaging.operation.type = "publish",
        messaging.destination.name = LESSON_TOPIC,
        messaging.message.id = %cloud_event["id"].as_str().unwrap_or_default(),
    );
    if let Some(tp) = traceparent {
        lf_telemetry::trace::set_parent_from_traceparent(&span, tp);
    }
    span
}

/// Whether the sidecar refused an event for what it is, so that sending it again cannot
/// help: 400 (not a valid CloudEvent), 413 (too large), 415, 422. Other 4xx (401, 403,
/// 404: a token, a scope, a component not loaded yet) concern the sidecar's
/// configuration and would hold for every event alike, so they are retried like outages.
fn is_rejection(error: &lf_dapr::DaprError) -> bool {
    matches!(
        error,
        lf_dapr::DaprError::Status {
            status: 400 | 413 | 415 | 422,
            ..
        }
    )
}

/// What one relay round may do (from `[relay]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Rows claimed at most.
    pub batch_size: i64,
    /// Rounds in which an event fails while others go out before it is parked.
    pub max_rejections: i32,
    /// Largest CloudEvent (serialized) handed to the sidecar; larger ones are parked.
    pub max_event_bytes: usize,
}

impl Round {
    /// The round `[relay]` describes.
    pub fn from_config(config: &RelayConfig) -> Self {
        Self {
            batch_size: config.batch_size,
            max_rejections: config.max_rejections,
            max_event_bytes: config.max_event_bytes,
        }
    }
}

impl Default for Round {
    /// The defaults of config.default.toml.
    fn default() -> Self {
        Self {
            batch_size: 100,
            max_rejections: 5,
            max_event_bytes: 900_000,
        }
    }
}

/// One round: returns how many events were published. A round in which only some events
/// failed is a success (no back-off): the failed ones count a rejection each and are
/// parked after `max_rejections`; an event too large for the broker, or that the sidecar
/// refuses for what it is, is parked at once.
pub async fn relay_once(
    pool: &PgPool,
    dapr: &dyn DaprPort,
    round: &Round,
) -> Result<usize, RelayError> {
    let mut tx = pool.begin().await?;
    let pending = db::claim_pending(&mut tx, round.batch_size).await?;
    if pending.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    let started = Instant::now();
    let ids: Vec<i64> = pending.iter().map(|p| p.id).collect();
    // One producer span per event, each continuing the trace of the request that made
    // it; the published CloudEvent carries that span's context, so daprd's delivery
    // and user-progress join the same trace.
    let spans: Vec<tracing::Span> = pending
        .iter()
        .map(|p| producer_span(p.traceparent.as_deref(), &p.cloud_event))
        .collect();
    let events: Vec<serde_json::Value> = pending
        .iter()
        .zip(&spans)
        .map(|(p, span)| {
            let mut event = p.cloud_event.clone();
            if let Some(tp) = lf_telemetry::trace::traceparent(span) {
                lf_events::event::set_trace_context(&mut event, &tp);
            }
            event
        })
        .collect();
    // An event over the broker's size limit would fail in daprd, be retried there and
    // trip its pub/sub circuit breaker for everyone: it never leaves the outbox.
    let mut outcomes: Vec<Result<(), String>> = events
        .iter()
        .map(|event| {
            let size = serde_json::to_vec(event).map_or(usize::MAX, |b| b.len());
            if size > round.max_event_bytes {
                Err(format!(
                    "{REJECTED_PREFIX}the event is {size} bytes, over [relay] max_event_bytes = {}",
                    round.max_event_bytes
                ))
            } else {
                Ok(())
            }
        })
        .collect();
    let sendable: Vec<usize> = (0..pending.len())
        .filter(|i| outcomes[*i].is_ok())
        .collect();
    let mode = if sendable.len() == 1 {
        "single"
    } else {
        "bulk"
    };
    match sendable.as_slice() {
        [] => {}
        [only] => {
            outcomes[*only] =
                publish_one(dapr, &pending[*only], &events[*only], &spans[*only]).await;
        }
        many => {
            let entries = many
                .iter()
                .map(|i| BulkEntry {
                    entry_id: pending[*i].id.to_string(),
                    event: events[*i].clone(),
                    content_type: CLOUD_EVENT.into(),
                    metadata: BTreeMap::from([(
                        "partitionKey".to_owned(),
                        pending[*i].partition_key.clone(),
                    )]),
                })
                .collect();
            match dapr.bulk_publish(PUBSUB, LESSON_TOPIC, entries).await {
                Ok(outcome) => {
                    let failed: BTreeMap<String, String> = outcome
                        .failed_entries
                        .into_iter()
                        .map(|f| (f.entry_id, f.error))
                        .collect();
                    for i in many {
                        if let Some(error) = failed.get(&pending[*i].id.to_string()) {
                            outcomes[*i] = Err(if error.is_empty() {
                                "bulk entry failed".to_owned()
                            } else {
                                error.clone()
                            });
                        }
                    }
                }
                // The sidecar refused the bulk request for what is in it, without saying
                // which entry: publish each alone, so that only the culprit is parked.
                Err(e) if is_rejection(&e) => {
                    for i in many {
                        outcomes[*i] =
                            publish_one(dapr, &pending[*i], &events[*i], &spans[*i]).await;
                    }
                }
                // An outage: nothing is learnt about the events.
                Err(e) => {
                    for i in many {
                        outcomes[*i] = Err(e.to_string());
                    }
                }
            }
        }
    }
    // The producer spans end when the sidecar has answered.
    drop(spans);
    let sent: Vec<i64> = ids
        .iter()
        .zip(&outcomes)
        .filter(|(_, o)| o.is_ok())
        .map(|(id, _)| *id)
        .collect();
    let failed: Vec<(i64, &str)> = ids
        .iter()
        .zip(&outcomes)
        .filter_map(|(id, o)| o.as_ref().err().map(|e| (*id, e.as_str())))
        .collect();
    metrics::published(mode, sent.len(), true, started.elapsed());
    db::mark_sent(&mut tx, &sent).await?;
    if failed.is_empty() {
        tx.commit().await?;
        return Ok(sent.len());
    }
    metrics::published(mode, failed.len(), false, started.elapsed());
    // Refused for what they are: parked at once, whatever else happened.
    let (refused, others): (Vec<Failure>, Vec<Failure>) = failed
        .iter()
        .partition(|(_, e)| e.starts_with(REJECTED_PREFIX));
    let mut parked = 0;
    for (id, error) in &refused {
        parked += db::mark_rejected(&mut tx, &[*id], error, 1).await?;
    }
    if sent.is_empty() && !others.is_empty() {
        // Every event that was sent failed: the broker or the sidecar, not the events.
        let ids: Vec<i64> = others.iter().map(|(id, _)| *id).collect();
        let reason = others[0].1.to_owned();
        db::mark_failed(&mut tx, &ids, &reason).await?;
        tx.commit().await?;
        count_parked(parked, &refused);
        return Err(RelayError::AllFailed {
            count: ids.len(),
            reason,
        });
    }
    // Events failed while others went out: they are the problem. Count it against them,
    // park the hopeless, and go on at full speed.
    for (id, error) in &others {
        parked += db::mark_rejected(&mut tx, &[*id], error, round.max_rejections).await?;
    }
    tx.commit().await?;
    count_parked(parked, &failed);
    Ok(sent.len())
}

fn count_parked(parked: usize, failed: &[(i64, &str)]) {
    if parked > 0 {
        metrics::parked(parked);
        let reason = failed.first().map(|(_, e)| *e).unwrap_or_default();
        tracing::error!(
            parked,
            reason,
            "outbox events parked: they cannot be published"
        );
    }
}

/// An outbox row that failed this round, and why.
type Failure<'a> = (i64, &'a str);

/// Marks an error text as the sidecar refusing the event itself ([`is_rejection`]).
const REJECTED_PREFIX: &str = "rejected: ";

/// Publishes one event alone; the error text starts with [`REJECTED_PREFIX`] when the
/// sidecar refused the event itself.
async fn publish_one(
    dapr: &dyn DaprPort,
    pending: &db::PendingEvent,
    event: &serde_json::Value,
    span: &tracing::Span,
) -> Result<(), String> {
    let tp = lf_telemetry::trace::traceparent(span);
    match dapr
        .publish(
            PUBSUB,
            LESSON_TOPIC,
            event,
            &pending.partition_key,
            tp.as_deref(),
        )
        .instrument(span.clone())
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if is_rejection(&e) => Err(format!("{REJECTED_PREFIX}{e}")),
        Err(e) => Err(e.to_string()),
    }
}

/// Runs the relay until `stop` is cancelled. `wake` is notified after each new lesson.
/// `stop` is looked at between rounds only: a round that has published its events always
/// goes on to mark them sent, or the next relay would publish them again.
pub async fn run(
    pool: PgPool,
    dapr: Arc<dyn DaprPort>,
    config: RelayConfig,
    wake: Arc<Notify>,
    stop: CancellationToken,
) {
    let min = Duration::from_millis(config.backoff_min_ms);
    let max = Duration::from_millis(config.backoff_max_ms);
    let idle = Duration::from_millis(config.idle_poll_ms);
    let mut backoff = min;
    let round = Round::from_config(&config);
    loop {
        if stop.is_cancelled() {
            return;
        }
        let pause = match relay_once(&pool, dapr.as_ref(), &round).await {
            Ok(n) if n > 0 => {
                backoff = min;
                continue;
            }
            Ok(_) => {
                backoff = min;
                idle
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "outbox relay round failed");
                let pause = backoff;
                backoff = (backoff * 2).min(max);
                pause
            }
        };
        tokio::select! {
            () = wake.notified(), if pause == idle => {}
            () = tokio::time::sleep(pause) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// Publishes backlog gauges every 2 s and deletes old sent rows every minute, until
/// `stop` is cancelled.
pub async fn watch_backlog(pool: PgPool, retain_sent_secs: i64, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    let mut rounds: u64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        match db::backlog(&pool).await {
            Ok(backlog) => metrics::outbox(backlog.pending, backlog.oldest_age, backlog.parked),
            Err(e) => tracing::debug!(error = %e, "cannot read outbox backlog"),
        }
        rounds += 1;
        if rounds.is_multiple_of(30)
            && let Err(e) = db::delete_sent(&pool, retain_sent_secs).await
        {
            tracing::debug!(error = %e, "cannot trim outbox");
        }
    }
}
