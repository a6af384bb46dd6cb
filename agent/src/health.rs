//! Health sampling: CPU, load, memory, filesystem usage, interface rates,
//! process count, uptime and failed systemd units, as one [`HealthReport`]
//! per call. Rates are deltas between consecutive samples, so the sampler
//! keeps the previous counters; the first sample reports zero rates.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use rollcall_proto::v1::{FilesystemUsage, HealthReport, InterfaceRate};

use crate::discovery::HostRoot;
use crate::discovery::hardware::parse_meminfo;
use crate::discovery::mounts::{read_mounts, root_sizes, sizes_of};
use crate::discovery::services::{SYSTEMCTL_TIMEOUT, parse_failed_units, systemd_running};

/// Aggregate CPU time counters from the `cpu` line of `/proc/stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// All time (user, nice, system, idle, iowait, irq, softirq, steal).
    pub total: u64,
    /// Idle time (idle + iowait).
    pub idle: u64,
}

/// Received and transmitted byte counters of one interface.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetCounters {
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
}

/// Samples host health; keeps the counters of the previous sample.
pub struct HealthSampler {
    root: HostRoot,
    previous: Option<Previous>,
    /// Live hosts only: kept across samples so each refresh reuses it.
    disks: Option<sysinfo::Disks>,
}

/// Counters of the previous sample.
struct Previous {
    at: Instant,
    cpu: Option<CpuTimes>,
    net: HashMap<String, NetCounters>,
}

impl HealthSampler {
    /// A sampler reading every file under `root` (`/` in production).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: HostRoot::new(&root.into()),
            previous: None,
            disks: None,
        }
    }

    /// This sampler asking `command` (a program and its first arguments)
    /// for failed units instead of the live host's `systemctl`: the agent's
    /// `systemctl` option, for a root that is not `/`.
    pub fn with_systemctl(mut self, command: Option<&[String]>) -> Self {
        self.root = self.root.with_systemctl(command);
        self
    }

    /// Takes one sample. Never fails: an unreadable source reports zeros.
    pub fn sample(&mut self) -> HealthReport {
        let now = Instant::now();
        let cpu = self
            .root
            .read("proc/stat")
            .ok()
            .and_then(|text| parse_cpu_times(&text));
        let net = self
            .root
            .read("proc/net/dev")
            .map(|text| parse_net_dev(&text))
            .unwrap_or_default();
        let meminfo = self
            .root
            .read("proc/meminfo")
            .map(|text| parse_meminfo(&text))
            .unwrap_or_default();
        let (load1, load5, load15) = self
            .root
            .read("proc/loadavg")
            .ok()
            .and_then(|text| parse_loadavg(&text))
            .unwrap_or_default();

        let mut report = HealthReport {
            sampled_at_ms: rollcall_proto::now_ms(),
            load1,
            load5,
            load15,
            memory_total_bytes: meminfo.total,
            memory_used_bytes: meminfo.total.saturating_sub(meminfo.available),
            swap_total_bytes: meminfo.swap_total,
            swap_used_bytes: meminfo.swap_total.saturating_sub(meminfo.swap_free),
            filesystems: self.filesystems(),
            process_count: self.process_count(),
            uptime_s: self
                .root
                .read("proc/uptime")
                .ok()
                .and_then(|text| parse_uptime(&text))
                .unwrap_or(0),
            failed_units: self.failed_units(),
            ..Default::default()
        };

        let previous = self.previous.as_ref();
        report.cpu_percent = match (previous.and_then(|previous| previous.cpu), cpu) {
            (Some(before), Some(after)) => cpu_percent(before, after),
            _ => 0.0,
        };
        let elapsed_s = previous
            .map(|previous| now.duration_since(previous.at).as_secs_f64())
            .unwrap_or(0.0);
        let mut interfaces: Vec<InterfaceRate> = net
            .iter()
            .map(|(name, after)| {
                let before = previous.and_then(|previous| previous.net.get(name));
                let rate = |before: u64, after: u64| {
                    if elapsed_s > 0.0 {
                        after.saturating_sub(before) as f64 / elapsed_s
                    } else {
                        0.0
                    }
                };
                InterfaceRate {
                    name: name.clone(),
                    rx_bytes_per_s: before
                        .map_or(0.0, |before| rate(before.rx_bytes, after.rx_bytes)),
                    tx_bytes_per_s: before
                        .map_or(0.0, |before| rate(before.tx_bytes, after.tx_bytes)),
                }
            })
            .collect();
        interfaces.sort_by(|a, b| a.name.cmp(&b.name));
        report.interfaces = interfaces;

        self.previous = Some(Previous { at: now, cpu, net });
        report
    }

    /// Usage of the filesystems discovery reports (same filter).
    fn filesystems(&mut self) -> Vec<FilesystemUsage> {
        let Some(mounts) = read_mounts(&self.root) else {
            return Vec::new();
        };
        let sizes = if self.root.is_live() {
            let refresh = sysinfo::DiskRefreshKind::nothing().with_storage();
            match &mut self.disks {
                Some(disks) => disks.refresh_specifics(true, refresh),
                None => {
                    self.disks = sysinfo::Disks::new_with_refreshed_list_specifics(refresh).ok();
                }
            }
            self.disks.as_ref().map(sizes_of).unwrap_or_default()
        } else {
            root_sizes(&self.root, &mounts)
        };
        mounts
            .into_iter()
            .map(|mount| {
                let (size_bytes, available) =
                    sizes.get(&mount.mount_point).copied().unwrap_or((0, 0));
                let used_bytes = size_bytes.saturating_sub(available);
                FilesystemUsage {
                    used_percent: percent(used_bytes, size_bytes),
                    mount_point: mount.mount_point,
                    size_bytes,
                    used_bytes,
                }
            })
            .collect()
    }

    /// Number of processes: the numeric directories of `/proc`.
    fn process_count(&self) -> u32 {
        std::fs::read_dir(self.root.path("proc"))
            .map(|entries| {
                entries
                    .filter_map(|entry| entry.ok())
                    .filter(|entry| {
                        entry.file_name().to_str().is_some_and(|name| {
                            !name.is_empty() && name.bytes().all(|byte| byte.is_ascii_digit())
                        })
                    })
                    .count() as u32
            })
            .unwrap_or(0)
    }

    /// Failed systemd units; empty without systemd or without a
    /// `systemctl` that describes the root.
    fn failed_units(&self) -> Vec<String> {
        if !systemd_running(&self.root) {
            return Vec::new();
        }
        self.root
            .systemctl(
                &[
                    "list-units",
                    "--state=failed",
                    "--no-legend",
                    "--plain",
                    "--no-pager",
                ],
                SYSTEMCTL_TIMEOUT,
            )
            .map(|text| parse_failed_units(&text))
            .unwrap_or_default()
    }
}

/// `used` as a percentage of `total` (0 when the total is unknown).
fn percent(used: u64, total: u64) -> f32 {
    if total == 0 {
        0.0
    } else {
        (used as f64 * 100.0 / total as f64) as f32
    }
}

/// Parses the aggregate `cpu` line of `/proc/stat`.
pub fn parse_cpu_times(proc_stat: &str) -> Option<CpuTimes> {
    let line = proc_stat.lines().find(|line| line.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|value| value.parse().unwrap_or(0))
        .collect();
    if values.len() < 4 {
        return None;
    }
    // guest and guest_nice are already counted in user and nice.
    let total = values.iter().take(8).sum();
    let idle = values[3] + values.get(4).copied().unwrap_or(0);
    Some(CpuTimes { total, idle })
}

/// Busy CPU percentage between two samples of [`CpuTimes`].
pub fn cpu_percent(before: CpuTimes, after: CpuTimes) -> f32 {
    let total = after.total.saturating_sub(before.total);
    let idle = after.idle.saturating_sub(before.idle);
    percent(total.saturating_sub(idle), total)
}

/// Parses `/proc/loadavg` into the 1, 5 and 15 minute load averages.
pub fn parse_loadavg(text: &str) -> Option<(f32, f32, f32)> {
    let mut fields = text
        .split_whitespace()
        .map(|field| field.parse::<f32>().ok());
    Some((fields.next()??, fields.next()??, fields.next()??))
}

/// Parses `/proc/uptime` into whole seconds.
pub fn parse_uptime(text: &str) -> Option<u64> {
    text.split_whitespace()
        .next()?
        .parse::<f64>()
        .ok()
        .map(|seconds| seconds as u64)
}

/// Parses `/proc/net/dev` into byte counters per interface.
pub fn parse_net_dev(text: &str) -> HashMap<String, NetCounters> {
    text.lines()
        .skip(2)
        .filter_map(|line| {
            let (name, counters) = line.split_once(':')?;
            let values: Vec<u64> = counters
                .split_whitespace()
                .map(|value| value.parse().unwrap_or(0))
                .collect();
            if values.len() < 9 {
                return None;
            }
            Some((
                name.trim().to_owned(),
                NetCounters {
                    rx_bytes: values[0],
                    tx_bytes: values[8],
                },
            ))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixture_root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/host-debian")
    }

    #[test]
    fn cpu_percent_from_deltas() {
        let before = parse_cpu_times("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\n").unwrap();
        assert_eq!(
            before,
            CpuTimes {
                total: 1000,
                idle: 800
            }
        );
        let after = parse_cpu_times("cpu  150 0 150 1700 0 0 0 0 0 0\n").unwrap();
        assert!((cpu_percent(before, after) - 10.0).abs() < 0.01);
        assert_eq!(cpu_percent(after, after), 0.0);
        // Counters that went backwards (a bug or a reset) are not negative.
        assert_eq!(cpu_percent(after, before), 0.0);
        assert_eq!(parse_cpu_times("intr 1 2\n"), None);
    }

    #[test]
    fn small_parsers() {
        assert_eq!(
            parse_loadavg("0.52 0.58 0.59 2/1035 12345\n"),
            Some((0.52, 0.58, 0.59))
        );
        assert_eq!(parse_loadavg("x"), None);
        assert_eq!(parse_uptime("350735.47 1382563.29\n"), Some(350_735));
        assert_eq!(parse_uptime(""), None);
        let dev = parse_net_dev(
            "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:  100     2    0    0    0     0          0         0      200     2    0    0    0     0       0          0\n  eth0: 5000    40    0    0    0     0          0         0     7000    50    0    0    0     0       0          0\n",
        );
        assert_eq!(
            dev["lo"],
            NetCounters {
                rx_bytes: 100,
                tx_bytes: 200
            }
        );
        assert_eq!(dev["eth0"].tx_bytes, 7000);
        assert_eq!(percent(1, 4), 25.0);
        assert_eq!(percent(1, 0), 0.0);
    }

    #[test]
    fn fixture_sample() {
        let mut sampler = HealthSampler::new(fixture_root());
        let report = sampler.sample();
        assert_eq!(report.cpu_percent, 0.0);
        assert_eq!(
            (report.load1, report.load5, report.load15),
            (0.52, 0.58, 0.59)
        );
        assert_eq!(report.memory_total_bytes, 16_318_412 * 1024);
        assert_eq!(report.memory_used_bytes, (16_318_412 - 10_918_412) * 1024);
        assert_eq!(report.swap_used_bytes, (2_097_148 - 1_048_574) * 1024);
        assert_eq!(report.uptime_s, 350_735);
        assert_eq!(report.process_count, 2);
        let mounts: Vec<_> = report
            .filesystems
            .iter()
            .map(|fs| fs.mount_point.as_str())
            .collect();
        assert_eq!(mounts, vec!["/", "/srv"]);
        assert_eq!(report.interfaces.len(), 2);
        assert!(
            report
                .interfaces
                .iter()
                .all(|rate| rate.rx_bytes_per_s == 0.0)
        );
        assert!(report.failed_units.is_empty());
        assert!(report.sampled_at_ms > 0);
    }

    #[test]
    fn rates_between_samples() {
        let dir = tempfile::tempdir().unwrap();
        let proc_net = dir.path().join("proc/net");
        std::fs::create_dir_all(&proc_net).unwrap();
        let write = |rx: u64, tx: u64, busy: u64, idle: u64| {
            std::fs::write(
                proc_net.join("dev"),
                format!("h1\nh2\n  eth0: {rx} 0 0 0 0 0 0 0 {tx} 0 0 0 0 0 0 0\n"),
            )
            .unwrap();
            std::fs::write(
                dir.path().join("proc/stat"),
                format!("cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\n"),
            )
            .unwrap();
        };
        write(1000, 1000, 0, 0);
        let mut sampler = HealthSampler::new(dir.path());
        sampler.sample();
        std::thread::sleep(std::time::Duration::from_millis(50));
        write(1_000_000, 1000, 300, 100);
        let report = sampler.sample();
        let eth0 = &report.interfaces[0];
        assert!(eth0.rx_bytes_per_s > 1_000.0, "{}", eth0.rx_bytes_per_s);
        assert_eq!(eth0.tx_bytes_per_s, 0.0);
        assert!((report.cpu_percent - 75.0).abs() < 0.01);
    }

    #[test]
    fn live_sample() {
        let mut sampler = HealthSampler::new(Path::new("/"));
        sampler.sample();
        let report = sampler.sample();
        assert!(report.memory_total_bytes > 0);
        assert!(report.process_count > 0);
        assert!(report.uptime_s > 0);
        assert!(report.cpu_percent >= 0.0 && report.cpu_percent <= 100.0);
        let root = report.filesystems.iter().find(|fs| fs.mount_point == "/");
        if let Some(root) = root {
            assert!(root.size_bytes > 0);
        }
    }
}
