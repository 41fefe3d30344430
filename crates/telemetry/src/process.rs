//! Process metrics (CPU time as a counter, resident and virtual memory, threads, file
//! descriptors, start time), collected by `metrics-process` under the `learnflow_` prefix.
//!
//! Collected when `/metrics` is rendered ([`crate::render_metrics`]), so a scrape always
//! sees the current values and nothing runs between scrapes.

use std::sync::OnceLock;

use metrics_process::Collector;

use crate::names;

fn collector() -> &'static Collector {
    static COLLECTOR: OnceLock<Collector> = OnceLock::new();
    COLLECTOR.get_or_init(|| {
        let collector = Collector::new(names::PROCESS_PREFIX);
        collector.describe();
        collector
    })
}

/// Records the process's current figures into the global recorder.
pub fn collect() {
    collector().collect();
}

#[cfg(test)]
mod tests {
    use crate::names;

    #[test]
    fn cpu_is_a_counter_and_memory_a_gauge() {
        let text = crate::render_metrics();
        assert!(
            text.contains(&format!("# TYPE {} counter", names::PROCESS_CPU)),
            "{text}"
        );
        assert!(
            text.contains(&format!("# TYPE {} gauge", names::PROCESS_RSS)),
            "{text}"
        );
        let rss = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{} ", names::PROCESS_RSS)))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {} sample in\n{text}", names::PROCESS_RSS));
        assert!(rss > 0.0, "{text}");
    }
}
