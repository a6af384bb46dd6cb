//! The role matrix, derived from the OpenAPI document: every operation
//! with no token, a token never issued, and a viewer, operator and admin
//! token. Without a valid token: 401. Below the operation's role: 403
//! naming it. At or above it: neither 401 nor 403 (nor a 5xx). Path
//! parameters name nothing that exists, and a body is `{}`, so no call
//! changes anything the next one depends on.

use axum::http::StatusCode;
use rollcall_collector::auth::Role;
use serde_json::json;

use crate::openapi::{operations, served_document};
use crate::support::{App, BOGUS_TOKEN};

async fn every_operation_with_every_role(app: App) {
    let document = served_document(&app).await;
    let operations = operations(&document);
    assert!(operations.len() >= 45, "{} operations", operations.len());
    let tokens = [
        (Role::Viewer, app.viewer.clone()),
        (Role::Operator, app.operator.clone()),
        (Role::Admin, app.admin.clone()),
    ];
    let mut checked = 0;
    for operation in &operations {
        let uri = operation.uri();
        let body = operation.has_body().then(|| json!({}));
        let label = format!("{} {uri}", operation.method);
        let Some(role) = operation.role.as_deref() else {
            // Only the document itself is open; it answers anyone.
            assert_eq!(operation.path, "/api/v1/openapi.json", "{label}: no role");
            for token in [None, Some(BOGUS_TOKEN), Some(app.viewer.as_str())] {
                let reply = app.send(operation.method.clone(), &uri, token, None).await;
                assert_eq!(reply.status, StatusCode::OK, "{label} {token:?}");
            }
            continue;
        };
        let needed = Role::parse(role).unwrap_or_else(|| panic!("{label}: role {role:?}"));
        for token in [None, Some(BOGUS_TOKEN)] {
            let reply = app
                .send(operation.method.clone(), &uri, token, body.clone())
                .await;
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{label} with {token:?}: {reply:?}"
            );
            assert!(reply.error().starts_with("unauthenticated: "), "{reply:?}");
        }
        for (held, token) in &tokens {
            let reply = app
                .send(operation.method.clone(), &uri, Some(token), body.clone())
                .await;
            if *held < needed {
                assert_eq!(
                    reply.status,
                    StatusCode::FORBIDDEN,
                    "{label} as {}: the document says {role}: {reply:?}",
                    held.as_str()
                );
                assert!(
                    reply
                        .error()
                        .starts_with(&format!("permission denied: this needs the {role} role")),
                    "{reply:?}"
                );
            } else {
                assert!(
                    ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&reply.status)
                        && !reply.status.is_server_error(),
                    "{label} as {}: the document says {role} suffices: {reply:?}",
                    held.as_str()
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 3 * (operations.len() - 1));
}

crate::on_both_backends!(every_operation_with_every_role);
