//! The HTTP check: a minimal HTTP/1.1 GET over plain TCP (no TLS, no
//! client library, to keep the agent small) that reads only the status line.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest HTTP response head read while looking for the status line.
const MAX_STATUS_LINE: usize = 8 * 1024;

/// A parsed `http://host[:port]/path` URL.
#[derive(Debug, PartialEq, Eq)]
struct HttpUrl<'a> {
    host: &'a str,
    port: u16,
    path: String,
}

/// Parses a plain HTTP URL; the error is the check's failure message.
fn parse_http_url(url: &str) -> Result<HttpUrl<'_>, String> {
    if url
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    {
        return Err("https not supported by the agent's built-in check".to_owned());
    }
    let rest = match url.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("http://") => &url[7..],
        _ => return Err(format!("not an http:// url: {url}")),
    };
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(index) => (&rest[..index], &rest[index..]),
        None => (rest, ""),
    };
    // The fragment is never sent; a query without a path gets "/".
    let path = path.split('#').next().unwrap_or("");
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        // [v6]:port
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("bad host in url: {url}"))?;
        let port = match after.strip_prefix(':') {
            Some(port) => port
                .parse()
                .map_err(|_| format!("bad port in url: {url}"))?,
            None => 80,
        };
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse()
                    .map_err(|_| format!("bad port in url: {url}"))?,
            ),
            None => (authority, 80),
        }
    };
    if host.is_empty() {
        return Err(format!("no host in url: {url}"));
    }
    Ok(HttpUrl { host, port, path })
}

/// The status code from an HTTP response's status line.
fn parse_status_line(head: &[u8]) -> Option<u16> {
    let line_end = head.windows(2).position(|pair| pair == b"\r\n")?;
    let line = std::str::from_utf8(&head[..line_end]).ok()?;
    let mut parts = line.split(' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// Sends a minimal HTTP/1.1 GET and checks the status code.
pub(super) async fn check_http(
    url: &str,
    expect_status: Option<u16>,
    timeout: Duration,
) -> (bool, String) {
    let target = match parse_http_url(url) {
        Ok(target) => target,
        Err(message) => return (false, message),
    };
    let exchange = async {
        let mut stream = TcpStream::connect((target.host, target.port))
            .await
            .map_err(|error| {
                format!(
                    "connection to {}:{} failed: {error}",
                    target.host, target.port
                )
            })?;
        let host_header = if target.port == 80 {
            target.host.to_owned()
        } else if target.host.contains(':') {
            format!("[{}]:{}", target.host, target.port)
        } else {
            format!("{}:{}", target.host, target.port)
        };
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: rollcall-agent/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            target.path,
            env!("CARGO_PKG_VERSION"),
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|error| format!("sending request failed: {error}"))?;
        let mut head = Vec::with_capacity(256);
        let mut buffer = [0u8; 1024];
        loop {
            if let Some(status) = parse_status_line(&head) {
                return Ok(status);
            }
            if head.len() >= MAX_STATUS_LINE {
                return Err("no http status line in response".to_owned());
            }
            let read = stream
                .read(&mut buffer)
                .await
                .map_err(|error| format!("reading response failed: {error}"))?;
            if read == 0 {
                return Err(if head.is_empty() {
                    "connection closed without a response".to_owned()
                } else {
                    "no http status line in response".to_owned()
                });
            }
            head.extend_from_slice(&buffer[..read]);
        }
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(status)) => {
            let ok = match expect_status {
                Some(expected) => status == expected,
                None => (200..400).contains(&status),
            };
            let message = match (ok, expect_status) {
                (true, _) | (false, None) => format!("http status {status}"),
                (false, Some(expected)) => format!("http status {status}, expected {expected}"),
            };
            (ok, message)
        }
        Ok(Err(message)) => (false, message),
        Err(_) => (false, format!("timed out after {} ms", timeout.as_millis())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::checks::{CheckConfig, CheckKind, run_check};
    use rollcall_proto::v1::CheckResult;
    use std::path::Path;
    use tokio::net::TcpListener;

    async fn run(kind: CheckKind, timeout_ms: Option<u64>) -> CheckResult {
        let config = CheckConfig {
            name: "test".into(),
            kind,
            interval_s: None,
            timeout_ms,
        };
        run_check(&config, Path::new("/")).await
    }

    #[test]
    fn url_parsing() {
        assert_eq!(
            parse_http_url("http://example.com").unwrap(),
            HttpUrl {
                host: "example.com",
                port: 80,
                path: "/".into()
            }
        );
        assert_eq!(
            parse_http_url("HTTP://127.0.0.1:8080/a/b?c=d").unwrap(),
            HttpUrl {
                host: "127.0.0.1",
                port: 8080,
                path: "/a/b?c=d".into()
            }
        );
        assert_eq!(
            parse_http_url("http://[::1]:9000/x").unwrap(),
            HttpUrl {
                host: "::1",
                port: 9000,
                path: "/x".into()
            }
        );
        assert_eq!(
            parse_http_url("https://example.com/").unwrap_err(),
            "https not supported by the agent's built-in check"
        );
        assert_eq!(parse_http_url("http://h?q=1#frag").unwrap().path, "/?q=1");
        assert!(parse_http_url("ftp://example.com/").is_err());
        assert!(parse_http_url("http://:80/").is_err());
        assert!(parse_http_url("http://host:notaport/").is_err());
        // Non-ASCII input must not panic on slicing.
        assert_eq!(parse_http_url("http://é").unwrap().host, "é");
        assert!(parse_http_url("httpé://x").is_err());
        assert_eq!(parse_status_line(b"HTTP/1.1 204 No Content\r\n"), Some(204));
        assert_eq!(parse_status_line(b"HTTP/1.1 204 No Content"), None);
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH\r\n"), None);
    }

    /// Serves one canned response per connection.
    async fn serve(response: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = vec![0u8; 4096];
                let read = stream.read(&mut request).await.unwrap_or(0);
                if request[..read].starts_with(b"GET /") && !response.is_empty() {
                    let _ = stream.write_all(response).await;
                }
                if response.is_empty() {
                    // Never answer: the check must time out.
                    tokio::time::sleep(Duration::from_secs(10)).await;
                }
            }
        });
        port
    }

    #[tokio::test]
    async fn http_statuses() {
        let port = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok").await;
        let url = format!("http://127.0.0.1:{port}/health");
        let result = run(
            CheckKind::Http {
                url: url.clone(),
                expect_status: None,
            },
            None,
        )
        .await;
        assert!(result.ok, "{}", result.message);
        assert_eq!(result.message, "http status 200");
        let result = run(
            CheckKind::Http {
                url,
                expect_status: Some(204),
            },
            None,
        )
        .await;
        assert!(!result.ok);
        assert_eq!(result.message, "http status 200, expected 204");

        let port = serve(b"HTTP/1.0 503 Service Unavailable\r\n\r\n").await;
        let url = format!("http://127.0.0.1:{port}/");
        let result = run(
            CheckKind::Http {
                url,
                expect_status: None,
            },
            None,
        )
        .await;
        assert!(!result.ok);
        assert_eq!(result.message, "http status 503");

        let port = serve(b"").await;
        let url = format!("http://127.0.0.1:{port}/");
        let result = run(
            CheckKind::Http {
                url,
                expect_status: None,
            },
            Some(200),
        )
        .await;
        assert!(!result.ok);
        assert_eq!(result.message, "timed out after 200 ms");

        let url = "https://127.0.0.1/".to_owned();
        let result = run(
            CheckKind::Http {
                url,
                expect_status: None,
            },
            None,
        )
        .await;
        assert_eq!(
            result.message,
            "https not supported by the agent's built-in check"
        );
    }
}
