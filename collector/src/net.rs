//! Accepting TCP connections on the collector's two ports (a leaf).

use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// How long to pause after a failed accept.
const ACCEPT_BACK_OFF: Duration = Duration::from_millis(50);

/// The next connection on `listener`, or `None` once `shutdown` is
/// cancelled. A failed accept (out of file descriptors, mostly) is logged
/// with `port` and retried after a pause instead of spinning.
pub async fn accept(
    listener: &TcpListener,
    port: &'static str,
    shutdown: &CancellationToken,
) -> Option<TcpStream> {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return None,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => return Some(stream),
                Err(error) => {
                    tracing::warn!(port, error = %error, "accept failed");
                    tokio::time::sleep(ACCEPT_BACK_OFF).await;
                }
            },
        }
    }
}
