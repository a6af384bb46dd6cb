//! Compares stored configuration items of a host with an incoming snapshot
//! or delta and yields the writes and the history records to make.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// A stored or incoming configuration item, identified by class and key.
#[derive(Debug, Clone, PartialEq)]
pub struct CiItem {
    /// CMDB class (`software`, `disk`, …).
    pub class: String,
    /// Key inside the class ("" for singletons).
    pub key: String,
    /// Display name.
    pub name: String,
    /// Attributes as a JSON object, serialised.
    pub attrs: String,
}

/// One history record: an item added, removed, or one field changed.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRecord {
    /// CMDB class.
    pub class: String,
    /// Item key.
    pub key: String,
    /// `added`, `removed` or `changed`.
    pub change: &'static str,
    /// Changed attribute ("" for added and removed).
    pub field: String,
    /// Old value (JSON text), if any.
    pub old_value: Option<String>,
    /// New value (JSON text), if any.
    pub new_value: Option<String>,
}

/// What to write for one incoming change set.
#[derive(Debug, Default)]
pub struct Plan {
    /// Items to insert.
    pub inserts: Vec<CiItem>,
    /// Items whose attributes changed.
    pub updates: Vec<CiItem>,
    /// (class, key) of items to delete.
    pub deletes: Vec<(String, String)>,
    /// History to record.
    pub changes: Vec<ChangeRecord>,
}

impl Plan {
    /// Whether nothing changes.
    pub fn is_empty(&self) -> bool {
        self.inserts.is_empty() && self.updates.is_empty() && self.deletes.is_empty()
    }
}

fn field_changes(class: &str, key: &str, old: &str, new: &str, out: &mut Vec<ChangeRecord>) {
    let parse = |text: &str| match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (old, new) = (parse(old), parse(new));
    let fields: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for field in fields {
        let (before, after) = (old.get(field.as_str()), new.get(field.as_str()));
        if before != after {
            out.push(ChangeRecord {
                class: class.to_string(),
                key: key.to_string(),
                change: "changed",
                field: field.clone(),
                old_value: before.map(Value::to_string),
                new_value: after.map(Value::to_string),
            });
        }
    }
}

/// Plans the writes that turn `stored` into `incoming`.
///
/// With `full`, `incoming` is the whole inventory and stored items missing
/// from it are removed; otherwise `incoming` are upserts and `removed` the
/// explicitly removed (class, key) pairs.
pub fn plan(
    stored: &BTreeMap<(String, String), CiItem>,
    incoming: &[CiItem],
    removed: &[(String, String)],
    full: bool,
) -> Plan {
    let mut plan = Plan::default();
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    for item in incoming {
        let id = (item.class.clone(), item.key.clone());
        match stored.get(&id) {
            None => {
                plan.changes.push(ChangeRecord {
                    class: item.class.clone(),
                    key: item.key.clone(),
                    change: "added",
                    field: String::new(),
                    old_value: None,
                    new_value: Some(item.attrs.clone()),
                });
                plan.inserts.push(item.clone());
            }
            Some(existing) if existing.attrs != item.attrs || existing.name != item.name => {
                field_changes(
                    &item.class,
                    &item.key,
                    &existing.attrs,
                    &item.attrs,
                    &mut plan.changes,
                );
                plan.updates.push(item.clone());
            }
            Some(_) => {}
        }
        seen.insert(id);
    }
    let mut remove = |id: &(String, String)| {
        if let Some(existing) = stored.get(id) {
            plan.changes.push(ChangeRecord {
                class: id.0.clone(),
                key: id.1.clone(),
                change: "removed",
                field: String::new(),
                old_value: Some(existing.attrs.clone()),
                new_value: None,
            });
            plan.deletes.push(id.clone());
        }
    };
    if full {
        for id in stored.keys().filter(|id| !seen.contains(*id)) {
            remove(id);
        }
    } else {
        for id in removed.iter().filter(|id| !seen.contains(*id)) {
            remove(id);
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(class: &str, key: &str, attrs: &str) -> CiItem {
        CiItem {
            class: class.into(),
            key: key.into(),
            name: key.into(),
            attrs: attrs.into(),
        }
    }

    fn stored(items: &[CiItem]) -> BTreeMap<(String, String), CiItem> {
        items
            .iter()
            .map(|i| ((i.class.clone(), i.key.clone()), i.clone()))
            .collect()
    }

    #[test]
    fn full_snapshot_adds_changes_and_removes() {
        let before = stored(&[
            item("software", "a", r#"{"version":"1"}"#),
            item("software", "b", r#"{"version":"1"}"#),
        ]);
        let plan = plan(
            &before,
            &[
                item("software", "a", r#"{"version":"2"}"#),
                item("software", "c", r#"{"version":"1"}"#),
            ],
            &[],
            true,
        );
        assert_eq!(plan.inserts.len(), 1);
        assert_eq!(plan.updates.len(), 1);
        assert_eq!(
            plan.deletes,
            vec![("software".to_string(), "b".to_string())]
        );
        let changed = plan.changes.iter().find(|c| c.change == "changed").unwrap();
        assert_eq!(
            (
                changed.field.as_str(),
                changed.old_value.as_deref(),
                changed.new_value.as_deref()
            ),
            ("version", Some("\"1\""), Some("\"2\""))
        );
    }

    #[test]
    fn unchanged_snapshot_plans_nothing() {
        let items = [item("disk", "vda", r#"{"size":1}"#)];
        assert!(plan(&stored(&items), &items, &[], true).is_empty());
    }

    #[test]
    fn delta_only_removes_named_items() {
        let before = stored(&[item("software", "a", "{}"), item("software", "b", "{}")]);
        let plan = plan(
            &before,
            &[],
            &[
                ("software".into(), "b".into()),
                ("software".into(), "zz".into()),
            ],
            false,
        );
        assert_eq!(
            plan.deletes,
            vec![("software".to_string(), "b".to_string())]
        );
        assert_eq!(plan.changes.len(), 1);
    }
}
