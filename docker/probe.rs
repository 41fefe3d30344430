//! `lf-probe`: the container healthcheck for images without a shell or curl.
//!
//! `lf-probe <port> <path>` sends `GET <path>` to `127.0.0.1:<port>` and exits 0 when
//! the answer is 2xx, 1 otherwise (refused, timed out, malformed or non-2xx). The
//! LearnFlow images (debian-slim, no curl) and the daprd image (distroless, no shell)
//! both carry it, so every compose healthcheck is a real HTTP readiness check.
//!
//! Built by docker/Dockerfile with plain `rustc` (std only, statically linked), so it
//! runs in the distroless daprd image too. Loopback only: a probe checks its own
//! container (or the network namespace it shares), never another host, so it never
//! needs DNS.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

/// Connect, write and read each give up after this long; compose's own timeout is longer.
const TIMEOUT: Duration = Duration::from_secs(2);

fn probe(port: u16, path: &str) -> Result<u16, String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream =
        TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| format!("connect {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|e| format!("socket options: {e}"))?;
    // HTTP/1.0 with Connection: close, so the server ends the response by closing.
    let request =
        format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    // The status line fits in the first read of any sane server; 512 bytes is plenty.
    let mut head = [0u8; 512];
    let n = stream.read(&mut head).map_err(|e| format!("read: {e}"))?;
    status_code(&head[..n]).ok_or_else(|| "no HTTP status line in the answer".to_owned())
}

/// The status code of an HTTP/1.x status line at the start of `head`.
fn status_code(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(port), Some(path)) = (
        args.get(1).and_then(|p| p.parse::<u16>().ok()),
        args.get(2).filter(|p| p.starts_with('/')),
    ) else {
        eprintln!("usage: lf-probe <port> </path>");
        return ExitCode::from(2);
    };
    match probe(port, path) {
        Ok(code) if (200..300).contains(&code) => ExitCode::SUCCESS,
        Ok(code) => {
            eprintln!("GET {path} on port {port}: HTTP {code}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("GET {path} on port {port}: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::status_code;

    #[test]
    fn reads_the_status_of_http_1_answers() {
        assert_eq!(status_code(b"HTTP/1.1 204 No Content\r\n\r\n"), Some(204));
        assert_eq!(
            status_code(b"HTTP/1.0 503 Service Unavailable\r\n"),
            Some(503)
        );
    }

    #[test]
    fn rejects_what_is_not_an_http_status_line() {
        assert_eq!(status_code(b""), None);
        assert_eq!(status_code(b"SSH-2.0-OpenSSH_9.2\r\n"), None);
        assert_eq!(status_code(b"HTTP/1.1 abc\r\n"), None);
    }
}
