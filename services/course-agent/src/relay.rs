//! The outbox relay: publishes committed lesson events through Dapr.
//!
//! Each round claims pending rows (`FOR UPDATE SKIP LOCKED`, so replicas share the
//! work without publishing a row twice at once), publishes them — one alone, or
//! in a single bulk publish when a backlog has built — and stamps the ones the
//! sidecar took. While publishing fails it backs off exponentially; a row whose
//! publish succeeded but whose stamp was lost is published again, which the
//! consumer's deduplication makes harmless (at-least-once in, exactly-once in effect).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lf_dapr::{BulkEntry, DaprPort};
use lf_events::{LESSON_TOPIC, PUBSUB};
use sqlx::PgPool;
use tokio::sync::{Notify, watch};
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

/// One round: returns how many events were published.
pub async fn relay_once(
    pool: &PgPool,
    dapr: &dyn DaprPort,
    batch_size: i64,
) -> Result<usize, RelayError> {
    let mut tx = pool.begin().await?;
    let pending = db::claim_pending(&mut tx, batch_size).await?;
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
    let (mode, result) = if let ([only], [event], [span]) =
        (pending.as_slice(), events.as_slice(), spans.as_slice())
    {
        let tp = lf_telemetry::trace::traceparent(span);
        let r = dapr
            .publish(
                PUBSUB,
                LESSON_TOPIC,
                event,
                &only.partition_key,
                tp.as_deref(),
            )
            .instrument(span.clone())
            .await
            .map(|()| Vec::new());
        ("single", r)
    } else {
        let entries = pending
            .iter()
            .zip(events)
            .map(|(p, event)| BulkEntry {
                entry_id: p.id.to_string(),
                event,
                content_type: CLOUD_EVENT.into(),
                metadata: BTreeMap::from([("partitionKey".to_owned(), p.partition_key.clone())]),
            })
            .collect();
        let r = dapr
            .bulk_publish(PUBSUB, LESSON_TOPIC, entries)
            .await
            .map(|outcome| outcome.failed_entries);
        ("bulk", r)
    };
    // The producer spans end when the sidecar has answered.
    drop(spans);
    match result {
        Ok(failed) => {
            let failed_ids: Vec<i64> = failed
                .iter()
                .filter_map(|f| f.entry_id.parse().ok())
                .collect();
            let sent: Vec<i64> = ids
                .iter()
                .copied()
                .filter(|id| !failed_ids.contains(id))
                .collect();
            metrics::published(mode, sent.len(), true, started.elapsed());
            db::mark_sent(&mut tx, &sent).await?;
            if !failed_ids.is_empty() {
                metrics::published(mode, failed_ids.len(), false, started.elapsed());
                let reason = failed
                    .first()
                    .map(|f| f.error.as_str())
                    .unwrap_or("bulk entry failed");
                db::mark_failed(&mut tx, &failed_ids, reason).await?;
            }
            tx.commit().await?;
            if failed_ids.is_empty() {
                Ok(sent.len())
            } else {
                Err(RelayError::Publish(lf_dapr::DaprError::Status {
                    status: 500,
                    body: format!("{} of {} bulk entries failed", failed_ids.len(), ids.len()),
                }))
            }
        }
        Err(e) => {
            metrics::published(mode, ids.len(), false, started.elapsed());
            db::mark_failed(&mut tx, &ids, &e.to_string()).await?;
            tx.commit().await?;
            Err(e.into())
        }
    }
}

/// Runs the relay until `shutdown` turns true. `wake` is notified after each new lesson.
pub async fn run(
    pool: PgPool,
    dapr: Arc<dyn DaprPort>,
    config: RelayConfig,
    wake: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let min = Duration::from_millis(config.backoff_min_ms);
    let max = Duration::from_millis(config.backoff_max_ms);
    let idle = Duration::from_millis(config.idle_poll_ms);
    let mut backoff = min;
    loop {
        if *shutdown.borrow() {
            return;
        }
        let pause = match relay_once(&pool, dapr.as_ref(), config.batch_size).await {
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
            _ = shutdown.changed() => return,
        }
    }
}

/// Publishes backlog gauges every 2 s and deletes old sent rows every minute.
pub async fn watch_backlog(
    pool: PgPool,
    retain_sent_secs: i64,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    let mut rounds: u64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        match db::backlog(&pool).await {
            Ok((pending, age)) => metrics::outbox(pending, age),
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
