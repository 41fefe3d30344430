//! A [`Plan`] as `iptables-restore --noflush` input for the filter table.
//!
//! `FORWARD` jumps first to [`CHAIN`]. There, packets of connections already set up
//! return at once (they passed when their first packet did); a new connection goes
//! through [`EGRESS_CHAIN`] (keyed on the source pod) and then [`INGRESS_CHAIN`] (keyed on
//! the destination pod). An isolated pod's allows `RETURN` and its last rule `DROP`s, so
//! a connection leaves both chains only when both ends allow it, and what the rest of
//! `FORWARD` (kube-proxy, the CNI firewall) decides still applies afterwards.
//!
//! Pod traffic crosses `FORWARD` because the pod bridge hands bridged frames to iptables
//! (`net.bridge.bridge-nf-call-iptables = 1`). Traffic between the node and its pods
//! (`INPUT`/`OUTPUT`: kubelet probes, port-forwards, the API server) is never filtered.

use std::fmt::Write as _;

use crate::plan::{Allow, Isolation, PeerMatch, Plan, PortMatch};

/// The chain `FORWARD` jumps to; every chain of the enforcer starts with this name.
pub const CHAIN: &str = "LF-NETPOL";
/// Egress isolation, by source address.
pub const EGRESS_CHAIN: &str = "LF-NETPOL-EGRESS";
/// Ingress isolation, by destination address.
pub const INGRESS_CHAIN: &str = "LF-NETPOL-INGRESS";

/// The restore input: declares (and so empties) the three chains and fills them.
pub fn restore_input(plan: &Plan) -> String {
    let mut out = String::from("*filter\n");
    for chain in [CHAIN, EGRESS_CHAIN, INGRESS_CHAIN] {
        let _ = writeln!(out, ":{chain} - [0:0]");
    }
    let _ = writeln!(
        out,
        "-A {CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"
    );
    let _ = writeln!(out, "-A {CHAIN} -j {EGRESS_CHAIN}");
    let _ = writeln!(out, "-A {CHAIN} -j {INGRESS_CHAIN}");
    for isolation in &plan.egress {
        chain_rules(&mut out, EGRESS_CHAIN, "-s", "-d", isolation);
    }
    for isolation in &plan.ingress {
        chain_rules(&mut out, INGRESS_CHAIN, "-d", "-s", isolation);
    }
    out.push_str("COMMIT\n");
    out
}

fn chain_rules(out: &mut String, chain: &str, own: &str, other: &str, isolation: &Isolation) {
    let pod = &isolation.pod;
    let address = isolation.address;
    for Allow { peer, ports } in &isolation.allows {
        let _ = write!(out, "-A {chain} {own} {address}/32");
        if let PeerMatch::Block(block) = peer {
            let _ = write!(out, " {other} {block}");
        }
        if let PortMatch::Protocol { protocol, range } = ports {
            let _ = write!(out, " -p {protocol}");
            match range {
                Some((first, last)) if first == last => {
                    let _ = write!(out, " -m {protocol} --dport {first}");
                }
                Some((first, last)) => {
                    let _ = write!(out, " -m {protocol} --dport {first}:{last}");
                }
                None => {}
            }
        }
        let _ = writeln!(out, " -m comment --comment \"{pod}\" -j RETURN");
    }
    let _ = writeln!(
        out,
        "-A {chain} {own} {address}/32 -m comment --comment \"{pod} isolated\" -j DROP"
    );
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::cidr::Cidr;

    fn isolation(pod: &str, address: [u8; 4], allows: Vec<Allow>) -> Isolation {
        Isolation {
            pod: pod.into(),
            address: address.into(),
            allows: allows.into_iter().collect::<BTreeSet<_>>(),
        }
    }

    #[test]
    fn each_isolated_pod_gets_its_allows_then_a_drop_after_the_established_shortcut() {
        let db = Cidr::parse("10.0.0.3/32").expect("block");
        let plan = Plan {
            ingress: vec![isolation(
                "app/db",
                [10, 0, 0, 3],
                vec![Allow {
                    peer: PeerMatch::Block(Cidr::parse("10.0.0.2/32").expect("block")),
                    ports: PortMatch::Protocol {
                        protocol: "tcp".into(),
                        range: Some((5432, 5432)),
                    },
                }],
            )],
            egress: vec![isolation(
                "app/api",
                [10, 0, 0, 2],
                vec![
                    Allow {
                        peer: PeerMatch::Block(db),
                        ports: PortMatch::Any,
                    },
                    Allow {
                        peer: PeerMatch::Any,
                        ports: PortMatch::Protocol {
                            protocol: "udp".into(),
                            range: Some((53, 60)),
                        },
                    },
                ],
            )],
        };
        let text = restore_input(&plan);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "*filter");
        assert_eq!(lines.last(), Some(&"COMMIT"));
        let rules: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.starts_with("-A "))
            .collect();
        assert_eq!(
            rules[..3],
            [
                "-A LF-NETPOL -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
                "-A LF-NETPOL -j LF-NETPOL-EGRESS",
                "-A LF-NETPOL -j LF-NETPOL-INGRESS",
            ]
        );
        assert_eq!(
            rules[3..],
            [
                "-A LF-NETPOL-EGRESS -s 10.0.0.2/32 -p udp -m udp --dport 53:60 -m comment --comment \"app/api\" -j RETURN",
                "-A LF-NETPOL-EGRESS -s 10.0.0.2/32 -d 10.0.0.3/32 -m comment --comment \"app/api\" -j RETURN",
                "-A LF-NETPOL-EGRESS -s 10.0.0.2/32 -m comment --comment \"app/api isolated\" -j DROP",
                "-A LF-NETPOL-INGRESS -d 10.0.0.3/32 -s 10.0.0.2/32 -p tcp -m tcp --dport 5432 -m comment --comment \"app/db\" -j RETURN",
                "-A LF-NETPOL-INGRESS -d 10.0.0.3/32 -m comment --comment \"app/db isolated\" -j DROP",
            ]
        );
    }
}
