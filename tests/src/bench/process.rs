//! CPU and resident memory of the processes under test, read from `/proc`.

use super::*;

/// CPU used so far by named process groups and by the whole machine, read from `/proc`.
#[derive(Debug, Clone)]
pub struct CpuSnapshot {
    groups: BTreeMap<String, f64>,
    machine_busy_ms: f64,
    at: Instant,
}

/// Clock ticks per second of `/proc` CPU counters.
pub(crate) fn ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// (parent pid, CPU ticks) of one `/proc/<pid>/stat` line.
pub(crate) fn parse_stat(stat: &str) -> Option<(u32, u64)> {
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 2..)?
        .split_whitespace()
        .collect();
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

impl CpuSnapshot {
    /// CPU so far of each named process (`name`, pid) and all its descendants — PostgreSQL
    /// backends, for one, start sessions of their own, so process groups would miss them —
    /// plus this process itself as `load driver`.
    pub fn take(roots: &[(String, u32)]) -> Self {
        let ticks = ticks_per_second();
        let mut procs: BTreeMap<u32, (u32, u64)> = BTreeMap::new();
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                    continue;
                };
                if let Some(stat) = std::fs::read_to_string(entry.path().join("stat"))
                    .ok()
                    .as_deref()
                    .and_then(parse_stat)
                {
                    procs.insert(pid, stat);
                }
            }
        }
        let root_of: BTreeMap<u32, &String> = roots.iter().map(|(n, p)| (*p, n)).collect();
        let mut named: BTreeMap<String, f64> =
            roots.iter().map(|(n, _)| (n.clone(), 0.0)).collect();
        for (pid, (_, t)) in &procs {
            let mut at = *pid;
            // Walk up the parent chain (bounded, in case of a loop through pid reuse).
            for _ in 0..64 {
                if let Some(name) = root_of.get(&at) {
                    *named.entry((*name).clone()).or_default() += *t as f64 * 1000.0 / ticks;
                    break;
                }
                match procs.get(&at) {
                    Some((ppid, _)) if *ppid > 1 => at = *ppid,
                    _ => break,
                }
            }
        }
        if let Some((_, t)) = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .as_deref()
            .and_then(parse_stat)
        {
            named.insert("load driver".into(), t as f64 * 1000.0 / ticks);
        }
        let machine_busy_ms = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| {
                let first = s.lines().next()?.to_owned();
                let v: Vec<u64> = first
                    .split_whitespace()
                    .skip(1)
                    .filter_map(|x| x.parse().ok())
                    .collect();
                // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
                let busy: u64 = v.iter().take(8).sum::<u64>()
                    - v.get(3).copied().unwrap_or(0)
                    - v.get(4).copied().unwrap_or(0);
                Some(busy as f64 * 1000.0 / ticks)
            })
            .unwrap_or(0.0);
        Self {
            groups: named,
            machine_busy_ms,
            at: Instant::now(),
        }
    }

    /// CPU ms per `units` of work since `earlier`, per group, and the average busy CPUs.
    pub fn per_unit_since(&self, earlier: &Self, units: usize) -> (BTreeMap<String, f64>, f64) {
        let units = units.max(1) as f64;
        let per = self
            .groups
            .iter()
            .map(|(name, now)| {
                let before = earlier.groups.get(name).copied().unwrap_or(*now);
                (name.clone(), (now - before).max(0.0) / units)
            })
            .collect();
        let secs = self.at.duration_since(earlier.at).as_secs_f64().max(1e-3);
        let busy = (self.machine_busy_ms - earlier.machine_busy_ms) / 1000.0 / secs;
        (per, busy)
    }
}

/// Resident memory of `pid` in MiB.
pub fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Samples the peak resident memory of `pids` every 200 ms until dropped.
pub struct PeakSampler {
    peaks: Arc<Mutex<BTreeMap<String, f64>>>,
    task: tokio::task::JoinHandle<()>,
}

impl PeakSampler {
    /// Starts sampling.
    pub fn start(pids: Vec<(String, u32)>) -> Self {
        let peaks: Arc<Mutex<BTreeMap<String, f64>>> = Arc::default();
        let p = peaks.clone();
        let task = tokio::spawn(async move {
            loop {
                if let Ok(mut m) = p.lock() {
                    for (name, pid) in &pids {
                        let v = rss_mib(*pid);
                        let e = m.entry(name.clone()).or_default();
                        *e = e.max(v);
                    }
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
        Self { peaks, task }
    }

    /// Stops and returns the peaks.
    pub fn finish(self) -> BTreeMap<String, f64> {
        self.task.abort();
        self.peaks.lock().map(|m| m.clone()).unwrap_or_default()
    }
}
