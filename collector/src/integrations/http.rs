//! The HTTP client every adapter uses: one per target, with its own TLS
//! roots, timeout and default credentials, and the classification of
//! answers (delivered / retry / final, `Retry-After`).

use std::time::{Duration, SystemTime};

use reqwest::header::{DATE, HeaderMap, RETRY_AFTER};

use super::DeliveryError;
use super::config::TargetConfig;
use super::settings::Auth;
use crate::error::{Error, Result};

/// Longest `Retry-After` honoured; a longer one waits this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Shortest `Retry-After` honoured (`0`, or a date already past).
pub const MIN_RETRY_AFTER: Duration = Duration::from_secs(1);

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
    /// `Retry-After` (either form, clamped), if given and valid.
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

/// The longest `Retry-After` header value read; a longer one is refused.
const MAX_RETRY_AFTER_TEXT: usize = 64;

/// `Retry-After` (RFC 9110 §10.2.3) in either form: delta-seconds
/// (`120`) or an HTTP-date (`Wed, 02 Dec 2026 07:00:00 GMT`, and the
/// obsolete RFC 850 and asctime forms a recipient must accept). A date is
/// measured from the answer's own `Date` header when it has a valid one
/// (so a vendor whose clock is off still gets the wait it meant), else
/// from `now`. The wait is clamped to [`MIN_RETRY_AFTER`,
/// `MAX_RETRY_AFTER`]: a past date or `0` waits the minimum rather than
/// hammering the target, a hostile huge value or far-future date waits
/// the maximum. Anything else (negative, fractional, text, overlong) is
/// refused: `None`, and the normal backoff applies.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if text.is_empty() || text.len() > MAX_RETRY_AFTER_TEXT {
        return None;
    }
    let delay = if text.bytes().all(|byte| byte.is_ascii_digit()) {
        // All digits: a value past u64 is still a valid, very long delay.
        Duration::from_secs(text.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        let at = httpdate::parse_http_date(text).ok()?;
        let from = headers
            .get(DATE)
            .and_then(|date| date.to_str().ok())
            .and_then(|date| httpdate::parse_http_date(date.trim()).ok())
            .unwrap_or(now);
        at.duration_since(from).unwrap_or(Duration::ZERO)
    };
    Some(delay.clamp(MIN_RETRY_AFTER, MAX_RETRY_AFTER))
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
        let retry_after = retry_after(response.headers(), SystemTime::now());
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

    fn headers(pairs: &[(reqwest::header::HeaderName, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(name.clone(), value.parse().unwrap());
        }
        headers
    }

    /// 2026-12-02 07:00:00 UTC.
    fn seven() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_194_800)
    }

    #[test]
    fn retry_after_in_delta_seconds() {
        let now = seven();
        let delay = |value: &str| retry_after(&headers(&[(RETRY_AFTER, value)]), now);
        assert_eq!(delay("3"), Some(Duration::from_secs(3)));
        assert_eq!(delay(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(delay("0"), Some(MIN_RETRY_AFTER), "0 waits the minimum");
        assert_eq!(delay("86400"), Some(MAX_RETRY_AFTER), "a day is clamped");
        assert_eq!(
            delay("99999999999999999999999999"),
            Some(MAX_RETRY_AFTER),
            "past u64: clamped, not an overflow"
        );
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn retry_after_as_an_http_date() {
        let now = seven();
        let delay = |value: &str| retry_after(&headers(&[(RETRY_AFTER, value)]), now);
        assert_eq!(
            delay("Wed, 02 Dec 2026 07:00:30 GMT"),
            Some(Duration::from_secs(30)),
            "IMF-fixdate"
        );
        assert_eq!(
            delay("Wednesday, 02-Dec-26 07:01:00 GMT"),
            Some(Duration::from_secs(60)),
            "obsolete RFC 850 form"
        );
        assert_eq!(
            delay("Wed Dec  2 07:00:05 2026"),
            Some(Duration::from_secs(5)),
            "obsolete asctime form"
        );
        assert_eq!(
            delay("Wed, 02 Dec 2026 06:00:00 GMT"),
            Some(MIN_RETRY_AFTER),
            "a past date waits the minimum"
        );
        assert_eq!(
            delay("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(MIN_RETRY_AFTER)
        );
        assert_eq!(
            delay("Fri, 31 Dec 9999 23:59:59 GMT"),
            Some(MAX_RETRY_AFTER),
            "a far-future date is clamped"
        );
        // Measured from the vendor's own Date when it sends one: its clock
        // runs 10 minutes behind ours, it means 20 s.
        let skewed = headers(&[
            (RETRY_AFTER, "Wed, 02 Dec 2026 06:50:20 GMT"),
            (DATE, "Wed, 02 Dec 2026 06:50:00 GMT"),
        ]);
        assert_eq!(retry_after(&skewed, now), Some(Duration::from_secs(20)));
        // A Date that is not a date is ignored; our clock is used.
        let bad_date = headers(&[
            (RETRY_AFTER, "Wed, 02 Dec 2026 07:00:10 GMT"),
            (DATE, "yesterday"),
        ]);
        assert_eq!(retry_after(&bad_date, now), Some(Duration::from_secs(10)));
    }

    #[test]
    fn retry_after_refuses_what_is_neither_form() {
        let now = seven();
        for value in [
            "soon",
            "-5",
            "3.5",
            "1e3",
            "+7",
            "Wed, 32 Dec 2026 07:00:00 GMT",
            "Wed, 02 Dec 2026 25:00:00 GMT",
            "2026-12-02T07:00:30Z",
            "Wed, 02 Dec 2026 07:00:30 GMT trailing",
            &"9".repeat(65),
        ] {
            assert_eq!(
                retry_after(&headers(&[(RETRY_AFTER, value)]), now),
                None,
                "{value:?}"
            );
        }
        // Not visible ASCII: not a header string at all.
        let mut opaque = HeaderMap::new();
        opaque.insert(
            RETRY_AFTER,
            reqwest::header::HeaderValue::from_bytes(b"\xff10").unwrap(),
        );
        assert_eq!(retry_after(&opaque, now), None);
    }
}
