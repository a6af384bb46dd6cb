//! Wiring: builds the shared state, starts the gRPC (mTLS) and HTTP servers
//! on listeners the caller bound, the batch writer for liveness signals, and
//! shuts all of them down from one cancellation token.

use std::sync::Arc;

use std::time::Duration;

use rollcall_proto::v1::rollcall_server::RollcallServer;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::codec::CompressionEncoding;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use crate::auth::{self, Role};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::grpc::RollcallService;
use crate::grpc::wire::CountSessionBytes;
use crate::pki::Pki;
use crate::state::{Parts, State};
use crate::store::{self, Seen, Store};

/// A running collector.
#[derive(Debug)]
pub struct Running {
    /// Shared state.
    pub state: Arc<State>,
    /// The bootstrap admin token, only on the very first start.
    pub bootstrap_admin_token: Option<String>,
    /// Where agents connect.
    pub grpc_address: std::net::SocketAddr,
    /// Where the API listens.
    pub api_address: std::net::SocketAddr,
    tasks: TaskTracker,
}

impl Running {
    /// Waits until every server and writer task has stopped.
    pub async fn wait(self) {
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// Creates the admin token on first start; returns its secret once.
async fn bootstrap_admin(store: &dyn Store) -> Result<Option<String>> {
    if store.api_token_count().await? > 0 {
        return Ok(None);
    }
    let secret = auth::generate_secret("rcapi");
    store
        .create_api_token(
            &auth::new_id(),
            "bootstrap admin",
            Role::Admin.as_str(),
            &auth::hash_secret(&secret),
            rollcall_proto::now_ms(),
        )
        .await?;
    Ok(Some(secret))
}

async fn write_seen_batches(
    store: Arc<dyn Store>,
    mut receiver: mpsc::Receiver<Seen>,
    shutdown: CancellationToken,
) {
    let mut batch: Vec<Seen> = Vec::with_capacity(1024);
    loop {
        let first = tokio::select! {
            first = receiver.recv() => first,
            // The state keeps a sender alive: stop on shutdown, after draining what is queued.
            _ = shutdown.cancelled() => {
                receiver.close();
                receiver.recv().await
            }
        };
        let Some(first) = first else {
            break;
        };
        batch.push(first);
        // Gather what arrives in the next few milliseconds into one transaction.
        let deadline = tokio::time::Instant::now() + Duration::from_millis(200);
        while batch.len() < 4096 {
            match tokio::time::timeout_at(deadline, receiver.recv()).await {
                Ok(Some(seen)) => batch.push(seen),
                Ok(None) | Err(_) => break,
            }
        }
        // Keep the newest signal per agent.
        batch.sort_by(|a, b| (&a.agent_id, a.seq).cmp(&(&b.agent_id, b.seq)));
        batch.dedup_by(|later, earlier| {
            if later.agent_id == earlier.agent_id {
                std::mem::swap(later, earlier);
                true
            } else {
                false
            }
        });
        // A batch can lose a deadlock against an inventory write on
        // PostgreSQL (both update agents and hosts); it is safe to repeat.
        for attempt in 1..=3 {
            match store.record_seen(&batch).await {
                Ok(()) => break,
                Err(error) if attempt < 3 => {
                    tracing::debug!(error = %error, attempt, "recording heartbeats failed; retrying");
                    tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                }
                Err(error) => {
                    tracing::error!(error = %error, count = batch.len(), "cannot record heartbeats");
                }
            }
        }
        batch.clear();
    }
}

/// Opens an `agent_stale` incident for every stale host and resolves those whose host is active again.
async fn stale_agent_incidents(
    store: &dyn Store,
    engine: &crate::incidents::engine::Engine,
    now: i64,
) -> Result<()> {
    use crate::incidents::engine::IncidentSpec;
    use crate::store::IncidentFilter;
    let stale = store
        .hosts(&crate::store::HostFilter {
            lifecycle: Some("stale".into()),
            limit: 100_000,
            ..Default::default()
        })
        .await?;
    for host in &stale {
        let spec = IncidentSpec {
            ci_id: host.id.clone(),
            rule: "agent_stale".into(),
            severity: crate::incidents::event::Severity::Warning,
            summary: format!(
                "{}: agent silent since {}",
                host.hostname, host.last_seen_at
            ),
            description: "the host's agent has not reported for longer than cmdb.stale_after_s"
                .into(),
            details: serde_json::json!({ "last_seen_at_ms": host.last_seen_at }),
            suppressed: false,
            parent_id: None,
        };
        engine.open(spec, now).await?;
    }
    let filter = IncidentFilter {
        state: Some("open".into()),
        rule_prefix: Some("agent_stale".into()),
        limit: 100_000,
        ..Default::default()
    };
    for incident in store.incidents(&filter).await? {
        if !stale.iter().any(|host| host.id == incident.ci_id) {
            engine.resolve_incident(incident, now).await?;
        }
    }
    Ok(())
}

async fn run_lifecycle(
    store: Arc<dyn Store>,
    engine: crate::incidents::engine::Engine,
    config: crate::config::CmdbConfig,
    shutdown: CancellationToken,
) {
    let period = Duration::from_secs(config.lifecycle_check_interval_s);
    loop {
        let now = rollcall_proto::now_ms();
        let (stale_ms, retire_ms) = (
            config.stale_after_s as i64 * 1000,
            config.retire_after_s as i64 * 1000,
        );
        match store.update_lifecycle(now, stale_ms, retire_ms).await {
            Ok((0, 0)) => {}
            Ok((stale, retired)) => tracing::info!(stale, retired, "host lifecycle updated"),
            Err(error) => tracing::error!(error = %error, "cannot update host lifecycle"),
        }
        if let Err(error) = stale_agent_incidents(store.as_ref(), &engine, now).await {
            tracing::error!(error = %error, "cannot evaluate stale agents");
        }
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Opens the store, loads the PKI and starts serving on the given listeners
/// until `shutdown` is cancelled.
pub async fn start(
    config: Config,
    grpc_listener: TcpListener,
    api_listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<Running> {
    let pki = Pki::load_or_create(&config.data_dir, &config.tls, &config.server_names)?;
    let store = store::sql::connect(&config.effective_database_url()).await?;
    let bootstrap_admin_token = bootstrap_admin(store.as_ref()).await?;
    let (seen_sender, seen_receiver) = mpsc::channel(65_536);
    let tasks = TaskTracker::new();
    let monitor = crate::availability::monitor::start(
        store.clone(),
        config.clone(),
        shutdown.clone(),
        &tasks,
    )
    .await?;
    let integrations = Arc::new(crate::integrations::Integrations::new(
        &config.integrations,
    )?);
    let state = Arc::new(State::new(Parts {
        config,
        store: store.clone(),
        pki,
        monitor,
        integrations: integrations.clone(),
        seen_sender,
        shutdown: shutdown.clone(),
    }));
    tasks.spawn(write_seen_batches(
        store.clone(),
        seen_receiver,
        shutdown.clone(),
    ));
    integrations
        .spawn(store.clone(), &tasks, shutdown.child_token())
        .await?;
    tasks.spawn(run_lifecycle(
        store,
        state.engine.clone(),
        state.config.cmdb.clone(),
        shutdown.clone(),
    ));

    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(
            &state.pki.server_chain_pem,
            &state.pki.server_key_pem,
        ))
        .client_ca_root(Certificate::from_pem(state.pki.ca_cert_pem()))
        // Enroll is called before the agent has a certificate; Session checks for one.
        .client_auth_optional(true);
    let max = state.config.ingest.max_message_bytes;
    // Agents gzip their messages; older agents that send them uncompressed
    // are still accepted. `max` bounds the decompressed size too (tonic stops
    // inflating past it). Replies are a few bytes each, so they stay plain.
    let service = RollcallServer::new(RollcallService::new(state.clone()))
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let service = CountSessionBytes::new(service, state.clone());
    let router = Server::builder()
        .tls_config(tls)
        .map_err(|error| Error::Pki(format!("cannot configure TLS: {error}")))?
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .add_service(service);
    let grpc_shutdown = shutdown.clone();
    let grpc_address = grpc_listener.local_addr()?;
    tasks.spawn(async move {
        let incoming = TcpListenerStream::new(grpc_listener);
        if let Err(error) = router
            .serve_with_incoming_shutdown(incoming, grpc_shutdown.cancelled_owned())
            .await
        {
            tracing::error!(error = %error, "grpc server failed");
        }
    });

    let app = crate::api::router(state.clone());
    let api_shutdown = shutdown.clone();
    let api_address = api_listener.local_addr()?;
    tasks.spawn(async move {
        let server =
            axum::serve(api_listener, app).with_graceful_shutdown(api_shutdown.cancelled_owned());
        if let Err(error) = server.await {
            tracing::error!(error = %error, "api server failed");
        }
    });
    tracing::info!(grpc = %grpc_address, api = %api_address, ca_fingerprint = %state.pki.ca_fingerprint, "collector started");
    Ok(Running {
        state,
        bootstrap_admin_token,
        grpc_address,
        api_address,
        tasks,
    })
}

/// Binds the configured addresses and runs until `shutdown`; prints the
/// bootstrap admin token on first start.
pub async fn serve(config: Config, shutdown: CancellationToken) -> Result<()> {
    let grpc_listener = TcpListener::bind(config.grpc_listen)
        .await
        .map_err(|error| {
            Error::Config(format!(
                "cannot listen on {} (grpc_listen): {error}",
                config.grpc_listen
            ))
        })?;
    let api_listener = TcpListener::bind(config.api_listen)
        .await
        .map_err(|error| {
            Error::Config(format!(
                "cannot listen on {} (api_listen): {error}",
                config.api_listen
            ))
        })?;
    let running = start(config, grpc_listener, api_listener, shutdown).await?;
    println!("grpc listening on {}", running.grpc_address);
    println!("api listening on http://{}", running.api_address);
    println!(
        "ca fingerprint (sha256): {}",
        running.state.pki.ca_fingerprint
    );
    if let Some(token) = &running.bootstrap_admin_token {
        println!("admin API token (shown once, store it now): {token}");
    }
    running.wait().await;
    Ok(())
}
