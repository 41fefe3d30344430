//! `lf-netpol`: a NetworkPolicy enforcer for the local single-node cluster, whose bridge
//! CNI does not enforce policy (ADR 0022). It reads pods, namespaces and NetworkPolicies
//! with kubectl and keeps iptables rules on the node equal to what they allow.
//!
//! - [`model`]: the parts of the Kubernetes objects it reads, and label selectors;
//! - [`cidr`]: IPv4 blocks, and a block minus its exceptions;
//! - [`plan`]: the isolated pods and what their policies allow ([`plan::Plan`]);
//! - [`render`]: the plan as `iptables-restore` input, and the chain names;
//! - the `learnflow-netpol` binary (`src/main.rs`): the loop that applies it.
//!
//! It is a test enforcer for a loopback cluster, not a CNI: real clusters use Calico,
//! Cilium or their provider's. IPv4 only, one node, connection setup only (established
//! connections are not cut when a policy changes).

pub mod cidr;
pub mod model;
pub mod plan;
pub mod render;

pub use model::Snapshot;
pub use plan::Plan;
