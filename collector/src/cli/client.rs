//! The HTTP client to the collector's REST API: builds `/api/v1/…` URLs
//! (path segments and query values percent-encoded by `url`), sends the
//! bearer token, and turns an error status into [`CliError::Api`] with the
//! API's own message.

use reqwest::{Method, Url};
use serde_json::Value;

use crate::cli::error::{CliError, Result};
use crate::cli::trust::Trust;

/// A path under `/api/v1` with its query, e.g. `incidents/{id}/comments`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    segments: Vec<String>,
    query: Vec<(String, String)>,
}

impl Endpoint {
    /// The collection `resource`, e.g. `hosts` for `/api/v1/hosts`.
    pub fn new(resource: &str) -> Self {
        Self {
            segments: vec![resource.to_string()],
            query: Vec::new(),
        }
    }

    /// Appends one path segment; `/` and other reserved characters in it
    /// are encoded, so an id can never change the path.
    pub fn segment(mut self, segment: impl ToString) -> Self {
        self.segments.push(segment.to_string());
        self
    }

    /// Appends a query parameter.
    pub fn param(mut self, key: impl Into<String>, value: impl ToString) -> Self {
        self.query.push((key.into(), value.to_string()));
        self
    }

    /// Appends a query parameter when there is a value.
    pub fn param_opt(self, key: impl Into<String>, value: Option<impl ToString>) -> Self {
        match value {
            Some(value) => self.param(key, value),
            None => self,
        }
    }
}

/// A client for one collector, with one token.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: String,
}

impl Client {
    /// A client for the API at `api_url` (a base path such as
    /// `https://ops.example/rollcall` is kept); fails without a token.
    /// An `https://` URL is refused: it needs a [`Trust`] ([`Client::with_trust`]).
    pub fn new(api_url: &str, token: Option<&str>) -> Result<Self> {
        Self::with_trust(api_url, token, &Trust::Unset)
    }

    /// A client for the API at `api_url` that verifies an `https://`
    /// collector by `trust` (never without one).
    pub fn with_trust(api_url: &str, token: Option<&str>, trust: &Trust) -> Result<Self> {
        let token = token.ok_or(CliError::MissingToken)?.to_string();
        let invalid = |reason: String| CliError::InvalidUrl {
            url: api_url.to_string(),
            reason,
        };
        let base = Url::parse(api_url).map_err(|error| invalid(error.to_string()))?;
        if base.cannot_be_a_base() || !matches!(base.scheme(), "http" | "https") {
            return Err(invalid("expected an http:// or https:// URL".into()));
        }
        let http = if base.scheme() == "https" {
            reqwest::Client::builder()
                .use_preconfigured_tls(trust.client_config()?)
                .build()
                .map_err(|error| CliError::Trust {
                    reason: error.to_string(),
                })?
        } else {
            reqwest::Client::new()
        };
        Ok(Self { http, base, token })
    }

    /// The full URL of `endpoint`.
    pub fn url(&self, endpoint: &Endpoint) -> Url {
        let mut url = self.base.clone();
        url.set_query(None);
        url.set_fragment(None);
        if let Ok(mut segments) = url.path_segments_mut() {
            segments
                .pop_if_empty()
                .extend(["api", "v1"])
                .extend(&endpoint.segments);
        }
        if !endpoint.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&endpoint.query);
        }
        url
    }

    /// `GET`s `endpoint` and returns the JSON answer.
    pub async fn get(&self, endpoint: &Endpoint) -> Result<Value> {
        self.send(Method::GET, endpoint, None).await
    }

    /// `POST`s `body` (if any) to `endpoint` and returns the JSON answer
    /// (null when the answer has no JSON body).
    pub async fn post(&self, endpoint: &Endpoint, body: Option<Value>) -> Result<Value> {
        self.send(Method::POST, endpoint, body).await
    }

    /// `PUT`s `body` to `endpoint` and returns the JSON answer.
    pub async fn put(&self, endpoint: &Endpoint, body: Value) -> Result<Value> {
        self.send(Method::PUT, endpoint, Some(body)).await
    }

    /// `PATCH`es `endpoint` with `body` and returns the JSON answer.
    pub async fn patch(&self, endpoint: &Endpoint, body: Value) -> Result<Value> {
        self.send(Method::PATCH, endpoint, Some(body)).await
    }

    /// `DELETE`s `endpoint` and returns the JSON answer.
    pub async fn delete(&self, endpoint: &Endpoint) -> Result<Value> {
        self.send(Method::DELETE, endpoint, None).await
    }

    async fn send(
        &self,
        method: Method,
        endpoint: &Endpoint,
        body: Option<Value>,
    ) -> Result<Value> {
        let url = self.url(endpoint);
        let mut request = self
            .http
            .request(method, url.clone())
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|error| CliError::Unreachable {
                url: url.to_string(),
                source: error.without_url(),
            })?;
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let message = value["error"].as_str().unwrap_or("no details").to_string();
            return Err(CliError::Api { status, message });
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> Client {
        let trust = Trust::CaFingerprint("ab".repeat(32));
        match Client::with_trust(base, Some("rcapi_x"), &trust) {
            Ok(client) => client,
            Err(error) => panic!("{base}: {error}"),
        }
    }

    #[test]
    fn urls_keep_the_base_path_and_encode_ids_and_values() {
        let endpoint = Endpoint::new("incidents")
            .segment("a/b c")
            .segment("comments")
            .param("state", "open&x=1")
            .param_opt("host_id", None::<&str>)
            .param_opt("limit", Some(1000));
        assert_eq!(
            client("http://127.0.0.1:8080").url(&endpoint).as_str(),
            "http://127.0.0.1:8080/api/v1/incidents/a%2Fb%20c/comments?state=open%26x%3D1&limit=1000"
        );
        assert_eq!(
            client("https://ops.example/rollcall/")
                .url(&Endpoint::new("hosts"))
                .as_str(),
            "https://ops.example/rollcall/api/v1/hosts"
        );
        assert_eq!(
            client("https://ops.example/rollcall?x=1")
                .url(&Endpoint::new("hosts"))
                .as_str(),
            "https://ops.example/rollcall/api/v1/hosts"
        );
    }

    #[test]
    fn a_token_and_an_http_url_are_required() {
        assert!(matches!(
            Client::new("http://127.0.0.1:8080", None),
            Err(CliError::MissingToken)
        ));
        for bad in ["127.0.0.1:8080", "mailto:ops@example", "ftp://example", ""] {
            assert!(
                matches!(
                    Client::new(bad, Some("t")),
                    Err(CliError::InvalidUrl { .. })
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            Client::new("https://collector:8443", Some("t")),
            Err(CliError::Trust { .. })
        ));
    }
}
