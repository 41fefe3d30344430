//! Measures the two ways to talk to daprd from Rust, side by side on one real stack:
//! our HTTP client ([`lf_dapr::HttpDapr`]) and the `dapr` crate's gRPC client.
//!
//! `cargo run --release -p lf-dapr --example client_paths [-- N]` starts Kafka and one
//! daprd through the harness and prints p50/p90/p99 of N sequential publishes per
//! path, plus N HTTP service invocations (the crate's gRPC `InvokeService` is
//! deprecated upstream, so it is not a path we would take). The numbers feed
//! `docs/adr/0005-dapr-client.md`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post};
use lf_dapr::{DaprPort, HttpDapr};
use lf_testkit::components::RunDir;
use lf_testkit::components::daprd::{DaprEnv, DaprPorts, Daprd};
use lf_testkit::components::kafka::Kafka;
use lf_testkit::tools::Toolchain;
use secrecy::SecretString;

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at =
        |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1000.0;
    format!("{:>7.3} | {:>7.3} | {:>7.3}", at(0.5), at(0.9), at(0.99))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500);
    let tools = Toolchain::locate()?;
    let mut run = RunDir::create("client-paths", false)?;
    let kafka = Kafka::start(&mut run, &tools)?;

    // A do-nothing app for daprd to front (it also answers the invocation path).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let app_port = listener.local_addr()?.port();
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/ping", post(|| async { "{}" }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let env = DaprEnv {
        kafka_brokers: kafka.bootstrap(),
        nameres_db: run.path().join("nameres.db"),
        otlp_endpoint: "127.0.0.1:1".into(),
        sampling_rate: "0".into(),
        api_token: String::new(),
        app_token: String::new(),
    };
    let ports = DaprPorts::free()?;
    // The Kafka component is scoped to the lesson-flow apps: borrow course-agent's id.
    let daprd = Daprd::start(&mut run, &tools, "course-agent", app_port, ports, &env)?;

    let http = Arc::new(HttpDapr::with_base(
        daprd.http_url(),
        &SecretString::from(""),
    )?);
    let opts =
        dapr::client::ClientOptions::new().with_address(format!("http://127.0.0.1:{}", ports.grpc));
    let mut grpc = dapr::Client::<dapr::client::TonicClientWithAuth>::from_options(opts).await?;
    let event = serde_json::json!({"specversion": "1.0", "id": "x", "source": "bench", "type": "t", "data": {"n": 1}});
    let bytes = serde_json::to_vec(&event)?;

    // Warm both paths (connections, topic metadata) before measuring.
    for _ in 0..50 {
        http.publish("kafka-pubsub", "client-paths", &event, "k", None)
            .await?;
        grpc.publish_event(
            "kafka-pubsub",
            "client-paths",
            "application/cloudevents+json",
            bytes.clone(),
            None,
        )
        .await?;
    }
    let mut http_publish = Vec::with_capacity(n);
    let mut grpc_publish = Vec::with_capacity(n);
    let mut http_invoke = Vec::with_capacity(n);
    // Interleaved, so both paths see the same machine noise.
    for _ in 0..n {
        let t = Instant::now();
        http.publish("kafka-pubsub", "client-paths", &event, "k", None)
            .await?;
        http_publish.push(t.elapsed());
        let t = Instant::now();
        grpc.publish_event(
            "kafka-pubsub",
            "client-paths",
            "application/cloudevents+json",
            bytes.clone(),
            None,
        )
        .await?;
        grpc_publish.push(t.elapsed());
        let t = Instant::now();
        let r = http
            .invoke(
                "course-agent",
                reqwest::Method::POST,
                "ping",
                None,
                Default::default(),
                Duration::from_secs(5),
            )
            .await?;
        assert_eq!(r.status, 200);
        http_invoke.push(t.elapsed());
    }
    println!("| path ({n} sequential calls, ms) | p50 | p90 | p99 |");
    println!("|---|---|---|---|");
    println!(
        "| publish, HTTP (`lf_dapr::HttpDapr`) | {} |",
        percentiles(http_publish)
    );
    println!(
        "| publish, gRPC (`dapr` 0.20 `publish_event`) | {} |",
        percentiles(grpc_publish)
    );
    println!(
        "| invoke, HTTP (`/v1.0/invoke`) | {} |",
        percentiles(http_invoke)
    );
    Ok(())
}
