//! course-agent with a real PostgreSQL (`#[sqlx::test]`, a fresh database per test)
//! and a fake sidecar, over HTTP on a free port.

use std::collections::BTreeSet;
use std::sync::Arc;

use course_agent::relay::{self, Round};
use course_agent::{App, Config, Deps};
use lf_dapr::fake::FakeSidecar;
use lf_dapr::{DaprError, InvokeResponse};
use serde_json::{Value, json};
use sqlx::PgPool;

const APP_TOKEN: &str = "app-token";

struct TestApp {
    base: String,
    http: reqwest::Client,
    pool: PgPool,
    sidecar: FakeSidecar,
}

impl TestApp {
    async fn spawn(pool: PgPool) -> Self {
        Self::start(pool, FakeSidecar::new(), std::future::pending())
            .await
            .0
    }

    /// Starts the app with `sidecar`, serving until `shutdown` resolves; answers the app
    /// once ready and its `run_until_stopped`.
    async fn start(
        pool: PgPool,
        sidecar: FakeSidecar,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> (Self, tokio::task::JoinHandle<std::io::Result<()>>) {
        let env = vec![
            ("LEARNFLOW_DAPR__APP_TOKEN".to_owned(), APP_TOKEN.to_owned()),
            (
                "LEARNFLOW_TELEMETRY__LOG_FILTER".to_owned(),
                "warn".to_owned(),
            ),
        ];
        let config = Config::load(Vec::new(), env).expect("config");
        let deps = deps(pool.clone(), sidecar.clone()).await;
        let app = App::build(&config, deps).expect("the app builds");
        let base = format!("http://{}", app.api_addr().expect("addr"));
        let running = tokio::spawn(app.run_until_stopped(shutdown));
        let test = Self {
            base,
            http: reqwest::Client::new(),
            pool,
            sidecar,
        };
        // Ready once migrations are applied.
        for _ in 0..100 {
            if test
                .http
                .get(format!("{}/readyz", test.base))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return (test, running);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("course-agent never became ready");
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("dapr-api-token", APP_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// POSTs `body` with `headers`; answers status, headers and JSON body.
    async fn post_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: Value,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("dapr-api-token", APP_TOKEN)
            .json(&body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let r = request.send().await.expect("request");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.json().await.unwrap_or(Value::Null))
    }

    async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("dapr-api-token", APP_TOKEN)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn pending(&self) -> i64 {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }
}

fn mastery_answer(body: Value) -> Result<InvokeResponse, DaprError> {
    Ok(InvokeResponse::json(200, &body))
}

#[sqlx::test]
async fn a_personalised_lesson_is_stored_with_its_event_and_relayed(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.sidecar.on_invoke(|app_id, method, _| {
        assert_eq!(
            (app_id, method),
            ("user-progress", "internal/mastery/learner-7")
        );
        mastery_answer(json!([{
            "course": "algebra", "topic": "evaluating-expressions", "mastery": 0.9,
            "lessons": 3, "completions": 3, "updated_at": "2026-11-01T00:00:00Z"
        }]))
    });
    let (status, lesson) = app
        .post("/internal/lessons", json!({"learner_id": "learner-7"}))
        .await;
    assert_eq!(status, 201, "{lesson}");
    assert_eq!(lesson["personalised"], true);
    assert_eq!(lesson["course"], "algebra");
    assert_eq!(
        lesson["topic"], "like-terms",
        "first unmastered topic of the latest course"
    );
    assert_eq!(lesson["quiz"].as_array().map(Vec::len), Some(3));

    let id = lesson["id"].as_str().expect("id");
    let (status, fetched) = app.get(&format!("/internal/lessons/{id}")).await;
    assert_eq!((status, &fetched), (200, &lesson));

    // The relay (running in the app) publishes the event with the learner as key.
    let mut published = Vec::new();
    for _ in 0..100 {
        published = app.sidecar.published();
        if !published.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].topic, "lesson-events");
    assert_eq!(published[0].partition_key, "learner-7");
    assert_eq!(published[0].event["data"]["lesson_id"], lesson["id"]);
    assert_eq!(published[0].event["specversion"], "1.0");
    for _ in 0..100 {
        if app.pending().await == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("outbox row never marked sent");
}

#[sqlx::test]
async fn without_user_progress_the_lesson_falls_back_and_still_succeeds(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.sidecar
        .on_invoke(|_, _, _| Err(DaprError::Unreachable("circuit open".into())));
    let (status, lesson) = app
        .post(
            "/internal/lessons",
            json!({"learner_id": "l1", "course": "number-systems"}),
        )
        .await;
    assert_eq!(status, 201, "{lesson}");
    assert_eq!(lesson["personalised"], false);
    assert_eq!(lesson["course"], "number-systems");
    assert_eq!(lesson["topic"], "binary-to-decimal");
    assert_eq!(lesson["difficulty"], 1);
}

#[sqlx::test]
async fn lessons_are_accepted_while_publishing_fails_and_relayed_after(pool: PgPool) {
    let app = TestApp::spawn(pool.clone()).await;
    app.sidecar
        .on_invoke(|_, _, _| Err(DaprError::Unreachable("down".into())));
    app.sidecar.set_publish_failing(true);
    for i in 0..5 {
        let (status, _) = app
            .post("/internal/lessons", json!({"learner_id": format!("l{i}")}))
            .await;
        assert_eq!(status, 201);
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        app.pending().await,
        5,
        "nothing is lost or marked sent while the broker is down"
    );
    assert!(app.sidecar.published().is_empty());
    let attempts: i64 = sqlx::query_scalar("SELECT sum(attempts)::bigint FROM outbox")
        .fetch_one(&pool)
        .await
        .expect("sum");
    assert!(attempts >= 1, "the relay kept trying");

    app.sidecar.set_publish_failing(false);
    for _ in 0..200 {
        if app.pending().await == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(app.pending().await, 0);
    let published = app.sidecar.published();
    assert_eq!(published.len(), 5);
    let mut keys: Vec<_> = published.iter().map(|p| p.partition_key.clone()).collect();
    keys.sort();
    assert_eq!(keys, vec!["l0", "l1", "l2", "l3", "l4"]);
}

#[sqlx::test]
async fn a_backlog_goes_out_in_one_bulk_publish(pool: PgPool) {
    // No app here: four committed events wait in the outbox, and one relay round takes them.
    for i in 0..4 {
        let event = lf_events::LessonEvent::new(
            uuid::Uuid::now_v7(),
            format!("b{i}"),
            "arithmetic".into(),
            "addition".into(),
            1,
            false,
            chrono::Utc::now(),
        );
        // Each row continues the trace of the request that made it.
        let request = format!("00-{:032x}-{:016x}-01", 0xabc0 + i, 0x10 + i);
        sqlx::query(
            "INSERT INTO outbox (event_id, partition_key, cloud_event, traceparent) VALUES ($1, $2, $3, $4)",
        )
        .bind(event.event_id)
        .bind(&event.learner_id)
        .bind(event.to_cloud_event(Some(&request)))
        .bind(&request)
        .execute(&pool)
        .await
        .expect("insert");
    }
    let sidecar = FakeSidecar::new();
    let sent = relay::relay_once(&pool, &sidecar, &Round::default())
        .await
        .expect("round");
    assert_eq!(sent, 4);
    assert_eq!(sidecar.bulk_calls(), 1);
    assert_eq!(sidecar.published().len(), 4);
    // Every entry names its own lesson's trace in both fields daprd reads, so daprd
    // keeps it instead of stamping its bulk request's trace on all of them.
    let mut traces = BTreeSet::new();
    for published in sidecar.published() {
        let traceparent = published.event["traceparent"]
            .as_str()
            .expect("traceparent");
        assert_eq!(published.event["traceid"].as_str(), Some(traceparent));
        let learner = published.event["data"]["learner_id"]
            .as_str()
            .expect("learner");
        let i: u128 = learner.trim_start_matches('b').parse().expect("index");
        assert_eq!(
            traceparent.split('-').nth(1),
            Some(format!("{:032x}", 0xabc0 + i).as_str()),
            "{learner}'s event continues its own request's trace"
        );
        traces.insert(traceparent.to_owned());
    }
    assert_eq!(traces.len(), 4, "one producer span per event");
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(pending, 0);
    assert_eq!(
        relay::relay_once(&pool, &sidecar, &Round::default())
            .await
            .expect("round"),
        0,
        "nothing is published twice"
    );
}

/// Commits `n` outbox rows for learner `learner` (no app: the test drives the relay).
async fn commit_events(pool: &PgPool, learner: &str, n: usize) {
    for _ in 0..n {
        let event = lf_events::LessonEvent::new(
            uuid::Uuid::now_v7(),
            learner.to_owned(),
            "arithmetic".into(),
            "addition".into(),
            1,
            false,
            chrono::Utc::now(),
        );
        sqlx::query(
            "INSERT INTO outbox (event_id, partition_key, cloud_event) VALUES ($1, $2, $3)",
        )
        .bind(event.event_id)
        .bind(&event.learner_id)
        .bind(event.to_cloud_event(None))
        .execute(pool)
        .await
        .expect("insert");
    }
}

fn is_poison(event: &serde_json::Value) -> bool {
    event["data"]["learner_id"] == "poison"
}

/// (parked_at set, rejections) of the poison row.
async fn poison_row(pool: &PgPool) -> (bool, i32) {
    sqlx::query_as(
        "SELECT parked_at IS NOT NULL, rejections FROM outbox WHERE partition_key = 'poison'",
    )
    .fetch_one(pool)
    .await
    .expect("the poison row")
}

#[sqlx::test]
async fn a_poison_event_is_parked_and_the_rest_flow_at_full_speed(pool: PgPool) {
    // The poison row is the oldest, so it is in every bulk until it is parked.
    commit_events(&pool, "poison", 1).await;
    commit_events(&pool, "good", 1000).await;
    let sidecar = FakeSidecar::new();
    sidecar.reject_events(500, is_poison);
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds <= 20, "the relay does not finish");
        // A round that fails backs the relay off (up to 5 s each): every round must succeed.
        let sent = relay::relay_once(&pool, &sidecar, &Round::default())
            .await
            .unwrap_or_else(|e| panic!("round {rounds} failed, so the relay would back off: {e}"));
        if sent == 0 {
            break;
        }
    }
    let good: Vec<_> = sidecar
        .published()
        .into_iter()
        .filter(|p| p.partition_key == "good")
        .collect();
    assert_eq!(good.len(), 1000, "every good event went out");
    assert_eq!(
        poison_row(&pool).await,
        (true, 5),
        "parked after 5 rounds that published the others"
    );
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND parked_at IS NULL",
    )
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(pending, 0);
    // 1000 good ones in bulks of up to 100, 99 per round while the poison is among them.
    assert!(rounds <= 12, "{rounds} rounds");
}

#[sqlx::test]
async fn an_event_the_sidecar_refuses_is_parked_at_once(pool: PgPool) {
    commit_events(&pool, "poison", 1).await;
    let sidecar = FakeSidecar::new();
    sidecar.reject_events(400, is_poison);
    let sent = relay::relay_once(&pool, &sidecar, &Round::default())
        .await
        .expect("a refused event is not an outage");
    assert_eq!(sent, 0);
    assert_eq!(poison_row(&pool).await, (true, 1));
    assert_eq!(
        relay::relay_once(&pool, &sidecar, &Round::default())
            .await
            .expect("round"),
        0,
        "a parked row is not claimed again"
    );
}

#[sqlx::test]
async fn an_event_over_the_size_limit_is_parked_without_being_sent(pool: PgPool) {
    commit_events(&pool, "good", 2).await;
    sqlx::query(
        "INSERT INTO outbox (event_id, partition_key, cloud_event)
         SELECT gen_random_uuid(), 'poison',
                jsonb_set(cloud_event, '{data,learner_id}', to_jsonb(repeat('p', 1000000)))
         FROM outbox ORDER BY id LIMIT 1",
    )
    .execute(&pool)
    .await
    .expect("insert the oversized row");
    let sidecar = FakeSidecar::new();
    let sent = relay::relay_once(&pool, &sidecar, &Round::default())
        .await
        .expect("round");
    assert_eq!(sent, 2);
    assert_eq!(poison_row(&pool).await, (true, 1));
    assert!(
        sidecar
            .published()
            .iter()
            .all(|p| p.partition_key == "good"),
        "the sidecar never saw it"
    );
}

#[sqlx::test]
async fn an_outage_parks_nothing(pool: PgPool) {
    commit_events(&pool, "good", 3).await;
    let sidecar = FakeSidecar::new();
    // Every entry failing, round after round, is the broker, not the events.
    sidecar.reject_events(500, |_| true);
    for _ in 0..10 {
        let round = relay::relay_once(&pool, &sidecar, &Round::default()).await;
        // Said as what it is, not as a status the sidecar never sent.
        assert!(
            matches!(round, Err(relay::RelayError::AllFailed { count: 3, .. })),
            "{round:?}"
        );
    }
    let parked: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE parked_at IS NOT NULL")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(parked, 0);
}

/// SIGTERM (here: the shutdown future resolving) while a relay round waits for the sidecar
/// to answer its bulk publish: the round is finished — every event the sidecar took is
/// marked sent — before `run_until_stopped` returns Ok (so the process exits 0), well
/// within the grace period. Were the round cut short, the events would be on the broker
/// and still pending in the outbox, and the next relay would publish them again.
#[sqlx::test]
async fn shutdown_during_a_relay_round_finishes_the_round(pool: PgPool) {
    commit_events(&pool, "shutdown", 5).await;
    let sidecar = FakeSidecar::new();
    sidecar.set_publish_delay(std::time::Duration::from_millis(1500));
    let (sigterm, terminated) = tokio::sync::oneshot::channel::<()>();
    let (app, running) = TestApp::start(pool, sidecar.clone(), async {
        let _ = terminated.await;
    })
    .await;
    // The relay takes all five in one bulk publish; the sidecar has them, its answer is slow.
    for _ in 0..100 {
        if sidecar.published().len() == 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(sidecar.published().len(), 5, "the round is in flight");
    assert_eq!(
        app.pending().await,
        5,
        "not marked sent before the sidecar answers"
    );
    let _ = sigterm.send(());
    let stopped = tokio::time::timeout(lf_http::background::STOP_GRACE, running)
        .await
        .expect("stopped within the grace period")
        .expect("the app task");
    assert!(stopped.is_ok(), "run_until_stopped: {stopped:?}");
    let published: BTreeSet<String> = sidecar
        .published()
        .iter()
        .map(|p| p.event["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    let marked: BTreeSet<String> = sqlx::query_scalar::<_, uuid::Uuid>(
        "SELECT event_id FROM outbox WHERE sent_at IS NOT NULL",
    )
    .fetch_all(&app.pool)
    .await
    .expect("sent rows")
    .iter()
    .map(uuid::Uuid::to_string)
    .collect();
    assert_eq!(
        marked, published,
        "what the sidecar took is exactly what is marked sent"
    );
    assert_eq!(app.pending().await, 0);
}

#[sqlx::test]
async fn bad_requests_get_json_errors(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    app.sidecar
        .on_invoke(|_, _, _| Err(DaprError::Unreachable("down".into())));
    let (s, b) = app
        .post("/internal/lessons", json!({"learner_id": "a/b"}))
        .await;
    assert_eq!(
        (s, b["error"]["details"][0]["field"].as_str()),
        (422, Some("learner_id"))
    );
    let (s, b) = app
        .post(
            "/internal/lessons",
            json!({"learner_id": "ok", "course": "alchemy"}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["details"][0]["field"].as_str()),
        (422, Some("course"))
    );
    let (s, b) = app
        .post(
            "/internal/lessons",
            json!({"learner_id": "ok", "course": "algebra", "topic": "nope"}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["details"][0]["field"].as_str()),
        (422, Some("topic"))
    );
    let (s, _) = app
        .post("/internal/lessons", json!({"learner": "ok"}))
        .await;
    assert_eq!(s, 422);
    let (s, b) = app.get("/internal/lessons/not-a-uuid").await;
    assert_eq!((s, b["error"]["code"].as_str()), (400, Some("bad_request")));
    let (s, b) = app
        .get("/internal/lessons/0190a0a0-0000-7000-8000-000000000000")
        .await;
    assert_eq!((s, b["error"]["code"].as_str()), (404, Some("not_found")));
}

#[sqlx::test]
async fn only_the_sidecar_may_call(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let r = app
        .http
        .post(format!("{}/internal/lessons", app.base))
        .json(&json!({"learner_id": "x"}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 401);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unauthenticated");
    let r = app
        .http
        .get(format!(
            "{}/internal/lessons/0190a0a0-0000-7000-8000-000000000000",
            app.base
        ))
        .header("dapr-api-token", "wrong")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 401);
}

#[sqlx::test]
async fn a_repeated_lesson_request_with_its_idempotency_key_answers_the_first_lesson(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let request = json!({"learner_id": "learner-key", "course": "arithmetic"});
    let key = [("Idempotency-Key", "0192f1c4-7a1b-7c3e-9d2f-8a6b5c4d3e2f")];
    let (status, headers, first) = app
        .post_with("/internal/lessons", &key, request.clone())
        .await;
    assert_eq!(status, 201, "{first}");
    assert!(headers.get("idempotent-replayed").is_none());
    // As daprd retries a call whose answer was lost: the same request, the same key.
    let (status, headers, again) = app
        .post_with("/internal/lessons", &key, request.clone())
        .await;
    assert_eq!(status, 201, "{again}");
    assert_eq!(
        again, first,
        "the repeat answers the first lesson, body and all"
    );
    assert_eq!(
        headers.get("idempotent-replayed").map(|v| v.as_bytes()),
        Some(&b"true"[..])
    );
    assert_eq!(app.count("SELECT count(*) FROM lessons").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM outbox").await, 1);

    // The same key from another learner is another request.
    let (status, _, theirs) = app
        .post_with(
            "/internal/lessons",
            &key,
            json!({"learner_id": "learner-other", "course": "arithmetic"}),
        )
        .await;
    assert_eq!(status, 201);
    assert_ne!(theirs["id"], first["id"]);
    // Without a key every request is a new lesson.
    app.post("/internal/lessons", request.clone()).await;
    app.post("/internal/lessons", request).await;
    assert_eq!(app.count("SELECT count(*) FROM lessons").await, 4);
    assert_eq!(app.count("SELECT count(*) FROM outbox").await, 4);
}

#[sqlx::test]
async fn concurrent_repeats_of_one_key_store_one_lesson(pool: PgPool) {
    let app = Arc::new(TestApp::spawn(pool).await);
    let request =
        json!({"learner_id": "learner-race", "course": "arithmetic", "topic": "addition"});
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let app = Arc::clone(&app);
        let request = request.clone();
        tasks.spawn(async move {
            app.post_with(
                "/internal/lessons",
                &[("Idempotency-Key", "race-1")],
                request,
            )
            .await
        });
    }
    let mut ids = BTreeSet::new();
    while let Some(answer) = tasks.join_next().await {
        let (status, _, lesson) = answer.expect("task");
        assert_eq!(status, 201, "{lesson}");
        ids.insert(lesson["id"].as_str().expect("id").to_owned());
    }
    assert_eq!(
        ids.len(),
        1,
        "every repeat answers the same lesson: {ids:?}"
    );
    assert_eq!(app.count("SELECT count(*) FROM lessons").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM outbox").await, 1);
}

#[sqlx::test]
async fn an_idempotency_key_reused_for_another_request_or_malformed_is_refused(pool: PgPool) {
    let app = TestApp::spawn(pool).await;
    let key = [("Idempotency-Key", "reused")];
    let (status, _, _) = app
        .post_with(
            "/internal/lessons",
            &key,
            json!({"learner_id": "learner-r", "course": "arithmetic", "topic": "addition"}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _, error) = app
        .post_with(
            "/internal/lessons",
            &key,
            json!({"learner_id": "learner-r", "course": "arithmetic", "topic": "subtraction"}),
        )
        .await;
    assert_eq!(status, 422, "{error}");
    assert_eq!(error["error"]["details"][0]["field"], "Idempotency-Key");
    let too_long = "k".repeat(256);
    let (status, _, error) = app
        .post_with(
            "/internal/lessons",
            &[("Idempotency-Key", too_long.as_str())],
            json!({"learner_id": "learner-r", "course": "arithmetic"}),
        )
        .await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["error"]["code"], "bad_request");
    assert_eq!(app.count("SELECT count(*) FROM lessons").await, 1);
}

/// What `App::build` takes: free loopback listeners, `pool` and `sidecar`.
async fn deps(pool: PgPool, sidecar: FakeSidecar) -> Deps {
    Deps {
        listeners: lf_http::Listeners::loopback().await.expect("bind"),
        pool,
        dapr: Arc::new(sidecar),
    }
}

#[sqlx::test]
async fn no_app_token_no_start_unless_dev_allows_it(pool: PgPool) {
    let config = Config::load(Vec::new(), Vec::new()).expect("config");
    let err = App::build(&config, deps(pool.clone(), FakeSidecar::new()).await)
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
    assert!(App::build(&dev, deps(pool, FakeSidecar::new()).await).is_ok());
}
