//! `cargo xtask deps`: provision every pinned component, then print what each cost.

use lf_testkit::provision::{self, Outcome};

pub fn run() -> Result<(), String> {
    let outcomes = ensure()?;
    println!(
        "\n{:<14} {:<12} {:>8} {:>12} {:>12} {:>10}",
        "what", "version", "state", "cold (s)", "download MiB", "size MiB"
    );
    for o in outcomes {
        let r = &o.record;
        println!(
            "{:<14} {:<12} {:>8} {:>12.0} {:>12} {:>10}",
            r.component,
            r.version,
            if o.cached {
                format!("{:.1}s", o.seconds)
            } else {
                "built".to_owned()
            },
            r.cold_seconds,
            r.downloaded_bytes
                .map(|b| (b / (1024 * 1024)).to_string())
                .unwrap_or_else(|| "-".into()),
            r.size_bytes / (1024 * 1024),
        );
    }
    Ok(())
}

/// Provisions everything, printing progress; used by every command that needs the stack.
pub fn ensure() -> Result<Vec<Outcome>, String> {
    provision::ensure_all(&mut |line| crate::say(line)).map_err(|e| e.to_string())
}
