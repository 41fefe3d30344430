//! A minimal DNS client (one A question over UDP), so the host can ask the cluster's DNS
//! Service directly — through kube-proxy's rules to CoreDNS — without `dig` or an image
//! carrying a resolver.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

/// The A records `server` returns for `name`.
pub fn resolve_a(server: Ipv4Addr, name: &str, timeout: Duration) -> io::Result<Vec<Ipv4Addr>> {
    let socket = UdpSocket::bind("0.0.0.0:0")?;
    socket.set_read_timeout(Some(timeout))?;
    let id = (std::process::id() as u16) ^ 0x5a5a;
    socket.send_to(&query(id, name), SocketAddr::from((server, 53)))?;
    let mut buf = [0u8; 1500];
    let (len, _) = socket.recv_from(&mut buf)?;
    parse_answers(&buf[..len], id)
}

fn query(id: u16, name: &str) -> Vec<u8> {
    let mut packet = Vec::with_capacity(32 + name.len());
    packet.extend_from_slice(&id.to_be_bytes());
    // Recursion desired; one question, no other records.
    packet.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        packet.push(label.len() as u8);
        packet.extend_from_slice(label.as_bytes());
    }
    // Root label, type A, class IN.
    packet.extend_from_slice(&[0, 0, 1, 0, 1]);
    packet
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// Skips a (possibly compressed) name starting at `at`; returns the offset after it.
fn skip_name(packet: &[u8], mut at: usize) -> io::Result<usize> {
    loop {
        let len = *packet.get(at).ok_or_else(|| bad("truncated name"))?;
        match len {
            0 => return Ok(at + 1),
            l if l & 0xc0 == 0xc0 => return Ok(at + 2),
            l => at += 1 + l as usize,
        }
    }
}

fn parse_answers(packet: &[u8], id: u16) -> io::Result<Vec<Ipv4Addr>> {
    if packet.len() < 12 || packet[..2] != id.to_be_bytes() {
        return Err(bad("not the answer to our question"));
    }
    let rcode = packet[3] & 0x0f;
    if rcode != 0 {
        return Err(bad(&format!("server answered rcode {rcode}")));
    }
    let questions = u16::from_be_bytes([packet[4], packet[5]]);
    let answers = u16::from_be_bytes([packet[6], packet[7]]);
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(packet, at)? + 4;
    }
    let mut found = Vec::new();
    for _ in 0..answers {
        at = skip_name(packet, at)?;
        let header = packet
            .get(at..at + 10)
            .ok_or_else(|| bad("truncated record"))?;
        let kind = u16::from_be_bytes([header[0], header[1]]);
        let len = u16::from_be_bytes([header[8], header[9]]) as usize;
        let data = packet
            .get(at + 10..at + 10 + len)
            .ok_or_else(|| bad("truncated data"))?;
        if kind == 1 && len == 4 {
            found.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        }
        at += 10 + len;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_with_a_compressed_name_parses() {
        let id = 0x1234;
        let mut packet = query(id, "kubernetes.default.svc.cluster.local");
        // A response: QR set, one answer pointing back at the question's name (offset 12).
        packet[2] = 0x81;
        packet[3] = 0x80;
        packet[7] = 1;
        packet.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 10, 96, 0, 1]);
        assert_eq!(
            parse_answers(&packet, id).expect("parses"),
            vec![Ipv4Addr::new(10, 96, 0, 1)]
        );
        assert!(parse_answers(&packet, id + 1).is_err());
    }
}
