//! user-progress's queries (checked at compile time against `migrations/`).

use std::time::Instant;

use lf_db::statement;
use lf_events::LessonEvent;
use lf_events::api::{CompletionRecorded, Progress, RecordCompletion, TopicMastery};
use sqlx::PgPool;
use tracing::Instrument;

use crate::metrics::db_time;
use crate::{SERVICE, mastery};

/// Embedded migrations, applied at start-up.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// First delivery: progress updated.
    New,
    /// Seen before: nothing changed.
    Duplicate,
}

/// Records the event id and updates progress and topic counters, in one transaction.
///
/// Rows are locked in the order learner_progress, topic_mastery; every transaction
/// that touches both must keep it (see `record_completion`).
pub async fn apply_lesson_event(
    pool: &PgPool,
    event: &LessonEvent,
) -> Result<Applied, sqlx::Error> {
    lf_db::retry_conflicts(SERVICE, "apply_lesson_event", lf_db::itself, || {
        apply_lesson_event_tx(pool, event)
            .instrument(lf_db::transaction(SERVICE, "apply_lesson_event"))
    })
    .await
}

async fn apply_lesson_event_tx(pool: &PgPool, event: &LessonEvent) -> Result<Applied, sqlx::Error> {
    let started = Instant::now();
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query!(
        "INSERT INTO processed_events (event_id, lesson_id, learner_id, created_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING",
        event.event_id,
        event.lesson_id,
        event.learner_id,
        event.created_at,
    )
    .execute(&mut *tx)
    .instrument(statement(SERVICE, "INSERT", "processed_events"))
    .await?
    .rows_affected();
    if inserted == 0 {
        tx.rollback().await?;
        return Ok(Applied::Duplicate);
    }
    sqlx::query!(
        "INSERT INTO learner_progress (learner_id, lessons_received) VALUES ($1, 1)
         ON CONFLICT (learner_id) DO UPDATE
         SET lessons_received = learner_progress.lessons_received + 1, updated_at = now()",
        event.learner_id,
    )
    .execute(&mut *tx)
    .instrument(statement(SERVICE, "UPSERT", "learner_progress"))
    .await?;
    sqlx::query!(
        "INSERT INTO topic_mastery (learner_id, course, topic, mastery, lessons) VALUES ($1, $2, $3, $4, 1)
         ON CONFLICT (learner_id, course, topic) DO UPDATE
         SET lessons = topic_mastery.lessons + 1, updated_at = now()",
        event.learner_id,
        event.course,
        event.topic,
        mastery::PRIOR,
    )
    .execute(&mut *tx)
    .instrument(statement(SERVICE, "UPSERT", "topic_mastery"))
    .await?;
    tx.commit()
        .instrument(statement(SERVICE, "COMMIT", "processed_events"))
        .await?;
    db_time("apply_lesson_event", started.elapsed());
    Ok(Applied::New)
}

/// Per-topic mastery of a learner, most recently changed first.
pub async fn mastery(pool: &PgPool, learner_id: &str) -> Result<Vec<TopicMastery>, sqlx::Error> {
    let started = Instant::now();
    let rows = sqlx::query_as!(
        TopicMastery,
        "SELECT course, topic, mastery, lessons, completions, updated_at FROM topic_mastery
         WHERE learner_id = $1 ORDER BY updated_at DESC, course, topic",
        learner_id
    )
    .fetch_all(pool)
    .instrument(statement(SERVICE, "SELECT", "topic_mastery"))
    .await?;
    db_time("mastery", started.elapsed());
    Ok(rows)
}

/// A learner's progress (zeros for a learner never seen).
pub async fn progress(pool: &PgPool, learner_id: &str) -> Result<Progress, sqlx::Error> {
    let row = sqlx::query!(
        "SELECT lessons_received, lessons_completed FROM learner_progress WHERE learner_id = $1",
        learner_id
    )
    .fetch_optional(pool)
    .instrument(statement(SERVICE, "SELECT", "learner_progress"))
    .await?;
    let (lessons_received, lessons_completed) = row
        .map(|r| (r.lessons_received, r.lessons_completed))
        .unwrap_or((0, 0));
    Ok(Progress {
        learner_id: learner_id.to_owned(),
        lessons_received,
        lessons_completed,
        topics: mastery(pool, learner_id).await?,
    })
}

/// A recorded completion: just now, or by an earlier identical request.
#[derive(Debug, Clone, PartialEq)]
pub enum Completion {
    /// Recorded by this request.
    New(CompletionRecorded),
    /// The same completion (lesson and score) was recorded before; this is its result.
    Replayed(CompletionRecorded),
}

/// Why a completion was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum CompletionError {
    /// This lesson's completion exists already, with another score (or from before
    /// completions kept their result).
    #[error("already completed")]
    AlreadyCompleted,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl CompletionError {
    /// The database's error, if that is what this is.
    fn database(&self) -> Option<&sqlx::Error> {
        match self {
            Self::Database(e) => Some(e),
            Self::AlreadyCompleted => None,
        }
    }
}

/// Records a completion and moves the topic's mastery, once per lesson; a repeat with
/// the same score gets the stored result. A run that PostgreSQL aborts on a conflict is
/// run again (`lf_db::retry_conflicts`).
pub async fn record_completion(
    pool: &PgPool,
    c: &RecordCompletion,
) -> Result<Completion, CompletionError> {
    let recorded = lf_db::retry_conflicts(
        SERVICE,
        "record_completion",
        CompletionError::database,
        || record_completion_tx(pool, c),
    )
    .await?;
    match recorded {
        Some(recorded) => Ok(Completion::New(recorded)),
        None => stored_completion(pool, c).await,
    }
}

/// The completion recorded, or `None` when the lesson's completion exists already.
async fn record_completion_tx(
    pool: &PgPool,
    c: &RecordCompletion,
) -> Result<Option<CompletionRecorded>, CompletionError> {
    let started = Instant::now();
    let mut tx = pool.begin().await?;
    // Lock order: learner_progress, then topic_mastery — as `apply_lesson_event` does.
    // In the opposite order a completion and a lesson event of the same learner
    // deadlock, and PostgreSQL aborts one of them. The learner's row also serialises
    // the learner's completions, so each one's mastery_before is the previous one's after.
    sqlx::query!(
        "INSERT INTO learner_progress (learner_id, lessons_completed) VALUES ($1, 1)
         ON CONFLICT (learner_id) DO UPDATE
         SET lessons_completed = learner_progress.lessons_completed + 1, updated_at = now()",
        c.learner_id,
    )
    .execute(&mut *tx)
    .await?;
    let before = sqlx::query_scalar!(
        "SELECT mastery FROM topic_mastery WHERE learner_id = $1 AND course = $2 AND topic = $3 FOR UPDATE",
        c.learner_id,
        c.course,
        c.topic,
    )
    .fetch_optional(&mut *tx)
    .await?
    .unwrap_or(mastery::PRIOR);
    let after = mastery::update(before, c.score);
    let inserted = sqlx::query!(
        "INSERT INTO completions (lesson_id, learner_id, course, topic, score, mastery_before, mastery_after)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (lesson_id) DO NOTHING",
        c.lesson_id,
        c.learner_id,
        c.course,
        c.topic,
        c.score,
        before,
        after,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        // Completed before: undo the counter and leave mastery alone.
        tx.rollback().await?;
        return Ok(None);
    }
    sqlx::query!(
        "INSERT INTO topic_mastery (learner_id, course, topic, mastery, completions) VALUES ($1, $2, $3, $4, 1)
         ON CONFLICT (learner_id, course, topic) DO UPDATE
         SET mastery = $4, completions = topic_mastery.completions + 1, updated_at = now()",
        c.learner_id,
        c.course,
        c.topic,
        after,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    db_time("record_completion", started.elapsed());
    Ok(Some(CompletionRecorded {
        lesson_id: c.lesson_id,
        mastery_before: before,
        mastery_after: after,
    }))
}

/// The stored result of the lesson's completion, if `c` repeats it exactly.
async fn stored_completion(
    pool: &PgPool,
    c: &RecordCompletion,
) -> Result<Completion, CompletionError> {
    let started = Instant::now();
    let stored = sqlx::query!(
        "SELECT learner_id, score, mastery_before, mastery_after FROM completions WHERE lesson_id = $1",
        c.lesson_id
    )
    .fetch_one(pool)
    .instrument(statement(SERVICE, "SELECT", "completions"))
    .await?;
    db_time("stored_completion", started.elapsed());
    let same_request = stored.learner_id == c.learner_id && stored.score == c.score;
    match (same_request, stored.mastery_before, stored.mastery_after) {
        (true, Some(mastery_before), Some(mastery_after)) => {
            Ok(Completion::Replayed(CompletionRecorded {
                lesson_id: c.lesson_id,
                mastery_before,
                mastery_after,
            }))
        }
        _ => Err(CompletionError::AlreadyCompleted),
    }
}

/// Deletes up to `batch` deduplication keys older than `window`, oldest first (one short
/// transaction; `processed_events_by_processed_at` finds them). Returns how many went.
pub async fn delete_processed_before(
    pool: &PgPool,
    window: std::time::Duration,
    batch: i64,
) -> Result<u64, sqlx::Error> {
    let started = Instant::now();
    let deleted = sqlx::query!(
        "DELETE FROM processed_events WHERE event_id IN (
             SELECT event_id FROM processed_events
             WHERE processed_at < now() - make_interval(secs => $1)
             ORDER BY processed_at LIMIT $2)",
        window.as_secs_f64(),
        batch,
    )
    .execute(pool)
    .instrument(statement(SERVICE, "DELETE", "processed_events"))
    .await?
    .rows_affected();
    db_time("delete_processed_before", started.elapsed());
    Ok(deleted)
}
