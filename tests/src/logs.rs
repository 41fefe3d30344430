//! What went wrong, from a native stack's logs: the warnings and errors of each service
//! and sidecar, counted by message, for a failing test to print beside its assertion; and
//! [`logsql`], a query to a log backend (VictoriaLogs) wherever the stack runs.
//!
//! Our services log JSON lines from `tracing` (`level` `WARN`/`ERROR`, the text in
//! `fields.message`, a cause in `fields.cause` or `fields.error`); daprd logs JSON lines
//! with `level` `warning`/`error`/`fatal` and the text in `msg`. Other lines are skipped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The lines a LogsQL query to the VictoriaLogs at `base` returns (it answers one JSON
/// object per line). Panics on an error answer: the query is the test's own.
pub async fn logsql(http: &reqwest::Client, base: &str, query: &str) -> Vec<serde_json::Value> {
    let answer = http
        .get(format!(
            "{base}/select/logsql/query?query={}",
            crate::url_encode(query)
        ))
        .send()
        .await
        .expect("VictoriaLogs answers");
    assert!(answer.status().is_success(), "LogsQL {query:?}: {answer:?}");
    let body = answer.text().await.expect("body");
    body.lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// Longest message kept (characters); longer ones are cut, so ids in them do not split
/// one problem into many.
const MESSAGE_CHARS: usize = 160;

/// The `per_file` most frequent warnings and errors of every log under
/// `run_dir/services` and `run_dir/daprd`, one block per file; empty when there are none.
pub fn digest(run_dir: &Path, per_file: usize) -> String {
    let mut out = String::new();
    for sub in ["services", "daprd"] {
        let Ok(entries) = std::fs::read_dir(run_dir.join(sub)) else {
            continue;
        };
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let counts = count_problems(&text);
            if counts.is_empty() {
                continue;
            }
            let mut ranked: Vec<_> = counts.into_iter().collect();
            ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let name = file.file_stem().unwrap_or_default().to_string_lossy();
            let _ = writeln!(out, "{sub}/{name}:");
            for (message, n) in ranked.iter().take(per_file) {
                let _ = writeln!(out, "  {n:>6} × {message}");
            }
            if ranked.len() > per_file {
                let _ = writeln!(out, "  … and {} other messages", ranked.len() - per_file);
            }
        }
    }
    out
}

/// Warnings and errors in one log, by `LEVEL message[: cause]`.
fn count_problems(text: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let level = entry["level"]
            .as_str()
            .unwrap_or_default()
            .to_ascii_uppercase();
        if !matches!(level.as_str(), "WARN" | "WARNING" | "ERROR" | "FATAL") {
            continue;
        }
        let fields = &entry["fields"];
        let message = fields["message"]
            .as_str()
            .or_else(|| entry["msg"].as_str())
            .unwrap_or("(no message)");
        let cause = fields["cause"]
            .as_str()
            .or_else(|| fields["error"].as_str());
        let mut key = match cause {
            Some(cause) => format!("{level} {message}: {cause}"),
            None => format!("{level} {message}"),
        };
        if let Some((cut, _)) = key.char_indices().nth(MESSAGE_CHARS) {
            key.truncate(cut);
            key.push('…');
        }
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_counted_by_message_and_cause_per_file() {
        let dir = std::env::temp_dir().join(format!("lf-log-digest-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("services")).expect("dir");
        std::fs::create_dir_all(dir.join("daprd")).expect("dir");
        let unavailable = r#"{"level":"WARN","fields":{"message":"upstream unavailable","service":"course-agent","cause":"answered 500: no host"}}"#;
        let gateway = [
            unavailable,
            unavailable,
            r#"{"level":"INFO","fields":{"message":"listening"}}"#,
            r#"{"level":"ERROR","fields":{"message":"flush failed","error":"timeout"}}"#,
            "not json",
        ]
        .join("\n");
        std::fs::write(dir.join("services/frontend-gateway.log"), gateway).expect("write");
        std::fs::write(
            dir.join("services/course-agent.log"),
            r#"{"level":"INFO","fields":{"message":"ready"}}"#,
        )
        .expect("write");
        std::fs::write(
            dir.join("daprd/course-agent.log"),
            r#"{"level":"error","msg":"Failed to update host registration: context deadline exceeded"}"#,
        )
        .expect("write");

        let text = digest(&dir, 1);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            text,
            "services/frontend-gateway:\n\
             \x20      2 × WARN upstream unavailable: answered 500: no host\n\
             \x20 … and 1 other messages\n\
             daprd/course-agent:\n\
             \x20      1 × ERROR Failed to update host registration: context deadline exceeded\n"
        );
    }
}
