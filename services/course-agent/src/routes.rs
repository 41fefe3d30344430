//! course-agent's internal API, reached only through its Dapr sidecar.
//!
//! - `POST /internal/lessons` — generate, store and announce a lesson (201); with an
//!   `Idempotency-Key`, a repeat answers the lesson stored first (201, `Idempotent-Replayed`);
//! - `GET /internal/lessons/{id}` — a stored lesson (404 if unknown).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::routing::{get, post};
use chrono::Utc;
use lf_dapr::DaprPort;
use lf_events::api::{GenerateLessonRequest, Lesson, TopicMastery};
use lf_events::{LessonEvent, app_id, idempotency, valid_learner_id};
use lf_http::error::FieldError;
use lf_http::json::ApiJson;
use sqlx::PgPool;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::curriculum::Curriculum;
use crate::db::{IdempotencyKey, Stored};
use crate::domain::personalise;
use crate::error::ApiError;
use crate::{db, metrics};

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub pool: PgPool,
    /// The sidecar.
    pub dapr: Arc<dyn DaprPort>,
    /// Wakes the outbox relay after a commit.
    pub relay_wake: Arc<Notify>,
    /// How long to wait for mastery.
    pub personalisation_timeout: Duration,
    /// The courses lessons are made from, checked when the app was built.
    pub curriculum: Arc<Curriculum>,
}

/// The internal routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/internal/lessons", post(create_lesson))
        .route("/internal/lessons/{id}", get(get_lesson))
        .with_state(state)
}

async fn create_lesson(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<GenerateLessonRequest>,
) -> Result<(StatusCode, HeaderMap, Json<Lesson>), ApiError> {
    let key = idempotency_key(&headers)?;
    if !valid_learner_id(&request.learner_id) {
        return Err(ApiError::Unprocessable {
            message: "invalid learner id".into(),
            details: vec![FieldError {
                field: "learner_id".into(),
                message: lf_events::LEARNER_ID_RULE.into(),
            }],
        });
    }
    let mastery = fetch_mastery(&state, &request.learner_id).await;
    metrics::personalisation(mastery.is_some());
    let curriculum = state.curriculum.as_ref();
    let choice = personalise::choose(
        curriculum,
        request.course.as_deref(),
        request.topic.as_deref(),
        mastery.as_deref(),
    )
    .map_err(|detail| ApiError::Unprocessable {
        message: "unknown course or topic".into(),
        details: vec![detail],
    })?;
    let content = curriculum.render(choice.topic, choice.difficulty, &[&request.learner_id]);
    let lesson = Lesson {
        id: Uuid::now_v7(),
        learner_id: request.learner_id.clone(),
        course: choice.topic.course.id.clone(),
        course_title: choice.topic.course.title.clone(),
        module: choice.topic.module.title.clone(),
        topic: choice.topic.topic.id.clone(),
        topic_title: choice.topic.topic.title.clone(),
        difficulty: choice.difficulty,
        personalised: choice.personalised,
        explanation: content.explanation,
        worked_example: content.worked_example,
        exercises: content.exercises,
        quiz: content.quiz,
        created_at: Utc::now(),
    };
    let event = LessonEvent::new(
        lesson.id,
        lesson.learner_id.clone(),
        lesson.course.clone(),
        lesson.topic.clone(),
        lesson.difficulty,
        lesson.personalised,
        lesson.created_at,
    );
    // The outbox keeps this request's trace context (our server span, itself a child of
    // daprd's), so the relay's publish continues the trace; without tracing, keep the
    // caller's traceparent as daprd sent it.
    let traceparent = lf_telemetry::trace::traceparent(&tracing::Span::current()).or_else(|| {
        headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    });
    let key = key.map(|key| IdempotencyKey {
        key,
        requested: serde_json::json!({ "course": request.course, "topic": request.topic }),
    });
    let stored = db::insert_lesson_with_event(
        &state.pool,
        &lesson,
        &event,
        traceparent.as_deref(),
        key.as_ref(),
    )
    .await?;
    match stored {
        Stored::New => {
            state.relay_wake.notify_one();
            metrics::lesson_generated(&lesson.course, lesson.personalised);
            Ok((StatusCode::CREATED, HeaderMap::new(), Json(lesson)))
        }
        Stored::Existing {
            lesson: first,
            requested,
        } if requested.as_ref() == key.as_ref().map(|k| &k.requested) => {
            metrics::idempotent_replay("create_lesson");
            let mut headers = HeaderMap::new();
            headers.insert(
                HeaderName::from_static(idempotency::REPLAYED_HEADER),
                HeaderValue::from_static("true"),
            );
            Ok((StatusCode::CREATED, headers, Json(*first)))
        }
        Stored::Existing { .. } => Err(ApiError::Unprocessable {
            message: "this Idempotency-Key was used for a different request".into(),
            details: vec![FieldError {
                field: "Idempotency-Key".into(),
                message: "already used with another course or topic; use a new key".into(),
            }],
        }),
    }
}

/// The request's `Idempotency-Key`, if it has one; a malformed key is a 400.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(idempotency::HEADER) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if idempotency::valid(key) => Ok(Some(key)),
        _ => Err(ApiError::BadRequest(format!(
            "Idempotency-Key must be 1–{} visible ASCII characters",
            idempotency::MAX_LEN
        ))),
    }
}

/// The learner's mastery from user-progress, or `None` when it cannot be had in time.
async fn fetch_mastery(state: &AppState, learner_id: &str) -> Option<Vec<TopicMastery>> {
    let response = state
        .dapr
        .invoke(
            app_id::USER_PROGRESS,
            reqwest::Method::GET,
            &format!("internal/mastery/{learner_id}"),
            None,
            HeaderMap::new(),
            state.personalisation_timeout,
        )
        .await;
    match response {
        Ok(r) if r.status == 200 => match serde_json::from_slice(&r.body) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(error = %e, "user-progress mastery did not parse; falling back");
                None
            }
        },
        Ok(r) => {
            tracing::info!(
                status = r.status,
                "user-progress unavailable for personalisation; falling back"
            );
            None
        }
        Err(e) => {
            tracing::info!(error = %e, "user-progress unreachable for personalisation; falling back");
            None
        }
    }
}

async fn get_lesson(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Lesson>, ApiError> {
    let id = Uuid::parse_str(&id)
        .map_err(|_| ApiError::BadRequest(format!("{id:?} is not a lesson id (UUID)")))?;
    db::lesson(&state.pool, id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}
