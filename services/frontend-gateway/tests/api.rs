//! frontend-gateway over HTTP on a free port, with a fake sidecar standing in for
//! course-agent and user-progress: identity, validation and edge protection.

mod common;

use std::sync::Arc;

use frontend_gateway::{App, Config};
use lf_dapr::fake::FakeSidecar;
use lf_dapr::{DaprError, InvokeResponse};
use serde_json::{Value, json};

const SECRET: &str = "test-secret-test-secret-test-secret";

struct TestApp {
    base: String,
    http: reqwest::Client,
    sidecar: FakeSidecar,
}

fn lesson(id: &str, learner: &str) -> Value {
    json!({
        "id": id, "learner_id": learner, "course": "arithmetic", "course_title": "Arithmetic",
        "module": "Whole numbers", "topic": "addition", "topic_title": "Adding", "difficulty": 1,
        "personalised": false, "explanation": "e",
        "worked_example": {"problem": "1 + 1", "steps": ["2"], "answer": "2"},
        "exercises": [], "quiz": [], "created_at": "2026-11-23T00:00:00Z"
    })
}

fn answer(status: u16, body: Value) -> Result<InvokeResponse, DaprError> {
    Ok(InvokeResponse::json(status, &body))
}

const OWNED: &str = "0190a0a0-0000-7000-8000-000000000001";
const THEIRS: &str = "0190a0a0-0000-7000-8000-000000000002";

impl TestApp {
    async fn spawn(extra_env: &[(&str, &str)]) -> Self {
        let sidecar = FakeSidecar::new();
        sidecar.on_invoke(|app, method, body| match (app, method) {
            ("course-agent", "internal/lessons") => {
                let learner = body.and_then(|b| b["learner_id"].as_str()).unwrap_or_default();
                if body.and_then(|b| b["course"].as_str()) == Some("alchemy") {
                    return answer(422, json!({"error": {"code": "validation_failed", "message": "x",
                        "details": [{"field": "course", "message": "unknown course"}]}}));
                }
                if body.and_then(|b| b["course"].as_str()) == Some("geometry") {
                    // As course-agent answers a repeat of a key it has seen.
                    let mut repeat = InvokeResponse::json(201, &lesson(OWNED, learner));
                    repeat.headers.insert(
                        "idempotent-replayed",
                        reqwest::header::HeaderValue::from_static("true"),
                    );
                    return Ok(repeat);
                }
                answer(201, lesson(OWNED, learner))
            }
            ("course-agent", m) if m.ends_with(OWNED) => answer(200, lesson(OWNED, "learner-a")),
            ("course-agent", m) if m.ends_with(THEIRS) => answer(200, lesson(THEIRS, "learner-b")),
            ("course-agent", _) => answer(404, json!({"error": {"code": "not_found", "message": "x"}})),
            ("user-progress", "internal/completions") => {
                answer(200, json!({"lesson_id": OWNED, "mastery_before": 0.1, "mastery_after": 0.43}))
            }
            ("user-progress", m) if m.starts_with("internal/progress/") => answer(
                200,
                json!({"learner_id": "learner-a", "lessons_received": 3, "lessons_completed": 1, "topics": []}),
            ),
            _ => Err(DaprError::Unreachable("unexpected call".into())),
        });
        let base = common::spawn_gateway(sidecar.clone(), SECRET, extra_env).await;
        Self {
            base,
            http: reqwest::Client::new(),
            sidecar,
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut r = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(b.to_owned());
        }
        let r = r.send().await.expect("request");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.json().await.unwrap_or(Value::Null))
    }
}

fn learner_a() -> String {
    lf_auth::mint(SECRET, "learner-a", 600)
}

#[tokio::test]
async fn the_happy_paths() {
    let app = TestApp::spawn(&[]).await;
    let t = learner_a();
    let (s, h, b) = app
        .send(
            reqwest::Method::POST,
            "/api/v1/lessons",
            Some(&t),
            Some(r#"{"course":"arithmetic"}"#),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(h["location"], format!("/api/v1/lessons/{OWNED}"));
    assert!(h.contains_key("x-request-id"));
    assert_eq!(b["learner_id"], "learner-a");
    let (s, _, b) = app
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/lessons/{OWNED}"),
            Some(&t),
            None,
        )
        .await;
    assert_eq!((s, b["id"].as_str()), (200, Some(OWNED)));
    let (s, _, b) = app
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/lessons/{OWNED}/completion"),
            Some(&t),
            Some(r#"{"score":0.8}"#),
        )
        .await;
    assert_eq!((s, b["mastery_after"].as_f64()), (200, Some(0.43)));
    let (s, _, b) = app
        .send(reqwest::Method::GET, "/api/v1/progress", Some(&t), None)
        .await;
    assert_eq!((s, b["lessons_received"].as_i64()), (200, Some(3)));
    let (s, _, doc) = app
        .send(reqwest::Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(s, 200);
    for path in [
        "/api/v1/lessons",
        "/api/v1/lessons/{id}",
        "/api/v1/lessons/{id}/completion",
        "/api/v1/progress",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// A token with exactly these claims, signed with the gateway's secret.
fn signed(claims: &serde_json::Value) -> String {
    lf_auth::hmac_crypto::install();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("token encodes")
}

#[tokio::test]
async fn tokens_inside_the_rules_are_accepted() {
    let app = TestApp::spawn(&[]).await;
    // The control for the refusals below: a token using nbf and iat correctly, and one
    // living exactly the cap.
    let cases = [
        signed(&serde_json::json!({
            "sub": "learner-a", "exp": now() + 600, "nbf": now() - 10, "iat": now() - 10,
            "iss": lf_auth::ISSUER, "aud": lf_auth::AUDIENCE})),
        lf_auth::mint(SECRET, "learner-a", 24 * 3600),
        lf_auth::mint(SECRET, ".a.", 600),
    ];
    for token in cases {
        let (s, _, b) = app
            .send(reqwest::Method::GET, "/api/v1/progress", Some(&token), None)
            .await;
        assert_ne!(s, 401, "{b}");
    }
}

#[tokio::test]
async fn tokens_are_checked() {
    let app = TestApp::spawn(&[]).await;
    let cases = [
        (None, "missing"),
        (Some("not.a.jwt".to_owned()), "malformed"),
        (
            Some(lf_auth::mint("another-secret-entirely", "learner-a", 600)),
            "bad signature",
        ),
        (Some(lf_auth::mint(SECRET, "learner-a", -600)), "expired"),
        (
            Some(lf_auth::mint_with(
                SECRET,
                "learner-a",
                600,
                lf_auth::ISSUER,
                "someone-else",
            )),
            "wrong audience",
        ),
        (
            Some(lf_auth::mint_with(
                SECRET,
                "learner-a",
                600,
                "evil",
                lf_auth::AUDIENCE,
            )),
            "wrong issuer",
        ),
        (
            Some(lf_auth::mint(SECRET, "../etc/passwd", 600)),
            "bad subject",
        ),
        (Some(lf_auth::mint(SECRET, "..", 600)), "subject only dots"),
        (Some(lf_auth::mint(SECRET, ".", 600)), "subject one dot"),
        (
            Some(lf_auth::mint(SECRET, "learner-a", 2 * 24 * 3600)),
            "lives two days, over the 24 h cap",
        ),
        (
            Some(signed(&serde_json::json!({
                "sub": "learner-a", "exp": now() + 600, "nbf": now() + 300,
                "iss": lf_auth::ISSUER, "aud": lf_auth::AUDIENCE}))),
            "not valid yet",
        ),
        (
            Some(signed(&serde_json::json!({
                "sub": "learner-a", "exp": now() + 600, "iat": now() - 2 * 24 * 3600,
                "iss": lf_auth::ISSUER, "aud": lf_auth::AUDIENCE}))),
            "issued two days ago",
        ),
    ];
    for (token, why) in cases {
        let (s, h, b) = app
            .send(
                reqwest::Method::GET,
                "/api/v1/progress",
                token.as_deref(),
                None,
            )
            .await;
        assert_eq!(s, 401, "{why}");
        assert_eq!(b["error"]["code"], "unauthenticated", "{why}");
        assert_eq!(h["www-authenticate"], "Bearer", "{why}");
    }
}

#[tokio::test]
async fn bad_input_is_a_4xx_json_error_never_a_5xx() {
    let app = TestApp::spawn(&[]).await;
    let t = learner_a();
    let big = format!(r#"{{"course":"{}"}}"#, "a".repeat(20_000));
    let cases: Vec<(reqwest::Method, String, Option<&str>, u16, &str)> = vec![
        (
            reqwest::Method::POST,
            "/api/v1/lessons".into(),
            Some("{\"course\": "),
            400,
            "malformed_json",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/lessons".into(),
            Some(r#"{"course": 7}"#),
            422,
            "validation_failed",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/lessons".into(),
            Some(r#"{"colour": "red"}"#),
            422,
            "validation_failed",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/lessons".into(),
            Some(r#"{"course": "Alchemy!"}"#),
            422,
            "validation_failed",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/lessons".into(),
            Some(r#"{"course": "alchemy"}"#),
            422,
            "validation_failed",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/lessons".into(),
            Some(&big),
            413,
            "payload_too_large",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/lessons".into(),
            Some("[]"),
            422,
            "validation_failed",
        ),
        (
            reqwest::Method::GET,
            "/api/v1/lessons/42".into(),
            None,
            400,
            "bad_request",
        ),
        (
            reqwest::Method::GET,
            "/api/v1/lessons/0190a0a0-0000-7000-8000-00000000dead".into(),
            None,
            404,
            "not_found",
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/lessons/{THEIRS}"),
            None,
            403,
            "forbidden",
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/lessons/{OWNED}/completion"),
            Some(r#"{"score": 1.5}"#),
            422,
            "validation_failed",
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/lessons/{OWNED}/completion"),
            Some(r#"{"score": "full"}"#),
            422,
            "validation_failed",
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/lessons/{OWNED}/completion"),
            Some("{}"),
            422,
            "validation_failed",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/lessons/x/completion".into(),
            Some(r#"{"score": 1}"#),
            400,
            "bad_request",
        ),
        (
            reqwest::Method::GET,
            "/api/v1/lessons/%FF%FE".into(),
            None,
            400,
            "bad_request",
        ),
        (
            reqwest::Method::DELETE,
            "/api/v1/progress".into(),
            None,
            405,
            "method_not_allowed",
        ),
        (
            reqwest::Method::POST,
            "/api/v1/openapi.json".into(),
            None,
            405,
            "method_not_allowed",
        ),
        (
            reqwest::Method::GET,
            "/api/v1/nothing-here".into(),
            None,
            404,
            "not_found",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let (s, _, b) = app.send(method.clone(), &path, Some(&t), body).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {path} {:?}: {b}",
            body.map(|b| &b[..b.len().min(40)])
        );
    }
    // A request without a JSON content type.
    let r = app
        .http
        .post(format!("{}/api/v1/lessons", app.base))
        .bearer_auth(&t)
        .body("{}")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 415);
}

#[tokio::test]
async fn upstream_trouble_is_a_503_with_retry_after() {
    let app = TestApp::spawn(&[]).await;
    app.sidecar
        .on_invoke(|_, _, _| Err(DaprError::Unreachable("connection refused".into())));
    let (s, h, b) = app
        .send(
            reqwest::Method::POST,
            "/api/v1/lessons",
            Some(&learner_a()),
            Some("{}"),
        )
        .await;
    assert_eq!((s, b["error"]["code"].as_str()), (503, Some("unavailable")));
    assert!(h.contains_key("retry-after"));
    assert!(
        !b.to_string().contains("connection refused"),
        "no internals in the body: {b}"
    );
    app.sidecar
        .on_invoke(|_, _, _| answer(500, json!({"errorCode": "ERR_DIRECT_INVOKE"})));
    let (s, _, _) = app
        .send(
            reqwest::Method::GET,
            "/api/v1/progress",
            Some(&learner_a()),
            None,
        )
        .await;
    assert_eq!(s, 503);
}

#[tokio::test]
async fn each_learner_is_rate_limited() {
    let app = TestApp::spawn(&[
        ("LEARNFLOW_LIMITS__RATE_PER_SECOND", "1"),
        ("LEARNFLOW_LIMITS__RATE_BURST", "3"),
    ])
    .await;
    let t = learner_a();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let (s, h, b) = app
            .send(reqwest::Method::GET, "/api/v1/progress", Some(&t), None)
            .await;
        if s == 429 {
            assert_eq!(b["error"]["code"], "rate_limited");
            assert!(h.contains_key("retry-after"));
        }
        statuses.push(s);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        3,
        "{statuses:?}"
    );
    // Another learner has their own budget.
    let (s, _, _) = app
        .send(
            reqwest::Method::GET,
            "/api/v1/progress",
            Some(&lf_auth::mint(SECRET, "learner-b", 600)),
            None,
        )
        .await;
    assert_eq!(s, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn load_is_shed_with_503_and_retry_after() {
    let app = TestApp::spawn(&[("LEARNFLOW_LIMITS__MAX_IN_FLIGHT", "1")]).await;
    // Hold the only slot with an upstream call that answers after 3 s (awaited, no thread
    // blocked), and tell the test once the call is under way (no guessing with sleeps).
    let (entered_tx, entered_rx) = std::sync::mpsc::channel::<()>();
    let entered_tx = std::sync::Mutex::new(entered_tx);
    app.sidecar
        .set_invoke_delay(std::time::Duration::from_secs(3));
    app.sidecar.on_invoke(move |_, _, _| {
        let _ = entered_tx.lock().map(|t| t.send(()));
        answer(200, json!({"learner_id": "learner-a", "lessons_received": 0, "lessons_completed": 0, "topics": []}))
    });
    let t = learner_a();
    let slow = {
        let (http, url, t) = (
            app.http.clone(),
            format!("{}/api/v1/progress", app.base),
            t.clone(),
        );
        tokio::spawn(async move {
            http.get(url)
                .bearer_auth(t)
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    tokio::task::spawn_blocking(move || {
        entered_rx.recv_timeout(std::time::Duration::from_secs(30))
    })
    .await
    .expect("waiter")
    .expect("the first request reached the upstream call");
    let (s, h, b) = app
        .send(reqwest::Method::GET, "/api/v1/progress", Some(&t), None)
        .await;
    assert_eq!((s, b["error"]["code"].as_str()), (503, Some("overloaded")));
    assert_eq!(h["retry-after"], "1");
    assert_eq!(slow.await.expect("task").expect("slow request"), 200);
}

#[tokio::test]
async fn no_secret_no_start() {
    let config = Config::load(Vec::new(), Vec::<(String, String)>::new()).expect("config");
    let err =
        App::build(&config, common::deps(FakeSidecar::new()).await).expect_err("refuses to start");
    assert!(err.to_string().contains("LEARNFLOW_AUTH__JWT_SECRET"));
}

#[tokio::test]
async fn a_short_secret_no_start() {
    let config = Config::load(
        Vec::new(),
        vec![("LEARNFLOW_AUTH__JWT_SECRET".to_owned(), "x".repeat(31))],
    )
    .expect("config");
    let err = App::build(&config, common::deps(FakeSidecar::new()).await)
        .expect_err("refuses to start")
        .to_string();
    assert!(
        err.contains("has 31 bytes") && err.contains("at least 32"),
        "{err}"
    );
}

#[tokio::test]
async fn health_is_served_on_the_admin_port_only() {
    let (base, admin) = common::spawn_gateway_with_admin(FakeSidecar::new(), SECRET, &[]).await;
    let http = reqwest::Client::new();
    for path in ["/healthz", "/readyz"] {
        let public = http
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("request");
        assert_eq!(
            public.status(),
            404,
            "{path} on the public port: the internet must not probe the sidecar through it"
        );
        let body: Value = public.json().await.expect("a JSON error body");
        assert_eq!(body["error"]["code"], "not_found", "{body}");

        let private = http
            .get(format!("{admin}{path}"))
            .send()
            .await
            .expect("request");
        assert_eq!(private.status(), 200, "{path} on the admin port");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_learner_cannot_hold_every_slot() {
    // The rate limit is opened wide, so only the in-flight caps stand between learner-a's
    // 600 slow requests and the gateway's 512 slots.
    let app = TestApp::spawn(&[
        ("LEARNFLOW_LIMITS__RATE_PER_SECOND", "100000"),
        ("LEARNFLOW_LIMITS__RATE_BURST", "100000"),
    ])
    .await;
    // Long enough that all 600 are in before the first slot comes back (and under the
    // edge's 10 s deadline).
    app.sidecar
        .set_invoke_delay(std::time::Duration::from_secs(8));
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    app.sidecar.on_invoke({
        let calls = Arc::clone(&calls);
        move |_, _, body| {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let learner = body
                .and_then(|b| b["learner_id"].as_str())
                .unwrap_or_default();
            answer(201, lesson(OWNED, learner))
        }
    });
    let greedy = learner_a();
    let slow: Vec<_> = (0..600)
        .map(|_| {
            let (http, url, t) = (
                app.http.clone(),
                format!("{}/api/v1/lessons", app.base),
                greedy.clone(),
            );
            tokio::spawn(async move {
                http.post(url)
                    .bearer_auth(t)
                    .header("content-type", "application/json")
                    .body("{}")
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            })
        })
        .collect();
    // Once learner-a's flood has taken what it can (no new upstream call for 1 s) and
    // while those calls are held upstream, learner-b creates lessons.
    let mut seen = 0;
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let now = calls.load(std::sync::atomic::Ordering::SeqCst);
        if now > 0 && now == seen {
            break;
        }
        seen = now;
    }
    let neighbour = lf_auth::mint(SECRET, "learner-b", 600);
    let lesson = || {
        app.send(
            reqwest::Method::POST,
            "/api/v1/lessons",
            Some(&neighbour),
            Some("{}"),
        )
    };
    let (first, second, third) = tokio::join!(lesson(), lesson(), lesson());
    for (s, _, b) in [first, second, third] {
        assert_eq!(s, 201, "learner-b during learner-a's flood: {b}");
    }
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for task in slow {
        *statuses.entry(task.await.expect("task")).or_default() += 1;
    }
    assert_eq!(
        statuses.get(&201).copied().unwrap_or(0),
        32,
        "learner-a gets its default 32 slots: {statuses:?}"
    );
    assert_eq!(
        statuses.get(&429).copied().unwrap_or(0),
        600 - 32,
        "the rest are refused at once: {statuses:?}"
    );
}

/// POSTs `body` to `path` as learner-a with `headers`.
async fn post_with(
    app: &TestApp,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = app
        .http
        .post(format!("{}{path}", app.base))
        .bearer_auth(learner_a())
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let r = request.send().await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap_or(Value::Null))
}

/// The `Idempotency-Key` of the last call to `method`.
fn key_sent_upstream(app: &TestApp, method: &str) -> Option<String> {
    app.sidecar
        .invocations()
        .iter()
        .rev()
        .find(|i| i.method == method)
        .and_then(|i| i.headers.get("idempotency-key"))
        .map(|v| v.to_str().expect("ascii").to_owned())
}

#[tokio::test]
async fn the_idempotency_key_travels_upstream_and_back() {
    let app = TestApp::spawn(&[]).await;
    let lessons = "/api/v1/lessons";
    let course = r#"{"course":"arithmetic"}"#;

    // The client's key goes to course-agent as it came, and back to the client.
    let (status, headers, _) = post_with(
        &app,
        lessons,
        &[("Idempotency-Key", "client-key-1")],
        course,
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(headers["idempotency-key"], "client-key-1");
    assert!(headers.get("idempotent-replayed").is_none());
    assert_eq!(
        key_sent_upstream(&app, "internal/lessons").as_deref(),
        Some("client-key-1")
    );

    // Without one, the gateway makes one per request, so daprd's retries are recognised.
    let (status, first, _) = post_with(&app, lessons, &[], course).await;
    assert_eq!(status, 201);
    let made = first["idempotency-key"].to_str().expect("ascii").to_owned();
    assert!(uuid::Uuid::parse_str(&made).is_ok(), "{made}");
    assert_eq!(
        key_sent_upstream(&app, "internal/lessons"),
        Some(made.clone())
    );
    let (_, second, _) = post_with(&app, lessons, &[], course).await;
    assert_ne!(second["idempotency-key"].to_str().expect("ascii"), made);

    // A repeat course-agent answered from its store is marked as one.
    let (status, headers, _) = post_with(
        &app,
        lessons,
        &[("Idempotency-Key", "again")],
        r#"{"course":"geometry"}"#,
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(headers["idempotent-replayed"], "true");

    // Completions carry the key too.
    let completion = format!("/api/v1/lessons/{OWNED}/completion");
    let (status, headers, _) = post_with(
        &app,
        &completion,
        &[("Idempotency-Key", "done-1")],
        r#"{"score":0.5}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["idempotency-key"], "done-1");
    assert_eq!(
        key_sent_upstream(&app, "internal/completions").as_deref(),
        Some("done-1")
    );

    // A malformed key is a 400 JSON error, and nothing is called.
    let calls = app.sidecar.invocations().len();
    let too_long = "k".repeat(256);
    for bad in ["two words", too_long.as_str()] {
        let (status, _, error) =
            post_with(&app, lessons, &[("Idempotency-Key", bad)], course).await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (400, Some("bad_request")),
            "{bad}"
        );
    }
    assert_eq!(app.sidecar.invocations().len(), calls);
}
