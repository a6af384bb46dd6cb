//! How the two listeners serve: `[api]` (HTTPS or loopback-only plain HTTP,
//! time-outs, body limit) and `[grpc]` (the TLS handshake time-out on the
//! agents' port). Every option is bounded; `validate` names the bound.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// `[api]`: how the REST API is served.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Serve HTTPS (the collector's own server certificate unless
    /// `tls_cert`/`tls_key` are given).
    pub tls: bool,
    /// Operator certificate chain (PEM) for the API; needs `tls = true`.
    pub tls_cert: Option<PathBuf>,
    /// The operator certificate's private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// Allow plain HTTP on an address that is not loopback (only behind a
    /// TLS-terminating proxy: tokens would otherwise cross the network in clear).
    pub allow_plain_http: bool,
    /// Time a client has to complete the TLS handshake, in ms.
    pub tls_handshake_timeout_ms: u64,
    /// Time a client has to send a request's headers (slowloris), in ms.
    pub header_read_timeout_ms: u64,
    /// Time a whole request may take, body and handler included, in ms.
    pub request_timeout_ms: u64,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            tls: false,
            tls_cert: None,
            tls_key: None,
            allow_plain_http: false,
            tls_handshake_timeout_ms: 10_000,
            header_read_timeout_ms: 10_000,
            request_timeout_ms: 60_000,
            max_body_bytes: 2 * 1024 * 1024,
        }
    }
}

/// `[grpc]`: how the agents' port treats connections before a session.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// Time a client has to complete the TLS handshake, in ms; a connection
    /// that never starts TLS is closed after it.
    pub tls_handshake_timeout_ms: u64,
    /// Time a client has, once TLS is up, to send the HTTP/2 connection
    /// preface, in ms; a connection that sends nothing is closed after it.
    pub first_bytes_timeout_ms: u64,
    /// Longest life of a connection without a client certificate, in ms.
    /// Such connections can only call `Enroll`, which takes milliseconds; an
    /// idle one is closed at this age instead of being held open forever.
    pub unauthenticated_connection_max_ms: u64,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        Self {
            tls_handshake_timeout_ms: 10_000,
            first_bytes_timeout_ms: 10_000,
            unauthenticated_connection_max_ms: 60_000,
        }
    }
}

/// Bounds of `grpc.unauthenticated_connection_max_ms`.
pub const UNAUTHENTICATED_CONNECTION_MAX_MS: (u64, u64) = (1_000, 3_600_000);

/// Bounds of the time-outs (ms) and of the body limit (bytes).
pub const HANDSHAKE_TIMEOUT_MS: (u64, u64) = (100, 60_000);
/// Bounds of `api.header_read_timeout_ms`.
pub const HEADER_READ_TIMEOUT_MS: (u64, u64) = (100, 300_000);
/// Bounds of `api.request_timeout_ms`.
pub const REQUEST_TIMEOUT_MS: (u64, u64) = (100, 600_000);
/// Bounds of `api.max_body_bytes`.
pub const MAX_BODY_BYTES: (usize, usize) = (1024, 64 * 1024 * 1024);

fn within<T: PartialOrd + std::fmt::Display>(
    name: &str,
    value: T,
    (low, high): (T, T),
) -> Result<()> {
    if value < low || value > high {
        return Err(Error::Config(format!(
            "{name} must be between {low} and {high}, got {value}"
        )));
    }
    Ok(())
}

impl ApiConfig {
    /// Checks the bounds, the certificate pair, and that plain HTTP is not
    /// served beyond loopback unless `allow_plain_http` says so.
    pub fn validate(&self, api_listen: SocketAddr) -> Result<()> {
        within(
            "api.tls_handshake_timeout_ms",
            self.tls_handshake_timeout_ms,
            HANDSHAKE_TIMEOUT_MS,
        )?;
        within(
            "api.header_read_timeout_ms",
            self.header_read_timeout_ms,
            HEADER_READ_TIMEOUT_MS,
        )?;
        within(
            "api.request_timeout_ms",
            self.request_timeout_ms,
            REQUEST_TIMEOUT_MS,
        )?;
        within("api.max_body_bytes", self.max_body_bytes, MAX_BODY_BYTES)?;
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(Error::Config(
                "api.tls_cert and api.tls_key must be given together".into(),
            ));
        }
        if self.tls_cert.is_some() && !self.tls {
            return Err(Error::Config(
                "api.tls_cert and api.tls_key are set but api.tls is false; set api.tls = true"
                    .into(),
            ));
        }
        if !self.tls && !self.allow_plain_http && !api_listen.ip().is_loopback() {
            return Err(Error::Config(format!(
                "api_listen {api_listen} is not a loopback address, and plain HTTP there would send \
                 API tokens in clear: set [api] tls = true (HTTPS with the collector's certificate, \
                 or tls_cert/tls_key), or [api] allow_plain_http = true if a TLS proxy is in front"
            )));
        }
        Ok(())
    }

    /// `tls_handshake_timeout_ms` as a duration.
    pub fn tls_handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.tls_handshake_timeout_ms)
    }

    /// `header_read_timeout_ms` as a duration.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    /// `request_timeout_ms` as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

impl GrpcConfig {
    /// Checks the bounds.
    pub fn validate(&self) -> Result<()> {
        within(
            "grpc.tls_handshake_timeout_ms",
            self.tls_handshake_timeout_ms,
            HANDSHAKE_TIMEOUT_MS,
        )?;
        within(
            "grpc.first_bytes_timeout_ms",
            self.first_bytes_timeout_ms,
            HANDSHAKE_TIMEOUT_MS,
        )?;
        within(
            "grpc.unauthenticated_connection_max_ms",
            self.unauthenticated_connection_max_ms,
            UNAUTHENTICATED_CONNECTION_MAX_MS,
        )
    }

    /// `first_bytes_timeout_ms` as a duration.
    pub fn first_bytes_timeout(&self) -> Duration {
        Duration::from_millis(self.first_bytes_timeout_ms)
    }

    /// `unauthenticated_connection_max_ms` as a duration.
    pub fn unauthenticated_connection_max(&self) -> Duration {
        Duration::from_millis(self.unauthenticated_connection_max_ms)
    }

    /// `tls_handshake_timeout_ms` as a duration.
    pub fn tls_handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.tls_handshake_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn plain_http_beyond_loopback_is_refused_unless_allowed() {
        let api = ApiConfig::default();
        api.validate(address("127.0.0.1:8080")).unwrap();
        api.validate(address("[::1]:8080")).unwrap();
        for listen in ["0.0.0.0:8080", "192.0.2.1:8080", "[::]:8080"] {
            let error = api.validate(address(listen)).unwrap_err().to_string();
            assert!(error.contains("allow_plain_http"), "{error}");
        }
        let allowed = ApiConfig {
            allow_plain_http: true,
            ..ApiConfig::default()
        };
        allowed.validate(address("0.0.0.0:8080")).unwrap();
        let https = ApiConfig {
            tls: true,
            ..ApiConfig::default()
        };
        https.validate(address("0.0.0.0:8080")).unwrap();
    }

    #[test]
    fn every_time_out_and_the_body_limit_are_bounded() {
        let loopback = address("127.0.0.1:8080");
        let cases: [(&str, ApiConfig); 8] = [
            (
                "api.tls_handshake_timeout_ms",
                ApiConfig {
                    tls_handshake_timeout_ms: 0,
                    ..Default::default()
                },
            ),
            (
                "api.tls_handshake_timeout_ms",
                ApiConfig {
                    tls_handshake_timeout_ms: 60_001,
                    ..Default::default()
                },
            ),
            (
                "api.header_read_timeout_ms",
                ApiConfig {
                    header_read_timeout_ms: 99,
                    ..Default::default()
                },
            ),
            (
                "api.header_read_timeout_ms",
                ApiConfig {
                    header_read_timeout_ms: 300_001,
                    ..Default::default()
                },
            ),
            (
                "api.request_timeout_ms",
                ApiConfig {
                    request_timeout_ms: 0,
                    ..Default::default()
                },
            ),
            (
                "api.request_timeout_ms",
                ApiConfig {
                    request_timeout_ms: 600_001,
                    ..Default::default()
                },
            ),
            (
                "api.max_body_bytes",
                ApiConfig {
                    max_body_bytes: 1023,
                    ..Default::default()
                },
            ),
            (
                "api.max_body_bytes",
                ApiConfig {
                    max_body_bytes: 64 * 1024 * 1024 + 1,
                    ..Default::default()
                },
            ),
        ];
        for (name, config) in cases {
            let error = config.validate(loopback).unwrap_err().to_string();
            assert!(error.contains(name) && error.contains("between"), "{error}");
        }
        for value in [99, 60_001] {
            let error = GrpcConfig {
                tls_handshake_timeout_ms: value,
                ..GrpcConfig::default()
            }
            .validate()
            .unwrap_err()
            .to_string();
            assert!(error.contains("grpc.tls_handshake_timeout_ms"), "{error}");
            let error = GrpcConfig {
                first_bytes_timeout_ms: value,
                ..GrpcConfig::default()
            }
            .validate()
            .unwrap_err()
            .to_string();
            assert!(error.contains("grpc.first_bytes_timeout_ms"), "{error}");
        }
        for value in [999, 3_600_001] {
            let error = GrpcConfig {
                unauthenticated_connection_max_ms: value,
                ..GrpcConfig::default()
            }
            .validate()
            .unwrap_err()
            .to_string();
            assert!(
                error.contains("grpc.unauthenticated_connection_max_ms"),
                "{error}"
            );
        }
        GrpcConfig::default().validate().unwrap();
    }

    #[test]
    fn the_example_configuration_shows_the_defaults() {
        let example = include_str!("../../../packaging/config/collector.example.toml");
        let config = crate::config::Config::from_toml(example).unwrap();
        let defaults = ApiConfig::default();
        assert_eq!(
            serde_json::to_value(&config.api).unwrap(),
            serde_json::to_value(&defaults).unwrap()
        );
        assert_eq!(
            config.grpc.tls_handshake_timeout_ms,
            GrpcConfig::default().tls_handshake_timeout_ms
        );
    }

    #[test]
    fn an_operator_certificate_needs_its_key_and_tls() {
        let loopback = address("127.0.0.1:8080");
        let half = ApiConfig {
            tls: true,
            tls_cert: Some("cert.pem".into()),
            ..ApiConfig::default()
        };
        assert!(
            half.validate(loopback)
                .unwrap_err()
                .to_string()
                .contains("together")
        );
        let without_tls = ApiConfig {
            tls_cert: Some("cert.pem".into()),
            tls_key: Some("key.pem".into()),
            ..ApiConfig::default()
        };
        let error = without_tls.validate(loopback).unwrap_err().to_string();
        assert!(error.contains("api.tls = true"), "{error}");
    }
}
