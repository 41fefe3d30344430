//! user-progress's API, reached only through its Dapr sidecar.
//!
//! - `POST /events/lesson` — lesson events delivered by the Dapr subscription; answers
//!   `SUCCESS`, `RETRY` (database trouble) or `DROP` (an event it can never take),
//!   and never 404, which Dapr would take as "drop";
//! - `GET /internal/progress/{learner}` and `GET /internal/mastery/{learner}`;
//! - `POST /internal/completions` — a completed lesson's score moves mastery, once: a
//!   repeat with the same score answers the stored result (`Idempotent-Replayed`), one
//!   with another score 409.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::routing::{get, post};
use chrono::Utc;
use lf_events::api::{CompletionRecorded, Progress, RecordCompletion, TopicMastery};
use lf_events::{decode_cloud_event, idempotency, valid_learner_id};
use lf_http::error::FieldError;
use lf_http::json::ApiJson;
use serde_json::{Value, json};
use sqlx::PgPool;
use tracing::Instrument;

use crate::db::{self, Applied, Completion, CompletionError};
use crate::error::ApiError;
use crate::metrics;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub pool: PgPool,
    /// Set once migrations are applied; until then deliveries are answered RETRY.
    pub migrated: Arc<AtomicBool>,
}

/// The routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/events/lesson", post(lesson_event))
        .route("/internal/progress/{learner}", get(progress))
        .route("/internal/mastery/{learner}", get(mastery))
        .route("/internal/completions", post(complete))
        .with_state(state)
}

fn status(s: &str) -> Json<Value> {
    Json(json!({ "status": s }))
}

async fn lesson_event(State(state): State<AppState>, body: Bytes) -> Json<Value> {
    // The server span around this handler is already a child of daprd's delivery span.
    let span = tracing::info_span!(
        "messaging.process",
        otel.name = "process lesson-events",
        otel.kind = "consumer",
        messaging.system = "kafka",
        messaging.operation.type = "process",
        messaging.destination.name = lf_events::LESSON_TOPIC,
        messaging.message.id = tracing::field::Empty,
        learnflow.outcome = tracing::field::Empty,
    );
    let answer = handle_lesson_event(&state, &body, &span)
        .instrument(span.clone())
        .await;
    span.record(
        "learnflow.outcome",
        answer["status"].as_str().unwrap_or_default(),
    );
    answer
}

async fn handle_lesson_event(state: &AppState, body: &[u8], span: &tracing::Span) -> Json<Value> {
    let event = match decode_cloud_event(body) {
        Ok(event) => event,
        Err(e) => {
            tracing::warn!(reason = e.reason(), error = %e, bytes = body.len(), "dropping lesson event to dead letter");
            metrics::event_consumed("drop", e.reason());
            return status("DROP");
        }
    };
    span.record("messaging.message.id", event.event_id.to_string().as_str());
    if !state.migrated.load(Ordering::Acquire) {
        metrics::event_consumed("retry", "");
        return status("RETRY");
    }
    match db::apply_lesson_event(&state.pool, &event).await {
        Ok(Applied::New) => {
            let latency = (Utc::now() - event.created_at).to_std().unwrap_or_default();
            metrics::lesson_to_db(latency);
            metrics::event_consumed("success", "");
            status("SUCCESS")
        }
        Ok(Applied::Duplicate) => {
            tracing::info!(event_id = %event.event_id, "duplicate lesson event ignored");
            metrics::event_consumed("duplicate", "");
            status("SUCCESS")
        }
        Err(e) => {
            tracing::warn!(error = %e, event_id = %event.event_id, "cannot store lesson event; asking Dapr to retry");
            metrics::event_consumed("retry", "");
            status("RETRY")
        }
    }
}

fn check_learner(learner: &str) -> Result<(), ApiError> {
    if valid_learner_id(learner) {
        Ok(())
    } else {
        Err(ApiError::Unprocessable(vec![FieldError {
            field: "learner".into(),
            message: lf_events::LEARNER_ID_RULE.into(),
        }]))
    }
}

async fn progress(
    State(state): State<AppState>,
    Path(learner): Path<String>,
) -> Result<Json<Progress>, ApiError> {
    check_learner(&learner)?;
    Ok(Json(db::progress(&state.pool, &learner).await?))
}

async fn mastery(
    State(state): State<AppState>,
    Path(learner): Path<String>,
) -> Result<Json<Vec<TopicMastery>>, ApiError> {
    check_learner(&learner)?;
    Ok(Json(db::mastery(&state.pool, &learner).await?))
}

async fn complete(
    State(state): State<AppState>,
    ApiJson(completion): ApiJson<RecordCompletion>,
) -> Result<(HeaderMap, Json<CompletionRecorded>), ApiError> {
    check_learner(&completion.learner_id)?;
    if !(0.0..=1.0).contains(&completion.score) {
        return Err(ApiError::Unprocessable(vec![FieldError {
            field: "score".into(),
            message: "must be between 0 and 1".into(),
        }]));
    }
    match db::record_completion(&state.pool, &completion).await {
        Ok(Completion::New(recorded)) => {
            metrics::completion();
            Ok((HeaderMap::new(), Json(recorded)))
        }
        Ok(Completion::Replayed(recorded)) => {
            metrics::idempotent_replay("record_completion");
            let mut headers = HeaderMap::new();
            headers.insert(
                HeaderName::from_static(idempotency::REPLAYED_HEADER),
                HeaderValue::from_static("true"),
            );
            Ok((headers, Json(recorded)))
        }
        Err(CompletionError::AlreadyCompleted) => Err(ApiError::AlreadyCompleted),
        Err(CompletionError::Database(e)) => Err(e.into()),
    }
}
