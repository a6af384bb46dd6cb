//! Comparing inventories: the agent's local one grouped as the API groups
//! stored items, lists sorted so order does not matter, and this machine's
//! dpkg package count.

use anyhow::Result;
use serde_json::Value;

/// The inventory of `rollcall-agent inventory --format json` grouped the
/// way `GET /api/v1/hosts/{id}` groups stored items: by CMDB class,
/// singletons as objects, list items sorted by their JSON text. Apply
/// [`normalise_api_inventory`] to the API side before comparing.
pub fn inventory_by_class(local: &Value) -> Result<Value> {
    use rollcall_proto::inventory::{class_name, flatten, is_singleton};
    let inventory: rollcall_proto::v1::Inventory = serde_json::from_value(local.clone())?;
    let mut classes = serde_json::Map::new();
    for item in flatten(&inventory) {
        let class = class_name(item.section).to_string();
        if is_singleton(item.section) {
            classes.insert(class, item.attrs());
        } else if let Value::Array(list) = classes
            .entry(class)
            .or_insert_with(|| Value::Array(Vec::new()))
        {
            list.push(item.attrs());
        }
    }
    Ok(normalise_api_inventory(&Value::Object(classes)))
}

/// Sorts every list of an API inventory (`{class: object | [items]}`) by the
/// items' JSON text, so two inventories compare regardless of order.
pub fn normalise_api_inventory(inventory: &Value) -> Value {
    let mut out = inventory.clone();
    if let Value::Object(classes) = &mut out {
        for value in classes.values_mut() {
            if let Value::Array(list) = value {
                list.sort_by_cached_key(|item| item.to_string());
            }
        }
    }
    out
}

/// Counts packages `/var/lib/dpkg/status` lists as installed.
pub fn dpkg_installed_count() -> usize {
    let status = std::fs::read_to_string("/var/lib/dpkg/status").unwrap_or_default();
    status
        .split("\n\n")
        .filter(|stanza| {
            stanza.lines().any(|line| {
                let line = line.trim_end();
                line == "Status: install ok installed" || line == "Status: hold ok installed"
            })
        })
        .count()
}
