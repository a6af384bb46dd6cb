//! The host row's summary columns (OS, CPU, memory, identity) as an
//! inventory's singleton items set them.

use crate::cmdb::diff::CiItem;
use crate::cmdb::reconcile::HostIdentity;

/// Host summary columns derived from the singleton items.
pub fn summary_updates(items: &[CiItem]) -> Vec<(&'static str, SummaryValue)> {
    let mut out = Vec::new();
    for item in items {
        // Only singleton sections feed the summary: skip parsing every package.
        if !rollcall_proto::inventory::section_for_class(&item.class)
            .is_some_and(rollcall_proto::inventory::is_singleton)
        {
            continue;
        }
        let Ok(serde_json::Value::Object(attrs)) =
            serde_json::from_str::<serde_json::Value>(&item.attrs)
        else {
            continue;
        };
        let text = |key: &str| {
            attrs
                .get(key)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let number = |key: &str| attrs.get(key).and_then(|v| v.as_i64()).unwrap_or_default();
        match item.class.as_str() {
            "os" => {
                let name = if text("pretty_name").is_empty() {
                    text("name")
                } else {
                    text("pretty_name")
                };
                out.push(("os_name", SummaryValue::Text(name)));
                out.push(("os_version", SummaryValue::Text(text("version"))));
                out.push(("kernel", SummaryValue::Text(text("kernel"))));
                out.push(("arch", SummaryValue::Text(text("arch"))));
            }
            "cpu" => {
                out.push(("cpu_model", SummaryValue::Text(text("model"))));
                out.push(("cpu_threads", SummaryValue::Number(number("threads"))));
            }
            "system" => {
                out.push(("vendor", SummaryValue::Text(text("vendor"))));
                out.push(("model", SummaryValue::Text(text("model"))));
                out.push(("virtualization", SummaryValue::Text(text("hypervisor"))));
            }
            "memory" => out.push(("memory_bytes", SummaryValue::Number(number("total_bytes")))),
            "identity" => {
                let macs: Vec<String> = attrs
                    .get("macs")
                    .and_then(|v| v.as_array())
                    .map(|list| {
                        list.iter()
                            .filter_map(|mac| mac.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                let identity = HostIdentity {
                    machine_id: text("machine_id"),
                    dmi_uuid: text("dmi_uuid"),
                    dmi_serial: text("dmi_serial"),
                    macs: macs.into_iter().collect(),
                    hostname: text("hostname"),
                }
                .cleaned();
                out.push(("hostname", SummaryValue::Text(text("hostname"))));
                out.push(("fqdn", SummaryValue::Text(text("fqdn"))));
                // Identifiers are only ever filled in here, never blanked (reconciliation needs them).
                for (column, value) in [
                    ("machine_id", identity.machine_id.clone()),
                    ("dmi_uuid", identity.dmi_uuid.clone()),
                    ("dmi_serial", identity.dmi_serial.clone()),
                    ("macs", join_macs(&identity)),
                ] {
                    if !value.is_empty() {
                        out.push((column, SummaryValue::Text(value)));
                    }
                }
            }
            _ => {}
        }
    }
    out.retain(|(column, value)| {
        !(*column == "hostname" && matches!(value, SummaryValue::Text(t) if t.is_empty()))
    });
    out
}

/// A summary column's new value.
pub enum SummaryValue {
    /// A text column.
    Text(String),
    /// A number column.
    Number(i64),
}

/// The `macs` column: the MACs comma-separated.
pub fn join_macs(identity: &HostIdentity) -> String {
    identity.macs.iter().cloned().collect::<Vec<_>>().join(",")
}
