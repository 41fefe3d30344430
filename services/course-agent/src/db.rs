//! course-agent's queries (checked at compile time against `migrations/`).

use std::time::Instant;

use chrono::{DateTime, Utc};
use lf_db::statement;
use lf_events::LessonEvent;
use lf_events::api::Lesson;
use sqlx::{PgPool, Postgres, Transaction};
use tracing::Instrument;
use uuid::Uuid;

use crate::SERVICE;
use crate::metrics::db_time;

/// Embedded migrations, applied at start-up.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// The `Idempotency-Key` a lesson request came with, and what it asked for.
#[derive(Debug, Clone)]
pub struct IdempotencyKey<'a> {
    /// The key (scoped to the learner).
    pub key: &'a str,
    /// The request's own fields, stored so a key reused for another request is told apart.
    pub requested: serde_json::Value,
}

/// What storing a lesson did.
#[derive(Debug, Clone, PartialEq)]
pub enum Stored {
    /// The lesson and its outbox event were stored.
    New,
    /// The learner's idempotency key was taken: nothing was stored; this is the lesson
    /// stored first and what its request asked for.
    Existing {
        /// The lesson stored by the first request with this key.
        lesson: Box<Lesson>,
        /// What that request asked for.
        requested: Option<serde_json::Value>,
    },
}

/// Stores a lesson and its outbox event in one transaction — unless the learner's
/// `idempotency` key is already taken, in which case nothing is stored and the lesson
/// stored with it is returned. A concurrent request with the same key waits on the
/// unique index until the first commits, so it too gets the first lesson.
pub async fn insert_lesson_with_event(
    pool: &PgPool,
    lesson: &Lesson,
    event: &LessonEvent,
    traceparent: Option<&str>,
    idempotency: Option<&IdempotencyKey<'_>>,
) -> Result<Stored, sqlx::Error> {
    let stored = insert_lesson_tx(pool, lesson, event, traceparent, idempotency)
        .instrument(lf_db::transaction(SERVICE, "insert_lesson"))
        .await?;
    match (stored, idempotency) {
        (false, Some(key)) => stored_for_key(pool, &lesson.learner_id, key.key).await,
        (false, None) => Err(sqlx::Error::Protocol(
            "a lesson without an idempotency key conflicted".into(),
        )),
        (true, _) => Ok(Stored::New),
    }
}

/// Whether the lesson was stored (false: its idempotency key was taken).
async fn insert_lesson_tx(
    pool: &PgPool,
    lesson: &Lesson,
    event: &LessonEvent,
    traceparent: Option<&str>,
    idempotency: Option<&IdempotencyKey<'_>>,
) -> Result<bool, sqlx::Error> {
    let started = Instant::now();
    let body = serde_json::to_value(lesson).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let cloud_event = event.to_cloud_event(traceparent);
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query!(
        "INSERT INTO lessons (id, learner_id, course, topic, difficulty, personalised, body, created_at,
                              idempotency_key, requested)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (learner_id, idempotency_key) DO NOTHING",
        lesson.id,
        lesson.learner_id,
        lesson.course,
        lesson.topic,
        i16::from(lesson.difficulty),
        lesson.personalised,
        body,
        lesson.created_at,
        idempotency.map(|k| k.key),
        idempotency.map(|k| &k.requested),
    )
    .execute(&mut *tx)
    .instrument(statement(SERVICE, "INSERT", "lessons"))
    .await?
    .rows_affected();
    if inserted == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    sqlx::query!(
        "INSERT INTO outbox (event_id, partition_key, cloud_event, traceparent) VALUES ($1, $2, $3, $4)",
        event.event_id,
        event.learner_id,
        cloud_event,
        traceparent,
    )
    .execute(&mut *tx)
    .instrument(statement(SERVICE, "INSERT", "outbox"))
    .await?;
    tx.commit()
        .instrument(statement(SERVICE, "COMMIT", "lessons"))
        .await?;
    db_time("insert_lesson", started.elapsed());
    Ok(true)
}

/// The lesson stored with a learner's idempotency key.
async fn stored_for_key(pool: &PgPool, learner_id: &str, key: &str) -> Result<Stored, sqlx::Error> {
    let started = Instant::now();
    let row = sqlx::query!(
        "SELECT body, requested FROM lessons WHERE learner_id = $1 AND idempotency_key = $2",
        learner_id,
        key
    )
    .fetch_one(pool)
    .instrument(statement(SERVICE, "SELECT", "lessons"))
    .await?;
    db_time("lesson_by_idempotency_key", started.elapsed());
    let lesson = serde_json::from_value(row.body).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(Stored::Existing {
        lesson: Box::new(lesson),
        requested: row.requested,
    })
}

/// A stored lesson, if it exists.
pub async fn lesson(pool: &PgPool, id: Uuid) -> Result<Option<Lesson>, sqlx::Error> {
    let started = Instant::now();
    let row = sqlx::query!("SELECT body FROM lessons WHERE id = $1", id)
        .fetch_optional(pool)
        .instrument(statement(SERVICE, "SELECT", "lessons"))
        .await?;
    db_time("get_lesson", started.elapsed());
    row.map(|r| serde_json::from_value(r.body).map_err(|e| sqlx::Error::Decode(Box::new(e))))
        .transpose()
}

/// An outbox row claimed for publishing.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    /// Row id.
    pub id: i64,
    /// Kafka partition key (the learner).
    pub partition_key: String,
    /// The CloudEvent to publish.
    pub cloud_event: serde_json::Value,
    /// The request's trace context.
    pub traceparent: Option<String>,
}

/// Claims up to `limit` pending rows, oldest first, skipping rows another replica holds.
pub async fn claim_pending(
    tx: &mut Transaction<'_, Postgres>,
    limit: i64,
) -> Result<Vec<PendingEvent>, sqlx::Error> {
    sqlx::query_as!(
        PendingEvent,
        "SELECT id, partition_key, cloud_event, traceparent FROM outbox
         WHERE sent_at IS NULL AND parked_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit
    )
    .fetch_all(&mut **tx)
    .instrument(statement(SERVICE, "SELECT", "outbox"))
    .await
}

/// Stamps rows as published.
pub async fn mark_sent(tx: &mut Transaction<'_, Postgres>, ids: &[i64]) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE outbox SET sent_at = now(), attempts = attempts + 1 WHERE id = ANY($1)",
        ids
    )
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Records a failed attempt on rows.
pub async fn mark_failed(
    tx: &mut Transaction<'_, Postgres>,
    ids: &[i64],
    error: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1)",
        ids,
        error
    )
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Records that the sidecar rejected these rows themselves (a 4xx about the event, or a
/// bulk entry that failed while others succeeded); a row rejected `max_rejections` times
/// (or at once, with `max_rejections` 1) is parked. Returns how many were parked now.
pub async fn mark_rejected(
    tx: &mut Transaction<'_, Postgres>,
    ids: &[i64],
    error: &str,
    max_rejections: i32,
) -> Result<usize, sqlx::Error> {
    let parked = sqlx::query_scalar!(
        r#"UPDATE outbox
           SET attempts = attempts + 1, rejections = rejections + 1, last_error = $2,
               parked_at = CASE WHEN rejections + 1 >= $3 THEN now() END
           WHERE id = ANY($1)
           RETURNING parked_at IS NOT NULL AS "parked!""#,
        ids,
        error,
        max_rejections
    )
    .fetch_all(&mut **tx)
    .await?;
    Ok(parked.into_iter().filter(|p| *p).count())
}

/// The outbox at a glance: rows waiting to be published, the age of the oldest (s), and
/// parked rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backlog {
    /// Rows not yet published (parked ones excluded).
    pub pending: i64,
    /// Age of the oldest of those, in seconds (0 when none).
    pub oldest_age: f64,
    /// Rows parked as poison.
    pub parked: i64,
}

/// Pending rows, the age of the oldest, and parked rows.
pub async fn backlog(pool: &PgPool) -> Result<Backlog, sqlx::Error> {
    let row = sqlx::query!(
        r#"SELECT count(*) FILTER (WHERE parked_at IS NULL) AS "pending!",
                  min(created_at) FILTER (WHERE parked_at IS NULL) AS oldest,
                  count(*) FILTER (WHERE parked_at IS NOT NULL) AS "parked!"
           FROM outbox WHERE sent_at IS NULL"#
    )
    .fetch_one(pool)
    .await?;
    let oldest: Option<DateTime<Utc>> = row.oldest;
    let oldest_age = oldest
        .map(|t| (Utc::now() - t).num_milliseconds() as f64 / 1000.0)
        .unwrap_or(0.0)
        .max(0.0);
    Ok(Backlog {
        pending: row.pending,
        oldest_age,
        parked: row.parked,
    })
}

/// Deletes rows published more than `retain_secs` ago.
pub async fn delete_sent(pool: &PgPool, retain_secs: i64) -> Result<u64, sqlx::Error> {
    sqlx::query!(
        "DELETE FROM outbox WHERE sent_at < now() - make_interval(secs => $1)",
        retain_secs as f64
    )
    .execute(pool)
    .await
    .map(|r| r.rows_affected())
}
