//! Process CPU time and resident memory, read from `/proc/self` every 5 s.

use std::sync::Once;
use std::time::Duration;

use crate::names;

/// Starts the collector thread (once per process).
pub fn spawn_collector() {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        let _ = std::thread::Builder::new()
            .name("process-metrics".into())
            .spawn(|| {
                let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
                    .ok()
                    .flatten()
                    .unwrap_or(100) as f64;
                let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
                    .ok()
                    .flatten()
                    .unwrap_or(4096) as f64;
                loop {
                    if let Some((cpu_ticks, rss_pages)) = read() {
                        metrics::gauge!(names::PROCESS_CPU).set(cpu_ticks / ticks);
                        metrics::gauge!(names::PROCESS_RSS).set(rss_pages * page);
                    }
                    std::thread::sleep(Duration::from_secs(5));
                }
            });
    });
}

/// (utime + stime in clock ticks, resident pages).
fn read() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3, utime 14, stime 15 (1-based in proc(5)).
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let rss: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some((utime + stime, rss))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_this_process() {
        let (cpu, rss) = super::read().expect("/proc/self");
        assert!(cpu >= 0.0);
        assert!(rss > 0.0);
    }
}
