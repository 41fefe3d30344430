//! The headline flow on the real native stack: gateway → (Dapr invoke) course-agent →
//! outbox → (Dapr publish) Kafka → (Dapr subscription) user-progress → PostgreSQL.
//!
//! One stack, several acts: many lessons from several learners at once arrive exactly
//! once; a malformed event goes to the dead-letter topic and the flow goes on; a
//! duplicate publish has one effect; personalisation is used when user-progress is up
//! and falls back when it is stopped, and the lesson made meanwhile still arrives; at
//! the end every service exits 0 on SIGTERM, promptly.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use learnflow_e2e::{eventually, fetch_text, find_on_topic, metric_sum, produce_to_topic};
use lf_testkit::stack::{Stack, StackOptions};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

const LESSONS: usize = 200;
const LEARNERS: usize = 8;
const CONCURRENCY: usize = 16;

struct Client {
    http: reqwest::Client,
    gateway: String,
}

impl Client {
    async fn create_lesson(&self, token: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/api/v1/lessons", self.gateway))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("gateway answers");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn progress(&self, token: &str) -> Value {
        let r = self
            .http
            .get(format!("{}/api/v1/progress", self.gateway))
            .bearer_auth(token)
            .send()
            .await
            .expect("gateway answers");
        assert_eq!(r.status().as_u16(), 200);
        r.json().await.expect("json")
    }
}

fn recorded_lessons(stack: &Stack) -> BTreeSet<String> {
    stack
        .postgres
        .psql("user_progress", "SELECT lesson_id FROM processed_events")
        .expect("query user_progress")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn count(stack: &Stack, db: &str, sql: &str) -> i64 {
    stack
        .postgres
        .psql(db, sql)
        .expect("query")
        .trim()
        .parse()
        .expect("a count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lessons_flow_through_kafka_to_user_progress_exactly_once() {
    let mut stack = Stack::start(&StackOptions::default()).expect("the native stack starts");
    let client = Arc::new(Client {
        http: reqwest::Client::new(),
        gateway: stack.gateway_url(),
    });
    let tokens: Vec<String> = (0..LEARNERS)
        .map(|i| stack.dev_token(&format!("learner-{i}")))
        .collect();

    // Act 1: 200 lessons, 8 learners, 16 at a time.
    let gate = Arc::new(Semaphore::new(CONCURRENCY));
    let mut tasks = Vec::new();
    for i in 0..LESSONS {
        let (client, gate) = (client.clone(), gate.clone());
        let token = tokens[i % LEARNERS].clone();
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.expect("semaphore");
            let (status, lesson) = client.create_lesson(&token, json!({})).await;
            assert_eq!(status, 201, "{lesson}");
            (
                i % LEARNERS,
                lesson["id"].as_str().expect("lesson id").to_owned(),
            )
        }));
    }
    let mut created: BTreeMap<String, usize> = BTreeMap::new();
    for task in tasks {
        let (learner, id) = task.await.expect("task");
        created.insert(id, learner);
    }
    assert_eq!(created.len(), LESSONS, "every lesson has its own id");
    let expected: BTreeSet<String> = created.keys().cloned().collect();
    let recorded = eventually(
        "all lessons to reach user-progress",
        Duration::from_secs(90),
        || {
            let recorded = recorded_lessons(&stack);
            (recorded.len() >= LESSONS).then_some(recorded)
        },
    )
    .await;
    assert_eq!(recorded, expected, "exactly the created lessons, each once");
    assert_eq!(
        count(
            &stack,
            "user_progress",
            "SELECT count(*) FROM processed_events"
        ),
        LESSONS as i64
    );
    for (i, token) in tokens.iter().enumerate() {
        let progress = client.progress(token).await;
        let mine = created.values().filter(|l| **l == i).count() as i64;
        assert_eq!(
            progress["lessons_received"].as_i64(),
            Some(mine),
            "learner-{i}: {progress}"
        );
    }
    assert_eq!(
        count(
            &stack,
            "course_agent",
            "SELECT count(*) FROM outbox WHERE sent_at IS NULL"
        ),
        0,
        "the outbox drained"
    );

    // Act 2: a malformed event straight onto the topic lands in the dead-letter topic.
    let publisher = stack
        .service("course-agent")
        .and_then(|s| s.daprd.as_ref())
        .map(|d| d.http_url())
        .expect("daprd");
    let marker = format!("poison-{}", uuid::Uuid::new_v4());
    let r = client
        .http
        .post(format!(
            "{publisher}/v1.0/publish/kafka-pubsub/lesson-events?metadata.rawPayload=true"
        ))
        .header("dapr-api-token", &stack.secrets.dapr_api_token)
        .header("content-type", "text/plain")
        .body(format!("{marker} is not a lesson event {{"))
        .send()
        .await
        .expect("publish");
    assert_eq!(r.status().as_u16(), 204);
    let bootstrap = stack.kafka.bootstrap();
    let marker_for_search = marker.clone();
    let dead = tokio::task::spawn_blocking(move || {
        find_on_topic(
            &bootstrap,
            "lesson-events-dlq",
            Duration::from_secs(60),
            |p| String::from_utf8_lossy(p).contains(&marker_for_search),
        )
    })
    .await
    .expect("reader");
    assert!(dead.is_some(), "the poison event reached lesson-events-dlq");
    // … and the flow goes on.
    let (status, after) = client
        .create_lesson(&tokens[0], json!({"course": "algebra"}))
        .await;
    assert_eq!(status, 201, "{after}");
    let after_id = after["id"].as_str().expect("id").to_owned();
    eventually("the next lesson to arrive", Duration::from_secs(60), || {
        recorded_lessons(&stack).contains(&after_id).then_some(())
    })
    .await;

    // Act 3: `learnflow-admin dlq replay` sends back what user-progress takes now, and
    // leaves what it would drop again.
    dead_letters_are_replayed_only_when_valid(&stack, &client).await;

    // Act 3b: the same event published twice changes progress once.
    let before = count(
        &stack,
        "user_progress",
        "SELECT count(*) FROM processed_events",
    );
    let received_before = client.progress(&tokens[0]).await["lessons_received"].as_i64();
    let event = stack
        .postgres
        .psql("course_agent", &format!("SELECT cloud_event FROM outbox WHERE cloud_event->'data'->>'lesson_id' = '{after_id}'"))
        .expect("stored event");
    let metrics_url = format!(
        "http://127.0.0.1:{}/metrics",
        stack
            .service("user-progress")
            .expect("svc")
            .service
            .admin_port()
    );
    let duplicates = |text: &str| {
        metric_sum(
            text,
            "learnflow_events_consumed_total",
            &[("outcome", "duplicate")],
        )
    };
    let dup_before = duplicates(&fetch_text(&client.http, &metrics_url).await);
    let r = client
        .http
        .post(format!(
            "{publisher}/v1.0/publish/kafka-pubsub/lesson-events?metadata.partitionKey=learner-0"
        ))
        .header("dapr-api-token", &stack.secrets.dapr_api_token)
        .header("content-type", "application/cloudevents+json")
        .body(event)
        .send()
        .await
        .expect("publish");
    assert_eq!(r.status().as_u16(), 204);
    let mut seen = false;
    for _ in 0..150 {
        let text = fetch_text(&client.http, &metrics_url).await;
        if duplicates(&text) > dup_before {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(seen, "user-progress received the duplicate");
    assert_eq!(
        count(
            &stack,
            "user_progress",
            "SELECT count(*) FROM processed_events"
        ),
        before
    );
    assert_eq!(
        client.progress(&tokens[0]).await["lessons_received"].as_i64(),
        received_before
    );

    // Act 4: a POST whose answer was lost, sent again with its Idempotency-Key, makes one
    // lesson (the key crosses daprd to course-agent, the replay mark crosses it back); a
    // completion sent twice is recorded once and answered alike.
    retried_posts_take_effect_once(&stack, &client).await;

    // Act 5: bad input through the real gateway is a 4xx with a JSON error, never a 5xx.
    let bad: Vec<(reqwest::RequestBuilder, u16)> = vec![
        (
            client
                .http
                .post(format!("{}/api/v1/lessons", client.gateway))
                .bearer_auth(&tokens[0])
                .header("content-type", "application/json")
                .body("{\"course\":"),
            400,
        ),
        (
            client
                .http
                .post(format!("{}/api/v1/lessons", client.gateway))
                .bearer_auth(&tokens[0])
                .json(&json!({"course": 3})),
            422,
        ),
        (
            client
                .http
                .post(format!("{}/api/v1/lessons", client.gateway))
                .bearer_auth(&tokens[0])
                .json(&json!({"course": "alchemy"})),
            422,
        ),
        (
            client
                .http
                .post(format!("{}/api/v1/lessons", client.gateway))
                .json(&json!({})),
            401,
        ),
        (
            client
                .http
                .get(format!("{}/api/v1/lessons/not-an-id", client.gateway))
                .bearer_auth(&tokens[0]),
            400,
        ),
        (
            client
                .http
                .get(format!("{}/api/v1/lessons/{after_id}", client.gateway))
                .bearer_auth(&tokens[1]),
            403,
        ),
    ];
    for (request, expected) in bad {
        let r = request.send().await.expect("gateway answers");
        assert_eq!(r.status().as_u16(), expected);
        let body: Value = r.json().await.expect("a JSON error");
        assert!(body["error"]["code"].is_string(), "{body}");
    }

    // Act 6: personalisation with user-progress up, fallback with it stopped.
    let (status, personal) = client.create_lesson(&tokens[1], json!({})).await;
    assert_eq!(
        (status, personal["personalised"].as_bool()),
        (201, Some(true)),
        "{personal}"
    );
    stack
        .service("user-progress")
        .expect("svc")
        .service
        .process()
        .stop(Duration::from_secs(10));
    let (status, fallback) = client.create_lesson(&tokens[1], json!({})).await;
    assert_eq!(
        status, 201,
        "lessons are still created without user-progress: {fallback}"
    );
    assert_eq!(fallback["personalised"], false);
    stack
        .service("user-progress")
        .expect("svc")
        .service
        .restart()
        .expect("user-progress restarts");
    let fallback_id = fallback["id"].as_str().expect("id").to_owned();
    eventually(
        "the lesson made during the outage to arrive",
        Duration::from_secs(90),
        || {
            recorded_lessons(&stack)
                .contains(&fallback_id)
                .then_some(())
        },
    )
    .await;

    // SIGTERM, as Kubernetes sends it: every service drains, stops its background tasks
    // between two units of work, waits for them and exits 0 — promptly, not by running
    // out the tasks' 15 s grace, and far inside the pod's 30 s.
    for name in [
        "frontend-gateway",
        "course-agent",
        "user-progress",
        "kafka-monitor",
    ] {
        let started = Instant::now();
        let status = stack
            .service(name)
            .expect("svc")
            .service
            .process()
            .stop(Duration::from_secs(25));
        let took = started.elapsed();
        assert!(
            status.is_some_and(|s| s.success()) && took < Duration::from_secs(10),
            "{name} on SIGTERM: {status:?} after {took:?}"
        );
    }
}

/// Runs `learnflow-admin dlq replay` with `args`; its JSON report.
fn admin_replay(stack: &Stack, args: &[&str]) -> Value {
    let output = std::process::Command::new(lf_testkit::paths::workspace_binary("learnflow-admin"))
        .args(["dlq", "replay", "--brokers", &stack.kafka.bootstrap()])
        .args(args)
        .output()
        .expect("learnflow-admin runs (cargo build --workspace --bins)");
    assert!(
        output.status.success(),
        "learnflow-admin {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("a JSON report")
}

async fn dead_letters_are_replayed_only_when_valid(stack: &Stack, client: &Client) {
    let learner = "learner-dlq";
    // Only what this act writes: the dead letter of act 2 is older (and was read already).
    let since = chrono::Utc::now().to_rfc3339();
    let lesson_id = uuid::Uuid::now_v7();
    let event = lf_events::LessonEvent::new(
        lesson_id,
        learner.into(),
        "arithmetic".into(),
        "addition".into(),
        2,
        false,
        chrono::Utc::now(),
    );
    let valid = serde_json::to_vec(&event.to_cloud_event(None)).expect("json");
    let mut future: Value = serde_json::from_slice(&valid).expect("json");
    future["data"]["schema_version"] = json!("9.0");
    future["id"] = json!(uuid::Uuid::new_v4().to_string());
    let garbage = format!("garbage-{} {{", uuid::Uuid::new_v4());
    let bootstrap = stack.kafka.bootstrap();
    for payload in [
        valid.clone(),
        serde_json::to_vec(&future).expect("json"),
        garbage.clone().into_bytes(),
    ] {
        produce_to_topic(&bootstrap, "lesson-events-dlq", learner, &payload);
    }
    let on_topic = |marker: String| {
        let bootstrap = bootstrap.clone();
        tokio::task::spawn_blocking(move || {
            find_on_topic(&bootstrap, "lesson-events", Duration::from_secs(5), |p| {
                String::from_utf8_lossy(p).contains(&marker)
            })
            .is_some()
        })
    };
    let counts = |report: &Value| {
        (
            report["read"].as_u64(),
            report["republished"].as_u64(),
            report["skipped"].as_u64(),
        )
    };

    let dry = admin_replay(stack, &["--since", &since, "--dry-run"]);
    assert_eq!(counts(&dry), (Some(3), Some(1), Some(2)), "{dry}");
    // Without --since the whole topic is read: act 2's dead letter too.
    let everything = admin_replay(stack, &["--dry-run"]);
    assert_eq!(
        counts(&everything),
        (Some(4), Some(1), Some(3)),
        "{everything}"
    );
    assert!(
        !on_topic(lesson_id.to_string()).await.expect("reader"),
        "a dry run republishes nothing"
    );

    let replayed = admin_replay(stack, &["--since", &since]);
    assert_eq!(counts(&replayed), (Some(3), Some(1), Some(2)), "{replayed}");
    assert_eq!(
        replayed["skipped_by_reason"]["unsupported_version"], 1,
        "{replayed}"
    );
    assert_eq!(replayed["skipped_by_reason"]["malformed"], 1, "{replayed}");
    let lesson = lesson_id.to_string();
    eventually(
        "the replayed event to reach user-progress",
        Duration::from_secs(60),
        || recorded_lessons(stack).contains(&lesson).then_some(()),
    )
    .await;
    assert!(
        !on_topic(garbage).await.expect("reader"),
        "what user-progress would drop stays in the dead-letter topic"
    );
    let token = stack.dev_token(learner);
    assert_eq!(client.progress(&token).await["lessons_received"], 1);
}

/// Sends `request` on a fresh connection and closes it without reading the answer.
async fn send_and_lose_the_answer(gateway: &str, request: String, done: impl Fn() -> bool) {
    use tokio::io::AsyncWriteExt;
    let address = gateway.trim_start_matches("http://");
    let mut connection = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect to the gateway");
    connection
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    // Close only once the work is done, so what is lost is the answer alone.
    eventually(
        "the first attempt to take effect",
        Duration::from_secs(30),
        || done().then_some(()),
    )
    .await;
    drop(connection);
}

async fn retried_posts_take_effect_once(stack: &Stack, client: &Client) {
    let learner = "learner-retry";
    let token = stack.dev_token(learner);
    let key = format!("retry-{}", uuid::Uuid::new_v4());
    let body = r#"{"course":"arithmetic"}"#;
    let lessons_of_learner = format!("SELECT count(*) FROM lessons WHERE learner_id = '{learner}'");
    send_and_lose_the_answer(
        &client.gateway,
        format!(
            "POST /api/v1/lessons HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {token}\r\n\
             Idempotency-Key: {key}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        ),
        || count(stack, "course_agent", &lessons_of_learner) == 1,
    )
    .await;
    let stored = stack
        .postgres
        .psql(
            "course_agent",
            &format!("SELECT id FROM lessons WHERE learner_id = '{learner}'"),
        )
        .expect("the stored lesson")
        .trim()
        .to_owned();
    let retry = || {
        client
            .http
            .post(format!("{}/api/v1/lessons", client.gateway))
            .bearer_auth(&token)
            .header("idempotency-key", &key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for attempt in 1..=2 {
        let r = retry().await.expect("gateway answers");
        assert_eq!(r.status().as_u16(), 201, "retry {attempt}");
        assert_eq!(r.headers()["idempotency-key"], key.as_str());
        assert_eq!(
            r.headers().get("idempotent-replayed").map(|v| v.as_bytes()),
            Some(&b"true"[..]),
            "retry {attempt} is answered from the stored lesson"
        );
        let lesson: Value = r.json().await.expect("json");
        assert_eq!(
            lesson["id"].as_str(),
            Some(stored.as_str()),
            "retry {attempt}"
        );
    }
    eventually(
        "the lesson to reach user-progress",
        Duration::from_secs(60),
        || recorded_lessons(stack).contains(&stored).then_some(()),
    )
    .await;
    assert_eq!(count(stack, "course_agent", &lessons_of_learner), 1);
    let progress = client.progress(&token).await;
    assert_eq!(progress["lessons_received"], 1, "{progress}");

    let complete = || {
        client
            .http
            .post(format!(
                "{}/api/v1/lessons/{stored}/completion",
                client.gateway
            ))
            .bearer_auth(&token)
            .json(&json!({"score": 0.7}))
            .send()
    };
    let first = complete().await.expect("gateway answers");
    assert_eq!(first.status().as_u16(), 200);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.expect("json");
    let again = complete().await.expect("gateway answers");
    assert_eq!(
        again.status().as_u16(),
        200,
        "a repeated completion is not a 409"
    );
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.expect("json"), first);
    let progress = client.progress(&token).await;
    assert_eq!(progress["lessons_completed"], 1, "{progress}");
    assert_eq!(progress["topics"][0]["completions"], 1, "{progress}");
}

/// A poison event in the outbox — 2 MB, over the size Kafka takes — ahead of 200 good
/// lessons: the good ones all arrive, the poison one is parked (and counted), and the relay
/// does not stall behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poison_event_in_the_outbox_is_parked_and_the_lessons_behind_it_arrive() {
    let mut stack = Stack::start(&StackOptions::default()).expect("the native stack starts");
    let client = Client {
        http: reqwest::Client::new(),
        gateway: stack.gateway_url(),
    };
    let token = stack.dev_token("poison-neighbour");
    // A first lesson gives the poison row a valid CloudEvent to start from.
    let (status, first) = client.create_lesson(&token, json!({})).await;
    assert_eq!(status, 201, "{first}");
    eventually(
        "the first lesson to be published",
        Duration::from_secs(60),
        || {
            (count(
                &stack,
                "course_agent",
                "SELECT count(*) FROM outbox WHERE sent_at IS NULL",
            ) == 0)
                .then_some(())
        },
    )
    .await;
    stack
        .postgres
        .psql(
            "course_agent",
            "INSERT INTO outbox (event_id, partition_key, cloud_event)
             SELECT gen_random_uuid(), 'poison',
                    jsonb_set(cloud_event, '{data,learner_id}', to_jsonb(repeat('p', 2000000)))
             FROM outbox ORDER BY id LIMIT 1",
        )
        .expect("insert the poison row");

    let started = std::time::Instant::now();
    let tokens: Vec<String> = (0..LEARNERS)
        .map(|i| stack.dev_token(&format!("poison-neighbour-{i}")))
        .collect();
    let mut expected = BTreeSet::new();
    for i in 0..LESSONS {
        let (status, lesson) = client.create_lesson(&tokens[i % LEARNERS], json!({})).await;
        assert_eq!(status, 201, "{lesson}");
        expected.insert(lesson["id"].as_str().expect("id").to_owned());
    }
    let accepted_in = started.elapsed();
    eventually(
        "the lessons behind the poison to reach user-progress",
        Duration::from_secs(120),
        || expected.is_subset(&recorded_lessons(&stack)).then_some(()),
    )
    .await;
    let delivered_in = started.elapsed();
    let parked = eventually(
        "the poison row to be parked",
        Duration::from_secs(120),
        || {
            let row = stack
                .postgres
                .psql(
                    "course_agent",
                    "SELECT rejections || ' ' || coalesce(left(last_error, 160), '') FROM outbox
                     WHERE partition_key = 'poison' AND parked_at IS NOT NULL",
                )
                .ok()?;
            (!row.trim().is_empty()).then(|| row.trim().to_owned())
        },
    )
    .await;
    eprintln!(
        "[poison] {LESSONS} lessons accepted in {accepted_in:?}, all recorded after \
         {delivered_in:?}; poison parked: {parked}"
    );
    let metrics_url = format!(
        "http://127.0.0.1:{}/metrics",
        stack
            .service("course-agent")
            .expect("course-agent")
            .service
            .admin_port()
    );
    let text = fetch_text(&client.http, &metrics_url).await;
    assert_eq!(
        metric_sum(&text, "learnflow_outbox_parked_total", &[]),
        1.0,
        "the parked row is counted"
    );
    assert_eq!(
        count(
            &stack,
            "course_agent",
            "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND parked_at IS NULL"
        ),
        0,
        "nothing else is left behind"
    );
}
