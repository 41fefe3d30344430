//! Readiness polling with a deadline, and a dependency-free HTTP/1.0 GET.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::process::ManagedProcess;
use crate::{HarnessError, Result};

/// Polls `check` every 100 ms until it returns `Ok`, the process exits, or `timeout` passes.
/// On failure the error carries the last reason and the tail of the process's log.
pub fn until_ready(
    process: &mut ManagedProcess,
    timeout: Duration,
    mut check: impl FnMut() -> std::result::Result<(), String>,
) -> Result<()> {
    let started = Instant::now();
    let mut last: String;
    loop {
        if let Some(exit) = process.exited() {
            // Give the log a moment to receive the process's last words.
            std::thread::sleep(Duration::from_millis(200));
            return Err(not_ready(process, started.elapsed(), exit));
        }
        match check() {
            Ok(()) => return Ok(()),
            Err(reason) => last = reason,
        }
        if started.elapsed() >= timeout {
            return Err(not_ready(process, started.elapsed(), last));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn not_ready(process: &ManagedProcess, waited: Duration, reason: String) -> HarnessError {
    HarnessError::NotReady {
        component: process.name().to_owned(),
        waited,
        reason,
        log: process.log_path().to_owned(),
        tail: process.log_tail(40),
    }
}

/// A check that passes when `GET http://127.0.0.1:{port}{path}` answers `expected`.
pub fn http_status_is(port: u16, path: &str, expected: u16) -> std::result::Result<(), String> {
    match http_get(port, path, Duration::from_secs(2)) {
        Ok((status, _)) if status == expected => Ok(()),
        Ok((status, body)) => Err(format!(
            "GET {path} answered {status}: {}",
            body.chars().take(200).collect::<String>()
        )),
        Err(e) => Err(format!("GET {path}: {e}")),
    }
}

/// A check that passes when something accepts TCP connections on `port`.
pub fn tcp_open(port: u16) -> std::result::Result<(), String> {
    TcpStream::connect_timeout(&local(port), Duration::from_millis(500))
        .map(|_| ())
        .map_err(|e| format!("connect 127.0.0.1:{port}: {e}"))
}

/// `GET http://127.0.0.1:{port}{path}` over HTTP/1.0; returns status and body.
pub fn http_get(port: u16, path: &str, timeout: Duration) -> std::io::Result<(u16, String)> {
    http_get_at(local(port), path, timeout)
}

/// `GET http://{address}{path}` over HTTP/1.0; returns status and body.
pub fn http_get_at(
    address: SocketAddr,
    path: &str,
    timeout: Duration,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            std::io::Error::other(format!(
                "no HTTP status in {:?}",
                text.chars().take(80).collect::<String>()
            ))
        })?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A free loopback port for a component to listen on.
///
/// Chosen below the kernel's ephemeral range (`ip_local_port_range`), never twice in
/// one process: a port from the ephemeral range can be taken by some process's
/// outgoing connection between our check and the component's bind, which under load
/// made daprd fail with "address already in use".
pub fn free_port() -> Result<u16> {
    use std::sync::Mutex;
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| {
            r.split_whitespace()
                .next()
                .and_then(|p| p.parse::<u16>().ok())
        })
        .unwrap_or(32768);
    let (low, high) = (10_000u16, ephemeral_low.max(10_100));
    let span = u64::from(high - low);
    let mut seed = uuid::Uuid::new_v4().as_u128() as u64;
    for _ in 0..200 {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let port = low + ((seed >> 33) % span) as u16;
        let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if handed.contains(&port) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            handed.push(port);
            return Ok(port);
        }
    }
    Err(HarnessError::Command {
        what: "finding a free port".into(),
        detail: format!("no free port between {low} and {high} after 200 tries"),
    })
}

/// `port` if it is free, else [`HarnessError::PortBusy`].
pub fn require_port(port: u16, what: &str) -> Result<u16> {
    std::net::TcpListener::bind(("127.0.0.1", port))
        .map(|_| port)
        .map_err(|_| HarnessError::PortBusy {
            port,
            what: what.to_owned(),
        })
}

/// `preferred` if free, else any free port.
pub fn preferred_or_free(preferred: u16) -> Result<u16> {
    match std::net::TcpListener::bind(("127.0.0.1", preferred)) {
        Ok(_) => Ok(preferred),
        Err(_) => free_port(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::process::{ManagedProcess, ProcessSpec};

    #[test]
    fn a_component_that_never_becomes_ready_is_reported_with_its_log() {
        let dir = std::env::temp_dir().join(format!("lf-wait-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port().unwrap();
        let mut p = ManagedProcess::spawn(
            ProcessSpec::new("stubborn", "/bin/sh", dir.join("stubborn.log"))
                .args(["-c", "echo 'listening soon, honest'; exec sleep 30"]),
        )
        .unwrap();
        let err = until_ready(&mut p, Duration::from_millis(700), || tcp_open(port)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("stubborn did not become ready"), "{msg}");
        assert!(msg.contains("listening soon, honest"), "{msg}");
        assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_component_that_exits_is_reported_at_once() {
        let dir = std::env::temp_dir().join(format!("lf-wait-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut p = ManagedProcess::spawn(
            ProcessSpec::new("crasher", "/bin/sh", dir.join("crasher.log"))
                .args(["-c", "echo 'fatal: no config' >&2; exit 3"]),
        )
        .unwrap();
        let started = std::time::Instant::now();
        let err =
            until_ready(&mut p, Duration::from_secs(30), || Err("not yet".into())).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10));
        let msg = err.to_string();
        assert!(msg.contains("exit status: 3"), "{msg}");
        assert!(msg.contains("fatal: no config"), "{msg}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_busy_port_is_named() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let err = require_port(port, "the gateway").unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("port {port} for the gateway"))
        );
    }
}
