//! What the example configuration files (`packaging/config/*.example.toml`)
//! document, and what a configuration's options are: the agent's and the
//! collector's tests check with these that every option of their config
//! structs appears in their example.

/// Every `section.key` an example config names, commented out or not:
/// a leading `#` is ignored, `[a.b]` and `[[a.b]]` open section `a.b`.
pub fn documented_keys(example: &str) -> std::collections::BTreeSet<String> {
    let mut keys = std::collections::BTreeSet::new();
    let mut section = String::new();
    for line in example.lines() {
        let line = line.trim_start_matches(|c: char| c == '#' || c.is_whitespace());
        if let Some(name) = line.strip_prefix('[') {
            section = name
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string();
            // A list of tables (`checks`, `integrations.targets`) is
            // documented by its `[[...]]` example.
            keys.insert(section.clone());
            continue;
        }
        let Some((key, _)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            keys.insert(if section.is_empty() {
                key.to_string()
            } else {
                format!("{section}.{key}")
            });
        }
    }
    keys
}

/// Key paths of every leaf of a serialized config (objects are walked,
/// anything else, `null` for an unset option included, is a leaf).
pub fn option_paths(value: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
    if let serde_json::Value::Object(map) = value {
        for (key, value) in map {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            if value.is_object() {
                option_paths(value, &path, out);
            } else {
                out.push(path);
            }
        }
    }
}
