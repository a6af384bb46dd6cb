//! The web console: server-rendered HTML on the API's port, logged in with
//! an API token (the same tokens and roles as the API). No script at all:
//! forms, links and SVG drawn on the server, so the Content-Security-Policy
//! allows no script, no inline style and no other origin, and every text
//! from an agent or a caller is escaped by maud before it reaches a page.
//!
//! This file is the route table, the logged-in caller ([`Viewer`]), CSRF
//! checks and the page frame. Beside it: `session` (cookies and the session
//! table), `pages` (one handler per page), `svg` (charts).

mod hosts;
mod manage;
mod pages;
pub mod session;
mod svg;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, html};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::auth::{self, Role};
use crate::error::Error;
use crate::state::State;
use session::Sessions;

/// The console's policy: nothing but this origin's stylesheet and forms.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// The console's state: the collector's, and the sessions.
#[derive(Debug)]
pub struct Console {
    state: Arc<State>,
    sessions: Sessions,
    /// Whether the API is served over TLS (cookies are then `Secure`).
    secure: bool,
}

type Shared = Arc<Console>;

/// The console's routes (merged into the API's router).
pub fn router(state: Arc<State>) -> Router {
    let secure = state.config.api.tls;
    let console = Arc::new(Console {
        state,
        sessions: Sessions::default(),
        secure,
    });
    Router::new()
        .route("/", get(pages::overview))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/hosts", get(hosts::list))
        .route("/hosts/{id}", get(hosts::host))
        .route("/incidents", get(pages::incidents))
        .route("/incidents/{id}", get(pages::incident))
        .route("/incidents/{id}/acknowledge", post(pages::acknowledge))
        .route("/incidents/{id}/comments", post(pages::comment))
        .route("/software", get(manage::software))
        .route("/software/{name}", get(manage::package))
        .route("/services", get(manage::services))
        .route(
            "/maintenance",
            get(manage::maintenance).post(manage::create_window),
        )
        .route("/maintenance/{id}/delete", post(manage::delete_window))
        .route("/assets/console.css", get(stylesheet))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .with_state(console)
}

async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("console/console.css"),
    )
        .into_response()
}

/// The logged-in caller of a console page.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The API token's name (the author of acknowledgements and comments).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The CSRF token its forms carry.
    pub csrf: String,
    /// Its session id.
    session: String,
}

impl Viewer {
    /// A 403 page unless the viewer has `role`.
    fn require(&self, role: Role) -> Result<(), Page> {
        if self.role >= role {
            Ok(())
        } else {
            Err(Page::error(
                StatusCode::FORBIDDEN,
                &format!("this needs the {} role", role.as_str()),
            ))
        }
    }

    /// A 403 page unless `submitted` is this session's CSRF token.
    fn check_csrf(&self, submitted: &str) -> Result<(), Page> {
        if session::same(submitted, &self.csrf) {
            Ok(())
        } else {
            Err(Page::error(
                StatusCode::FORBIDDEN,
                "the form's CSRF token is missing or wrong; reload the page and try again",
            ))
        }
    }
}

impl FromRequestParts<Shared> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Shared) -> Result<Self, Response> {
        let to_login = || Redirect::to("/login").into_response();
        let id = parts
            .headers
            .get(header::COOKIE)
            .and_then(|value| value.to_str().ok())
            .and_then(|cookies| session::cookie(cookies, session::COOKIE))
            .ok_or_else(to_login)?
            .to_string();
        let now = rollcall_proto::now_ms();
        let found = console.sessions.get(&id, now).ok_or_else(to_login)?;
        // The token is checked again: a revoked or expired token ends its sessions.
        let token = match console
            .state
            .store
            .api_token_by_hash(&found.token_hash)
            .await
        {
            Ok(Some(token)) if !token.expired(now) => token,
            Ok(_) => {
                console.sessions.remove(&id);
                return Err(to_login());
            }
            Err(error) => return Err(Page::from(error).into_response()),
        };
        let role = Role::parse(&token.role).ok_or_else(|| {
            Page::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the token has an unknown role",
            )
            .into_response()
        })?;
        Ok(Viewer {
            name: token.name,
            role,
            csrf: found.csrf,
            session: id,
        })
    }
}

/// A rendered page with its status.
#[derive(Debug)]
pub struct Page {
    status: StatusCode,
    body: Markup,
}

impl Page {
    fn ok(body: Markup) -> Self {
        Page {
            status: StatusCode::OK,
            body,
        }
    }

    /// An error page saying `message` (without the navigation: the caller
    /// may not be logged in).
    fn error(status: StatusCode, message: &str) -> Self {
        let title = status.canonical_reason().unwrap_or("error");
        Page {
            status,
            body: frame(
                title,
                None,
                html! {
                    h1 { (title) }
                    p class="error" { (message) }
                    p { a href="/" { "Back to the overview" } }
                },
            ),
        }
    }
}

impl From<Error> for Page {
    fn from(error: Error) -> Self {
        if !error.is_public() {
            tracing::error!(error = %error, "console page failed");
        }
        Page::error(error.http_status(), &error.public_message())
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        (
            self.status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            self.body.into_string(),
        )
            .into_response()
    }
}

/// A hidden CSRF field for `viewer`'s forms.
fn csrf_field(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name="csrf" value=(viewer.csrf); }
}

/// The page frame: head, navigation (when logged in) and `body`.
fn frame(title: &str, viewer: Option<&Viewer>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Rollcall" }
                link rel="stylesheet" href="/assets/console.css";
            }
            body {
                header {
                    a class="brand" href="/" { "Rollcall" }
                    @if let Some(viewer) = viewer {
                        nav {
                            a href="/" { "Overview" }
                            a href="/hosts" { "Hosts" }
                            a href="/incidents" { "Incidents" }
                            a href="/software" { "Software" }
                            a href="/services" { "Services" }
                            a href="/maintenance" { "Maintenance" }
                        }
                        form class="logout" method="post" action="/logout" {
                            (csrf_field(viewer))
                            span class="who" { (viewer.name) " (" (viewer.role.as_str()) ")" }
                            button type="submit" id="logout" { "Log out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A `Set-Cookie` value for `name`, session-scoped, or expired at once when
/// `value` is empty.
fn set_cookie(console: &Console, name: &str, value: &str) -> String {
    let secure = if console.secure { "; Secure" } else { "" };
    let expiry = if value.is_empty() { "; Max-Age=0" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict{secure}{expiry}")
}

/// The stored hash of a token typed at login.
fn token_hash(token: &str) -> String {
    auth::hash_secret(token)
}
