//! History as a way back to any past state (pure): the `discovered` record
//! of a host's first inventory, which holds that inventory compactly, and
//! the replay of later records onto it.
//!
//! A host's state at moment T is its latest `discovered` record at or
//! before T, with every later item record (`added`, `removed`, field-level
//! `changed`) up to T applied in id order. Before a host's first
//! `discovered` record (databases written before it existed) the replay
//! starts from nothing and its per-item `added` records build the state.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::cmdb::diff::ChangeRecord;

/// The change kind of a first inventory.
pub const DISCOVERED: &str = "discovered";

/// A host's state in history: (class, item key) → attributes (JSON text).
/// Display names are derived from attributes and not part of history.
pub type State = BTreeMap<(String, String), String>;

/// A first inventory as its `discovered` record holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovered {
    /// Software: (catalogue package id, the host's install time in s).
    pub software: Vec<(i64, i64)>,
    /// Every other item: (class, key, attributes).
    pub items: Vec<(String, String, String)>,
}

/// The `discovered` record of a first inventory: class `host`, and as new
/// value `{"software": [[package id, installed_at_s], …], "items": [[class,
/// key, attrs], …]}`: a package is two numbers, its catalogue entry is
/// stored once for the fleet.
pub fn discovered(software: &[(i64, i64)], items: &[(String, String, String)]) -> ChangeRecord {
    /// The record's JSON, written straight from the slices (a `Value` tree
    /// of ~1,000 arrays cost a quarter of the record's instructions): the
    /// fields in the order a JSON object's keys sort in, as before.
    #[derive(serde::Serialize)]
    struct Record<'r> {
        items: &'r [(String, String, String)],
        software: &'r [(i64, i64)],
    }
    let value = serde_json::to_string(&Record { items, software })
        .unwrap_or_else(|_| String::from(r#"{"items":[],"software":[]}"#));
    ChangeRecord {
        class: "host".into(),
        key: String::new(),
        change: DISCOVERED,
        field: String::new(),
        old_value: None,
        new_value: Some(value),
    }
}

/// Reads the new value of a `discovered` record; `None` if it is not one.
pub fn parse_discovered(text: &str) -> Option<Discovered> {
    let value: Value = serde_json::from_str(text).ok()?;
    let software = value
        .get("software")?
        .as_array()?
        .iter()
        .map(|pair| Some((pair.get(0)?.as_i64()?, pair.get(1)?.as_i64()?)))
        .collect::<Option<Vec<_>>>()?;
    let items = value
        .get("items")?
        .as_array()?
        .iter()
        .map(|triple| {
            Some((
                triple.get(0)?.as_str()?.to_string(),
                triple.get(1)?.as_str()?.to_string(),
                triple.get(2)?.as_str()?.to_string(),
            ))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Discovered { software, items })
}

/// Applies one later item record to `state`: `added` sets the item,
/// `removed` drops it, `changed` sets (or, without a new value, removes)
/// one attribute. Records of class `host` (the host CI's own, such as
/// identification) are not items and leave `state` alone.
pub fn replay(
    state: &mut State,
    class: &str,
    key: &str,
    change: &str,
    field: &str,
    new_value: Option<&str>,
) {
    if class == "host" {
        return;
    }
    let id = (class.to_string(), key.to_string());
    match change {
        "added" => {
            state.insert(id, new_value.unwrap_or("{}").to_string());
        }
        "removed" => {
            state.remove(&id);
        }
        "changed" => {
            let attrs = state.entry(id).or_insert_with(|| "{}".to_string());
            let mut object = match serde_json::from_str::<Value>(attrs) {
                Ok(Value::Object(object)) => object,
                _ => Map::new(),
            };
            match new_value.and_then(|text| serde_json::from_str::<Value>(text).ok()) {
                Some(value) => {
                    object.insert(field.to_string(), value);
                }
                None => {
                    object.remove(field);
                }
            }
            *attrs = Value::Object(object).to_string();
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_discovered_record_is_the_json_object_it_always_was() {
        let items = vec![
            (
                "os".to_string(),
                String::new(),
                r#"{"kernel":"6.1"}"#.to_string(),
            ),
            (
                "user".to_string(),
                "r\u{e9}my \"x\"".to_string(),
                "{}".to_string(),
            ),
        ];
        let software = [(7, 1_700_000_000), (-1, 0)];
        let before = json!({
            "software": software.iter().map(|(id, at)| json!([id, at])).collect::<Vec<_>>(),
            "items": items.iter().map(|(class, key, attrs)| json!([class, key, attrs])).collect::<Vec<_>>(),
        })
        .to_string();
        assert_eq!(discovered(&software, &items).new_value, Some(before));
        assert_eq!(
            discovered(&[], &[]).new_value.as_deref(),
            Some(r#"{"items":[],"software":[]}"#)
        );
    }

    #[test]
    fn a_discovered_record_reads_back() {
        let items = vec![(
            "os".to_string(),
            String::new(),
            r#"{"kernel":"6.1"}"#.to_string(),
        )];
        let record = discovered(&[(7, 1_700_000_000), (9, 0)], &items);
        assert_eq!((record.class.as_str(), record.change), ("host", DISCOVERED));
        let back = parse_discovered(record.new_value.as_deref().unwrap_or_default());
        assert_eq!(
            back,
            Some(Discovered {
                software: vec![(7, 1_700_000_000), (9, 0)],
                items
            })
        );
        assert_eq!(parse_discovered(r#"{"software":[["x"]],"items":[]}"#), None);
    }

    #[test]
    fn replay_applies_field_changes_in_canonical_form() {
        let mut state = State::new();
        let os = ("os".to_string(), String::new());
        replay(
            &mut state,
            "os",
            "",
            "added",
            "",
            Some(r#"{"arch":"x","kernel":"6.1"}"#),
        );
        replay(&mut state, "os", "", "changed", "kernel", Some("\"6.2\""));
        replay(&mut state, "os", "", "changed", "arch", None);
        assert_eq!(state[&os], r#"{"kernel":"6.2"}"#);
        replay(
            &mut state,
            "host",
            "",
            "added",
            "identification",
            Some("{}"),
        );
        replay(&mut state, "os", "", "removed", "", None);
        assert!(state.is_empty());
    }
}
