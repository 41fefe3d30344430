//! Unit tests of the plan: which pod may reach which, from policies and pods.

use super::*;
use serde_json::json;

fn ip(text: &str) -> Ipv4Addr {
    text.parse().expect("address")
}

fn pod(ns: &str, name: &str, address: &str, labels: serde_json::Value) -> serde_json::Value {
    json!({
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"containers": [{"ports": [
            {"name": "http", "containerPort": 8080},
            {"name": "metrics", "containerPort": 9464, "protocol": "TCP"}
        ]}]},
        "status": {"podIP": address, "phase": "Running"}
    })
}

fn namespace(name: &str) -> serde_json::Value {
    json!({"kind": "Namespace", "metadata": {
        "name": name, "labels": {"kubernetes.io/metadata.name": name}}})
}

fn policy(ns: &str, name: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({"kind": "NetworkPolicy", "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

fn plan(items: Vec<serde_json::Value>) -> Plan {
    let list = json!({"kind": "List", "items": items}).to_string();
    Plan::compute(&Snapshot::from_kubectl_list(&list).expect("snapshot"))
}

/// Two namespaces: `app` (an api and a db pod) and `other` (a client pod).
fn cluster(policies: Vec<serde_json::Value>) -> Plan {
    let mut items = vec![
        namespace("app"),
        namespace("other"),
        pod(
            "app",
            "api",
            "10.0.0.2",
            json!({"role": "api", "tier": "app"}),
        ),
        pod(
            "app",
            "db",
            "10.0.0.3",
            json!({"role": "db", "tier": "app"}),
        ),
        pod("other", "client", "10.0.0.4", json!({"role": "client"})),
    ];
    items.extend(policies);
    plan(items)
}

const API: &str = "10.0.0.2";
const DB: &str = "10.0.0.3";
const CLIENT: &str = "10.0.0.4";

#[test]
fn without_policies_everything_is_allowed() {
    let plan = cluster(vec![]);
    assert_eq!(plan, Plan::default());
    assert!(plan.permits(ip(CLIENT), ip(DB), "tcp", 5432));
}

#[test]
fn default_deny_with_a_same_namespace_allow_refuses_other_namespaces() {
    let plan = cluster(vec![
        policy(
            "app",
            "deny",
            json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
        ),
        policy(
            "app",
            "db-from-api",
            json!({
                "podSelector": {"matchLabels": {"role": "db"}},
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "api"}}}],
                             "ports": [{"port": 5432}]}]
            }),
        ),
    ]);
    assert!(plan.permits(ip(API), ip(DB), "tcp", 5432));
    assert!(!plan.permits(ip(API), ip(DB), "tcp", 5433), "other port");
    assert!(
        !plan.permits(ip(API), ip(DB), "udp", 5432),
        "other protocol"
    );
    assert!(
        !plan.permits(ip(CLIENT), ip(DB), "tcp", 5432),
        "other namespace"
    );
    assert!(
        !plan.permits(ip(CLIENT), ip(API), "tcp", 8080),
        "isolated, no allow"
    );
    assert!(
        plan.permits(ip(DB), ip(CLIENT), "tcp", 80),
        "other is not isolated"
    );
    assert!(
        plan.permits(ip(DB), ip(DB), "tcp", 1),
        "a pod reaches itself"
    );
}

#[test]
fn a_namespace_selector_admits_the_pods_of_matching_namespaces_only() {
    let allow_other = |selector| {
        cluster(vec![policy(
            "app",
            "from-ns",
            json!({
                "podSelector": {"matchLabels": {"role": "api"}},
                "ingress": [{"from": [{"namespaceSelector": selector}]}]
            }),
        )])
    };
    let plan = allow_other(json!({"matchLabels": {"kubernetes.io/metadata.name": "other"}}));
    assert!(plan.permits(ip(CLIENT), ip(API), "tcp", 8080));
    assert!(
        !plan.permits(ip(DB), ip(API), "tcp", 8080),
        "own namespace not selected"
    );
    let plan = allow_other(json!({"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["other"]}]}));
    assert!(!plan.permits(ip(CLIENT), ip(API), "tcp", 8080));
    assert!(plan.permits(ip(DB), ip(API), "tcp", 8080));
}

#[test]
fn both_selectors_in_one_peer_must_match_together() {
    let plan = cluster(vec![policy(
        "app",
        "p",
        json!({
            "podSelector": {"matchLabels": {"role": "api"}},
            "ingress": [{"from": [{
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "other"}},
                "podSelector": {"matchLabels": {"role": "nobody"}}
            }]}]
        }),
    )]);
    assert!(!plan.permits(ip(CLIENT), ip(API), "tcp", 8080));
}

#[test]
fn named_ports_resolve_on_the_destination_pod() {
    let plan = cluster(vec![policy(
        "app",
        "metrics",
        json!({
            "podSelector": {},
            "ingress": [{"ports": [{"port": "metrics"}, {"port": "nope"}]}]
        }),
    )]);
    assert!(plan.permits(ip(CLIENT), ip(API), "tcp", 9464));
    assert!(!plan.permits(ip(CLIENT), ip(API), "tcp", 8080));
    let egress = cluster(vec![policy(
        "other",
        "out",
        json!({
            "podSelector": {}, "policyTypes": ["Egress"],
            "egress": [{"ports": [{"port": "http"}]}]
        }),
    )]);
    assert!(egress.permits(ip(CLIENT), ip(API), "tcp", 8080));
    assert!(!egress.permits(ip(CLIENT), ip(API), "tcp", 9464));
    assert!(
        !egress.permits(ip(CLIENT), ip("192.0.2.1"), "tcp", 8080),
        "not a pod"
    );
}

#[test]
fn egress_and_ingress_must_both_allow() {
    let plan = cluster(vec![
        policy(
            "other",
            "out",
            json!({
                "podSelector": {}, "policyTypes": ["Egress"],
                "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/24", "except": ["10.0.0.3/32"]}}]},
                           {"ports": [{"port": 53, "protocol": "UDP"}]}]
            }),
        ),
        policy(
            "app",
            "in",
            json!({
                "podSelector": {"matchLabels": {"role": "api"}},
                "ingress": [{"ports": [{"port": 8000, "endPort": 8100}]}]
            }),
        ),
    ]);
    assert!(plan.permits(ip(CLIENT), ip(API), "tcp", 8080));
    assert!(
        !plan.permits(ip(CLIENT), ip(API), "tcp", 8101),
        "outside the range"
    );
    assert!(
        !plan.permits(ip(CLIENT), ip(DB), "tcp", 5432),
        "excepted block"
    );
    assert!(plan.permits(ip(CLIENT), ip("192.0.2.1"), "udp", 53));
    assert!(!plan.permits(ip(CLIENT), ip("192.0.2.1"), "tcp", 443));
    // policyTypes absent: Ingress, plus Egress because there are egress rules.
    let implied = cluster(vec![policy(
        "app",
        "p",
        json!({
            "podSelector": {"matchLabels": {"role": "api"}},
            "egress": [{"ports": [{"port": 5432}]}]
        }),
    )]);
    assert_eq!(implied.ingress.len(), 1);
    assert_eq!(implied.egress.len(), 1);
    assert!(!implied.permits(ip(CLIENT), ip(API), "tcp", 8080));
    assert!(implied.permits(ip(API), ip(DB), "tcp", 5432));
}

#[test]
fn unknown_operators_and_unreadable_blocks_allow_nothing() {
    let plan = cluster(vec![policy(
        "app",
        "p",
        json!({
            "podSelector": {"matchLabels": {"role": "api"}},
            "ingress": [
                {"from": [{"podSelector": {"matchExpressions": [
                    {"key": "role", "operator": "Like", "values": ["db"]}]}}]},
                {"from": [{"ipBlock": {"cidr": "10.0.0.0/24", "except": ["bogus"]}}]},
                {"ports": [{"port": 80, "protocol": "ICMP"}]}
            ]
        }),
    )]);
    assert!(!plan.permits(ip(DB), ip(API), "tcp", 8080));
    assert!(!plan.permits(ip(CLIENT), ip(API), "tcp", 80));
}

#[test]
fn host_network_and_finished_pods_are_left_alone() {
    let mut host = pod("app", "host", "192.0.2.10", json!({"role": "api"}));
    host["spec"]["hostNetwork"] = json!(true);
    let mut done = pod("app", "done", "10.0.0.9", json!({"role": "api"}));
    done["status"]["phase"] = json!("Succeeded");
    let plan = plan(vec![
        namespace("app"),
        host,
        done,
        policy("app", "deny", json!({"podSelector": {}})),
    ]);
    assert_eq!(plan, Plan::default());
}
