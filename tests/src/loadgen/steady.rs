//! The measured window of steady load: the agents switch to its intervals,
//! acks are counted from its start to its end, the collector's memory and
//! CPU are read, and the doomed agents are killed at `--kill-at-s` or on
//! SIGUSR1.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::signal::unix::Signal;

use super::Options;
use super::connect::Running;
use super::metrics::{Kind, ProcessReading, read_process};

/// What the measured window counted.
pub(super) struct Window {
    /// The collector's memory and CPU at the start of the window.
    pub collector_start: Option<ProcessReading>,
    /// The collector's memory and CPU at the end of the window.
    pub collector_end: Option<ProcessReading>,
    /// Acks of each [`Kind`] counted when the window started.
    pub acked_start: Vec<u64>,
    /// Acks of each [`Kind`] counted when the window ended.
    pub acked_end: Vec<u64>,
    /// Seconds the window lasted.
    pub window_s: f64,
    /// The collector's highest RSS seen in the window, KiB.
    pub peak_rss: u64,
    /// Fewest sessions up at one reading in the window (`u64::MAX`: none read).
    pub sessions_min: u64,
    /// Sessions up when the window ended.
    pub sessions_end: u64,
}

/// The kill command, SIGUSR1, when `--kill-on-signal` asks for it; to be
/// installed before anything else, as SIGUSR1's default action would end
/// the process.
pub(super) fn kill_command(options: &Options) -> Result<Option<Signal>> {
    let kill_command = if options.kill_on_signal {
        let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())?;
        eprintln!(
            "kill on command: `kill -USR1 {}` during the measured window",
            std::process::id()
        );
        Some(signal)
    } else {
        None
    };
    Ok(kill_command)
}

/// Runs the measured window, killing the doomed agents when due.
pub(super) async fn measure(
    options: &Options,
    running: &Running,
    mut kill_command: Option<Signal>,
) -> Window {
    let Running {
        metrics,
        kill_sender,
        window_sender,
        ..
    } = running;
    // The measured window; the agents switch to its intervals first.
    let _ = window_sender.send(true);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let collector_start = options.collector_pid.and_then(read_process);
    let acked_start: Vec<u64> = Kind::ALL
        .iter()
        .map(|kind| metrics.acked_count(*kind))
        .collect();
    metrics.measuring.store(true, Ordering::Relaxed);
    let window_started = Instant::now();
    let window = Duration::from_secs_f64(options.duration_s);
    let doomed = options.kill_silent + options.kill_clean;
    let mut kill_done = doomed == 0;
    eprintln!("measured window started ({:.0} s)", options.duration_s);
    let mut peak_rss = collector_start.map(|reading| reading.rss_kib).unwrap_or(0);
    let mut sessions_min = u64::MAX;
    while window_started.elapsed() < window {
        let commanded = match kill_command.as_mut() {
            Some(signal) => tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(250)) => false,
                received = signal.recv() => received.is_some(),
            },
            None => {
                tokio::time::sleep(Duration::from_millis(250)).await;
                false
            }
        };
        let due = match kill_command {
            Some(_) => commanded,
            None => window_started.elapsed().as_secs_f64() >= options.kill_at_s,
        };
        if !kill_done && due {
            eprintln!("killing {doomed} agents");
            let _ = kill_sender.send(true);
            kill_done = true;
        }
        if let Some(reading) = options.collector_pid.and_then(read_process) {
            peak_rss = peak_rss.max(reading.rss_kib);
        }
        sessions_min = sessions_min.min(metrics.sessions_up.load(Ordering::Relaxed));
    }
    let window_s = window_started.elapsed().as_secs_f64();
    metrics.measuring.store(false, Ordering::Relaxed);
    let acked_end: Vec<u64> = Kind::ALL
        .iter()
        .map(|kind| metrics.acked_count(*kind))
        .collect();
    let collector_end = options.collector_pid.and_then(read_process);
    let sessions_end = metrics.sessions_up.load(Ordering::Relaxed);
    if !kill_done && kill_command.is_none() {
        let _ = kill_sender.send(true);
        kill_done = true;
    }
    if !kill_done {
        eprintln!("no kill command came during the measured window; nobody was killed");
    }
    Window {
        collector_start,
        collector_end,
        acked_start,
        acked_end,
        window_s,
        peak_rss,
        sessions_min,
        sessions_end,
    }
}
