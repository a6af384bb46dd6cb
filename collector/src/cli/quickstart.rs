//! `rollcall quickstart`: a collector on SQLite and an agent for this
//! machine in one process, enrolled on the first run and reused after.
//!
//! This is the only module of the collector that uses the `rollcall-agent`
//! crate, and it uses it as a library on purpose. The README's one command,
//! `cargo run --release --bin rollcall -- quickstart`, builds only the
//! `rollcall-collector` package and its dependencies: cargo builds a
//! dependency's library, never its binaries, so on a fresh machine there is
//! no `rollcall-agent` executable to spawn. Embedding the agent's
//! enrollment and run loop makes the one command enough. Nothing else in the
//! collector may import `rollcall_agent`; its error type is boxed into
//! [`CliError::Agent`] so that it does not leak either.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use crate::auth;
use crate::cli::error::{CliError, Result};
use crate::config::Config;
use crate::server::Running;
use crate::store::NewEnrollmentToken;

/// How long the local agent's one-use enrollment token is valid.
const ENROLLMENT_TOKEN_TTL_MS: i64 = 600_000;

/// Runs a collector on SQLite in `data_dir` and an agent for this machine in
/// one process until Ctrl-C; enrolls the agent only on the first run.
pub async fn run(data_dir: PathBuf, grpc_listen: SocketAddr, api_listen: SocketAddr) -> Result<()> {
    let config = Config {
        data_dir: data_dir.clone(),
        grpc_listen,
        api_listen,
        ..Config::default()
    };
    let grpc = bind(grpc_listen, "--grpc-listen").await?;
    let api = bind(api_listen, "--api-listen").await?;
    let shutdown = CancellationToken::new();
    let running = crate::server::start(config, grpc, api, shutdown.clone()).await?;
    let admin_token = admin_token(&data_dir, running.bootstrap_admin_token.as_deref())?;
    let agent_dir = data_dir.join("agent");
    let grpc_url = format!("https://{}", running.grpc_address);
    if rollcall_agent::enroll::load_credentials(&agent_dir).is_err() {
        let agent_id = enroll_local_agent(&running, &grpc_url, &agent_dir).await?;
        say(&format!("enrolled the local agent as {agent_id}\n"));
    } else {
        say(&format!(
            "reusing the local agent enrolled in {}\n",
            agent_dir.display()
        ));
    }
    let agent_config = rollcall_agent::config::AgentConfig {
        collectors: vec![grpc_url],
        state_dir: agent_dir,
        ..Default::default()
    };
    let agent = tokio::spawn(rollcall_agent::runtime::run(
        agent_config,
        shutdown.child_token(),
    ));
    say(&where_to_look(&data_dir, &running, &admin_token));
    let _ = tokio::signal::ctrl_c().await;
    say("stopping\n");
    shutdown.cancel();
    if let Ok(Err(error)) = agent.await {
        eprintln!("agent: {error}");
    }
    running.wait().await;
    Ok(())
}

/// Prints `text`, ignoring write errors: a closed stdout (`| head`, a
/// reader that went away) must not take the running collector down.
fn say(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

async fn bind(address: SocketAddr, flag: &'static str) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| CliError::Listen {
            address,
            flag,
            source,
        })
}

/// The admin token: kept (mode 0600, in the 0700 data directory) when the
/// collector has just created it, read back from there on later runs.
/// Quickstart is a one-machine trial whose guide shows a working token on
/// every run; a hash alone could not, and the collector already stores
/// only the hash. A file left readable by an older version is tightened.
fn admin_token(data_dir: &Path, bootstrapped: Option<&str>) -> Result<String> {
    let path = data_dir.join("admin-token");
    crate::files::tighten(&path, crate::files::FILE_MODE).map_err(|source| CliError::Write {
        path: path.clone(),
        source,
    })?;
    match bootstrapped {
        Some(token) => {
            write_private(&path, token)?;
            Ok(token.to_string())
        }
        None => Ok(std::fs::read_to_string(&path)
            .map(|token| token.trim().to_string())
            .unwrap_or_else(|_| {
                "(printed at first start; not kept in this data directory)".to_string()
            })),
    }
}

/// Creates a one-use enrollment token in the store and enrolls the local
/// agent with it over gRPC, as a remote agent would; returns the agent id.
async fn enroll_local_agent(running: &Running, grpc_url: &str, agent_dir: &Path) -> Result<String> {
    let secret = auth::generate_secret("rcenr");
    let now = rollcall_proto::now_ms();
    let token = NewEnrollmentToken {
        id: auth::new_id(),
        token_hash: auth::hash_secret(&secret),
        description: "quickstart agent".into(),
        max_uses: 1,
        expires_at: now + ENROLLMENT_TOKEN_TTL_MS,
        created_at: now,
    };
    running.state.store.create_enrollment_token(&token).await?;
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .unwrap_or_default();
    let enrollment = rollcall_agent::enroll::enroll(
        grpc_url,
        &secret,
        &running.state.pki.ca_fingerprint,
        agent_dir,
        &hostname,
    )
    .await
    .map_err(|error| CliError::Agent(Box::new(error)))?;
    Ok(enrollment.agent_id)
}

/// What quickstart prints once running. The end-to-end test reads the
/// `API:` and `admin token:` lines and stops at `ROLLCALL_API_URL=`.
fn where_to_look(data_dir: &Path, running: &Running, admin_token: &str) -> String {
    guide(
        data_dir,
        running.grpc_address,
        &running.state.pki.ca_fingerprint,
        running.api_address,
        admin_token,
    )
}

fn guide(
    data_dir: &Path,
    grpc_address: SocketAddr,
    ca_fingerprint: &str,
    api_address: SocketAddr,
    admin_token: &str,
) -> String {
    let api = format!("http://{api_address}");
    format!(
        "\n\
         Rollcall is running (Ctrl-C to stop).\n\
         \x20 data directory:  {data_dir}\n\
         \x20 agents connect:  https://{grpc_address}  (CA fingerprint {ca_fingerprint})\n\
         \x20 console:         {api}/  (log in with the admin token)\n\
         \x20 API:             {api}/api/v1/hosts\n\
         \x20 admin token:     {admin_token}\n\
         \n\
         Try:\n\
         \x20 curl -s -H 'Authorization: Bearer {admin_token}' {api}/api/v1/hosts\n\
         \x20 ROLLCALL_API_URL={api} ROLLCALL_API_TOKEN={admin_token} cargo run -q --bin rollcall -- hosts list\n\
         \n",
        data_dir = data_dir.display(),
    )
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    crate::files::write_private(path, contents.as_bytes()).map_err(|source| CliError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_token_is_kept_0600_and_a_loose_file_is_tightened() -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().map_err(|source| CliError::Write {
            path: PathBuf::new(),
            source,
        })?;
        let path = dir.path().join("admin-token");
        let mode = |path: &Path| {
            std::fs::metadata(path)
                .map(|metadata| metadata.permissions().mode() & 0o777)
                .unwrap_or(0)
        };
        assert_eq!(admin_token(dir.path(), Some("rcapi_x"))?, "rcapi_x");
        assert_eq!(mode(&path), 0o600);
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644));
        assert_eq!(admin_token(dir.path(), None)?, "rcapi_x");
        assert_eq!(mode(&path), 0o600);
        Ok(())
    }

    #[test]
    fn guide_has_the_lines_scripts_read() {
        let text = guide(
            Path::new("./rollcall-data"),
            SocketAddr::from(([127, 0, 0, 1], 4443)),
            "ab:cd",
            SocketAddr::from(([127, 0, 0, 1], 8080)),
            "rcapi_x",
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.contains(&"  API:             http://127.0.0.1:8080/api/v1/hosts"));
        assert!(lines.contains(&"  admin token:     rcapi_x"));
        assert!(
            lines.contains(
                &"  console:         http://127.0.0.1:8080/  (log in with the admin token)"
            )
        );
        assert!(
            lines.contains(&"  agents connect:  https://127.0.0.1:4443  (CA fingerprint ab:cd)")
        );
        let last = lines.iter().rev().find(|line| !line.is_empty());
        assert!(last.is_some_and(|line| line.trim_start().starts_with("ROLLCALL_API_URL=")));
    }
}
