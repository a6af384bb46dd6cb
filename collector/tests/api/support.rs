//! The shared fixture: a `State` over a real SQLite store and a real PKI in
//! a temp dir, the API router over it (driven with `oneshot`, no socket),
//! one API token per role, and seeds written through the store's traits.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use rollcall_collector::auth::{self, Role};
use rollcall_collector::cmdb::diff::CiItem;
use rollcall_collector::cmdb::reconcile::HostIdentity;
use rollcall_collector::config::Config;
use rollcall_collector::incidents::engine::IncidentSpec;
use rollcall_collector::incidents::event::Severity;
use rollcall_collector::integrations::Integrations;
use rollcall_collector::pki::Pki;
use rollcall_collector::state::{Parts, State};
use rollcall_collector::store::NewOutage;
use rollcall_collector::store::outbox::NewOutboxEntry;
use rollcall_collector::store::{
    self, ApplyContext, InventoryChange, NewAgent, NewEnrollmentToken,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// The integration target every fixture has (a webhook nobody listens on).
pub const TARGET: &str = "hook";

/// A token that was never issued.
pub const BOGUS_TOKEN: &str = "rcapi_0000000000000000000000000000000000000000000000";

/// A dpkg package item of an inventory.
pub fn package(name: &str, version: &str) -> CiItem {
    CiItem {
        class: "software".into(),
        key: format!("{name}:amd64"),
        name: name.into(),
        attrs: json!({ "name": name, "version": version, "arch": "amd64", "manager": "dpkg" })
            .to_string(),
    }
}

/// An inventory item of `class` keyed `key` with `attrs`.
pub fn item(class: &str, key: &str, attrs: Value) -> CiItem {
    CiItem {
        class: class.into(),
        key: key.into(),
        name: key.into(),
        attrs: attrs.to_string(),
    }
}

/// A response: status, headers and body (JSON when it parses, else a string).
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body as JSON, or as a JSON string when it is not JSON (CSV, metrics).
    pub body: Value,
}

impl Reply {
    /// The body text when it was not JSON.
    pub fn text(&self) -> &str {
        self.body.as_str().unwrap_or_default()
    }

    /// The error message of a JSON error body.
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or_default()
    }
}

/// The store backend an [`App`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the app's temp dir.
    Sqlite,
    /// A fresh schema in `ROLLCALL_TEST_DATABASE_URL`.
    Postgres,
}

/// A URL for a fresh schema of `ROLLCALL_TEST_DATABASE_URL`, or `None`
/// (skip) without it, except with `CI=true`, where it fails.
async fn postgres_url() -> Option<String> {
    let Ok(base) = std::env::var("ROLLCALL_TEST_DATABASE_URL") else {
        if std::env::var("CI").is_ok_and(|value| value == "true" || value == "1") {
            panic!(
                "ROLLCALL_TEST_DATABASE_URL must be set when CI=true: PostgreSQL API tests may not skip in CI"
            );
        }
        eprintln!("notice: ROLLCALL_TEST_DATABASE_URL is not set; skipping PostgreSQL API test");
        return None;
    };
    let schema = format!("rc_api_{}", uuid::Uuid::new_v4().simple());
    sqlx::any::install_default_drivers();
    let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&base)
        .await
        .expect("connect to ROLLCALL_TEST_DATABASE_URL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut admin)
        .await
        .expect("create schema");
    let separator = if base.contains('?') { '&' } else { '?' };
    Some(format!(
        "{base}{separator}options=-c%20search_path%3D{schema}"
    ))
}

/// Runs each named `async fn case(app: App)` once on SQLite and once on
/// PostgreSQL (skipped without a URL), as `<module>::sqlite::case` and
/// `<module>::postgres::case`.
#[macro_export]
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let app = $crate::support::App::on($crate::support::Backend::Sqlite).await.expect("sqlite");
                    super::$case(app).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(app) = $crate::support::App::on($crate::support::Backend::Postgres).await else { return };
                    super::$case(app).await;
                }
            )*
        }
    };
}

/// A collector's API over a fresh store, with a token per role.
pub struct App {
    /// The state the router serves.
    pub state: Arc<State>,
    /// The router under test.
    pub router: Router,
    /// An admin token.
    pub admin: String,
    /// An operator token.
    pub operator: String,
    /// A viewer token.
    pub viewer: String,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for App {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl App {
    /// Builds the state from its parts, as `server::start` does, minus
    /// listeners, over a SQLite store in a temp dir.
    pub async fn new() -> App {
        App::on(Backend::Sqlite).await.expect("sqlite always runs")
    }

    /// As [`App::new`] over `backend`; `None` (skip) for PostgreSQL without
    /// `ROLLCALL_TEST_DATABASE_URL` outside CI.
    pub async fn on(backend: Backend) -> Option<App> {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.path().join("api.db").display()),
            Backend::Postgres => postgres_url().await?,
        };
        let config = Config::from_toml(&format!(
            "data_dir = {:?}\n\n[[integrations.targets]]\nname = \"{TARGET}\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\nsecret = \"test-secret\"\n",
            dir.path().display().to_string(),
        ))
        .expect("config");
        let store = store::sql::connect(&url).await.expect("store");
        let pki =
            Pki::load_or_create(&config.data_dir, &config.tls, &config.server_names).expect("pki");
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let monitor = rollcall_collector::availability::monitor::start(
            store.clone(),
            config.clone(),
            shutdown.clone(),
            &tasks,
        )
        .await
        .expect("monitor");
        let integrations = Arc::new(Integrations::new(&config.integrations).expect("targets"));
        let (seen_sender, _seen_receiver) = tokio::sync::mpsc::channel(16);
        let state = Arc::new(State::new(Parts {
            config,
            store,
            pki,
            monitor,
            integrations,
            seen_sender,
            shutdown: shutdown.clone(),
        }));
        let mut app = App {
            router: rollcall_collector::api::router(state.clone()),
            state,
            admin: String::new(),
            operator: String::new(),
            viewer: String::new(),
            shutdown,
            _dir: dir,
        };
        app.admin = app.token(Role::Admin).await;
        app.operator = app.token(Role::Operator).await;
        app.viewer = app.token(Role::Viewer).await;
        Some(app)
    }

    /// Issues an API token with `role` straight into the store.
    pub async fn token(&self, role: Role) -> String {
        let secret = auth::generate_secret("rcapi");
        self.state
            .store
            .create_api_token(
                &auth::new_id(),
                &format!("{} token", role.as_str()),
                role.as_str(),
                &auth::hash_secret(&secret),
                rollcall_proto::now_ms(),
            )
            .await
            .expect("api token");
        secret
    }

    /// Sends one request through the router (no socket). `body` is sent as
    /// JSON; `raw` bodies go through [`App::send_raw`].
    pub async fn send(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let body = body.map(|body| body.to_string());
        self.send_raw(method, uri, token, body.as_deref()).await
    }

    /// Sends a request whose body is the given text, labelled as JSON.
    pub async fn send_raw(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .expect("request");
        self.reply(request).await
    }

    /// `GET uri` as `token` with `accept` as its Accept header.
    pub async fn get_accepting(&self, uri: &str, token: &str, accept: &str) -> Reply {
        let request = Request::builder()
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::ACCEPT, accept)
            .body(Body::empty())
            .expect("request");
        self.reply(request).await
    }

    /// The router's answer to `request`, its body read whole.
    async fn reply(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Reply {
            status,
            headers,
            body,
        }
    }

    /// `GET uri` as `token`.
    pub async fn get(&self, uri: &str, token: &str) -> Reply {
        self.send(Method::GET, uri, Some(token), None).await
    }

    /// Asserts that `method uri` answers 401 without a token, with a token
    /// that was never issued, and with a malformed Authorization header.
    pub async fn assert_needs_token(&self, method: Method, uri: &str, body: Option<Value>) {
        let none = self.send(method.clone(), uri, None, body.clone()).await;
        assert_eq!(
            none.status,
            StatusCode::UNAUTHORIZED,
            "{method} {uri} without a token: {none:?}"
        );
        assert!(
            none.error()
                .starts_with("unauthenticated: missing Authorization"),
            "{none:?}"
        );
        let bogus = self
            .send(method.clone(), uri, Some(BOGUS_TOKEN), body.clone())
            .await;
        assert_eq!(
            bogus.status,
            StatusCode::UNAUTHORIZED,
            "{method} {uri} with a bogus token: {bogus:?}"
        );
        assert!(
            bogus.error().contains("not valid or was revoked"),
            "{bogus:?}"
        );
        for malformed in [format!("Basic {}", self.admin), "Bearer  ".to_string()] {
            let request = Request::builder()
                .method(method.clone())
                .uri(uri)
                .header(header::AUTHORIZATION, malformed.as_str())
                .body(Body::empty())
                .expect("request");
            let response = self
                .router
                .clone()
                .oneshot(request)
                .await
                .expect("infallible");
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {uri} with {malformed:?}"
            );
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("body");
            let body: Value = serde_json::from_slice(&bytes).expect("a JSON error body");
            assert_eq!(
                body,
                json!({ "error": "unauthenticated: Authorization header must be `Bearer <token>`" }),
                "{method} {uri} with {malformed:?}"
            );
        }
    }

    /// Asserts that `token` may not `method uri` (403 naming the `needed` role).
    pub async fn assert_forbidden(
        &self,
        method: Method,
        uri: &str,
        token: &str,
        body: Option<Value>,
        needed: Role,
    ) {
        let reply = self.send(method.clone(), uri, Some(token), body).await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{method} {uri}: {reply:?}"
        );
        assert!(
            reply.error().starts_with(&format!(
                "permission denied: this needs the {} role",
                needed.as_str()
            )),
            "{reply:?}"
        );
    }

    /// Asserts a 400 whose message contains `needle`.
    pub fn assert_bad_request(reply: &Reply, needle: &str) {
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
        assert!(reply.error().starts_with("invalid input: "), "{reply:?}");
        assert!(
            reply.error().contains(needle),
            "{needle:?} not in {reply:?}"
        );
    }

    /// An enrolled agent attached to a new host `hostname` with the given
    /// (name, version) dpkg packages; returns the host id.
    pub async fn host(&self, hostname: &str, packages: &[(&str, &str)]) -> String {
        let items = packages
            .iter()
            .map(|(name, version)| package(name, version))
            .collect();
        self.host_with(hostname, "", items, rollcall_proto::now_ms())
            .await
    }

    /// An enrolled agent attached at `at` to a new host `hostname` (DMI
    /// serial `serial`) whose first inventory is `items`; returns the host id.
    pub async fn host_with(
        &self,
        hostname: &str,
        serial: &str,
        items: Vec<CiItem>,
        at: i64,
    ) -> String {
        let store = &self.state.store;
        let now = at;
        let agent_id = format!("agent-{hostname}");
        let token_hash = format!("enroll-{hostname}");
        store
            .create_enrollment_token(&NewEnrollmentToken {
                id: auth::new_id(),
                token_hash: token_hash.clone(),
                description: "api test".into(),
                max_uses: 1,
                expires_at: now + 86_400_000,
                created_at: now,
            })
            .await
            .expect("enrollment token");
        store
            .enroll_agent(
                &token_hash,
                &NewAgent {
                    id: agent_id.clone(),
                    cert_fingerprint: format!("fp-{hostname}"),
                    hostname: hostname.into(),
                    version: "test".into(),
                    enrolled_at: now,
                },
            )
            .await
            .expect("enroll")
            .expect("enrollment accepted");
        let identity = HostIdentity {
            machine_id: format!("mid-{hostname}"),
            dmi_uuid: String::new(),
            dmi_serial: serial.into(),
            macs: BTreeSet::new(),
            hostname: hostname.into(),
        };
        let host_id = store
            .attach_host(&agent_id, &identity, hostname, now)
            .await
            .expect("attach")
            .host_id;
        let context = ApplyContext {
            agent_id,
            host_id: host_id.clone(),
            seq: 1,
            at: now,
        };
        let change = InventoryChange {
            full: true,
            items,
            removed: Vec::new(),
        };
        store
            .apply_inventory(&context, change)
            .await
            .expect("inventory");
        host_id
    }

    /// Opens a host-down incident on `host_id` through the engine; returns its id.
    pub async fn incident(&self, host_id: &str) -> String {
        let spec = IncidentSpec {
            ci_id: host_id.into(),
            rule: "host_down".into(),
            severity: Severity::Critical,
            summary: format!("{host_id} is down"),
            description: "no heartbeat".into(),
            details: json!({ "test": true }),
            suppressed: false,
            parent_id: None,
        };
        let opened = self
            .state
            .engine
            .open(spec, rollcall_proto::now_ms())
            .await
            .expect("incident");
        opened.incident().id.clone()
    }

    /// An unplanned outage of `host_id` that began `ago_ms` ago and lasts.
    pub async fn outage(&self, host_id: &str, ago_ms: i64) -> String {
        let now = rollcall_proto::now_ms();
        let id = auth::new_id();
        self.state
            .store
            .open_outage(&NewOutage {
                id: id.clone(),
                host_id: host_id.into(),
                kind: "unplanned".into(),
                cause: "no heartbeat".into(),
                began_at: now - ago_ms,
                detected_at: now,
            })
            .await
            .expect("outage");
        id
    }

    /// An unplanned outage of `host_id` over `began_at..ended_at` (ms),
    /// written straight into the store and closed; returns its id.
    pub async fn outage_between(&self, host_id: &str, began_at: i64, ended_at: i64) -> String {
        let id = auth::new_id();
        self.state
            .store
            .open_outage(&NewOutage {
                id: id.clone(),
                host_id: host_id.into(),
                kind: "unplanned".into(),
                cause: "no heartbeat".into(),
                began_at,
                detected_at: began_at,
            })
            .await
            .expect("outage");
        let closed = self
            .state
            .store
            .close_outages(host_id, ended_at)
            .await
            .expect("close");
        assert_eq!(closed.len(), 1, "one outage open at a time");
        id
    }

    /// The incident's trigger event fanned out to [`TARGET`] and failed for
    /// good (a dead letter); returns the outbox id.
    pub async fn dead_letter(&self, incident_id: &str) -> i64 {
        let store = &self.state.store;
        let now = rollcall_proto::now_ms();
        let events = store
            .undispatched_events(now + 1, 100)
            .await
            .expect("events");
        let event = events
            .iter()
            .find(|event| event.incident_id == incident_id)
            .expect("the incident's trigger event");
        let entry = NewOutboxEntry {
            event_id: event.id,
            incident_id: incident_id.into(),
            target: TARGET.into(),
            transition: event.transition.clone(),
            dedup_key: format!("dedup-{incident_id}"),
            payload: event.payload.clone(),
        };
        store
            .fan_out(&[entry], event.id, now)
            .await
            .expect("fan out");
        let entries = store
            .outbox_entries(&rollcall_collector::store::outbox::OutboxFilter {
                incident_id: Some(incident_id.into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .expect("entries");
        let id = entries.first().expect("one entry").id;
        store
            .mark_failed(id, now, "connection refused", None)
            .await
            .expect("mark failed");
        id
    }
}
