//! `lf_http::serve`: answers over kept-alive HTTP/1.1 connections, finishes what is
//! in flight when asked to stop, and does not wait for idle connections.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// Starts `serve` with a `/slow` route that reports when it started and then takes
/// `slow` to answer; returns the base URL, the "started" receiver, the stop sender
/// and the server task.
async fn start(
    slow: Duration,
) -> (
    String,
    mpsc::Receiver<()>,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let (started_tx, started_rx) = mpsc::channel(8);
    let router = Router::new()
        .route("/fast", get(|| async { "fast" }))
        .route(
            "/slow",
            get(move || {
                let started = started_tx.clone();
                async move {
                    let _ = started.send(()).await;
                    tokio::time::sleep(slow).await;
                    "slow"
                }
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(lf_http::serve(listener, router, async move {
        let _ = stop_rx.await;
    }));
    (base, started_rx, stop_tx, server)
}

#[tokio::test]
async fn answers_over_http1() {
    let (base, _started, stop, server) = start(Duration::ZERO).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    for _ in 0..3 {
        let response = client.get(format!("{base}/fast")).send().await.unwrap();
        assert_eq!(response.version(), reqwest::Version::HTTP_11);
        assert_eq!(response.text().await.unwrap(), "fast");
    }
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn finishes_the_request_in_flight_then_stops_accepting() {
    let (base, mut started, stop, server) = start(Duration::from_millis(300)).await;
    let client = reqwest::Client::new();
    let in_flight = tokio::spawn(client.get(format!("{base}/slow")).send());
    started.recv().await.unwrap();
    stop.send(()).unwrap();

    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "slow");
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve returns once the request in flight is answered")
        .unwrap()
        .unwrap();
    let refused = reqwest::Client::new()
        .get(format!("{base}/fast"))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "no new connections after stopping: {refused:?}"
    );
}

#[tokio::test]
async fn idle_kept_alive_connections_do_not_hold_up_the_stop() {
    let (base, _started, stop, server) = start(Duration::ZERO).await;
    let client = reqwest::Client::new();
    let response = client.get(format!("{base}/fast")).send().await.unwrap();
    assert_eq!(response.text().await.unwrap(), "fast");
    // The client keeps that connection open in its pool; stopping must not wait for it.
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve returns although a client holds an idle connection")
        .unwrap()
        .unwrap();
    drop(client);
}
