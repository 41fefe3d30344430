//! The gateway's learner routes on arbitrary requests: path parameters, content types
//! and bodies, for an authenticated learner, with a fake sidecar answering as
//! course-agent and user-progress do.
//!
//! Input: one selector byte (route, content type), one length byte, that many bytes of
//! lesson id (sent percent-encoded, so any byte reaches the router), then the body.
//! No request may get a 5xx, and every refusal is a JSON error with a code.

#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, header};
use frontend_gateway::auth::Learner;
use frontend_gateway::routes::learner_routes;
use frontend_gateway::upstream::Upstream;
use lf_dapr::fake::FakeSidecar;
use lf_dapr::{DaprError, InvokeResponse};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tower::ServiceExt;

const LEARNER: &str = "fuzz-learner";

const CONTENT_TYPES: &[Option<&str>] = &[
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("text/plain"),
    None,
];

fn lesson(id: &str) -> Value {
    json!({
        "id": id, "learner_id": LEARNER, "course": "arithmetic", "course_title": "Arithmetic",
        "module": "Whole numbers", "topic": "addition", "topic_title": "Adding", "difficulty": 1,
        "personalised": false, "explanation": "e",
        "worked_example": {"problem": "1 + 1", "steps": ["2"], "answer": "2"},
        "exercises": [], "quiz": [], "created_at": "2026-11-23T00:00:00Z"
    })
}

fn answer(status: u16, body: &Value) -> Result<InvokeResponse, DaprError> {
    Ok(InvokeResponse::json(status, body))
}

/// The routes behind authentication (the Learner is put in place as `auth` would).
fn router() -> &'static Router {
    static ROUTER: OnceLock<Router> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let sidecar = FakeSidecar::new();
        sidecar.on_invoke(|app, method, _body| {
            const SOME_LESSON: &str = "0190a0a0-0000-7000-8000-000000000001";
            match (app, method) {
                ("course-agent", "internal/lessons") => answer(201, &lesson(SOME_LESSON)),
                ("course-agent", m) => {
                    let id = m.rsplit('/').next().unwrap_or(SOME_LESSON);
                    answer(200, &lesson(id))
                }
                ("user-progress", "internal/completions") => answer(
                    200,
                    &json!({"lesson_id": SOME_LESSON, "mastery_before": 0.1, "mastery_after": 0.4}),
                ),
                _ => answer(
                    200,
                    &json!({"learner_id": LEARNER, "lessons_received": 1,
                        "lessons_completed": 0, "topics": []}),
                ),
            }
        });
        learner_routes(Upstream::new(Arc::new(sidecar), Duration::from_secs(1)))
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
    })
}

fuzz_target!(|input: &[u8]| {
    let [selector, id_len, rest @ ..] = input else {
        return;
    };
    let (id, body) = rest.split_at(usize::from(*id_len).min(rest.len()));
    // An empty segment matches none of these routes: the app's fallback answers it.
    if id.is_empty() && matches!(selector % 4, 1 | 2) {
        return;
    }
    let id: String = id.iter().map(|b| format!("%{b:02X}")).collect();
    let (method, path, with_body) = match selector % 4 {
        0 => (Method::POST, "/api/v1/lessons".to_owned(), true),
        1 => (Method::GET, format!("/api/v1/lessons/{id}"), false),
        2 => (
            Method::POST,
            format!("/api/v1/lessons/{id}/completion"),
            true,
        ),
        _ => (Method::GET, "/api/v1/progress".to_owned(), false),
    };
    let mut request = Request::builder().method(method).uri(&path);
    if let Some(ct) = CONTENT_TYPES[usize::from(selector >> 2) % CONTENT_TYPES.len()] {
        request = request.header(header::CONTENT_TYPE, ct);
    }
    let body = if with_body { body.to_vec() } else { Vec::new() };
    let mut request = request.body(Body::from(body)).expect("a request");
    request.extensions_mut().insert(Learner(LEARNER.to_owned()));

    let (status, content_type, bytes) = runtime().block_on(async {
        let response = router().clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("a body");
        (status, content_type, bytes)
    });
    let text = String::from_utf8_lossy(&bytes);
    assert!(!status.is_server_error(), "{path}: {status} {text}");
    let json: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("{path}: {status} with a body that is not JSON: {text:?}"));
    assert!(
        content_type.starts_with("application/json"),
        "{path}: {status} as {content_type:?}"
    );
    if !status.is_success() {
        assert!(
            json["error"]["code"]
                .as_str()
                .is_some_and(|c| !c.is_empty()),
            "{path}: {status} without error.code: {text}"
        );
    }
});
