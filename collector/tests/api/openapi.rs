//! The OpenAPI document: served without a token, OpenAPI 3.1, every
//! operation with a role and a unique id; the router serves exactly the
//! documented operations (probed through the router itself, plus a source
//! check that nothing is routed around the annotated handlers); the
//! document passes `openapi-spec-validator`; the role table of
//! `docs/operations.md` is the document's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use axum::http::{Method, StatusCode};
use serde_json::Value;

use crate::support::App;

/// The methods an operation can have in this API.
const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// One documented operation.
#[derive(Debug, Clone)]
pub struct Operation {
    /// `GET`, `POST`, …
    pub method: Method,
    /// The path template (`/api/v1/hosts/{id}`).
    pub path: String,
    /// The operation id.
    pub id: String,
    /// The role its `bearer` requirement names; `None` without one.
    pub role: Option<String>,
    /// The operation as the document has it.
    pub spec: Value,
}

impl Operation {
    /// The path with every parameter filled: integers with a number, the
    /// rest with an id nothing has.
    pub fn uri(&self) -> String {
        let mut uri = self.path.clone();
        for parameter in self.spec["parameters"].as_array().into_iter().flatten() {
            if parameter["in"] != "path" {
                continue;
            }
            let name = parameter["name"].as_str().unwrap_or_default();
            let value = if parameter["schema"]["type"] == "integer" {
                "987654321"
            } else {
                "no-such-thing"
            };
            uri = uri.replace(&format!("{{{name}}}"), value);
        }
        uri
    }

    /// Whether it takes a request body.
    pub fn has_body(&self) -> bool {
        !self.spec["requestBody"].is_null()
    }
}

/// The document as served.
pub async fn served_document(app: &App) -> Value {
    let reply = app
        .send(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert!(
        reply.headers["content-type"]
            .to_str()
            .is_ok_and(|kind| kind.starts_with("application/json")),
        "{reply:?}"
    );
    reply.body
}

/// Every operation of `document`.
pub fn operations(document: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in METHODS {
            let Some(spec) = item.get(method) else {
                continue;
            };
            let scopes: Vec<&str> = spec["security"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|requirement| requirement["bearer"].as_array())
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            assert!(
                scopes.len() <= 1,
                "{method} {path}: one role, got {scopes:?}"
            );
            out.push(Operation {
                method: method.to_uppercase().parse().expect("method"),
                path: path.clone(),
                id: spec["operationId"].as_str().unwrap_or_default().to_string(),
                role: scopes.first().map(|role| role.to_string()),
                spec: spec.clone(),
            });
        }
    }
    out
}

fn collector_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn the_document_is_openapi_3_1_served_without_a_token() {
    let app = App::new().await;
    let document = served_document(&app).await;
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(
        document,
        serde_json::to_value(rollcall_collector::api::openapi_document()).expect("json"),
        "the served document is the one built from the route table"
    );
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"],
        serde_json::json!({ "type": "http", "scheme": "bearer" })
    );
    assert!(
        document["components"]["schemas"]["ErrorBody"]["properties"]["error"].is_object(),
        "the error body is documented"
    );
    // Not `/api/v1`, so not in the document, as api.rs says.
    for outside in ["/healthz", "/metrics"] {
        assert!(document["paths"].get(outside).is_none(), "{outside}");
    }
}

#[tokio::test]
async fn every_operation_has_a_role_a_unique_id_and_error_answers() {
    let app = App::new().await;
    let document = served_document(&app).await;
    let operations = operations(&document);
    assert!(operations.len() >= 45, "{} operations", operations.len());
    let mut ids = BTreeSet::new();
    for operation in &operations {
        let label = format!("{} {}", operation.method, operation.path);
        assert!(
            ids.insert(operation.id.clone()) && !operation.id.is_empty(),
            "{label}: operation id {:?} is missing or not unique",
            operation.id
        );
        let responses = operation.spec["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|status| status.starts_with('2')),
            "{label}: no success answer"
        );
        assert!(responses.contains_key("503"), "{label}");
        if operation.path == "/api/v1/openapi.json" {
            assert_eq!(operation.role, None);
            assert_eq!(operation.spec["security"], serde_json::json!([{}]));
            continue;
        }
        let role = operation
            .role
            .as_deref()
            .unwrap_or_else(|| panic!("{label}: no role"));
        assert!(["viewer", "operator", "admin"].contains(&role), "{label}");
        assert!(responses.contains_key("401"), "{label}");
        assert_eq!(responses.contains_key("403"), role != "viewer", "{label}");
        if operation.path.contains('{') {
            assert!(responses.contains_key("404"), "{label}");
        }
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{label} {status}"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_router_serves_exactly_the_documented_operations() {
    let app = App::new().await;
    let document = served_document(&app).await;
    let operations = operations(&document);
    let mut documented: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for operation in &operations {
        documented
            .entry(operation.path.clone())
            .or_default()
            .insert(operation.method.to_string());
        // Served: without a token every operation but the document is a
        // 401, never the fallback's 404 or a 405.
        let reply = app
            .send(operation.method.clone(), &operation.uri(), None, None)
            .await;
        let expected = if operation.role.is_some() {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        };
        assert_eq!(
            reply.status, expected,
            "{} {} is documented but not served: {reply:?}",
            operation.method, operation.path
        );
    }
    // A method the document does not list on a documented path is a 405.
    for (path, methods) in &documented {
        let operation = operations
            .iter()
            .find(|operation| &operation.path == path)
            .expect("an operation");
        for method in METHODS {
            let method: Method = method.to_uppercase().parse().expect("method");
            if methods.contains(method.as_str()) {
                continue;
            }
            let reply = app.send(method.clone(), &operation.uri(), None, None).await;
            assert_eq!(
                reply.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is served but not documented: {reply:?}"
            );
        }
    }
    // Anything else under /api/v1 is the fallback's JSON 404.
    for uri in ["/api/v1/nothing", "/api/v1/hosts/x/nothing", "/api/v1"] {
        let reply = app.send(Method::GET, uri, None, None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{uri}: {reply:?}");
        assert_eq!(reply.error(), "not found: no such API route", "{uri}");
    }
}

/// The source half: the router adds by hand only `/healthz` and
/// `/metrics`, every handler that checks a token is annotated, and every
/// annotation is routed (one operation per annotation).
#[tokio::test]
async fn no_route_bypasses_the_annotated_handlers() {
    let api = std::fs::read_to_string(collector_dir().join("src/api.rs")).expect("api.rs");
    let by_hand: Vec<&str> = api
        .match_indices(".route(")
        .map(|(at, _)| &api[at..])
        .collect();
    assert_eq!(by_hand.len(), 2, "api.rs adds routes by hand: {by_hand:?}");
    assert!(by_hand[0].starts_with(".route(\"/healthz\""));
    assert!(by_hand[1].starts_with(".route(\"/metrics\""));
    for bypass in [".nest(", ".merge(", ".route_service(", ".nest_service("] {
        assert!(!api.contains(bypass), "api.rs uses {bypass}");
    }
    let mut annotations = 0;
    let folder = collector_dir().join("src/api");
    for entry in std::fs::read_dir(&folder).expect("src/api") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("source");
        annotations += text.matches("#[utoipa::path(").count();
        check_handlers_annotated(&path, &text);
    }
    let app = App::new().await;
    let document = served_document(&app).await;
    assert_eq!(
        annotations,
        operations(&document).len(),
        "every #[utoipa::path] handler is routed, once"
    );
}

/// Every `async fn` of `text` that takes a caller (`Caller`, `Operator`,
/// `Admin`) is a handler, so it must carry `#[utoipa::path]` among the
/// attributes and doc comments right above it.
fn check_handlers_annotated(path: &Path, text: &str) {
    let lines: Vec<&str> = text.lines().collect();
    for (at, _) in text.match_indices("async fn ") {
        let signature = &text[at..at + text[at..].find('{').unwrap_or(0)];
        let takes_caller = [": Caller", "Operator(", "Admin(", ": Operator", ": Admin"]
            .iter()
            .any(|needle| signature.contains(needle));
        if !takes_caller {
            continue;
        }
        let number = text[..at].matches('\n').count();
        let annotated = lines[..number]
            .iter()
            .rev()
            .take_while(|line| {
                let line = line.trim();
                !line.is_empty() && line != "}" && (line.starts_with("///") || !line.ends_with(';'))
            })
            .any(|line| line.trim_start().starts_with("#[utoipa::path("));
        assert!(
            annotated,
            "{}:{}: a handler without #[utoipa::path]",
            path.display(),
            number + 1
        );
    }
}

/// The command that validates a document, or `None` (skip) when it is not
/// installed, except with `CI=true`, where that fails.
fn validator() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("openapi-spec-validator"))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        let ci = std::env::var("CI").is_ok_and(|value| value == "true" || value == "1");
        assert!(
            !ci,
            "openapi-spec-validator (pip install openapi-spec-validator) must be installed when CI=true"
        );
        eprintln!("notice: openapi-spec-validator is not installed; skipping the validation test");
    }
    found
}

#[tokio::test]
async fn openapi_spec_validator_accepts_the_document() {
    let Some(validator) = validator() else {
        return;
    };
    let app = App::new().await;
    let document = served_document(&app).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, document.to_string()).expect("write");
    let output = std::process::Command::new(&validator)
        .arg(&file)
        .output()
        .expect("run openapi-spec-validator");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // Its complaint quotes the whole document; the start says what is wrong.
    let said: String = said.chars().take(3000).collect();
    assert!(output.status.success(), "openapi-spec-validator: {said}");
    assert!(said.contains("OK"), "openapi-spec-validator: {said}");
    // It does refuse a broken document (so the pass above means something).
    let mut broken = document.clone();
    broken["paths"]["/api/v1/hosts"]["get"]["responses"] = Value::String("none".into());
    std::fs::write(&file, broken.to_string()).expect("write");
    let output = std::process::Command::new(&validator)
        .arg(&file)
        .output()
        .expect("run openapi-spec-validator");
    assert!(!output.status.success(), "a broken document passed");
}

/// The role table between the markers in `docs/operations.md`: one row
/// per operation, `| METHOD | path | role |`.
fn documented_roles() -> BTreeSet<(String, String, String)> {
    let docs = collector_dir().join("../docs/operations.md");
    let text = std::fs::read_to_string(&docs).expect("docs/operations.md");
    let start = text
        .find("<!-- role-table:start -->")
        .expect("the role table's start marker");
    let end = text
        .find("<!-- role-table:end -->")
        .expect("the role table's end marker");
    text[start..end]
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<String> = line
                .split('|')
                .map(|cell| cell.trim().trim_matches('`').to_string())
                .filter(|cell| !cell.is_empty())
                .collect();
            assert_eq!(cells.len(), 3, "a role table row: {line}");
            (cells[0].clone(), cells[1].clone(), cells[2].clone())
        })
        .collect()
}

#[tokio::test]
async fn the_role_table_in_the_docs_is_the_documents() {
    let app = App::new().await;
    let document = served_document(&app).await;
    let from_document: BTreeSet<(String, String, String)> = operations(&document)
        .into_iter()
        .map(|operation| {
            (
                operation.method.to_string(),
                operation.path,
                operation.role.unwrap_or_else(|| "none".into()),
            )
        })
        .collect();
    let from_docs = documented_roles();
    let missing: Vec<_> = from_document.difference(&from_docs).collect();
    let extra: Vec<_> = from_docs.difference(&from_document).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/operations.md's role table differs from the document:\n missing {missing:#?}\n not in the document {extra:#?}"
    );
}
