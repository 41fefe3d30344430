//! Keeps `processed_events` — the deduplication keys of at-least-once delivery — to the
//! dedup window (`[retention]`, ADR 0025): every `sweep_interval_secs` the keys older than
//! `dedup_window_hours` are deleted oldest first, `batch_rows` per statement, so the table
//! stays at about rate × window rows instead of growing forever. A redelivery inside the
//! window still finds its key and has no effect.

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::config::RetentionConfig;
use crate::{db, metrics};

/// Deletes every key older than the window, a batch at a time, stopping early when `stop`
/// is cancelled (between batches). Returns how many rows went.
pub async fn sweep(
    pool: &PgPool,
    config: &RetentionConfig,
    stop: &CancellationToken,
) -> Result<u64, sqlx::Error> {
    let mut deleted = 0;
    loop {
        let batch = db::delete_processed_before(pool, config.window(), config.batch_rows).await?;
        deleted += batch;
        metrics::retention_deleted("processed_events", batch);
        if batch < config.batch_rows.max(1) as u64 || stop.is_cancelled() {
            return Ok(deleted);
        }
    }
}

/// Sweeps every `sweep_interval_secs` until `stop` is cancelled; a sweep in progress ends
/// after its current batch. Failures (database down) wait for the next round.
pub async fn run(pool: PgPool, config: RetentionConfig, stop: CancellationToken) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(
        config.sweep_interval_secs.max(1),
    ));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return,
        }
        match sweep(&pool, &config, &stop).await {
            Ok(0) => {}
            Ok(deleted) => tracing::debug!(deleted, "expired deduplication keys deleted"),
            Err(e) => tracing::debug!(error = %e, "retention sweep failed; next round retries"),
        }
    }
}
