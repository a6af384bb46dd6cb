//! `rollcall token create|list|revoke`: enrollment tokens (`/api/v1/enrollment-tokens`).

use serde_json::{Value, json};

use crate::cli::client::Endpoint;
use crate::cli::commands::{Context, post_and_print};
use crate::cli::error::Result;
use crate::cli::output::{self, Column};

const RESOURCE: &str = "enrollment-tokens";

const COLUMNS: &[Column] = &[
    Column::plain("id"),
    Column::plain("description"),
    Column::plain("uses"),
    Column::plain("max_uses"),
    Column::time("expires_at"),
    Column::time("revoked_at"),
];

/// Creates a token for `uses` enrollments, valid for `ttl_s` seconds.
pub async fn create(context: &Context, uses: i64, ttl_s: i64, description: &str) -> Result<()> {
    let body = json!({ "max_uses": uses, "ttl_s": ttl_s, "description": description });
    post_and_print(context, &Endpoint::new(RESOURCE), Some(body), created_block).await
}

/// Lists enrollment tokens.
pub async fn list(context: &Context) -> Result<()> {
    let list = context.client.get(&Endpoint::new(RESOURCE)).await?;
    output::print(&output::list(&list, COLUMNS, context.format))
}

/// Revokes an enrollment token: no agent enrolls with it from then on.
pub async fn revoke(context: &Context, id: &str) -> Result<()> {
    let endpoint = Endpoint::new(RESOURCE).segment(id).segment("revoke");
    post_and_print(context, &endpoint, None, |revoked| {
        format!(
            "revoked enrollment token {}\n",
            output::cell(&revoked["revoked"])
        )
    })
    .await
}

/// The new token, its uses, expiry and the CA fingerprint, one per line.
fn created_block(created: &Value) -> String {
    format!(
        "token:          {}\n\
         uses:           {}\n\
         expires at:     {}\n\
         ca fingerprint: {}\n",
        output::cell(&created["token"]),
        created["max_uses"],
        output::shown(&created["expires_at"], output::Kind::Time),
        output::cell(&created["ca_fingerprint"]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_token_shows_its_expiry_as_rfc3339() {
        let created = json!({
            "token": "rcenr_abc", "max_uses": 5, "expires_at": 1_796_161_265_789_i64,
            "ca_fingerprint": "ab:cd",
        });
        assert_eq!(
            created_block(&created),
            "token:          rcenr_abc\n\
             uses:           5\n\
             expires at:     2026-12-01T21:41:05Z\n\
             ca fingerprint: ab:cd\n"
        );
    }
}
