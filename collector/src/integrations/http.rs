//! The HTTP client every adapter uses: one per target, with its own TLS
//! roots, timeout and default credentials, and the classification of
//! answers (delivered / retry / final, `Retry-After`).

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::DeliveryError;
use super::config::TargetConfig;
use super::settings::Auth;
use crate::error::{Error, Result};

/// Longest `Retry-After` honoured; beyond it the normal backoff applies.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// An HTTP client for one target.
#[derive(Debug, Clone)]
pub struct Http {
    /// The client (its own TLS roots and timeout).
    pub client: reqwest::Client,
    /// Base URL without a trailing slash.
    pub base: String,
    /// Default credentials.
    pub auth: Auth,
}

/// A target's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Body text.
    pub body: String,
    /// `Retry-After`, if given in seconds.
    pub retry_after: Option<Duration>,
}

impl Answer {
    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// `HTTP 201: {…}`, shortened.
    pub fn summary(&self) -> String {
        format!("HTTP {}: {}", self.status, shorten(&self.body, 300))
    }
}

/// Cuts `text` to at most `max` bytes at a character boundary.
pub fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.trim().to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", text[..end].trim())
}

/// `Retry-After` in seconds (the HTTP-date form is not used by these vendors).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
        .filter(|delay| *delay <= MAX_RETRY_AFTER)
}

/// Classifies a non-2xx answer: 408, 429 and 5xx are retried (honouring
/// `Retry-After`), every other status is final. `None` for 2xx.
pub fn classify(answer: &Answer) -> Option<DeliveryError> {
    match answer.status {
        200..=299 => None,
        408 | 429 | 500..=599 => Some(DeliveryError::Retry {
            error: answer.summary(),
            retry_after_ms: answer
                .retry_after
                .map(|delay| u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)),
        }),
        _ => Some(DeliveryError::Final {
            error: answer.summary(),
        }),
    }
}

impl Http {
    /// A client for `config`: its timeout, its CA file if any, the default
    /// credentials of its kind.
    pub fn new(config: &TargetConfig) -> Result<Self> {
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(config.timeout_s))
            .connect_timeout(Duration::from_secs(config.timeout_s.min(10)))
            .user_agent(concat!("rollcall/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|error| {
                Error::Config(format!(
                    "integrations target {:?}: cannot read ca_file {}: {error}",
                    config.name,
                    path.display()
                ))
            })?;
            for certificate in reqwest::Certificate::from_pem_bundle(&pem).map_err(|error| {
                Error::Config(format!(
                    "integrations target {:?}: ca_file {} is not PEM: {error}",
                    config.name,
                    path.display()
                ))
            })? {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let client = builder.build().map_err(|error| {
            Error::Config(format!(
                "integrations target {:?}: cannot build an HTTP client: {error}",
                config.name
            ))
        })?;
        Ok(Self {
            client,
            base: config.url.trim_end_matches('/').to_string(),
            auth: config.vendor.auth(),
        })
    }

    /// A request to `base + path` with the default credentials.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let builder = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header(reqwest::header::ACCEPT, "application/json");
        with_auth(builder, &self.auth)
    }

    /// Sends; a transport failure is a retry.
    pub async fn send(&self, builder: reqwest::RequestBuilder) -> Result<Answer, DeliveryError> {
        let response = builder.send().await.map_err(|error| DeliveryError::Retry {
            error: format!("request failed: {}", error_chain(&error)),
            retry_after_ms: None,
        })?;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let body = response
            .text()
            .await
            .map_err(|error| DeliveryError::Retry {
                error: format!("reading the answer failed: {}", error_chain(&error)),
                retry_after_ms: None,
            })?;
        Ok(Answer {
            status,
            body,
            retry_after,
        })
    }

    /// Sends and requires a 2xx answer.
    pub async fn send_ok(&self, builder: reqwest::RequestBuilder) -> Result<Answer, DeliveryError> {
        let answer = self.send(builder).await?;
        match classify(&answer) {
            None => Ok(answer),
            Some(outcome) => Err(outcome),
        }
    }
}

/// Adds credentials to a request.
pub fn with_auth(builder: reqwest::RequestBuilder, auth: &Auth) -> reqwest::RequestBuilder {
    match auth {
        Auth::None => builder,
        Auth::Basic { username, password } => builder.basic_auth(username, Some(password)),
        Auth::Bearer(token) => builder.bearer_auth(token),
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, retry_after: Option<u64>) -> Answer {
        Answer {
            status,
            body: "{\"x\":1}".into(),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn classifies_answers() {
        assert_eq!(classify(&answer(201, None)), None);
        assert_eq!(
            classify(&answer(429, Some(7))),
            Some(DeliveryError::Retry {
                error: "HTTP 429: {\"x\":1}".into(),
                retry_after_ms: Some(7000)
            })
        );
        assert!(matches!(
            classify(&answer(503, None)),
            Some(DeliveryError::Retry { .. })
        ));
        assert!(matches!(
            classify(&answer(400, None)),
            Some(DeliveryError::Final { .. })
        ));
        assert!(matches!(
            classify(&answer(401, None)),
            Some(DeliveryError::Final { .. })
        ));
    }

    #[test]
    fn parses_retry_after_seconds_only() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }
}
