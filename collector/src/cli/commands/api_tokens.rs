//! `rollcall api-token create|list|revoke`: API tokens with a role and an
//! optional expiry (`/api/v1/api-tokens`). The secret is printed once.

use serde_json::{Value, json};

use crate::cli::client::Endpoint;
use crate::cli::commands::{Context, post_and_print};
use crate::cli::error::Result;
use crate::cli::output::{self, Column};

const RESOURCE: &str = "api-tokens";

const COLUMNS: &[Column] = &[
    Column::plain("id"),
    Column::plain("name"),
    Column::plain("role"),
    Column::time("created_at"),
    Column::time("expires_at"),
    Column::time("revoked_at"),
];

/// Creates a token named `name` with `role`, expiring after `expires_in_s`
/// seconds (or never).
pub async fn create(
    context: &Context,
    name: &str,
    role: &str,
    expires_in_s: Option<i64>,
) -> Result<()> {
    let mut body = json!({ "name": name, "role": role });
    if let Some(seconds) = expires_in_s {
        body["expires_in_s"] = json!(seconds);
    }
    post_and_print(context, &Endpoint::new(RESOURCE), Some(body), created_block).await
}

/// Lists API tokens (never their secrets).
pub async fn list(context: &Context) -> Result<()> {
    let list = context.client.get(&Endpoint::new(RESOURCE)).await?;
    output::print(&output::list(&list, COLUMNS, context.format))
}

/// Revokes an API token: refused from then on.
pub async fn revoke(context: &Context, id: &str) -> Result<()> {
    let endpoint = Endpoint::new(RESOURCE).segment(id).segment("revoke");
    post_and_print(context, &endpoint, None, |revoked| {
        format!("revoked API token {}\n", output::cell(&revoked["revoked"]))
    })
    .await
}

fn created_block(created: &Value) -> String {
    let expires = if created["expires_at"].is_null() {
        "never".to_string()
    } else {
        output::shown(&created["expires_at"], output::Kind::Time)
    };
    format!(
        "id:         {}\ntoken:      {}\nrole:       {}\nexpires at: {expires}\n",
        output::cell(&created["id"]),
        output::cell(&created["token"]),
        output::cell(&created["role"]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_without_expiry_says_never() {
        let created =
            json!({ "id": "t1", "token": "rcapi_x", "role": "viewer", "expires_at": null });
        assert_eq!(
            created_block(&created),
            "id:         t1\ntoken:      rcapi_x\nrole:       viewer\nexpires at: never\n"
        );
    }
}
