//! Planned stops: `rollcall-agent stop` leaves a [`StopRequest`] and
//! signals the running agent, which then says `Goodbye` (reason, back
//! within) so the collector marks the host away instead of down; a system
//! shutdown or reboot says goodbye on its own.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rollcall_proto::v1::Goodbye;
use rollcall_proto::v1::agent_message::Body;
use rollcall_proto::v1::collector_message::Body as Reply;

use crate::error::{Error, Result};
use crate::shared::Shared;
use crate::spool::Kind;

/// A planned stop, written by `rollcall-agent stop` before it signals the agent.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StopRequest {
    /// Why the agent stops.
    pub reason: String,
    /// Seconds within which the host is expected back.
    pub back_within_s: u64,
}

/// The stop request file in a state directory.
pub fn stop_request_path(state_dir: &Path) -> PathBuf {
    state_dir.join("stop-request.json")
}

/// Asks the agent running from `state_dir` to stop with `request`: writes
/// the request, then sends SIGTERM to `pid` (by default the one in
/// `agent.pid`). Returns the pid signalled.
pub fn request_stop(state_dir: &Path, pid: Option<i32>, request: &StopRequest) -> Result<i32> {
    let pid = match pid {
        Some(pid) => pid,
        None => std::fs::read_to_string(state_dir.join("agent.pid"))
            .map_err(|_| {
                Error::Stop(format!(
                    "no running agent found (no agent.pid in {})",
                    state_dir.display()
                ))
            })?
            .trim()
            .parse()
            .map_err(|_| Error::Stop("agent.pid is damaged".to_string()))?,
    };
    let json = serde_json::to_string(request).map_err(|error| Error::Stop(error.to_string()))?;
    crate::files::write_private(&stop_request_path(state_dir), json.as_bytes()).map_err(
        |source| Error::File {
            what: "stop request",
            source,
        },
    )?;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .map_err(|error| Error::Stop(format!("cannot signal agent {pid}: {error}")))?;
    if !status.success() {
        let _ = std::fs::remove_file(stop_request_path(state_dir));
        return Err(Error::Stop(format!("agent process {pid} is not running")));
    }
    Ok(pid)
}

/// Whether systemd is stopping the whole system (shutdown or reboot).
fn system_stopping() -> bool {
    if !Path::new("/run/systemd/system").exists() {
        return false;
    }
    std::process::Command::new("systemctl")
        .arg("is-system-running")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim() == "stopping")
        .unwrap_or(false)
}

/// The planned stop in progress, if this shutdown is one: an operator's
/// request (consumed) or a system shutdown.
fn planned_stop(shared: &Shared) -> Option<StopRequest> {
    let path = stop_request_path(&shared.config.state_dir);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let _ = std::fs::remove_file(&path);
        return serde_json::from_str(&text).ok();
    }
    system_stopping().then(|| StopRequest {
        reason: "system shutdown or reboot".into(),
        back_within_s: 600,
    })
}

/// On a planned stop, tells the collector and waits briefly for the ack.
pub(crate) async fn say_goodbye(
    shared: &Shared,
    inbound: &mut tonic::Streaming<rollcall_proto::v1::CollectorMessage>,
) {
    let Some(stop) = planned_stop(shared) else {
        return;
    };
    let seq = match shared.lock().push(
        Kind::Other,
        Body::Goodbye(Goodbye {
            reason: stop.reason.clone(),
            back_within_s: stop.back_within_s,
        }),
    ) {
        Ok(seq) => seq,
        Err(error) => {
            tracing::error!(error = %error, "cannot send goodbye");
            return;
        }
    };
    let wait = async {
        while let Ok(Some(message)) = inbound.message().await {
            if let Some(Reply::Ack(ack)) = message.body {
                let _ = shared.on_ack(ack.seq);
                if ack.seq >= seq {
                    return;
                }
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(3), wait)
        .await
        .is_err()
    {
        tracing::warn!("collector did not acknowledge the goodbye in time; it stays spooled");
    } else {
        tracing::info!(reason = %stop.reason, back_within_s = stop.back_within_s, "said goodbye to the collector");
    }
}
