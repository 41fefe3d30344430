//! `lf_http::serve_with` on a public edge: a connection cap that closes the oldest idle
//! connection to make room (and answers 503 when all are busy), and a header-read timeout.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use lf_http::ServeLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Serves `/fast` and a `/slow` route (reports when it started, answers after 3 s) with
/// `limits`; returns the address and the "started" receiver.
async fn start(limits: ServeLimits) -> (std::net::SocketAddr, mpsc::Receiver<()>) {
    let (started_tx, started_rx) = mpsc::channel(8);
    let router = Router::new()
        .route("/fast", get(|| async { "fast" }))
        .route(
            "/slow",
            get(move || {
                let started = started_tx.clone();
                async move {
                    let _ = started.send(()).await;
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    "slow"
                }
            }),
        );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(lf_http::serve_with(
        listener,
        router,
        std::future::pending(),
        limits,
    ));
    (addr, started_rx)
}

fn limits(max_connections: usize, header_read_timeout: Duration) -> ServeLimits {
    ServeLimits {
        header_read_timeout,
        max_connections,
    }
}

/// Sends one GET and reads the whole answer (the server closes or it is short).
async fn send_get(stream: &mut TcpStream, path: &str) -> String {
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .expect("an answer within 10 s")
        .unwrap();
    answer
}

/// Whether the server closed `stream` within `within` (EOF or reset, with nothing sent).
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(within, stream.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn at_the_cap_the_oldest_idle_connection_makes_room() {
    let (addr, _started) = start(limits(2, Duration::from_secs(60))).await;
    // Two slow clients that never send a byte hold both places.
    let mut oldest = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut second = TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // A learner still gets through, and the oldest slow client is the one closed.
    let mut learner = TcpStream::connect(addr).await.unwrap();
    let answer = send_get(&mut learner, "/fast").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        closed_by_server(&mut oldest, Duration::from_secs(2)).await,
        "the oldest idle connection was closed to make room"
    );
    assert!(
        !closed_by_server(&mut second, Duration::from_millis(300)).await,
        "only one connection was closed"
    );
}

#[tokio::test]
async fn at_the_cap_with_every_connection_busy_a_new_one_gets_503() {
    let (addr, mut started) = start(limits(1, Duration::from_secs(60))).await;
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    started.recv().await.unwrap();
    let mut newcomer = TcpStream::connect(addr).await.unwrap();
    let answer = send_get(&mut newcomer, "/fast").await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("retry-after: 1"), "{answer}");
    assert!(answer.contains(r#""code":"overloaded""#), "{answer}");
    // The busy request was not disturbed.
    let mut rest = String::new();
    busy.read_to_string(&mut rest).await.unwrap();
    assert!(
        rest.starts_with("HTTP/1.1 200") && rest.ends_with("slow"),
        "{rest}"
    );
}

#[tokio::test]
async fn a_request_head_that_does_not_arrive_in_time_closes_the_connection() {
    let (addr, _started) = start(limits(usize::MAX, Duration::from_millis(300))).await;
    let mut slowloris = TcpStream::connect(addr).await.unwrap();
    slowloris
        .write_all(b"GET /fast HTTP/1.1\r\nhost")
        .await
        .unwrap();
    assert!(
        closed_by_server(&mut slowloris, Duration::from_secs(3)).await,
        "a head still incomplete after the timeout ends the connection"
    );
    // A prompt client is served as usual.
    let mut prompt = TcpStream::connect(addr).await.unwrap();
    assert!(
        send_get(&mut prompt, "/fast")
            .await
            .starts_with("HTTP/1.1 200")
    );
}
