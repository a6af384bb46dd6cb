//! Footprint of running processes read from /proc, every process of a
//! comparison measured the same way in the same window: RSS, peak RSS and
//! PSS; CPU from every thread's schedstat (cross-checked with utime+stime);
//! voluntary context switches of every thread as wake-ups.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// Linux reports process CPU times in /proc in units of USER_HZ, which is
/// 100 on every architecture the kernel supports today.
const USER_HZ: f64 = 100.0;

/// How often threads are polled: often enough to catch a short-lived
/// blocking-pool thread.
const POLL: Duration = Duration::from_millis(100);

/// What one process cost over the measured window.
#[derive(Debug, Clone)]
pub struct Footprint {
    /// VmRSS at the end of the window.
    pub rss_kib: u64,
    /// VmHWM (peak RSS) at the end of the window.
    pub hwm_kib: u64,
    /// Pss from smaps_rollup at the end of the window.
    pub pss_kib: Option<u64>,
    /// Threads at the end of the window.
    pub threads: u64,
    /// CPU seconds spent in the window, all threads: the larger of the
    /// two counts below.
    pub cpu_s: f64,
    /// CPU seconds from the threads' schedstat (ns, exact, but a thread
    /// that lived between two polls is missed).
    pub cpu_schedstat_s: f64,
    /// CPU seconds from the process's utime+stime (10 ms ticks, every thread).
    pub cpu_ticks_s: f64,
    /// CPU as a percentage of one core.
    pub cpu_percent: f64,
    /// CPU milliseconds per minute.
    pub cpu_ms_per_minute: f64,
    /// Voluntary context switches per minute, all threads.
    pub wakeups_per_minute: f64,
    /// Involuntary context switches per minute, all threads.
    pub involuntary_per_minute: f64,
    /// Length of the window, seconds.
    pub measured_s: f64,
}

impl Footprint {
    /// The numbers as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "measured_s": self.measured_s,
            "rss_kib": self.rss_kib,
            "rss_peak_kib": self.hwm_kib,
            "pss_kib": self.pss_kib,
            "threads": self.threads,
            "cpu_s": self.cpu_s,
            "cpu_schedstat_s": self.cpu_schedstat_s,
            "cpu_ticks_s": self.cpu_ticks_s,
            "cpu_percent": self.cpu_percent,
            "cpu_ms_per_minute": self.cpu_ms_per_minute,
            "wakeups_per_minute": self.wakeups_per_minute,
            "involuntary_switches_per_minute": self.involuntary_per_minute,
        })
    }

    /// `self / other` for RSS, PSS, CPU and wake-ups.
    pub fn ratios(&self, other: &Footprint) -> Value {
        json!({
            "rss": super::ratio(self.rss_kib as f64, other.rss_kib as f64),
            "pss": super::ratio(
                self.pss_kib.unwrap_or(0) as f64,
                other.pss_kib.unwrap_or(0) as f64
            ),
            "cpu": super::ratio(self.cpu_s, other.cpu_s),
            "cpu_schedstat": super::ratio(self.cpu_schedstat_s, other.cpu_schedstat_s),
            "wakeups": super::ratio(self.wakeups_per_minute, other.wakeups_per_minute),
        })
    }
}

/// KiB as MiB with two decimals.
pub fn mib(kib: u64) -> String {
    format!("{:.2} MiB", kib as f64 / 1024.0)
}

/// One row of the side-by-side table: `footprint` and `ours / it`.
pub fn side_by_side_row(name: &str, footprint: &Footprint, ours: &Footprint) -> String {
    let times = |ours: f64, theirs: f64| {
        if theirs > 0.0 {
            format!("{:.3}", ours / theirs)
        } else {
            "-".into()
        }
    };
    format!(
        "  {name:<22} {:>10} {:>10} {:>8.1} {:>8.1} {:>9.1} {:>7} {:>9} {:>9} {:>9}",
        mib(footprint.rss_kib),
        footprint.pss_kib.map(mib).unwrap_or_else(|| "n/a".into()),
        footprint.cpu_ms_per_minute,
        footprint.cpu_schedstat_s * 60_000.0 / footprint.measured_s.max(f64::MIN_POSITIVE),
        footprint.wakeups_per_minute,
        footprint.threads,
        times(ours.rss_kib as f64, footprint.rss_kib as f64),
        times(ours.cpu_s, footprint.cpu_s),
        times(ours.wakeups_per_minute, footprint.wakeups_per_minute),
    )
}

/// CPU ticks (utime + stime) of a process.
fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("process {pid} is gone"))?;
    // The command name may contain spaces; fields resume after the last ')'.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("/proc/PID/stat has no ')'")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3 of stat(5); utime and stime are 14 and 15.
    let field = |index: usize| -> Result<u64> {
        fields
            .get(index - 3)
            .context("/proc/PID/stat is short")?
            .parse::<u64>()
            .context("/proc/PID/stat field is not a number")
    };
    Ok(field(14)? + field(15)?)
}

/// A `Key:   value kB` field of a /proc status-like file, as a number.
pub fn proc_field(path: &str, key: &str) -> Option<u64> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix(key)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse().ok()
        })
}

/// Per-thread counters: (CPU ns from schedstat, voluntary, involuntary switches).
type ThreadCounters = HashMap<u32, (u64, u64, u64)>;

fn thread_counters(pid: u32) -> ThreadCounters {
    let mut out = HashMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|name| name.parse().ok()) else {
            continue;
        };
        let base = format!("/proc/{pid}/task/{tid}");
        let cpu_ns = std::fs::read_to_string(format!("{base}/schedstat"))
            .ok()
            .and_then(|text| text.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let status = format!("{base}/status");
        out.insert(
            tid,
            (
                cpu_ns,
                proc_field(&status, "voluntary_ctxt_switches").unwrap_or(0),
                proc_field(&status, "nonvoluntary_ctxt_switches").unwrap_or(0),
            ),
        );
    }
    out
}

/// Counters spent between `first` and `last`, summed over threads (a thread
/// first seen after the start counts from zero).
fn spent(first: &ThreadCounters, last: &ThreadCounters) -> (u64, u64, u64) {
    let mut total = (0, 0, 0);
    for (tid, end) in last {
        let start = first.get(tid).copied().unwrap_or((0, 0, 0));
        total.0 += end.0.saturating_sub(start.0);
        total.1 += end.1.saturating_sub(start.1);
        total.2 += end.2.saturating_sub(start.2);
    }
    total
}

/// Watches every thread of every process in `pids` for `duration`, all in
/// the same window, and returns their footprints in the order of `pids`.
/// Blocks the calling thread for `duration`.
pub fn measure(pids: &[u32], duration: Duration) -> Result<Vec<Footprint>> {
    let ticks_before = pids
        .iter()
        .map(|pid| cpu_ticks(*pid))
        .collect::<Result<Vec<_>>>()?;
    let first: Vec<ThreadCounters> = pids.iter().map(|pid| thread_counters(*pid)).collect();
    let mut last = first.clone();
    let started = Instant::now();
    let deadline = started + duration;
    while Instant::now() < deadline {
        std::thread::sleep(POLL.min(deadline.saturating_duration_since(Instant::now())));
        for (pid, seen) in pids.iter().zip(last.iter_mut()) {
            seen.extend(thread_counters(*pid));
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut out = Vec::with_capacity(pids.len());
    for (index, pid) in pids.iter().enumerate() {
        let status = format!("/proc/{pid}/status");
        if !std::path::Path::new(&status).exists() {
            bail!("process {pid} exited during the measurement");
        }
        let ticks = cpu_ticks(*pid)?.saturating_sub(ticks_before[index]);
        let (cpu_ns, voluntary, involuntary) = spent(&first[index], &last[index]);
        // schedstat is exact; the tick count (10 ms resolution) also covers
        // threads that came and went between two polls.
        let cpu_schedstat_s = cpu_ns as f64 / 1e9;
        let cpu_ticks_s = ticks as f64 / USER_HZ;
        let cpu_s = cpu_schedstat_s.max(cpu_ticks_s);
        out.push(Footprint {
            rss_kib: proc_field(&status, "VmRSS").unwrap_or(0),
            hwm_kib: proc_field(&status, "VmHWM").unwrap_or(0),
            pss_kib: proc_field(&format!("/proc/{pid}/smaps_rollup"), "Pss"),
            threads: proc_field(&status, "Threads").unwrap_or(0),
            cpu_s,
            cpu_schedstat_s,
            cpu_ticks_s,
            cpu_percent: cpu_s / elapsed * 100.0,
            cpu_ms_per_minute: cpu_s * 1000.0 * 60.0 / elapsed,
            wakeups_per_minute: voluntary as f64 * 60.0 / elapsed,
            involuntary_per_minute: involuntary as f64 * 60.0 / elapsed,
            measured_s: elapsed,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_that_appear_later_count_from_zero() {
        let first = HashMap::from([(1, (100, 10, 1))]);
        let last = HashMap::from([(1, (150, 12, 1)), (2, (30, 4, 0))]);
        assert_eq!(spent(&first, &last), (80, 6, 0));
    }
}
