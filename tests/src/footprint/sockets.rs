//! Open sockets on the host for the inventory-time measurement: helper
//! processes (this program re-run with `--hold-sockets COUNT`) that each
//! hold `COUNT` connected loopback TCP sockets and one listener, the way a
//! busy server does. One process may hold at most [`PER_HOLDER`] (the
//! per-process open-file limit of 20,000 is not raised).

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, bail};

/// Sockets one helper holds at most.
pub const PER_HOLDER: usize = 10_000;

/// The helper processes; dropping them ends them.
pub struct Holders {
    children: Vec<Child>,
    /// Sockets they hold together (connections and listeners).
    pub sockets: usize,
}

impl Drop for Holders {
    fn drop(&mut self) {
        for child in &mut self.children {
            // Closing stdin ends a helper; kill it too in case it is stuck.
            drop(child.stdin.take());
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts helpers (`program --hold-sockets N`) until `total` sockets are
/// open, and waits for each to report them open.
pub fn hold(program: &Path, total: usize) -> Result<Holders> {
    let mut holders = Holders {
        children: Vec::new(),
        sockets: 0,
    };
    let mut left = total;
    while left > 0 {
        let count = left.min(PER_HOLDER);
        // Both ends of count / 2 connections, plus the listener and stdio.
        let files = count + 64;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -n {files} && exec \"$0\" --hold-sockets {count}"
            ))
            .arg(program)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting a socket holder")?;
        let stdout = child.stdout.take().context("holder stdout")?;
        holders.children.push(child);
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let Some(held) = line.trim().strip_prefix("holding ") else {
            bail!("a socket holder failed to open {count} sockets: {line:?}");
        };
        holders.sockets += held.parse::<usize>().context("holder count")?;
        left -= count;
    }
    Ok(holders)
}

/// The helper's main: opens `count` connected loopback sockets (`count / 2`
/// connections, both ends) and a listener, prints `holding N`, and holds
/// them until stdin closes.
pub fn holder_main(count: usize) -> Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let mut open = Vec::with_capacity(count);
    for _ in 0..count / 2 {
        let client = TcpStream::connect(address).context("connect")?;
        let (server, _) = listener.accept().context("accept")?;
        open.push(client);
        open.push(server);
    }
    println!("holding {}", open.len() + 1);
    let mut rest = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut rest);
    drop(open);
    Ok(())
}
