//! From a [`Snapshot`] to a [`Plan`]: for every pod isolated in a direction, the
//! connections its policies allow, with peers resolved to addresses and named ports to
//! numbers. The semantics are those of `networking.k8s.io/v1` NetworkPolicy:
//!
//! - a pod is isolated for ingress (egress) when a policy of its namespace selects it and
//!   has that type; a connection is allowed when *any* rule of *any* such policy allows it;
//! - a connection needs both the source's egress and the destination's ingress to allow it;
//! - an empty peer list or port list means any; a peer with only a pod selector means pods
//!   of the policy's namespace, with a namespace selector pods of the matching namespaces;
//! - named ports resolve on the destination pod.
//!
//! Two choices where the API leaves room, both as most enforcers make them: host-network
//! pods are never isolated nor selected as peers, and a pod may always reach itself.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use crate::cidr::Cidr;
use crate::model::{Labels, NetworkPolicy, Peer, Pod, PolicyPort, PortRef, Rule, Snapshot};

/// Which way a connection goes, seen from the isolated pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Connections into the pod.
    Ingress,
    /// Connections out of the pod.
    Egress,
}

/// The other end of an allowed connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PeerMatch {
    /// Any address.
    Any,
    /// Addresses in a block (one pod is a /32).
    Block(Cidr),
}

/// Ports of an allowed connection.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PortMatch {
    /// Any protocol, any port.
    Any,
    /// One protocol (`tcp`, `udp`, `sctp`), all ports or an inclusive range.
    Protocol {
        /// Lower-case protocol name, as iptables spells it.
        protocol: String,
        /// First and last port; `None` for all ports.
        range: Option<(u16, u16)>,
    },
}

/// One allowed (peer, ports) pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Allow {
    /// The other end.
    pub peer: PeerMatch,
    /// The ports, on the destination.
    pub ports: PortMatch,
}

/// A pod isolated in one direction and what its policies allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isolation {
    /// `namespace/name`.
    pub pod: String,
    /// The pod's address.
    pub address: Ipv4Addr,
    /// What is allowed; everything else is dropped.
    pub allows: BTreeSet<Allow>,
}

/// Every isolation on the node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Pods isolated for ingress, by address.
    pub ingress: Vec<Isolation>,
    /// Pods isolated for egress, by address.
    pub egress: Vec<Isolation>,
}

struct Endpoint<'a> {
    pod: &'a Pod,
    address: Ipv4Addr,
    namespace_labels: Option<&'a Labels>,
}

impl Plan {
    /// Computes the plan for a snapshot.
    pub fn compute(snapshot: &Snapshot) -> Self {
        let namespace_labels: BTreeMap<&str, &Labels> = snapshot
            .namespaces
            .iter()
            .map(|n| (n.metadata.name.as_str(), &n.metadata.labels))
            .collect();
        let endpoints: Vec<Endpoint<'_>> = snapshot
            .pods
            .iter()
            .filter_map(|pod| {
                Some(Endpoint {
                    pod,
                    address: pod.policy_address()?,
                    namespace_labels: namespace_labels
                        .get(pod.metadata.namespace.as_str())
                        .copied(),
                })
            })
            .collect();
        let mut plan = Self::default();
        for endpoint in &endpoints {
            for direction in [Direction::Ingress, Direction::Egress] {
                if let Some(isolation) =
                    isolation(endpoint, direction, &snapshot.policies, &endpoints)
                {
                    match direction {
                        Direction::Ingress => plan.ingress.push(isolation),
                        Direction::Egress => plan.egress.push(isolation),
                    }
                }
            }
        }
        plan.ingress.sort_by_key(|i| i.address);
        plan.egress.sort_by_key(|i| i.address);
        plan
    }

    /// Whether a new connection from `source` to `destination` on `protocol`/`port` gets
    /// through: the source's egress and the destination's ingress must both allow it.
    /// (The same decision the rendered rules make in the kernel, for tests and reports.)
    pub fn permits(
        &self,
        source: Ipv4Addr,
        destination: Ipv4Addr,
        protocol: &str,
        port: u16,
    ) -> bool {
        let allowed = |isolations: &[Isolation], own: Ipv4Addr, peer: Ipv4Addr| {
            isolations
                .iter()
                .find(|i| i.address == own)
                .is_none_or(|i| {
                    i.allows.iter().any(|a| {
                        let peer_ok = match a.peer {
                            PeerMatch::Any => true,
                            PeerMatch::Block(block) => block.contains(peer),
                        };
                        let port_ok = match &a.ports {
                            PortMatch::Any => true,
                            PortMatch::Protocol { protocol: p, range } => {
                                p == protocol
                                    && range
                                        .is_none_or(|(first, last)| (first..=last).contains(&port))
                            }
                        };
                        peer_ok && port_ok
                    })
                })
        };
        allowed(&self.egress, source, destination) && allowed(&self.ingress, destination, source)
    }
}

fn isolation(
    endpoint: &Endpoint<'_>,
    direction: Direction,
    policies: &[NetworkPolicy],
    endpoints: &[Endpoint<'_>],
) -> Option<Isolation> {
    let pod = endpoint.pod;
    let selecting: Vec<&NetworkPolicy> = policies
        .iter()
        .filter(|p| p.metadata.namespace == pod.metadata.namespace)
        .filter(|p| p.spec.pod_selector.matches(&pod.metadata.labels))
        .filter(|p| match direction {
            Direction::Ingress => p.spec.isolates_ingress(),
            Direction::Egress => p.spec.isolates_egress(),
        })
        .collect();
    if selecting.is_empty() {
        return None;
    }
    let mut allows = BTreeSet::from([Allow {
        peer: PeerMatch::Block(Cidr::host(endpoint.address)),
        ports: PortMatch::Any,
    }]);
    for policy in selecting {
        let rules = match direction {
            Direction::Ingress => &policy.spec.ingress,
            Direction::Egress => &policy.spec.egress,
        };
        for rule in rules {
            allow_rule(endpoint, direction, policy, rule, endpoints, &mut allows);
        }
    }
    Some(Isolation {
        pod: format!("{}/{}", pod.metadata.namespace, pod.metadata.name),
        address: endpoint.address,
        allows,
    })
}

/// The other ends a peer list stands for.
enum Target<'a> {
    Any,
    Block(Cidr),
    Pod(&'a Endpoint<'a>),
}

fn allow_rule(
    endpoint: &Endpoint<'_>,
    direction: Direction,
    policy: &NetworkPolicy,
    rule: &Rule,
    endpoints: &[Endpoint<'_>],
    allows: &mut BTreeSet<Allow>,
) {
    let peers = match direction {
        Direction::Ingress => &rule.from,
        Direction::Egress => &rule.to,
    };
    let mut targets = Vec::new();
    if peers.is_empty() {
        targets.push(Target::Any);
    }
    for peer in peers {
        peer_targets(peer, policy, endpoints, &mut targets);
    }
    // `None`: the rule lists no ports, so every protocol and port.
    let ports: Vec<Option<&PolicyPort>> = if rule.ports.is_empty() {
        vec![None]
    } else {
        rule.ports.iter().map(Some).collect()
    };
    for target in &targets {
        for &port in &ports {
            let named = port.is_some_and(|p| matches!(p.port, Some(PortRef::Name(_))));
            match (target, direction, named) {
                // A named port on the way out resolves on each destination pod, so a
                // destination that is not a pod is narrowed to the pods it contains.
                (Target::Any | Target::Block(_), Direction::Egress, true) => {
                    for destination in endpoints {
                        let inside = match target {
                            Target::Block(block) => block.contains(destination.address),
                            _ => true,
                        };
                        if inside {
                            push(allows, destination.address.into(), port, destination.pod);
                        }
                    }
                }
                (Target::Any, _, _) => push(allows, PeerMatch::Any, port, endpoint.pod),
                (Target::Block(block), _, _) => {
                    push(allows, PeerMatch::Block(*block), port, endpoint.pod);
                }
                (Target::Pod(peer), Direction::Ingress, _) => {
                    push(allows, peer.address.into(), port, endpoint.pod);
                }
                (Target::Pod(peer), Direction::Egress, _) => {
                    push(allows, peer.address.into(), port, peer.pod);
                }
            }
        }
    }
}

impl From<Ipv4Addr> for PeerMatch {
    fn from(address: Ipv4Addr) -> Self {
        Self::Block(Cidr::host(address))
    }
}

fn peer_targets<'a>(
    peer: &Peer,
    policy: &NetworkPolicy,
    endpoints: &'a [Endpoint<'a>],
    targets: &mut Vec<Target<'a>>,
) {
    if let Some(block) = &peer.ip_block {
        // A block the enforcer cannot read allows nothing (fail closed).
        let Ok(cidr) = Cidr::parse(&block.cidr) else {
            return;
        };
        let except: Vec<Cidr> = block
            .except
            .iter()
            .filter_map(|e| Cidr::parse(e).ok())
            .collect();
        if except.len() != block.except.len() {
            return;
        }
        targets.extend(cidr.minus(&except).into_iter().map(Target::Block));
        return;
    }
    for candidate in endpoints {
        let namespace_ok = match &peer.namespace_selector {
            Some(selector) => candidate
                .namespace_labels
                .is_some_and(|labels| selector.matches(labels)),
            None => candidate.pod.metadata.namespace == policy.metadata.namespace,
        };
        let pod_ok = peer
            .pod_selector
            .as_ref()
            .is_none_or(|selector| selector.matches(&candidate.pod.metadata.labels));
        if namespace_ok && pod_ok {
            targets.push(Target::Pod(candidate));
        }
    }
}

/// Adds the allow for one port entry (`None`: any port); a named port the destination
/// does not declare allows nothing.
fn push(
    allows: &mut BTreeSet<Allow>,
    peer: PeerMatch,
    port: Option<&PolicyPort>,
    destination: &Pod,
) {
    let Some(port) = port else {
        allows.insert(Allow {
            peer,
            ports: PortMatch::Any,
        });
        return;
    };
    // An entry without a protocol means TCP; one the API would refuse allows nothing.
    let protocol = port
        .protocol
        .as_deref()
        .unwrap_or("TCP")
        .to_ascii_lowercase();
    if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
        return;
    }
    let ports = match &port.port {
        None => PortMatch::Protocol {
            protocol,
            range: None,
        },
        Some(PortRef::Number(first)) => PortMatch::Protocol {
            protocol,
            range: Some((*first, port.end_port.unwrap_or(*first))),
        },
        Some(PortRef::Name(name)) => match destination.named_port(name, &protocol) {
            Some(number) => PortMatch::Protocol {
                protocol,
                range: Some((number, number)),
            },
            None => return,
        },
    };
    allows.insert(Allow { peer, ports });
}

#[cfg(test)]
mod tests;
