//! Mounts the cluster left under its state directory, found in /proc/self/mountinfo and
//! unmounted deepest first.

use std::path::{Path, PathBuf};

use super::*;

/// Mount points at or under `root`, deepest first.
pub fn mounts_under(root: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut mounts: Vec<PathBuf> = text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mount(p)))
        .filter(|p| p.starts_with(root))
        .collect();
    mounts.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    mounts.dedup();
    mounts
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
pub(super) fn unescape_mount(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(code) = path
                .get(i + 1..i + 4)
                .and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            out.push(code);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn unmount_all(root: &Path) -> usize {
    let mut count = 0;
    // Stacked mounts (the kubelet bind-mounts its root onto itself) need several rounds.
    for _ in 0..5 {
        let mounts = mounts_under(root);
        if mounts.is_empty() {
            break;
        }
        for mount in mounts {
            let ok = Command::new("umount")
                .arg("--lazy")
                .arg(&mount)
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                count += 1;
            }
        }
    }
    count
}
