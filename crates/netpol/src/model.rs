//! The parts of Pods, Namespaces and NetworkPolicies (`networking.k8s.io/v1`) that decide
//! who may talk to whom, read from `kubectl get pods,namespaces,networkpolicies -A -o json`.
//! Fields the enforcer does not need are ignored.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::Deserialize;

/// Labels of an object.
pub type Labels = BTreeMap<String, String>;

/// Everything the rules are computed from.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Every pod, running or not.
    pub pods: Vec<Pod>,
    /// Every namespace (for namespace selectors).
    pub namespaces: Vec<Namespace>,
    /// Every NetworkPolicy.
    pub policies: Vec<NetworkPolicy>,
}

/// Why a snapshot could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The JSON is not a Kubernetes list.
    #[error("not a Kubernetes list: {0}")]
    NotAList(#[source] serde_json::Error),
    /// One item of a kind we read does not have the expected shape.
    #[error("{kind} item {index} is malformed: {source}")]
    Malformed {
        /// The item's kind.
        kind: String,
        /// Its position in the list.
        index: usize,
        /// What serde said.
        #[source]
        source: serde_json::Error,
    },
}

impl Snapshot {
    /// Reads the `List` that `kubectl get pods,namespaces,networkpolicies -A -o json` prints.
    pub fn from_kubectl_list(json: &str) -> Result<Self, SnapshotError> {
        #[derive(Deserialize)]
        struct List {
            items: Vec<serde_json::Value>,
        }
        let list: List = serde_json::from_str(json).map_err(SnapshotError::NotAList)?;
        let mut snapshot = Self::default();
        for (index, item) in list.items.into_iter().enumerate() {
            let kind = item
                .get("kind")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let malformed = |source| SnapshotError::Malformed {
                kind: kind.clone(),
                index,
                source,
            };
            match kind.as_str() {
                "Pod" => snapshot
                    .pods
                    .push(serde_json::from_value(item).map_err(malformed)?),
                "Namespace" => snapshot
                    .namespaces
                    .push(serde_json::from_value(item).map_err(malformed)?),
                "NetworkPolicy" => snapshot
                    .policies
                    .push(serde_json::from_value(item).map_err(malformed)?),
                _ => {}
            }
        }
        Ok(snapshot)
    }
}

/// Name, namespace and labels.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Metadata {
    /// The object's name.
    pub name: String,
    /// Its namespace (empty for namespaces themselves).
    #[serde(default)]
    pub namespace: String,
    /// Its labels.
    #[serde(default)]
    pub labels: Labels,
}

/// A namespace.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Namespace {
    /// Name and labels.
    pub metadata: Metadata,
}

/// A pod.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Pod {
    /// Name, namespace and labels.
    pub metadata: Metadata,
    /// Containers (for named ports) and host networking.
    #[serde(default)]
    pub spec: PodSpec,
    /// The pod's address and phase.
    #[serde(default)]
    pub status: PodStatus,
}

/// The part of a pod's spec that matters here.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    /// Host-network pods share the node's address; policies do not apply to them.
    #[serde(default)]
    pub host_network: bool,
    /// The containers, for their named ports.
    #[serde(default)]
    pub containers: Vec<Container>,
}

/// A container's ports.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Container {
    /// Declared ports.
    #[serde(default)]
    pub ports: Vec<ContainerPort>,
}

/// One declared container port.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    /// Its name, when it has one.
    #[serde(default)]
    pub name: Option<String>,
    /// The port number.
    pub container_port: u16,
    /// TCP (the default), UDP or SCTP.
    #[serde(default = "tcp")]
    pub protocol: String,
}

fn tcp() -> String {
    "TCP".into()
}

/// The pod's address and phase.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    /// The pod's IPv4 address, once it has one.
    #[serde(default, rename = "podIP")]
    pub pod_ip: Option<String>,
    /// Pending, Running, Succeeded, Failed.
    #[serde(default)]
    pub phase: Option<String>,
}

impl Pod {
    /// The address policies apply to: none for host-network pods, finished pods and pods
    /// without an (IPv4) address yet.
    pub fn policy_address(&self) -> Option<Ipv4Addr> {
        if self.spec.host_network {
            return None;
        }
        if matches!(self.status.phase.as_deref(), Some("Succeeded" | "Failed")) {
            return None;
        }
        self.status.pod_ip.as_deref()?.parse().ok()
    }

    /// The number behind a named port of this pod, for `protocol`.
    pub fn named_port(&self, name: &str, protocol: &str) -> Option<u16> {
        self.spec
            .containers
            .iter()
            .flat_map(|c| &c.ports)
            .find(|p| p.name.as_deref() == Some(name) && p.protocol.eq_ignore_ascii_case(protocol))
            .map(|p| p.container_port)
    }
}

/// A NetworkPolicy.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NetworkPolicy {
    /// Name and namespace.
    pub metadata: Metadata,
    /// Selector, types and rules.
    pub spec: PolicySpec,
}

/// What a NetworkPolicy says.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySpec {
    /// The pods (in the policy's namespace) it isolates.
    #[serde(default)]
    pub pod_selector: LabelSelector,
    /// `Ingress`, `Egress` or both; when absent, Ingress, plus Egress if there are egress rules.
    #[serde(default)]
    pub policy_types: Option<Vec<String>>,
    /// Allowed incoming connections.
    #[serde(default)]
    pub ingress: Vec<Rule>,
    /// Allowed outgoing connections.
    #[serde(default)]
    pub egress: Vec<Rule>,
}

impl PolicySpec {
    /// Whether the policy isolates its pods for ingress.
    pub fn isolates_ingress(&self) -> bool {
        match &self.policy_types {
            Some(types) => types.iter().any(|t| t == "Ingress"),
            None => true,
        }
    }

    /// Whether the policy isolates its pods for egress.
    pub fn isolates_egress(&self) -> bool {
        match &self.policy_types {
            Some(types) => types.iter().any(|t| t == "Egress"),
            None => !self.egress.is_empty(),
        }
    }
}

/// One ingress (`from`) or egress (`to`) rule: peers and ports; empty means any.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Rule {
    /// Ingress peers.
    #[serde(default)]
    pub from: Vec<Peer>,
    /// Egress peers.
    #[serde(default)]
    pub to: Vec<Peer>,
    /// Ports.
    #[serde(default)]
    pub ports: Vec<PolicyPort>,
}

/// A peer: pods (by pod and/or namespace selector) or an address block.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Peer {
    /// Pods by label.
    #[serde(default)]
    pub pod_selector: Option<LabelSelector>,
    /// Namespaces by label.
    #[serde(default)]
    pub namespace_selector: Option<LabelSelector>,
    /// Addresses.
    #[serde(default)]
    pub ip_block: Option<IpBlock>,
}

/// A CIDR with exceptions.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct IpBlock {
    /// The block.
    pub cidr: String,
    /// Blocks inside it that are not allowed.
    #[serde(default)]
    pub except: Vec<String>,
}

/// A port (number or name), a protocol and an optional range end.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyPort {
    /// TCP (the default), UDP or SCTP.
    #[serde(default)]
    pub protocol: Option<String>,
    /// A number or a container port's name; absent means every port.
    #[serde(default)]
    pub port: Option<PortRef>,
    /// The last port of a range starting at `port`.
    #[serde(default)]
    pub end_port: Option<u16>,
}

/// A port by number or by name.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum PortRef {
    /// A number.
    Number(u16),
    /// A container port's name.
    Name(String),
}

/// A label selector; the empty selector selects everything.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Labels that must be equal.
    #[serde(default)]
    pub match_labels: Labels,
    /// Set-based requirements.
    #[serde(default)]
    pub match_expressions: Vec<Requirement>,
}

/// One set-based requirement.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Requirement {
    /// The label key.
    pub key: String,
    /// In, NotIn, Exists or DoesNotExist.
    pub operator: String,
    /// The values for In and NotIn.
    #[serde(default)]
    pub values: Vec<String>,
}

impl LabelSelector {
    /// Whether `labels` satisfy every part of the selector. An unknown operator matches
    /// nothing, so a selector the enforcer does not understand never opens a path.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| {
                let value = labels.get(&r.key);
                match r.operator.as_str() {
                    "In" => value.is_some_and(|v| r.values.contains(v)),
                    "NotIn" => value.is_none_or(|v| !r.values.contains(v)),
                    "Exists" => value.is_some(),
                    "DoesNotExist" => value.is_none(),
                    _ => false,
                }
            })
    }
}
