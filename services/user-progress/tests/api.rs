//! user-progress with a real PostgreSQL (`#[sqlx::test]`) over HTTP on a free port.

use std::sync::Arc;

use chrono::Utc;
use lf_events::LessonEvent;
use serde_json::{Value, json};
use sqlx::PgPool;
use user_progress::{App, Config, Deps, mastery};
use uuid::Uuid;

const APP_TOKEN: &str = "app-token";

struct TestApp {
    base: String,
    http: reqwest::Client,
}

impl TestApp {
    async fn spawn(pool: PgPool) -> Self {
        let env = vec![
            ("LEARNFLOW_DAPR__APP_TOKEN".to_owned(), APP_TOKEN.to_owned()),
            (
                "LEARNFLOW_TELEMETRY__LOG_FILTER".to_owned(),
                "warn".to_owned(),
            ),
        ];
        let config = Config::load(Vec::new(), env).expect("config");
        let deps = deps(pool).await;
        let app = App::build(&config, deps).expect("the app builds");
        let base = format!("http://{}", app.api_addr().expect("addr"));
        tokio::spawn(app.run_until_stopped(std::future::pending()));
        let test = Self {
            base,
            http: reqwest::Client::new(),
        };
        for _ in 0..100 {
            if test
                .http
                .get(format!("{}/readyz", test.base))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return test;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("user-progress never became ready");
    }

    /// Delivers a body as daprd would.
    async fn deliver(&self, body: &[u8]) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/events/lesson", self.base))
            .header("dapr-api-token", APP_TOKEN)
            .header("content-type", "application/cloudevents+json")
            .body(body.to_vec())
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("dapr-api-token", APP_TOKEN);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

fn event(learner: &str, topic: &str) -> LessonEvent {
    LessonEvent::new(
        Uuid::now_v7(),
        learner.into(),
        "arithmetic".into(),
        topic.into(),
        2,
        true,
        Utc::now(),
    )
}

fn cloud_event(e: &LessonEvent) -> Vec<u8> {
    serde_json::to_vec(&e.to_cloud_event(None)).expect("json")
}

#[sqlx::test]
async fn an_event_updates_progress_once_however_often_it_is_delivered(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let e = event("learner-1", "addition");
    for _ in 0..3 {
        let (status, body) = app.deliver(&cloud_event(&e)).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("SUCCESS")));
    }
    let (_, other) = app
        .deliver(&cloud_event(&event("learner-1", "subtraction")))
        .await;
    assert_eq!(other["status"], "SUCCESS");
    let (status, progress) = app
        .call(reqwest::Method::GET, "/internal/progress/learner-1", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(progress["lessons_received"], 2, "{progress}");
    assert_eq!(progress["topics"].as_array().map(Vec::len), Some(2));
}

#[sqlx::test]
async fn events_it_can_never_take_are_dropped(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    // A well-formed lesson event that another app claims to have sent.
    let mut forged = event("learner-forged", "addition").to_cloud_event(None);
    forged["source"] = json!("user-progress");
    for body in [
        serde_json::to_vec(&forged).expect("json"),
        b"not json {".to_vec(),
        br#"{"specversion":"1.0","id":"x","data":{"hello":"world"}}"#.to_vec(),
        serde_json::to_vec(&json!({"data": {"schema_version": "2.0", "whatever": true}}))
            .expect("json"),
    ] {
        let (status, answer) = app.deliver(&body).await;
        assert_eq!(
            (status, answer["status"].as_str()),
            (200, Some("DROP")),
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
    let (_, progress) = app
        .call(
            reqwest::Method::GET,
            "/internal/progress/learner-forged",
            None,
        )
        .await;
    assert_eq!(progress["lessons_received"], 0, "{progress}");
}

#[sqlx::test]
async fn a_database_failure_asks_dapr_to_retry(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    pool.close().await;
    let (status, answer) = app
        .deliver(&cloud_event(&event("learner-2", "addition")))
        .await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("RETRY")));
}

/// POSTs a completion; answers status, whether it was a replay, and the JSON body.
async fn complete(app: &TestApp, completion: &Value) -> (u16, bool, Value) {
    let r = app
        .http
        .post(format!("{}/internal/completions", app.base))
        .header("dapr-api-token", APP_TOKEN)
        .json(completion)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    let replayed = r
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    (status, replayed, r.json().await.unwrap_or(Value::Null))
}

#[sqlx::test]
async fn completions_move_mastery_once_per_lesson(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let e = event("learner-3", "addition");
    app.deliver(&cloud_event(&e)).await;
    let completion = json!({
        "learner_id": "learner-3", "lesson_id": e.lesson_id, "course": "arithmetic",
        "topic": "addition", "score": 1.0
    });
    let (status, replayed, recorded) = complete(&app, &completion).await;
    assert_eq!((status, replayed), (200, false), "{recorded}");
    assert!((recorded["mastery_before"].as_f64().expect("before") - 0.1).abs() < 1e-9);
    assert!(recorded["mastery_after"].as_f64().expect("after") > 0.4);
    // The same completion again — a retry after its answer was lost — gets the stored
    // result, not a 409 for what it did itself, and moves nothing.
    let (status, replayed, again) = complete(&app, &completion).await;
    assert_eq!((status, replayed), (200, true), "{again}");
    assert_eq!(again, recorded);
    // Another score for a completed lesson is a conflict.
    let mut other_score = completion.clone();
    other_score["score"] = json!(0.5);
    let (status, _, conflict) = complete(&app, &other_score).await;
    assert_eq!(
        (status, conflict["error"]["code"].as_str()),
        (409, Some("already_completed"))
    );

    let (_, mastery) = app
        .call(reqwest::Method::GET, "/internal/mastery/learner-3", None)
        .await;
    assert_eq!(mastery[0]["completions"], 1);
    assert_eq!(mastery[0]["lessons"], 1);
    assert_eq!(mastery[0]["mastery"], recorded["mastery_after"]);
    let (_, progress) = app
        .call(reqwest::Method::GET, "/internal/progress/learner-3", None)
        .await;
    assert_eq!(progress["lessons_completed"], 1);
}

#[sqlx::test]
async fn bad_requests_get_json_errors_and_unknown_learners_get_zeros(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let bad_score = json!({"learner_id": "l", "lesson_id": Uuid::now_v7(), "course": "c", "topic": "t", "score": 1.5});
    let (s, b) = app
        .call(
            reqwest::Method::POST,
            "/internal/completions",
            Some(bad_score),
        )
        .await;
    assert_eq!(
        (s, b["error"]["details"][0]["field"].as_str()),
        (422, Some("score"))
    );
    let (s, _) = app
        .call(reqwest::Method::GET, "/internal/progress/bad%20id", None)
        .await;
    assert_eq!(s, 422);
    let (s, p) = app
        .call(reqwest::Method::GET, "/internal/progress/never-seen", None)
        .await;
    assert_eq!((s, p["lessons_received"].as_i64()), (200, Some(0)));
    let r = app
        .http
        .get(format!("{}/internal/progress/x", app.base))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 401, "only the sidecar may call");
}

/// A learner creates lessons and completes others of the same topic at once (200
/// requests in flight): the events' transactions and the completions' touch the same two
/// rows, and must neither deadlock (PostgreSQL would abort one, the gateway would answer
/// 503) nor lose a mastery update (two first completions both reading the prior).
#[sqlx::test]
async fn a_completion_racing_a_lesson_event_of_the_same_learner_succeeds(pool: PgPool) {
    let app = Arc::new(TestApp::spawn(pool).await);
    const PAIRS: usize = 100;
    let mut racing = tokio::task::JoinSet::new();
    for _ in 0..PAIRS {
        let app = Arc::clone(&app);
        racing.spawn(async move {
            let arriving = cloud_event(&event("learner-race", "addition"));
            let completed = json!({
                "learner_id": "learner-race", "lesson_id": Uuid::now_v7(),
                "course": "arithmetic", "topic": "addition", "score": 0.5
            });
            let (delivered, completion) = tokio::join!(
                app.deliver(&arriving),
                app.call(
                    reqwest::Method::POST,
                    "/internal/completions",
                    Some(completed)
                ),
            );
            (delivered, completion)
        });
    }
    let mut seen_before = Vec::new();
    while let Some(outcome) = racing.join_next().await {
        let ((event_status, event_answer), (completion_status, completion_answer)) =
            outcome.expect("task");
        assert_eq!(
            (event_status, event_answer["status"].as_str()),
            (200, Some("SUCCESS")),
            "the event was not applied: {event_answer}"
        );
        assert_eq!(
            completion_status, 200,
            "the completion failed: {completion_answer}"
        );
        seen_before.push(
            completion_answer["mastery_before"]
                .as_f64()
                .expect("mastery_before"),
        );
    }
    let (_, progress) = app
        .call(
            reqwest::Method::GET,
            "/internal/progress/learner-race",
            None,
        )
        .await;
    // Every completion scored the same, so one after another they saw the chain
    // PRIOR, update(PRIOR), update(update(PRIOR)), …, whatever their order; two that
    // saw the same value means one update was lost (the final value alone cannot show
    // it: the chain converges).
    let chain: Vec<f64> =
        std::iter::successors(Some(mastery::PRIOR), |m| Some(mastery::update(*m, 0.5)))
            .take(PAIRS)
            .collect();
    seen_before.sort_by(f64::total_cmp);
    let mut expected = chain.clone();
    expected.sort_by(f64::total_cmp);
    let lost = seen_before
        .iter()
        .zip(&expected)
        .filter(|(seen, want)| (*seen - *want).abs() > 1e-12)
        .count();
    assert_eq!(
        lost, 0,
        "completions saw mastery {seen_before:?}, one after another they would see {expected:?}"
    );
    let mastered = progress["topics"][0]["mastery"].as_f64().expect("mastery");
    let sequential = mastery::update(chain[PAIRS - 1], 0.5);
    assert!(
        (mastered - sequential).abs() < 1e-12,
        "mastery {mastered}, sequentially {sequential}"
    );
    assert_eq!(
        (
            progress["lessons_received"].as_u64(),
            progress["lessons_completed"].as_u64()
        ),
        (Some(PAIRS as u64), Some(PAIRS as u64)),
        "{progress}"
    );
    assert_eq!(
        progress["topics"][0]["completions"].as_u64(),
        Some(PAIRS as u64)
    );
}

/// What `App::build` takes: free loopback listeners and `pool`.
async fn deps(pool: PgPool) -> Deps {
    Deps {
        listeners: lf_http::Listeners::loopback().await.expect("bind"),
        pool,
    }
}

#[sqlx::test]
async fn no_app_token_no_start_unless_dev_allows_it(pool: PgPool) {
    let config = Config::load(Vec::new(), Vec::new()).expect("config");
    let err = App::build(&config, deps(pool.clone()).await)
        .expect_err("refuses to start without an app token");
    let message = err.to_string();
    assert!(
        message.contains("LEARNFLOW_DAPR__APP_TOKEN") && message.contains("ALLOW_NO_APP_TOKEN"),
        "{message}"
    );
    let dev = Config::load(
        Vec::new(),
        vec![(
            "LEARNFLOW_DAPR__ALLOW_NO_APP_TOKEN".to_owned(),
            "true".to_owned(),
        )],
    )
    .expect("config");
    assert!(App::build(&dev, deps(pool).await).is_ok());
}

/// Sets an event's deduplication key to `hours` old.
async fn age_key(pool: &PgPool, event_id: Uuid, hours: i64) {
    sqlx::query("UPDATE processed_events SET processed_at = now() - make_interval(hours => $2::int) WHERE event_id = $1")
        .bind(event_id)
        .bind(hours as i32)
        .execute(pool)
        .await
        .expect("age the key");
}

async fn lessons_received(pool: &PgPool, learner: &str) -> i64 {
    sqlx::query_scalar("SELECT lessons_received FROM learner_progress WHERE learner_id = $1")
        .bind(learner)
        .fetch_one(pool)
        .await
        .expect("progress row")
}

/// Retention deletes a deduplication key only once it has left the dedup window: an event
/// redelivered an hour before the window ends is still a duplicate (progress unchanged),
/// and only the key an hour past it is gone — the window is exactly the guarantee.
#[sqlx::test]
async fn a_redelivery_inside_the_dedup_window_is_still_a_duplicate(pool: PgPool) {
    use user_progress::db::{self, Applied};
    let retention = Config::load(Vec::new(), Vec::new())
        .expect("config")
        .retention
        .clone();
    let window = i64::from(retention.dedup_window_hours);
    let kept = event("kept", "addition");
    let expired = event("expired", "addition");
    for e in [&kept, &expired] {
        assert_eq!(
            db::apply_lesson_event(&pool, e).await.expect("apply"),
            Applied::New
        );
    }
    age_key(&pool, kept.event_id, window - 1).await;
    age_key(&pool, expired.event_id, window + 1).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let deleted = user_progress::retention::sweep(&pool, &retention, &stop)
        .await
        .expect("sweep");
    assert_eq!(deleted, 1, "only the key past the window goes");
    assert_eq!(
        db::apply_lesson_event(&pool, &kept)
            .await
            .expect("redeliver"),
        Applied::Duplicate,
        "a redelivery inside the window has no effect"
    );
    assert_eq!(lessons_received(&pool, "kept").await, 1);
    assert_eq!(
        db::apply_lesson_event(&pool, &expired)
            .await
            .expect("redeliver"),
        Applied::New,
        "past the window the key is gone (why the window must outlast the topic's retention)"
    );
}

/// A sweep deletes every expired key, a batch per statement, and stops between batches
/// once told to.
#[sqlx::test]
async fn a_sweep_goes_batch_by_batch_and_stops_between_batches(pool: PgPool) {
    let mut retention = Config::load(Vec::new(), Vec::new())
        .expect("config")
        .retention
        .clone();
    retention.batch_rows = 5;
    let window = i64::from(retention.dedup_window_hours);
    let mut ids = Vec::new();
    for i in 0..24 {
        let e = event(&format!("old-{i}"), "addition");
        user_progress::db::apply_lesson_event(&pool, &e)
            .await
            .expect("apply");
        ids.push(e.event_id);
    }
    for id in &ids {
        age_key(&pool, *id, window + 2).await;
    }
    let stopped = tokio_util::sync::CancellationToken::new();
    stopped.cancel();
    let first = user_progress::retention::sweep(&pool, &retention, &stopped)
        .await
        .expect("sweep");
    assert_eq!(first, 5, "told to stop: one batch, then stop");
    let rest = user_progress::retention::sweep(
        &pool,
        &retention,
        &tokio_util::sync::CancellationToken::new(),
    )
    .await
    .expect("sweep");
    assert_eq!(rest, 19);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM processed_events")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(left, 0);
}
