//! The strict parser of `GET /api/v1/hosts`'s query string: every
//! parameter named, bounded and checked before the store is asked, so a bad
//! one is a 400 naming it (never a 500); and the keyset cursor, which
//! carries the sort it was made for.

use serde_json::{Value, json};

use crate::availability::bounds::{MAX_TIME_MS, MIN_TIME_MS};
use crate::cmdb::software::{Comparison, VersionCondition};
use crate::error::{Error, Result};
use crate::store::{Host, HostCursor, HostQuery, HostSort, SoftwareFilter, SortValue, TextMatch};

/// Longest accepted value of one parameter (bytes).
pub const MAX_VALUE_BYTES: usize = 256;
/// Most parameters in one query.
pub const MAX_PARAMETERS: usize = 64;
/// Most `tag=` parameters.
pub const MAX_TAGS: usize = 8;
/// Most `attr.<name>=` parameters.
pub const MAX_ATTRIBUTE_FILTERS: usize = 16;
/// Longest accepted version bound (bytes).
pub const MAX_VERSION_BYTES: usize = 128;
/// Longest accepted cursor (hex characters).
const MAX_CURSOR_CHARS: usize = 2048;

/// The host fields `fields=` may select (a [`Host`] serialised).
pub const HOST_FIELDS: [&str; 30] = [
    "id",
    "hostname",
    "fqdn",
    "class",
    "machine_id",
    "dmi_uuid",
    "dmi_serial",
    "macs",
    "os_name",
    "os_version",
    "kernel",
    "arch",
    "cpu_model",
    "cpu_threads",
    "memory_bytes",
    "package_count",
    "lifecycle",
    "presence",
    "agent_id",
    "match_rule",
    "possible_duplicate_of",
    "first_seen_at",
    "last_seen_at",
    "last_inventory_at",
    "tags",
    "away_until",
    "away_reason",
    "vendor",
    "model",
    "virtualization",
];

/// The presence states a host can be in.
const PRESENCE: [&str; 7] = [
    "up",
    "suspect",
    "down",
    "away",
    "maintenance",
    "retired",
    "unknown",
];

/// The lifecycle states.
const LIFECYCLE: [&str; 3] = ["active", "stale", "retired"];

/// A parsed host list request: the store query, the fields to return and
/// whether CSV was asked for.
#[derive(Debug, Clone)]
pub struct HostListRequest {
    /// What the store selects.
    pub query: HostQuery,
    /// The fields of each host to return (`None`: all).
    pub fields: Option<Vec<&'static str>>,
    /// CSV instead of JSON.
    pub csv: bool,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidInput(message.into())
}

/// A glob (`*` any run, `?` one character) as a case-insensitive match:
/// exact when it has no wildcard, else a LIKE pattern with the LIKE
/// metacharacters of the text escaped.
pub fn glob(text: &str) -> TextMatch {
    if !text.contains(['*', '?']) {
        return TextMatch::Exact(text.to_string());
    }
    let mut pattern = String::with_capacity(text.len() + 4);
    for c in text.to_lowercase().chars() {
        match c {
            '*' => pattern.push('%'),
            '?' => pattern.push('_'),
            '%' | '_' | '\\' => {
                pattern.push('\\');
                pattern.push(c);
            }
            c => pattern.push(c),
        }
    }
    TextMatch::Like(pattern)
}

/// The host name filter: a glob, or without a wildcard a substring (as
/// `name=` always was).
fn name_match(text: &str) -> TextMatch {
    if text.contains(['*', '?']) {
        glob(text)
    } else {
        glob(&format!("*{text}*"))
    }
}

/// A timestamp: milliseconds since the epoch or RFC 3339, within the
/// accepted range.
pub fn timestamp(parameter: &str, text: &str) -> Result<i64> {
    let ms = match text.parse::<i64>() {
        Ok(ms) => ms,
        Err(_) => text
            .parse::<jiff::Timestamp>()
            .map(|at| at.as_millisecond())
            .map_err(|_| {
                invalid(format!(
                    "{parameter} must be milliseconds since the epoch or an RFC 3339 time, got {text:?}"
                ))
            })?,
    };
    if !(MIN_TIME_MS..=MAX_TIME_MS).contains(&ms) {
        return Err(invalid(format!(
            "{parameter} must be between 2000-01-01 and 2200-01-01, got {text:?}"
        )));
    }
    Ok(ms)
}

/// A package version bound: 1 to 128 bytes of the characters dpkg, rpm
/// and apk versions are made of, with a numeric epoch if any.
pub fn version_bound(text: &str) -> Result<String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".+-~:_^".contains(c);
    let epoch_ok = match text.split_once(':') {
        Some((epoch, _)) => !epoch.is_empty() && epoch.bytes().all(|b| b.is_ascii_digit()),
        None => true,
    };
    if text.is_empty()
        || text.len() > MAX_VERSION_BYTES
        || !text.chars().all(allowed)
        || !text.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !epoch_ok
    {
        return Err(invalid(format!(
            "version {text:?} is not a package version (1 to {MAX_VERSION_BYTES} of A-Z a-z 0-9 . + - ~ : _ ^, a numeric epoch)"
        )));
    }
    Ok(text.to_string())
}

/// A comparison operator: `<`, `<=`, `=`, `>=`, `>` (or `lt` … `gt`).
pub fn comparison(text: &str) -> Result<Comparison> {
    Ok(match text {
        "<" | "lt" => Comparison::Lt,
        "<=" | "le" => Comparison::Le,
        "=" | "==" | "eq" => Comparison::Eq,
        ">=" | "ge" => Comparison::Ge,
        ">" | "gt" => Comparison::Gt,
        other => {
            return Err(invalid(format!(
                "op must be one of <, <=, =, >=, > (or lt, le, eq, ge, gt), got {other:?}"
            )));
        }
    })
}

/// A custom attribute name: 1 to 64 of `a-z 0-9 _ - .`, starting with a letter.
pub fn attribute_name(text: &str) -> Result<String> {
    if text.is_empty()
        || text.len() > 64
        || !text.starts_with(|c: char| c.is_ascii_lowercase())
        || !text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-.".contains(c))
    {
        return Err(invalid(format!(
            "attribute name {text:?} must be 1 to 64 of a-z 0-9 _ - ., starting with a letter"
        )));
    }
    Ok(text.to_string())
}

fn number(parameter: &str, text: &str) -> Result<i64> {
    text.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
        invalid(format!(
            "{parameter} must be a whole number ≥ 0, got {text:?}"
        ))
    })
}

fn one_of(parameter: &str, text: &str, allowed: &[&str]) -> Result<String> {
    if allowed.contains(&text) {
        Ok(text.to_string())
    } else {
        Err(invalid(format!(
            "{parameter} must be one of {}, got {text:?}",
            allowed.join(", ")
        )))
    }
}

fn sort(text: &str) -> Result<(HostSort, bool)> {
    let (descending, name) = match text.strip_prefix('-') {
        Some(name) => (true, name),
        None => (false, text),
    };
    HostSort::ALL
        .iter()
        .find(|(allowed, _)| *allowed == name)
        .map(|(_, sort)| (*sort, descending))
        .ok_or_else(|| {
            invalid(format!(
                "sort must be one of {} (a leading - for descending), got {text:?}",
                HostSort::ALL.map(|(name, _)| name).join(", ")
            ))
        })
}

fn fields(text: &str) -> Result<Vec<&'static str>> {
    let mut out = Vec::new();
    for field in text.split(',') {
        let known = HOST_FIELDS
            .iter()
            .find(|known| **known == field)
            .ok_or_else(|| {
                invalid(format!(
                    "fields: unknown field {field:?}; known: {}",
                    HOST_FIELDS.join(", ")
                ))
            })?;
        if !out.contains(known) {
            out.push(*known);
        }
    }
    Ok(out)
}

/// The cursor of the page after `host`, for `query`'s sort.
pub fn encode_cursor(query: &HostQuery, host: &Host) -> String {
    let value = match query.sort {
        HostSort::Id => Value::Null,
        HostSort::Hostname => json!(host.hostname),
        HostSort::OsName => json!(host.os_name),
        HostSort::LastSeenAt => json!(host.last_seen_at),
        HostSort::FirstSeenAt => json!(host.first_seen_at),
        HostSort::MemoryBytes => json!(host.memory_bytes),
        HostSort::PackageCount => json!(host.package_count),
    };
    let sort = if query.descending {
        format!("-{}", query.sort.name())
    } else {
        query.sort.name().to_string()
    };
    hex::encode(json!([sort, value, host.id]).to_string())
}

/// A cursor made by [`encode_cursor`] for the same sort.
fn decode_cursor(text: &str, sort: HostSort, descending: bool) -> Result<HostCursor> {
    let bad = || invalid("cursor is not one this API returned");
    if text.len() > MAX_CURSOR_CHARS {
        return Err(bad());
    }
    let bytes = hex::decode(text).map_err(|_| bad())?;
    let Ok(Value::Array(parts)) = serde_json::from_slice::<Value>(&bytes) else {
        return Err(bad());
    };
    let [Value::String(made_for), value, Value::String(id)] = parts.as_slice() else {
        return Err(bad());
    };
    let wanted = if descending {
        format!("-{}", sort.name())
    } else {
        sort.name().to_string()
    };
    if *made_for != wanted {
        return Err(invalid(format!(
            "cursor was made for sort={made_for}, not sort={wanted}"
        )));
    }
    let value = match (sort, value) {
        (HostSort::Id, Value::Null) => None,
        (sort, Value::Number(n)) if sort.numeric() => {
            Some(SortValue::Number(n.as_i64().ok_or_else(bad)?))
        }
        (sort, Value::String(s)) if sort != HostSort::Id && !sort.numeric() => {
            Some(SortValue::Text(s.clone()))
        }
        _ => return Err(bad()),
    };
    Ok(HostCursor {
        value,
        id: id.clone(),
    })
}

/// Parses the query string pairs of `GET /api/v1/hosts`.
pub fn parse(pairs: &[(String, String)]) -> Result<HostListRequest> {
    if pairs.len() > MAX_PARAMETERS {
        return Err(invalid(format!(
            "at most {MAX_PARAMETERS} query parameters, got {}",
            pairs.len()
        )));
    }
    let mut query = HostQuery {
        limit: 100,
        ..HostQuery::default()
    };
    let mut seen: Vec<&str> = Vec::new();
    let mut request_fields = None;
    let mut csv = false;
    let mut cursor = None;
    let mut software = None;
    let mut version = None;
    let mut op = None;
    let mut legacy: Vec<VersionCondition> = Vec::new();
    for (key, value) in pairs {
        let key = key.as_str();
        if value.len() > MAX_VALUE_BYTES {
            return Err(invalid(format!(
                "{key}: at most {MAX_VALUE_BYTES} bytes, got {}",
                value.len()
            )));
        }
        if value.chars().any(char::is_control) {
            return Err(invalid(format!(
                "{key}: control characters are not allowed"
            )));
        }
        if key != "tag" {
            if seen.contains(&key) {
                return Err(invalid(format!("parameter `{key}` is given twice")));
            }
            seen.push(key);
        }
        let text = || Some(value.clone());
        match key {
            "name" => query.name = Some(name_match(value)),
            "class" => query.class = Some(glob(value)),
            "os" => query.os = Some(glob(value)),
            "os_version" => query.os_version = Some(glob(value)),
            "kernel" => query.kernel = Some(glob(value)),
            "cpu_model" => query.cpu_model = Some(glob(value)),
            "vendor" => query.vendor = Some(glob(value)),
            "model" => query.model = Some(glob(value)),
            "serial" => query.serial = Some(glob(value)),
            "virtualization" | "virtualisation" => query.virtualization = Some(glob(value)),
            "failed_unit" => query.failed_unit = Some(glob(value)),
            "presence" => query.presence = Some(one_of(key, value, &PRESENCE)?),
            "lifecycle" => query.lifecycle = Some(one_of(key, value, &LIFECYCLE)?),
            "tag" => {
                if query.tags.len() == MAX_TAGS {
                    return Err(invalid(format!("at most {MAX_TAGS} tag parameters")));
                }
                if value.is_empty() || value.contains(',') {
                    return Err(invalid("tag must be 1 to 64 bytes without commas"));
                }
                query.tags.push(value.clone());
            }
            "service" => query.service = text(),
            "last_seen_before" => query.last_seen_before = Some(timestamp(key, value)?),
            "last_seen_after" => query.last_seen_after = Some(timestamp(key, value)?),
            "memory_min" => query.memory_min = Some(number(key, value)?),
            "memory_max" => query.memory_max = Some(number(key, value)?),
            "port" => {
                query.port = Some(
                    value
                        .parse::<u16>()
                        .ok()
                        .filter(|port| *port > 0)
                        .ok_or_else(|| {
                            invalid(format!("port must be 1 to 65535, got {value:?}"))
                        })?,
                );
            }
            "software" => {
                if value.is_empty() {
                    return Err(invalid("software must name a package"));
                }
                software = text();
            }
            "version" => version = Some(version_bound(value)?),
            "op" => op = Some(comparison(value)?),
            "version_lt" | "version_le" | "version_eq" | "version_ge" | "version_gt" => {
                let comparison = comparison(&key["version_".len()..])?;
                legacy.push(VersionCondition {
                    comparison,
                    bound: version_bound(value)?,
                });
            }
            "sort" => (query.sort, query.descending) = sort(value)?,
            "fields" => request_fields = Some(fields(value)?),
            "limit" => {
                let limit = value.parse::<i64>().map_err(|_| {
                    invalid(format!("limit must be between 1 and 1000, got {value:?}"))
                })?;
                query.limit = super::list::page_limit(Some(limit), 100, 1000)?;
            }
            "cursor" => cursor = text(),
            "format" => csv = super::list::wants_csv(Some(value))?,
            other => match other.strip_prefix("attr.") {
                Some(name) => {
                    if query.attributes.len() == MAX_ATTRIBUTE_FILTERS {
                        return Err(invalid(format!(
                            "at most {MAX_ATTRIBUTE_FILTERS} attr.<name> parameters"
                        )));
                    }
                    query.attributes.push((attribute_name(name)?, glob(value)));
                }
                None => {
                    return Err(invalid(format!(
                        "unknown parameter `{other}`; see docs/operations.md for the host list's filters"
                    )));
                }
            },
        }
    }
    if let (Some(min), Some(max)) = (query.memory_min, query.memory_max)
        && min > max
    {
        return Err(invalid("memory_min is larger than memory_max"));
    }
    if let (Some(after), Some(before)) = (query.last_seen_after, query.last_seen_before)
        && after >= before
    {
        return Err(invalid(
            "last_seen_after must be earlier than last_seen_before",
        ));
    }
    let mut conditions = legacy;
    match (version, op) {
        (Some(bound), op) => conditions.push(VersionCondition {
            comparison: op.unwrap_or(Comparison::Eq),
            bound,
        }),
        (None, Some(_)) => return Err(invalid("op needs version=")),
        (None, None) => {}
    }
    match software {
        Some(name) => query.software = Some(SoftwareFilter { name, conditions }),
        None if !conditions.is_empty() => {
            return Err(invalid(
                "version (and version_lt/le/eq/ge/gt) need software=NAME",
            ));
        }
        None => {}
    }
    if let Some(cursor) = cursor {
        query.cursor = Some(decode_cursor(&cursor, query.sort, query.descending)?);
    }
    Ok(HostListRequest {
        query,
        fields: request_fields,
        csv,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn error(list: &[(&str, &str)]) -> String {
        match parse(&pairs(list)) {
            Err(Error::InvalidInput(message)) => message,
            other => panic!("{list:?} parsed: {other:?}"),
        }
    }

    #[test]
    fn globs_escape_like_metacharacters() {
        assert_eq!(glob("Web01"), TextMatch::Exact("Web01".into()));
        assert_eq!(glob("web*"), TextMatch::Like("web%".into()));
        assert_eq!(glob("a_b?%*"), TextMatch::Like("a\\_b_\\%%".into()));
        assert_eq!(name_match("db"), TextMatch::Like("%db%".into()));
    }

    #[test]
    fn every_filter_parses() {
        let request = parse(&pairs(&[
            ("name", "web-*"),
            ("os", "Debian*"),
            ("presence", "up"),
            ("lifecycle", "active"),
            ("tag", "prod"),
            ("tag", "eu"),
            ("attr.owner", "team-a"),
            ("last_seen_after", "2026-01-01T00:00:00Z"),
            ("last_seen_before", "1800000000000"),
            ("memory_min", "1024"),
            ("port", "22"),
            ("software", "openssl"),
            ("version", "3.0.13"),
            ("op", "<"),
            ("sort", "-last_seen_at"),
            ("fields", "id,hostname"),
            ("limit", "10"),
        ]))
        .expect("parses");
        let query = request.query;
        assert_eq!(query.tags, ["prod", "eu"]);
        assert_eq!(query.last_seen_after, Some(1_767_225_600_000));
        assert_eq!(query.sort, HostSort::LastSeenAt);
        assert!(query.descending);
        let software = query.software.expect("software");
        assert_eq!(software.conditions[0].comparison, Comparison::Lt);
        assert_eq!(request.fields, Some(vec!["id", "hostname"]));
    }

    #[test]
    fn bad_input_names_the_problem() {
        for (list, needle) in [
            (vec![("bogus", "1")], "unknown parameter `bogus`"),
            (
                vec![("software", "x"), ("version", "1.0;DROP")],
                "is not a package version",
            ),
            (
                vec![("software", "x"), ("version", "a:1")],
                "is not a package version",
            ),
            (
                vec![("software", "x"), ("version", "1"), ("op", "<>")],
                "op must be one of",
            ),
            (vec![("version", "1.0")], "need software=NAME"),
            (vec![("op", "<")], "op needs version="),
            (vec![("last_seen_before", "yesterday")], "RFC 3339"),
            (
                vec![("last_seen_before", "99999999999999999")],
                "between 2000-01-01",
            ),
            (vec![("sort", "password")], "sort must be one of"),
            (vec![("fields", "id,secret")], "unknown field \"secret\""),
            (vec![("presence", "gone")], "presence must be one of"),
            (vec![("port", "70000")], "port must be"),
            (vec![("memory_min", "-1")], "memory_min must be"),
            (
                vec![("memory_min", "9"), ("memory_max", "1")],
                "larger than",
            ),
            (vec![("attr.Owner", "x")], "attribute name"),
            (vec![("name", "a"), ("name", "b")], "given twice"),
            (vec![("cursor", "zz")], "cursor is not one"),
            (
                vec![("limit", "100000")],
                "limit must be between 1 and 1000",
            ),
        ] {
            let message = error(&list);
            assert!(message.contains(needle), "{list:?}: {message}");
        }
        let long = "x".repeat(MAX_VALUE_BYTES + 1);
        assert!(error(&[("name", long.as_str())]).contains("at most 256 bytes"));
        let many: Vec<(&str, &str)> = (0..=MAX_PARAMETERS).map(|_| ("tag", "a")).collect();
        assert!(error(&many).contains("at most 64 query parameters"));
    }

    #[test]
    fn a_cursor_belongs_to_its_sort() {
        let query = parse(&pairs(&[("sort", "hostname")]))
            .expect("parses")
            .query;
        let host = sample_host();
        let cursor = encode_cursor(&query, &host);
        let back = parse(&pairs(&[("sort", "hostname"), ("cursor", &cursor)]))
            .expect("parses")
            .query
            .cursor
            .expect("cursor");
        assert_eq!(back.value, Some(SortValue::Text(host.hostname.clone())));
        assert_eq!(back.id, host.id);
        assert!(
            error(&[("sort", "-hostname"), ("cursor", &cursor)]).contains("made for sort=hostname")
        );
    }

    fn sample_host() -> Host {
        Host {
            id: "h1".into(),
            hostname: "web'01".into(),
            fqdn: String::new(),
            class: "linux_server".into(),
            machine_id: String::new(),
            dmi_uuid: String::new(),
            dmi_serial: String::new(),
            macs: String::new(),
            os_name: String::new(),
            os_version: String::new(),
            kernel: String::new(),
            arch: String::new(),
            cpu_model: String::new(),
            cpu_threads: 0,
            memory_bytes: 0,
            package_count: 0,
            lifecycle: "active".into(),
            presence: "up".into(),
            agent_id: None,
            match_rule: String::new(),
            possible_duplicate_of: None,
            first_seen_at: 0,
            last_seen_at: 0,
            last_inventory_at: None,
            tags: String::new(),
            away_until: None,
            away_reason: None,
            vendor: String::new(),
            model: String::new(),
            virtualization: String::new(),
        }
    }

    #[test]
    fn the_field_list_is_the_host_serialised() {
        let value = serde_json::to_value(sample_host()).expect("json");
        let keys: Vec<&str> = value
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        let mut fields = HOST_FIELDS.to_vec();
        fields.sort_unstable();
        let mut keys = keys.clone();
        keys.sort_unstable();
        assert_eq!(fields, keys);
    }
}
