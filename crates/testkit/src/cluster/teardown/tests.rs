//! Unit tests of the teardown: rule splitting, chain ownership, mountinfo escapes.

use super::mounts::unescape_mount;
use super::*;

#[test]
fn rules_split_like_a_shell_would() {
    assert_eq!(
        split_rule(
            r#"-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES"#
        ),
        [
            "-A",
            "PREROUTING",
            "-m",
            "comment",
            "--comment",
            "kubernetes service portals",
            "-j",
            "KUBE-SERVICES"
        ]
    );
    assert_eq!(
        split_rule(r#"-A X --comment "a \"b\"" -j Y"#),
        ["-A", "X", "--comment", "a \"b\"", "-j", "Y"]
    );
}

#[test]
fn only_kube_and_cni_chains_are_ours() {
    assert!(is_ours("KUBE-SERVICES") && is_ours("CNI-FORWARD"));
    assert!(!is_ours("DOCKER-USER") && !is_ours("FORWARD"));
}

#[test]
fn mountinfo_escapes_are_undone() {
    assert_eq!(unescape_mount(r"/a\040b/c"), "/a b/c");
    assert_eq!(unescape_mount("/plain"), "/plain");
}
