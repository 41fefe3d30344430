//! learnflow-slowloris ADDR COUNT: opens COUNT connections to ADDR, sends half a request
//! head on each (a slowloris client), prints `open <n> failed <m>` and holds them until its
//! standard input closes. The security suite runs several, so that no single process
//! needs more open files than its limit allows.

use std::io::Read as _;
use std::net::SocketAddr;

use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

const HALF_A_HEAD: &[u8] = b"GET /api/v1/progress HTTP/1.1\r\nhost: learnflow\r\n";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(count)) = (
        args.next().and_then(|a| a.parse::<SocketAddr>().ok()),
        args.next().and_then(|c| c.parse::<usize>().ok()),
    ) else {
        eprintln!("usage: learnflow-slowloris ADDR COUNT");
        std::process::exit(2);
    };
    let mut held = Vec::with_capacity(count);
    let mut failed = 0usize;
    let mut left = count;
    while left > 0 {
        let batch = left.min(500);
        left -= batch;
        let tasks: Vec<_> = (0..batch)
            .map(|_| {
                tokio::spawn(async move {
                    let mut stream = TcpStream::connect(addr).await?;
                    stream.write_all(HALF_A_HEAD).await?;
                    Ok::<_, std::io::Error>(stream)
                })
            })
            .collect();
        for task in tasks {
            match task.await {
                Ok(Ok(stream)) => held.push(stream),
                _ => failed += 1,
            }
        }
    }
    println!("open {} failed {failed}", held.len());
    // Hold everything until the parent closes our stdin (or kills us).
    let _ = tokio::task::spawn_blocking(|| std::io::stdin().read(&mut [0u8; 1])).await;
    drop(held);
}
