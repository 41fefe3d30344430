//! The Grafana dashboards as the live tests read them (Grafana has no native build here):
//! [`load_dashboards`], their [`panel_queries`] and template [`variables`], Grafana's
//! variables filled by [`substitute`], and the [`metric_names`] and [`selectors`] a query
//! reads.

use std::collections::BTreeSet;

use lf_testkit::paths::repo_root;
use serde_json::Value;

/// One PromQL query and where it comes from.
#[derive(Debug, Clone)]
pub struct Query {
    /// `file › panel › refId`.
    pub origin: String,
    /// The PromQL, with Grafana's variables.
    pub expr: String,
}

/// A `label_values(selector, label)` template variable.
#[derive(Debug, Clone)]
pub struct Variable {
    /// `file › $name`.
    pub origin: String,
    /// The series selector.
    pub selector: String,
    /// The label whose values it lists.
    pub label: String,
}

/// Every `dashboards/*.json`, by file name.
pub fn load_dashboards() -> Vec<(String, Value)> {
    let dir = repo_root().join("dashboards");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("dashboards/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable dashboard");
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let model: Value = serde_json::from_str(&text).expect("dashboard JSON");
            (name, model)
        })
        .collect()
}

/// Panels of a dashboard, including those nested in collapsed rows.
pub fn panels(model: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in model["panels"].as_array().into_iter().flatten() {
        out.push(p);
        for inner in p["panels"].as_array().into_iter().flatten() {
            out.push(inner);
        }
    }
    out
}

/// Every panel query of a dashboard.
pub fn panel_queries(file: &str, model: &Value) -> Vec<Query> {
    let mut out = Vec::new();
    for p in panels(model) {
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = t["expr"].as_str() {
                out.push(Query {
                    origin: format!(
                        "{file} › {} › {}",
                        p["title"].as_str().unwrap_or("?"),
                        t["refId"].as_str().unwrap_or("?")
                    ),
                    expr: expr.to_owned(),
                });
            }
        }
    }
    out
}

/// Every `label_values(…)` template variable of a dashboard.
pub fn variables(file: &str, model: &Value) -> Vec<Variable> {
    let mut out = Vec::new();
    for v in model["templating"]["list"].as_array().into_iter().flatten() {
        if v["type"] != "query" {
            continue;
        }
        let query = v["query"]["query"]
            .as_str()
            .or_else(|| v["query"].as_str())
            .unwrap_or_default();
        let inner = query
            .trim()
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .unwrap_or_else(|| panic!("{file}: variable query {query:?} is not label_values(…)"));
        let (selector, label) = inner
            .rsplit_once(',')
            .unwrap_or_else(|| panic!("{file}: {query:?} names no label"));
        out.push(Variable {
            origin: format!("{file} › ${}", v["name"].as_str().unwrap_or("?")),
            selector: selector.trim().to_owned(),
            label: label.trim().to_owned(),
        });
    }
    out
}

/// Grafana's variables as the tests fill them: `$__rate_interval` (at least four scrape
/// intervals, as Grafana makes it), and every template variable as
/// "all" (`.*`; every dashboard uses them with `=~`).
pub fn substitute(expr: &str, rate_interval: &str) -> String {
    let expr = expr
        .replace("$__rate_interval", rate_interval)
        .replace("$__interval", rate_interval)
        .replace("$__range", "5m");
    let mut out = String::new();
    let mut rest = expr.as_str();
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name_len, skip) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced.find('}').expect("closing brace of ${…}");
            (end, end + 2)
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (end, end)
        };
        assert!(name_len > 0, "a bare $ in {expr}");
        out.push_str(".*");
        rest = &after[skip..];
    }
    out.push_str(rest);
    out
}

/// Prefixes of the metrics only Kubernetes exposes (kube-state-metrics, the kubelet's cAdvisor).
pub const KUBERNETES_METRIC_PREFIXES: &[&str] = &["kube_", "container_"];

/// True when every metric `expr` reads comes from Kubernetes: the native and compose
/// stacks cannot show it, and the cluster must.
pub fn reads_only_kubernetes(expr: &str) -> bool {
    let names = metric_names(expr);
    !names.is_empty()
        && names.iter().all(|name| {
            KUBERNETES_METRIC_PREFIXES
                .iter()
                .any(|prefix| name.starts_with(prefix))
        })
}

/// Metric names a PromQL expression selects: identifiers outside strings, label matchers,
/// range brackets and label lists, not followed by `(` and not keywords.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    const KEYWORDS: &[&str] = &[
        "and",
        "or",
        "unless",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "offset",
        "inf",
        "nan",
        "atan2",
        // Aggregations may be followed by `by (…)` rather than `(`.
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "group",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "count_values",
    ];
    const LABEL_LISTS: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let mut skip_next_parens = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                while i < chars.len() && chars[i] != close {
                    if chars[i] == '"' {
                        i += 1;
                        while i < chars.len() && chars[i] != '"' {
                            if chars[i] == '\\' {
                                i += 1;
                            }
                            i += 1;
                        }
                    }
                    i += 1;
                }
                i += 1;
            }
            '(' if skip_next_parens => {
                while i < chars.len() && chars[i] != ')' {
                    i += 1;
                }
                i += 1;
                skip_next_parens = false;
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let mut j = i;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                let is_call = j < chars.len() && chars[j] == '(';
                if LABEL_LISTS.contains(&word.as_str()) {
                    skip_next_parens = true;
                } else if !is_call && !KEYWORDS.contains(&word.to_lowercase().as_str()) {
                    names.insert(word);
                }
            }
            c if c.is_ascii_digit() || c == '.' => {
                // Numbers, including exponents like 1e3.
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// The series selectors of an expression: each metric name [`metric_names`] finds, with
/// its label matchers when it has them (`name{a="b"}`), as often as it appears.
pub fn selectors(expr: &str) -> Vec<String> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut out = Vec::new();
    for name in metric_names(expr) {
        let mut from = 0;
        while let Some(at) = expr[from..].find(&name).map(|i| i + from) {
            let end = at + name.len();
            from = end;
            let before = expr[..at].chars().next_back();
            let after = expr[end..].chars().next();
            if before.is_some_and(is_ident) || after.is_some_and(is_ident) {
                continue;
            }
            let matchers = expr[end..]
                .strip_prefix('{')
                .and_then(|rest| rest.find('}').map(|close| &rest[..=close]))
                .map(|inner| format!("{{{inner}"))
                .unwrap_or_default();
            let selector = format!("{name}{matchers}");
            if !out.contains(&selector) {
                out.push(selector);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_keep_their_label_matchers() {
        assert_eq!(
            selectors(
                "sum(rate(x_total{outcome=\"drop\"}[1m])) / sum(rate(x_total[1m])) + x_total_other"
            ),
            vec![
                "x_total{outcome=\"drop\"}".to_owned(),
                "x_total".to_owned(),
                "x_total_other".to_owned()
            ]
        );
    }

    #[test]
    fn metric_names_are_found_and_labels_are_not() {
        let names = metric_names(
            "sum by (le, service) (rate(learnflow_x_bucket{service=~\"a|b\"}[5m])) \
             / on (slo) group_left () slo:ratio:rate5m or vector(0) + 1e3 * up",
        );
        let want: BTreeSet<String> = ["learnflow_x_bucket", "slo:ratio:rate5m", "up"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(names, want);
        assert_eq!(
            substitute(
                "rate(x{a=~\"$topic\",b=~\"${group}\"}[$__rate_interval])",
                "30s"
            ),
            "rate(x{a=~\".*\",b=~\".*\"}[30s])"
        );
    }

    #[test]
    fn only_queries_of_kubernetes_series_alone_are_kubernetes_panels() {
        assert!(reads_only_kubernetes(
            "sum by (pod) (kube_pod_container_status_restarts_total{pod=~\".*\"})"
        ));
        assert!(reads_only_kubernetes(
            "container_memory_working_set_bytes / on (pod) kube_pod_container_resource_limits"
        ));
        // A LearnFlow series beside a Kubernetes one: the native stack must show it.
        assert!(!reads_only_kubernetes(
            "kube_horizontalpodautoscaler_spec_max_replicas * learnflow_build_info"
        ));
        assert!(!reads_only_kubernetes("sum(rate(learnflow_x_total[1m]))"));
        assert!(!reads_only_kubernetes("vector(1)"));
    }
}
