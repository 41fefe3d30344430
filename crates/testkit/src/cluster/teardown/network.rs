//! The cluster's network on the host: its iptables chains (KUBE-*, CNI-*, LF-NETPOL*) in both
//! families, its bridges and their veths, and its entries in /var/lib/cni.

use std::path::PathBuf;
use std::process::Command;

use super::*;

const TABLES: [&str; 4] = ["filter", "nat", "mangle", "raw"];

pub(super) fn is_ours(chain: &str) -> bool {
    chain.starts_with("KUBE-") || chain.starts_with("CNI-") || chain.starts_with("LF-NETPOL")
}

/// Splits an `iptables -S` line into arguments, honouring its double quotes.
pub(super) fn split_rule(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut in_arg = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            '"' => {
                quoted = !quoted;
                in_arg = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_arg {
                    args.push(std::mem::take(&mut current));
                    in_arg = false;
                }
            }
            c => {
                current.push(c);
                in_arg = true;
            }
        }
    }
    if in_arg {
        args.push(current);
    }
    args
}

pub(super) fn rules(binary: &str, table: &str) -> Option<Vec<String>> {
    let out = Command::new(binary)
        .args(["-w", "-t", table, "-S"])
        .output()
        .ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    })
}

/// Our chains (`table/chain`) in one family.
pub(super) fn our_chains(binary: &str) -> Vec<String> {
    let mut chains = Vec::new();
    for table in TABLES {
        for line in rules(binary, table).unwrap_or_default() {
            if let Some(chain) = line.strip_prefix("-N ").filter(|c| is_ours(c)) {
                chains.push(format!("{table}/{chain}"));
            }
        }
    }
    chains
}

pub(super) fn clean_iptables(binary: &str) {
    for table in TABLES {
        let Some(lines) = rules(binary, table) else {
            continue;
        };
        // Jumps into our chains from chains that are not ours (FORWARD, POSTROUTING …),
        // deleted by their own specification, never by number: the engine may be
        // inserting its rules into the same chains meanwhile.
        for line in &lines {
            let args = split_rule(line);
            if args.len() < 2 || args[0] != "-A" || is_ours(&args[1]) {
                continue;
            }
            let target = args
                .windows(2)
                .find(|w| w[0] == "-j" || w[0] == "-g")
                .map(|w| w[1].as_str());
            if target.is_some_and(is_ours) {
                let _ = Command::new(binary)
                    .args(["-w", "-t", table, "-D"])
                    .args(&args[1..])
                    .output();
            }
        }
        let ours: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("-N "))
            .filter(|c| is_ours(c))
            .collect();
        for chain in &ours {
            let _ = Command::new(binary)
                .args(["-w", "-t", table, "-F", chain])
                .output();
        }
        for chain in &ours {
            let _ = Command::new(binary)
                .args(["-w", "-t", table, "-X", chain])
                .output();
        }
    }
}

pub(super) fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Interfaces enslaved to `bridge`.
pub(super) fn ports_of(bridge: &str) -> Vec<String> {
    std::fs::read_dir(Path::new("/sys/class/net").join(bridge).join("brif"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn remove_links() {
    for port in ports_of(CNI_BRIDGE) {
        let _ = Command::new("ip").args(["link", "delete", &port]).output();
    }
    for bridge in [CNI_BRIDGE, NODE_BRIDGE] {
        if link_exists(bridge) {
            let _ = Command::new("ip").args(["link", "delete", bridge]).output();
        }
    }
}

const CNI_STATE: &str = "/var/lib/cni";

/// Our entries in /var/lib/cni: libcni's result cache of our network
/// (`learnflow-<sandbox>-eth0`) and of the loopback network the CRI adds to the same
/// sandboxes (`cni-loopback-<sandbox>-lo`). IPAM state lives in our own directory.
pub(super) fn cni_entries() -> Vec<PathBuf> {
    let results = Path::new(CNI_STATE).join("results");
    let names: Vec<String> = std::fs::read_dir(&results)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let prefix = format!("{CNI_NETWORK}-");
    let sandboxes: Vec<&str> = names
        .iter()
        .filter_map(|n| n.strip_prefix(&prefix))
        .filter_map(|rest| rest.split('-').next())
        .collect();
    let mut found: Vec<PathBuf> = names
        .iter()
        .filter(|n| {
            n.starts_with(&prefix)
                || n.strip_prefix("cni-loopback-")
                    .and_then(|rest| rest.split('-').next())
                    .is_some_and(|id| sandboxes.contains(&id))
        })
        .map(|n| results.join(n))
        .collect();
    let networks = Path::new(CNI_STATE).join("networks").join(CNI_NETWORK);
    if networks.exists() {
        found.push(networks);
    }
    found
}

pub(super) fn remove_cni_state() {
    for path in cni_entries() {
        let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
    }
    // Only empty directories go: anything else there is not ours.
    for dir in ["results", "networks"] {
        let _ = std::fs::remove_dir(Path::new(CNI_STATE).join(dir));
    }
    let _ = std::fs::remove_dir(CNI_STATE);
}
