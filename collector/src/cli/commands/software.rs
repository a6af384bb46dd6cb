//! `rollcall software`: the software catalogue (`/api/v1/software`).

use crate::cli::client::Endpoint;
use crate::cli::commands::Context;
use crate::cli::error::Result;
use crate::cli::output::{self, Column};

/// The catalogue: one row per package name.
const CATALOGUE: &[Column] = &[Column::plain("name"), Column::plain("hosts")];

/// One package: a row per version and package manager.
const VERSIONS: &[Column] = &[
    Column::plain("name"),
    Column::plain("version"),
    Column::plain("manager"),
    Column::plain("hosts"),
];

/// Lists the catalogue, or with `name` the versions of one package and on
/// how many hosts each is installed.
pub async fn list(context: &Context, name: Option<&str>) -> Result<()> {
    let endpoint = Endpoint::new("software").param_opt("name", name);
    let list = context.client.get(&endpoint).await?;
    let columns = if name.is_some() { VERSIONS } else { CATALOGUE };
    output::print(&output::list(&list, columns, context.format))
}
