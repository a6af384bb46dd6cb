//! The OpenAPI 3.1 document of `/api/v1`, generated from the handlers'
//! `#[utoipa::path]` annotations by the same `OpenApiRouter` that builds the
//! router (`api::routes`): a route and its documentation are one
//! declaration. Served at `GET /api/v1/openapi.json` without a token.
//!
//! Each operation names the role it needs as the scope of its `bearer`
//! security requirement (OpenAPI 3.1 lets a non-OAuth scheme list role
//! names there); [`finish`] adds the error answers operations share (401,
//! 403, 400, 404, 503) from what each operation declares, so no annotation
//! repeats them.
//! `/healthz` and `/metrics` are not part of the document: they are not
//! `/api/v1`, take no token and answer plain status and Prometheus text.

use std::sync::OnceLock;

use axum::Json;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::auth::Role;

/// The name of the security scheme (a bearer token) in the document.
pub const SECURITY_SCHEME: &str = "bearer";

/// The API's error body: every 4xx and 5xx answer of `/api/v1` is this.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // the shape of `Error::into_response`, for the document
pub struct ErrorBody {
    /// What went wrong, for people (`invalid input: …`, `not found: …`).
    error: String,
}

/// The document's fixed parts: info, the security scheme, the error body.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rollcall collector API",
        description = "The collector's REST API: the CMDB (hosts, inventory, history, software), \
                       availability, incidents, integrations, maintenance, business services and \
                       tokens. Every operation but this document takes `Authorization: Bearer \
                       <token>`; the role it needs (viewer < operator < admin) is the scope of its \
                       `bearer` security requirement. Lists answer CSV with `format=csv` or \
                       `Accept: text/csv`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(ErrorBody)),
    modifiers(&BearerScheme),
)]
pub struct ApiDoc;

/// Adds the bearer token scheme the operations' requirements name.
pub struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SECURITY_SCHEME,
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Adds to one operation the error answers it can give: 401 (secured), 403
/// (needs more than viewer), 400 (takes parameters or a body), 404 (has a
/// path parameter), 503 (the store is busy); each as [`ErrorBody`].
fn add_error_responses(path: &str, operation: &mut Operation) {
    let role = required_role(operation);
    let mut add = |status: &str, description: &str| {
        if operation.responses.responses.contains_key(status) {
            return;
        }
        let response = ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        operation
            .responses
            .responses
            .insert(status.to_string(), response.into());
    };
    if role.is_some() {
        add(
            "401",
            "No token, or a token that is unknown, revoked or expired",
        );
    }
    if role.is_some_and(|role| role > Role::Viewer) {
        add(
            "403",
            "The token's role is below the one this operation needs",
        );
    }
    let has_parameters = operation
        .parameters
        .as_ref()
        .is_some_and(|parameters| !parameters.is_empty());
    if has_parameters || operation.request_body.is_some() {
        add("400", "The query, a path segment or the body is not valid");
    }
    if path.contains('{') {
        add("404", "No such resource");
    }
    add("503", "The store is busy; try again shortly");
}

/// The role an operation needs: the scope of its `bearer` requirement, or
/// `None` for an operation without one (the document itself).
pub fn required_role(operation: &Operation) -> Option<Role> {
    let value = serde_json::to_value(operation.security.as_ref()?).ok()?;
    value
        .as_array()?
        .iter()
        .filter_map(|requirement| requirement.get(SECURITY_SCHEME))
        .filter_map(|scopes| scopes.as_array())
        .flatten()
        .filter_map(|scope| scope.as_str())
        .filter_map(Role::parse)
        .max()
}

/// The finished document: the operations the router serves, with the
/// shared error answers.
pub fn finish(mut document: Document) -> Document {
    for (path, item) in document.paths.paths.iter_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            add_error_responses(path, operation);
        }
    }
    document
}

/// The document, built once from the route table.
pub fn document() -> &'static Document {
    static DOCUMENT: OnceLock<Document> = OnceLock::new();
    DOCUMENT.get_or_init(|| finish(super::routes().into_openapi()))
}

/// `GET /api/v1/openapi.json`: this document (no token needed).
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "openapi_document",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object)),
)]
pub(super) async fn serve() -> Json<&'static Document> {
    Json(document())
}
