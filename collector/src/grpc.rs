//! The agent-facing gRPC service: `Enroll` and the bidirectional `Session`
//! stream (authentication by client certificate, Hello/Welcome, ordered
//! idempotent apply of every message, cumulative acks, rate limits).

use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures::Stream;
use governor::{Quota, RateLimiter};
use rollcall_proto::inventory::{self, ItemValue};
use rollcall_proto::v1::agent_message::Body;
use rollcall_proto::v1::collector_message::Body as Reply;
use rollcall_proto::v1::rollcall_server::Rollcall;
use rollcall_proto::v1::{
    Ack, AgentMessage, CollectorMessage, EnrollRequest, EnrollResponse, Inventory,
    RequestFullInventory, Section, SectionDigest, Throttle, Welcome,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

pub mod wire;

use crate::auth::{self, hash_secret};
use crate::ingest;
use crate::pki::{fingerprint, pem_to_der};
use crate::state::State;
use crate::store::{Agent, ApplyContext, EnrollRefusal, ItemRow, NewAgent, Seen};

/// How long an agent has to send `Hello` after opening a session.
const HELLO_TIMEOUT: Duration = Duration::from_secs(30);

/// The gRPC service implementation.
#[derive(Debug, Clone)]
pub struct RollcallService {
    state: Arc<State>,
}

impl RollcallService {
    /// A service over the collector's shared state.
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }

    async fn authenticate<T>(&self, request: &Request<T>) -> Result<Agent, Status> {
        let certificates = request.peer_certs().filter(|certs| !certs.is_empty()).ok_or_else(|| {
            Status::unauthenticated(
                "a client certificate is required for Session; enroll this agent first with `rollcall-agent enroll`",
            )
        })?;
        let fingerprint = fingerprint(certificates[0].as_ref());
        let agent = self
            .state
            .store
            .agent_by_fingerprint(&fingerprint)
            .await
            .map_err(Status::from)?
            .ok_or_else(|| Status::unauthenticated("this client certificate is not registered with the collector; re-enroll the agent"))?;
        if agent.revoked_at.is_some() {
            return Err(Status::permission_denied(format!(
                "agent {} has been revoked; re-enroll it to reconnect",
                agent.id
            )));
        }
        Ok(agent)
    }
}

type SessionStream = Pin<Box<dyn Stream<Item = Result<CollectorMessage, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Rollcall for RollcallService {
    async fn enroll(
        &self,
        request: Request<EnrollRequest>,
    ) -> Result<Response<EnrollResponse>, Status> {
        if self.state.enroll_limiter.check().is_err() {
            return Err(Status::resource_exhausted(
                "too many enrollment attempts; retry in a few seconds",
            ));
        }
        let request = request.into_inner();
        if request.token.trim().is_empty() {
            return Err(Status::invalid_argument("an enrollment token is required"));
        }
        if request.csr_pem.len() > 16 * 1024
            || request.hostname.len() > 255
            || request.agent_version.len() > 64
        {
            return Err(Status::invalid_argument(
                "enrollment request fields are too long",
            ));
        }
        let agent_id = auth::new_id();
        let certificate_pem = self
            .state
            .pki
            .sign_agent_request(
                &request.csr_pem,
                &agent_id,
                self.state.config.agents.certificate_validity_days,
            )
            .map_err(Status::from)?;
        let der = pem_to_der(&certificate_pem).map_err(Status::from)?;
        let agent = NewAgent {
            id: agent_id.clone(),
            cert_fingerprint: fingerprint(&der),
            hostname: request.hostname.clone(),
            version: request.agent_version.clone(),
            enrolled_at: rollcall_proto::now_ms(),
        };
        match self
            .state
            .store
            .enroll_agent(&hash_secret(&request.token), &agent)
            .await
            .map_err(Status::from)?
        {
            Ok(()) => {
                tracing::info!(agent_id = %agent_id, hostname = %request.hostname, "agent enrolled");
                Ok(Response::new(EnrollResponse {
                    agent_id,
                    certificate_pem,
                    ca_certificate_pem: self.state.pki.ca_cert_pem().to_string(),
                }))
            }
            Err(refusal) => {
                tracing::warn!(hostname = %request.hostname, reason = %refusal, "enrollment refused");
                let status = match refusal {
                    EnrollRefusal::Unknown | EnrollRefusal::Revoked => {
                        Status::unauthenticated(refusal.to_string())
                    }
                    EnrollRefusal::Expired | EnrollRefusal::UsedUp(_) => {
                        Status::permission_denied(refusal.to_string())
                    }
                };
                Err(status)
            }
        }
    }

    type SessionStream = SessionStream;

    async fn session(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<SessionStream>, Status> {
        let agent = self.authenticate(&request).await?;
        // tonic has already refused an encoding it does not accept; what is
        // left is gzip or none (older agents).
        let compressed = request
            .metadata()
            .get("grpc-encoding")
            .is_some_and(|encoding| encoding.as_bytes() == b"gzip");
        let sessions = if compressed {
            &self.state.metrics.sessions_gzip
        } else {
            &self.state.metrics.sessions_identity
        };
        sessions.fetch_add(1, Ordering::Relaxed);
        let inbound = request.into_inner();
        let (sender, receiver) = mpsc::channel(256);
        let state = self.state.clone();
        tokio::spawn(async move {
            let agent_id = agent.id.clone();
            if let Err(status) = run_session(&state, agent, inbound, &sender).await {
                tracing::warn!(agent_id = %agent_id, error = %status.message(), "session ended with an error");
                if status.code() != tonic::Code::Cancelled
                    && status.code() != tonic::Code::Unavailable
                {
                    state.metrics.rejected.fetch_add(1, Ordering::Relaxed);
                }
                let _ = sender.send(Err(status)).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }
}

type Outbound = mpsc::Sender<Result<CollectorMessage, Status>>;

async fn send(outbound: &Outbound, reply: Reply) -> Result<(), Status> {
    outbound
        .send(Ok(CollectorMessage { body: Some(reply) }))
        .await
        .map_err(|_| Status::cancelled("agent went away"))
}

fn inbound_error(status: Status) -> Status {
    match status.code() {
        tonic::Code::OutOfRange | tonic::Code::ResourceExhausted => {
            Status::resource_exhausted(format!("message rejected: {}", status.message()))
        }
        tonic::Code::Cancelled | tonic::Code::Unavailable => status,
        _ => Status::invalid_argument(format!("malformed message: {}", status.message())),
    }
}

async fn run_session(
    state: &Arc<State>,
    agent: Agent,
    mut inbound: Streaming<AgentMessage>,
    outbound: &Outbound,
) -> Result<(), Status> {
    let first = tokio::time::timeout(HELLO_TIMEOUT, inbound.message())
        .await
        .map_err(|_| Status::deadline_exceeded("no Hello within 30 s of opening the session"))?
        .map_err(inbound_error)?;
    count_message_bytes(state, first.as_ref());
    let Some(AgentMessage {
        body: Some(Body::Hello(hello)),
        ..
    }) = first
    else {
        return Err(Status::failed_precondition(
            "the first message of a session must be Hello",
        ));
    };
    if !hello.agent_id.is_empty() && hello.agent_id != agent.id {
        return Err(Status::permission_denied(format!(
            "Hello names agent {} but the certificate belongs to agent {}",
            hello.agent_id, agent.id
        )));
    }
    let identity =
        ingest::host_identity(&hello.identity.clone().unwrap_or_default()).map_err(Status::from)?;
    let hostname = hello
        .identity
        .as_ref()
        .map(|identity| identity.hostname.clone())
        .unwrap_or_default();
    let now = rollcall_proto::now_ms();
    let attachment = state
        .store
        .attach_host(&agent.id, &identity, &hostname, now)
        .await
        .map_err(Status::from)?;
    let last_applied = state
        .store
        .agent(&agent.id)
        .await
        .map_err(Status::from)?
        .map(|a| a.last_seq)
        .unwrap_or(0);
    tracing::info!(agent_id = %agent.id, host_id = %attachment.host_id, rule = %attachment.rule, "session started");
    let intervals = &state.config.agents;
    send(
        outbound,
        Reply::Welcome(Welcome {
            host_id: attachment.host_id.clone(),
            heartbeat_interval_s: intervals.heartbeat_interval_s,
            health_interval_s: intervals.health_interval_s,
            inventory_interval_s: intervals.inventory_interval_s,
            last_applied_seq: last_applied as u64,
        }),
    )
    .await?;
    let needs_full = state
        .store
        .host(&attachment.host_id)
        .await
        .map_err(Status::from)?
        .is_none_or(|host| host.last_inventory_at.is_none());
    let full_reason = if needs_full {
        Some("no inventory on record".to_string())
    } else if hello.digests.is_empty() {
        None
    } else {
        let rows = state
            .store
            .host_items(&attachment.host_id)
            .await
            .map_err(Status::from)?;
        let stored = inventory::digests(&inventory::flatten(&rebuild_inventory(&rows)));
        let differing = mismatched_sections(&stored, &hello.digests);
        (!differing.is_empty()).then(|| {
            let names: Vec<&str> = differing.iter().map(|s| inventory::class_name(*s)).collect();
            tracing::info!(agent_id = %agent.id, sections = ?names, "inventory digest mismatch; asking for a full snapshot");
            format!("inventory digest mismatch in {}", names.join(", "))
        })
    };
    if let Some(reason) = full_reason {
        send(
            outbound,
            Reply::RequestFullInventory(RequestFullInventory { reason }),
        )
        .await?;
    }
    state.sessions_opened();
    state
        .monitor
        .heard(&attachment.host_id, rollcall_proto::now_ms());
    let result = session_loop(
        state,
        &agent,
        &attachment.host_id,
        last_applied,
        inbound,
        outbound,
    )
    .await;
    state.sessions_closed();
    state
        .monitor
        .session_closed(&attachment.host_id, rollcall_proto::now_ms());
    tracing::info!(agent_id = %agent.id, "session closed");
    result
}

/// Aborts a task when dropped (the session's reader ends with the session).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Messages a session's reader takes ahead of the apply loop: 5 minutes of
/// heartbeats at the default 10 s interval, 32 s at 1 s, far more than
/// `down_after` either way, so a live host stays heard while applies wait.
const READ_AHEAD: usize = 32;

/// What the session's reader queues: the next message, boxed. An
/// `AgentMessage` is about 1 KiB inline (a snapshot's `Inventory` is stored
/// in place) and a tokio channel allocates its slots 32 at a time, so queueing
/// them unboxed cost every session ~33 KiB whether anything was queued or not;
/// boxed, a slot is 16 bytes.
type Queued = Result<Option<Box<AgentMessage>>, Status>;

/// Adds a decoded message's protobuf size to the metrics, to set beside
/// the bytes it took on the wire.
fn count_message_bytes(state: &State, message: Option<&AgentMessage>) {
    if let Some(message) = message {
        state.metrics.session_message_bytes.fetch_add(
            prost::Message::encoded_len(message) as u64,
            Ordering::Relaxed,
        );
    }
}

/// Reads the session's messages into `queue`, marking the host heard on arrival.
async fn read_messages(
    mut inbound: Streaming<AgentMessage>,
    queue: mpsc::Sender<Queued>,
    state: Arc<State>,
    host_id: String,
) {
    loop {
        let item = inbound.message().await.map(|next| next.map(Box::new));
        let more = matches!(item, Ok(Some(_)));
        if let Ok(Some(message)) = &item {
            state.monitor.heard(&host_id, rollcall_proto::now_ms());
            count_message_bytes(&state, Some(message));
        }
        if queue.send(item).await.is_err() || !more {
            return;
        }
    }
}

/// Applies an inventory change set, timing it and counting it in `counter`.
async fn apply_inventory(
    state: &State,
    context: &ApplyContext,
    change: crate::store::InventoryChange,
    counter: &std::sync::atomic::AtomicU64,
) -> Result<(), Status> {
    let started = std::time::Instant::now();
    let outcome = state
        .store
        .apply_inventory(context, change)
        .await
        .map_err(Status::from)?;
    state.metrics.applied(started.elapsed());
    counter.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(agent_id = %context.agent_id, ?outcome, "inventory applied");
    Ok(())
}

async fn session_loop(
    state: &Arc<State>,
    agent: &Agent,
    host_id: &str,
    mut last_applied: i64,
    inbound: Streaming<AgentMessage>,
    outbound: &Outbound,
) -> Result<(), Status> {
    let ingest = &state.config.ingest;
    let quota =
        Quota::per_second(NonZeroU32::new(ingest.per_agent_rate).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(ingest.per_agent_burst).unwrap_or(NonZeroU32::MIN));
    let limiter = RateLimiter::direct(quota);
    let mut throttled = false;
    // Hello is not sequenced: spooled messages older than the session are replayed after it.
    state
        .seen(Seen::new(&agent.id, host_id, 0, rollcall_proto::now_ms()))
        .await;
    send(
        outbound,
        Reply::Ack(Ack {
            seq: last_applied.max(0) as u64,
        }),
    )
    .await?;
    // A reader task takes messages off the stream as they arrive and counts
    // the host as heard at once: a slow store apply must not make a live
    // host look silent (a false host-down under load).
    // The queue holds READ_AHEAD decoded messages (~1 KiB each, even a
    // heartbeat); past it the reader waits and further messages stay in
    // HTTP/2 and TCP as a few dozen encoded bytes each, so an overloaded
    // collector does not hold thousands of decoded messages per session.
    let (queue, mut queued) = mpsc::channel::<Queued>(READ_AHEAD);
    let reader = AbortOnDrop(tokio::spawn(read_messages(
        inbound,
        queue,
        state.clone(),
        host_id.to_string(),
    )));
    loop {
        let item = tokio::select! {
            item = queued.recv() => item,
            _ = state.shutdown.cancelled() => return Err(Status::unavailable("collector is shutting down")),
        };
        let Some(message) = item.transpose().map_err(inbound_error)?.flatten() else {
            drop(reader);
            return Ok(());
        };
        if limiter.check().is_err() || state.global_limiter.check().is_err() {
            if !throttled {
                throttled = true;
                send(
                    outbound,
                    Reply::Throttle(Throttle {
                        delay_ms: 1000,
                        reason: "message rate limit reached".into(),
                    }),
                )
                .await?;
            }
            // Back-pressure: stop reading until the limits allow, which slows only this agent.
            limiter.until_ready().await;
            state.global_limiter.until_ready().await;
        } else {
            throttled = false;
        }
        let seq = i64::try_from(message.seq)
            .map_err(|_| Status::invalid_argument("sequence number out of range"))?;
        let now = rollcall_proto::now_ms();
        ingest::check_timestamp("sent_at_ms", message.sent_at_ms, now).map_err(Status::from)?;
        if seq <= last_applied {
            // Replayed from the agent's spool and already applied: acknowledge again.
            send(
                outbound,
                Reply::Ack(Ack {
                    seq: last_applied as u64,
                }),
            )
            .await?;
            continue;
        }
        let context = ApplyContext {
            agent_id: agent.id.clone(),
            host_id: host_id.to_string(),
            seq,
            at: now,
        };
        match message.body {
            Some(Body::Heartbeat(_)) | None => {
                state.metrics.heartbeats.fetch_add(1, Ordering::Relaxed);
                state.seen(Seen::new(&agent.id, host_id, seq, now)).await;
            }
            Some(Body::Snapshot(snapshot)) => {
                let inventory = snapshot.inventory.unwrap_or_default();
                let change = ingest::snapshot_change(&inventory, now).map_err(Status::from)?;
                apply_inventory(state, &context, change, &state.metrics.snapshots).await?;
            }
            Some(Body::Delta(delta)) => {
                let change = ingest::delta_change(&delta, now).map_err(Status::from)?;
                apply_inventory(state, &context, change, &state.metrics.deltas).await?;
            }
            Some(Body::Health(report)) => {
                ingest::check_timestamp("sampled_at_ms", report.sampled_at_ms, now)
                    .map_err(Status::from)?;
                let data = serde_json::to_string(&report)
                    .map_err(|error| Status::internal(error.to_string()))?;
                let stored = state
                    .store
                    .record_health(&context, report.sampled_at_ms, &data)
                    .await
                    .map_err(Status::from)?;
                if stored {
                    state.metrics.health.fetch_add(1, Ordering::Relaxed);
                    let rules = &state.config.availability.rules;
                    if let Err(error) = state
                        .engine
                        .evaluate_health(host_id, &agent.hostname, &report, rules, now)
                        .await
                    {
                        tracing::error!(error = %error, "cannot evaluate health rules");
                    }
                }
            }
            Some(Body::Checks(results)) => {
                state.metrics.checks.fetch_add(1, Ordering::Relaxed);
                state.seen(Seen::new(&agent.id, host_id, seq, now)).await;
                if let Err(error) = state
                    .engine
                    .evaluate_checks(host_id, &agent.hostname, &results.results, now)
                    .await
                {
                    tracing::error!(error = %error, "cannot evaluate check results");
                }
            }
            Some(Body::Goodbye(goodbye)) => {
                state.seen(Seen::new(&agent.id, host_id, seq, now)).await;
                tracing::info!(agent_id = %agent.id, reason = %goodbye.reason, back_within_s = goodbye.back_within_s, "agent said goodbye");
                let back_within_ms =
                    i64::try_from(goodbye.back_within_s.min(366 * 86_400)).unwrap_or(0) * 1000;
                state
                    .monitor
                    .goodbye(host_id, &goodbye.reason, back_within_ms, now);
            }
            Some(Body::Hello(_)) => {
                return Err(Status::failed_precondition(
                    "Hello may only be the first message of a session",
                ));
            }
        }
        last_applied = seq;
        send(outbound, Reply::Ack(Ack { seq: seq as u64 })).await?;
    }
}

/// Rebuilds the inventory a host's stored items describe, so its section
/// digests can be compared with the ones an agent reports in `Hello`.
/// Items whose stored attributes no longer parse are left out, which makes
/// their section differ and brings a full snapshot that overwrites them.
fn rebuild_inventory(rows: &[ItemRow]) -> Inventory {
    let mut rebuilt = Inventory::default();
    for row in rows {
        if let Some(section) = inventory::section_for_class(&row.class) {
            inventory::set_item(&mut rebuilt, section, ItemValue::Json(&row.attrs));
        }
    }
    rebuilt
}

/// The sections whose digest the agent reported differently from `stored`
/// (sections the agent did not report are not compared).
fn mismatched_sections(stored: &[SectionDigest], reported: &[SectionDigest]) -> Vec<Section> {
    reported
        .iter()
        .filter(|digest| {
            stored
                .iter()
                .find(|candidate| candidate.section == digest.section)
                .is_none_or(|candidate| candidate.digest != digest.digest)
        })
        .filter_map(|digest| Section::try_from(digest.section).ok())
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ingest::snapshot_change;
    use rollcall_proto::v1::{Filesystem, Identity, OsInfo, Package};

    fn rows_of(inventory: &Inventory) -> Vec<ItemRow> {
        snapshot_change(inventory, 0)
            .unwrap()
            .items
            .into_iter()
            .map(|item| ItemRow {
                class: item.class,
                item_key: item.key,
                name: item.name,
                attrs: item.attrs,
                first_seen_at: 0,
                updated_at: 0,
            })
            .collect()
    }

    fn sample() -> Inventory {
        Inventory {
            identity: Some(Identity {
                hostname: "web01".into(),
                macs: vec!["52:54:00:12:34:56".into()],
                ..Default::default()
            }),
            os: Some(OsInfo {
                name: "Debian".into(),
                boot_time_s: 1_700_000_000,
                ..Default::default()
            }),
            filesystems: vec![Filesystem {
                mount_point: "/".into(),
                size_bytes: u64::MAX - 7,
                ..Default::default()
            }],
            packages: vec![
                Package {
                    name: "zlib1g".into(),
                    version: "1:1.2".into(),
                    arch: "amd64".into(),
                    ..Default::default()
                },
                Package {
                    name: "bash".into(),
                    version: "5.2".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn stored_items_digest_like_the_inventory_they_came_from() {
        let inventory = sample();
        let agent = inventory::digests(&inventory::flatten(&inventory));
        let mut rows = rows_of(&inventory);
        rows.reverse();
        let stored = inventory::digests(&inventory::flatten(&rebuild_inventory(&rows)));
        assert!(mismatched_sections(&stored, &agent).is_empty());
    }

    #[test]
    fn a_missing_or_damaged_item_is_a_mismatch_of_its_section_only() {
        let inventory = sample();
        let agent = inventory::digests(&inventory::flatten(&inventory));
        let mut rows = rows_of(&inventory);
        rows.retain(|row| row.item_key != "bash");
        let stored = inventory::digests(&inventory::flatten(&rebuild_inventory(&rows)));
        assert_eq!(
            mismatched_sections(&stored, &agent),
            vec![Section::Packages]
        );
        let mut rows = rows_of(&inventory);
        for row in &mut rows {
            if row.class == "os" {
                row.attrs = "{not json".into();
            }
        }
        let stored = inventory::digests(&inventory::flatten(&rebuild_inventory(&rows)));
        assert_eq!(mismatched_sections(&stored, &agent), vec![Section::Os]);
        assert!(mismatched_sections(&stored, &[]).is_empty());
    }
}
