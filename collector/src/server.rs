//! Wiring only: builds the shared `State`, starts each subsystem (presence
//! monitor, liveness writer, integrations, health retention, host
//! lifecycle, the agents' gRPC server, the API) under its own child of the
//! caller's cancellation token, tracks their tasks, and on shutdown waits
//! for them to a deadline.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::pki::Pki;
use crate::state::{Parts, State};
use crate::store;

/// How long shutdown waits for subsystems and sessions to stop before it
/// aborts the tasks that are left.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

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
    /// `https` when the API serves TLS, else `http`.
    pub api_scheme: &'static str,
    subsystems: Subsystems,
}

/// The tasks of every subsystem, each under a child of the root token.
#[derive(Debug)]
struct Subsystems {
    root: CancellationToken,
    /// Tasks the subsystems spawn themselves (monitor, integrations).
    tracker: TaskTracker,
    /// Tasks started here, by name, so the ones that overrun the deadline
    /// can be named and aborted.
    named: Vec<(&'static str, tokio::task::JoinHandle<()>)>,
}

impl Subsystems {
    fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.named.push((name, self.tracker.spawn(task)));
    }
}

impl Running {
    /// Waits until the root token is cancelled and every subsystem and
    /// session has stopped, or `SHUTDOWN_DEADLINE` has passed since the
    /// cancellation; then aborts what is left.
    pub async fn wait(self) {
        let Subsystems {
            root,
            tracker,
            named,
        } = self.subsystems;
        root.cancelled().await;
        tracker.close();
        let sessions = self.state.sessions.clone();
        sessions.close();
        let store = self.state.store.clone();
        let stopped = tokio::time::timeout(SHUTDOWN_DEADLINE, async {
            sessions.wait().await;
            tracker.wait().await;
            // Last: every session and subsystem that writes has stopped.
            store.close().await;
        })
        .await;
        if stopped.is_err() {
            for (name, handle) in &named {
                if !handle.is_finished() {
                    tracing::warn!(
                        subsystem = name,
                        "did not stop within the shutdown deadline; aborting"
                    );
                    handle.abort();
                }
            }
            tracing::warn!(
                sessions = sessions.len(),
                tasks = tracker.len(),
                "shutdown deadline passed; the remaining tasks end with the runtime"
            );
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
    // Checked against the address actually bound, for callers that bind
    // their own listener (quickstart) and never load a config file.
    config.api.validate(api_listener.local_addr()?)?;
    // Before anything is written into it: 0700, tightened if an older
    // version left it 0755 (files::private_dir warns).
    crate::files::private_dir(&config.data_dir)?;
    let pki = Pki::load_or_create(&config.data_dir, &config.tls, &config.server_names)?;
    let store = store::sql::connect(&config.effective_database_url()).await?;
    let bootstrap_admin_token = crate::api::tokens::bootstrap_admin(store.as_ref()).await?;
    let mut subsystems = Subsystems {
        root: shutdown.clone(),
        tracker: TaskTracker::new(),
        named: Vec::new(),
    };
    let monitor = crate::availability::monitor::start(
        store.clone(),
        config.clone(),
        shutdown.child_token(),
        &subsystems.tracker,
    )
    .await?;
    let integrations = Arc::new(crate::integrations::Integrations::new(
        &config.integrations,
    )?);
    let (seen_sender, seen_receiver) = mpsc::channel(65_536);
    let state = Arc::new(State::new(Parts {
        config,
        store: store.clone(),
        pki,
        monitor,
        integrations: integrations.clone(),
        seen_sender,
        shutdown: shutdown.child_token(),
    }));
    subsystems.spawn(
        "liveness writer",
        crate::ingest::liveness::write_seen_batches(
            store.clone(),
            state.metrics.families.clone(),
            seen_receiver,
            shutdown.child_token(),
        ),
    );
    integrations
        .spawn(
            store.clone(),
            state.metrics.families.clone(),
            &subsystems.tracker,
            shutdown.child_token(),
        )
        .await?;
    subsystems.spawn(
        "health retention",
        crate::cmdb::retention::run(
            store.clone(),
            state.config.health.clone(),
            shutdown.child_token(),
        ),
    );
    subsystems.spawn(
        "host lifecycle",
        crate::cmdb::lifecycle::run(
            store,
            state.engine.clone(),
            state.monitor.clone(),
            state.config.cmdb.clone(),
            shutdown.child_token(),
        ),
    );

    // Only a shared database has revocations served by another collector.
    if state.store.shared() {
        subsystems.spawn(
            "revocation watch",
            crate::ingest::revocation_watch::run(state.clone(), shutdown.child_token()),
        );
    }
    let router = crate::ingest::grpc::server(state.clone());
    let grpc_shutdown = shutdown.child_token();
    let grpc_address = grpc_listener.local_addr()?;
    let incoming = crate::ingest::accept::incoming(
        grpc_listener,
        crate::ingest::accept::tls_acceptor(&state.pki)?,
        &state.config.grpc,
        grpc_shutdown.clone(),
    );
    subsystems.spawn("grpc server", async move {
        if let Err(error) = router
            .serve_with_incoming_shutdown(incoming, grpc_shutdown.cancelled_owned())
            .await
        {
            tracing::error!(error = %error, "grpc server failed");
        }
    });

    let api_config = &state.config.api;
    let api_address = api_listener.local_addr()?;
    let tls = crate::api::serve::tls_acceptor(api_config, &state.pki)?;
    let api_scheme = if tls.is_some() { "https" } else { "http" };
    let serving = crate::api::serve::Serving {
        app: crate::api::serve::layers(
            crate::api::router(state.clone()).merge(crate::console::router(state.clone())),
            api_config,
            tls.is_some(),
        ),
        tls,
        handshake_timeout: api_config.tls_handshake_timeout(),
        header_read_timeout: api_config.header_read_timeout(),
    };
    subsystems.spawn(
        "api server",
        crate::api::serve::run(api_listener, serving, shutdown.child_token()),
    );
    tracing::info!(grpc = %grpc_address, api = %api_address, api_scheme, ca_fingerprint = %state.pki.ca_fingerprint, "collector started");
    Ok(Running {
        state,
        bootstrap_admin_token,
        grpc_address,
        api_address,
        api_scheme,
        subsystems,
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
    println!(
        "api listening on {}://{}",
        running.api_scheme, running.api_address
    );
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
