//! The public API under `/api/v1` (see `openapi.json`).

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use lf_events::api::{
    CompletionRecorded, CompletionRequest, CreateLessonRequest, GenerateLessonRequest, Lesson,
    Progress, RecordCompletion,
};
use lf_events::app_id::{COURSE_AGENT, USER_PROGRESS};
use lf_events::idempotency;
use lf_http::error::FieldError;
use lf_http::json::ApiJson;
use reqwest::Method;
use uuid::Uuid;

use crate::auth::Learner;
use crate::error::ApiError;
use crate::upstream::Upstream;

/// The served OpenAPI document.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Routes that need a learner.
pub fn learner_routes(upstream: Upstream) -> Router {
    Router::new()
        .route("/api/v1/lessons", post(create_lesson))
        .route("/api/v1/lessons/{id}", get(get_lesson))
        .route("/api/v1/lessons/{id}/completion", post(complete_lesson))
        .route("/api/v1/progress", get(progress))
        .with_state(upstream)
}

/// Routes anyone may call.
pub fn public_routes() -> Router {
    Router::new().route(
        "/api/v1/openapi.json",
        get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
    )
}

/// Course and topic ids: 1–64 characters of lowercase letters, digits and `-`.
fn check_id(field: &str, value: Option<&str>, errors: &mut Vec<FieldError>) {
    if let Some(v) = value {
        let ok = !v.is_empty()
            && v.len() <= 64
            && v.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            errors.push(FieldError {
                field: field.into(),
                message: "1–64 characters of lowercase letters, digits and '-'".into(),
            });
        }
    }
}

fn lesson_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::BadRequest(format!("{raw:?} is not a lesson id (a UUID)")))
}

/// The `{id}` path segment as a lesson id. Axum's own `Path` rejection (e.g. for
/// percent-encoded bytes that are not UTF-8) is plain text; this is our JSON 400.
struct LessonId(Uuid);

impl<S: Send + Sync> FromRequestParts<S> for LessonId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::BadRequest("the lesson id is not a UUID".into()))?;
        lesson_id(&raw).map(Self)
    }
}

/// The request's `Idempotency-Key`, or a new one when it has none, so that daprd's retry
/// of a call whose answer was lost is recognised upstream (a client that wants its own
/// retries recognised sends a key, or reuses the one we answer with). A malformed key is
/// a 400.
struct IdempotencyKey(HeaderValue);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        match parts.headers.get(idempotency::HEADER) {
            None => HeaderValue::from_str(&Uuid::now_v7().to_string())
                .map(Self)
                .map_err(|e| ApiError::internal("making an idempotency key", e)),
            Some(value) if value.to_str().is_ok_and(idempotency::valid) => Ok(Self(value.clone())),
            Some(_) => Err(ApiError::BadRequest(format!(
                "Idempotency-Key must be 1–{} visible ASCII characters",
                idempotency::MAX_LEN
            ))),
        }
    }
}

impl IdempotencyKey {
    /// The headers that carry the key to an internal service.
    fn upstream_headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HeaderName::from_static(idempotency::HEADER), self.0.clone());
        headers
    }

    /// The key for the client, and whether `answer` repeats an earlier result.
    fn response_headers(&self, replayed: bool) -> HeaderMap {
        let mut headers = self.upstream_headers();
        if replayed {
            headers.insert(
                HeaderName::from_static(idempotency::REPLAYED_HEADER),
                HeaderValue::from_static("true"),
            );
        }
        headers
    }
}

async fn create_lesson(
    State(upstream): State<Upstream>,
    learner: Learner,
    key: IdempotencyKey,
    ApiJson(request): ApiJson<CreateLessonRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let mut errors = Vec::new();
    check_id("course", request.course.as_deref(), &mut errors);
    check_id("topic", request.topic.as_deref(), &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let body = serde_json::to_value(GenerateLessonRequest {
        learner_id: learner.0,
        course: request.course,
        topic: request.topic,
    })
    .map_err(|e| ApiError::internal("encoding the request to an internal service", e))?;
    let answer = upstream
        .call(
            COURSE_AGENT,
            Method::POST,
            "internal/lessons",
            Some(body),
            key.upstream_headers(),
        )
        .await?;
    match answer.status {
        201 => {
            let mut headers = key.response_headers(answer.replayed);
            let lesson: Lesson = answer.decode(COURSE_AGENT)?;
            if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/lessons/{}", lesson.id)) {
                headers.insert(header::LOCATION, location);
            }
            Ok((StatusCode::CREATED, headers, Json(lesson)))
        }
        400 | 422 => Err(ApiError::Validation(answer.field_errors())),
        other => Err(ApiError::Internal(
            format!("course-agent answered {other}").into(),
        )),
    }
}

/// Fetches a lesson and checks it belongs to `learner`.
async fn owned_lesson(
    upstream: &Upstream,
    learner: &Learner,
    id: Uuid,
) -> Result<Lesson, ApiError> {
    let answer = upstream
        .call(
            COURSE_AGENT,
            Method::GET,
            &format!("internal/lessons/{id}"),
            None,
            HeaderMap::new(),
        )
        .await?;
    match answer.status {
        200 => {
            let lesson: Lesson = answer.decode(COURSE_AGENT)?;
            if lesson.learner_id == learner.0 {
                Ok(lesson)
            } else {
                Err(ApiError::Forbidden)
            }
        }
        404 => Err(ApiError::NotFound),
        other => Err(ApiError::Internal(
            format!("course-agent answered {other}").into(),
        )),
    }
}

async fn get_lesson(
    State(upstream): State<Upstream>,
    learner: Learner,
    LessonId(id): LessonId,
) -> Result<Json<Lesson>, ApiError> {
    owned_lesson(&upstream, &learner, id).await.map(Json)
}

async fn complete_lesson(
    State(upstream): State<Upstream>,
    learner: Learner,
    LessonId(id): LessonId,
    key: IdempotencyKey,
    ApiJson(request): ApiJson<CompletionRequest>,
) -> Result<(HeaderMap, Json<CompletionRecorded>), ApiError> {
    if !(0.0..=1.0).contains(&request.score) || request.score.is_nan() {
        return Err(ApiError::Validation(vec![FieldError {
            field: "score".into(),
            message: "a number from 0 to 1".into(),
        }]));
    }
    let lesson = owned_lesson(&upstream, &learner, id).await?;
    let body = serde_json::to_value(RecordCompletion {
        learner_id: learner.0,
        lesson_id: id,
        course: lesson.course,
        topic: lesson.topic,
        score: request.score,
    })
    .map_err(|e| ApiError::internal("encoding the request to an internal service", e))?;
    let answer = upstream
        .call(
            USER_PROGRESS,
            Method::POST,
            "internal/completions",
            Some(body),
            key.upstream_headers(),
        )
        .await?;
    match answer.status {
        200 => {
            let headers = key.response_headers(answer.replayed);
            answer.decode(USER_PROGRESS).map(|c| (headers, Json(c)))
        }
        409 => Err(ApiError::Conflict(
            "this lesson is already completed, with another score".into(),
        )),
        400 | 422 => Err(ApiError::Validation(answer.field_errors())),
        other => Err(ApiError::Internal(
            format!("user-progress answered {other}").into(),
        )),
    }
}

async fn progress(
    State(upstream): State<Upstream>,
    learner: Learner,
) -> Result<Json<Progress>, ApiError> {
    let answer = upstream
        .call(
            USER_PROGRESS,
            Method::GET,
            &format!("internal/progress/{}", learner.0),
            None,
            HeaderMap::new(),
        )
        .await?;
    match answer.status {
        200 => answer.decode(USER_PROGRESS).map(Json),
        other => Err(ApiError::Internal(
            format!("user-progress answered {other}").into(),
        )),
    }
}
