//! The real parts run: PostgreSQL answers, and an event published through one
//! app's daprd reaches another app through the declarative Dapr subscription on
//! a real Kafka broker, with the app token and a trace context attached.

use std::time::Duration;

use learnflow_e2e::{RecordingApp, eventually};
use lf_testkit::components::RunDir;
use lf_testkit::components::daprd::{DaprEnv, DaprPorts, Daprd};
use lf_testkit::components::kafka::Kafka;
use lf_testkit::components::postgres::Postgres;
use lf_testkit::tools::Toolchain;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_published_through_one_daprd_reaches_another_app_over_kafka() {
    let tools = Toolchain::locate().expect("provisioned components (run `cargo xtask deps`)");
    let mut run = RunDir::create("e2e-foundation", false).expect("run dir");

    let postgres = Postgres::start(&mut run, &tools).expect("postgres starts");
    assert_eq!(
        postgres.psql("postgres", "SELECT 40 + 2").expect("psql"),
        "42"
    );
    let kafka = Kafka::start(&mut run, &tools).expect("kafka starts");

    // Two real apps: the subscriber records deliveries on the subscription's route.
    let subscriber = RecordingApp::start("/events/lesson")
        .await
        .expect("subscriber app");
    let publisher = RecordingApp::start("/unused").await.expect("publisher app");
    let env = DaprEnv {
        kafka_brokers: kafka.bootstrap(),
        nameres_db: run.path().join("nameres.db"),
        otlp_endpoint: "127.0.0.1:1".into(),
        sampling_rate: "1".into(),
        api_token: "api-token-for-test".into(),
        app_token: "app-token-for-test".into(),
    };
    let sub_ports = DaprPorts::free().expect("ports");
    let pub_ports = DaprPorts::free().expect("ports");
    let _sub_daprd = Daprd::start(
        &mut run,
        &tools,
        "user-progress",
        subscriber.port,
        sub_ports,
        &env,
    )
    .expect("subscriber daprd starts");
    let pub_daprd = Daprd::start(
        &mut run,
        &tools,
        "course-agent",
        publisher.port,
        pub_ports,
        &env,
    )
    .expect("publisher daprd starts");

    let http = reqwest::Client::new();
    let publish_url = format!(
        "{}/v1.0/publish/kafka-pubsub/lesson-events?metadata.partitionKey=learner-1",
        pub_daprd.http_url()
    );
    // Without the API token daprd refuses the call.
    let refused = http
        .post(&publish_url)
        .json(&serde_json::json!({"probe": true}))
        .send()
        .await
        .expect("daprd answers");
    assert_eq!(
        refused.status().as_u16(),
        401,
        "daprd must require its API token"
    );

    let payload =
        serde_json::json!({"event_id": "e2e-foundation-1", "learner_id": "learner-1", "n": 42});
    let published = http
        .post(&publish_url)
        .header("dapr-api-token", "api-token-for-test")
        .json(&payload)
        .send()
        .await
        .expect("publish call");
    assert_eq!(
        published.status().as_u16(),
        204,
        "publish accepted: {:?}",
        published.text().await
    );

    let delivery = eventually(
        "the event to reach the subscriber",
        Duration::from_secs(60),
        || {
            subscriber
                .deliveries()
                .into_iter()
                .find(|d| d.cloud_event["data"] == payload)
        },
    )
    .await;
    assert_eq!(delivery.cloud_event["topic"], "lesson-events");
    assert_eq!(delivery.cloud_event["pubsubname"], "kafka-pubsub");
    assert_eq!(delivery.token.as_deref(), Some("app-token-for-test"));
    let traceparent = delivery
        .traceparent
        .expect("daprd sets traceparent on deliveries");
    assert_eq!(traceparent.len(), 55, "W3C traceparent: {traceparent}");
    // Exactly one delivery of that one publish.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let copies = subscriber
        .deliveries()
        .iter()
        .filter(|d| d.cloud_event["data"] == payload)
        .count();
    assert_eq!(copies, 1);
    assert!(
        publisher.deliveries().is_empty(),
        "the subscription is scoped to user-progress"
    );

    // The SQLite name resolver's garbage collector is off (`cleanupInterval: "0s"` in
    // deploy/dapr/config.yaml): in components-contrib 1.18 its first run deletes the rows
    // *younger* than updateInterval — every live registration — and each daprd then exits
    // with "Host registration lost", an hour after the first sidecar started (seen with a
    // 15 s interval: "Removed 2 expired rows", then both daprds fatal).
    for app in ["user-progress", "course-agent"] {
        let log = std::fs::read_to_string(run.path().join("daprd").join(format!("{app}.log")))
            .expect("daprd log");
        assert!(
            log.contains("Initialized name resolution to sqlite"),
            "{app}: daprd uses the SQLite resolver"
        );
        assert!(
            !log.contains("Schedule expired data clean up"),
            "{app}: the name resolver's garbage collector is scheduled"
        );
    }
}
