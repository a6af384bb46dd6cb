//! What adapters may put in a vendor's look-up: never agent-chosen text.
//! A dedup key holds agent-chosen mount, unit and check names, and a host
//! name is chosen by the agent too; written into a query language
//! (ServiceNow `sysparm_query`, where `^OR…` widens the match) they could
//! make a look-up find another incident, which we would then update and
//! resolve. So look-ups use `correlation_id`, a hash of the dedup key made
//! of `[0-9a-f:]` and `rollcall` only, which adapters also write into the
//! record they create; and a CI is looked up by name only when the name is
//! a plain host name (`is_plain_host_name`).

use sha2::{Digest, Sha256};

/// Prefix of every correlation id (a constant, so never `javascript:`,
/// which ServiceNow would evaluate in a query value).
pub const CORRELATION_PREFIX: &str = "rollcall:";

/// Longest host name looked up by name (RFC 1035 limit).
pub const MAX_HOST_NAME: usize = 253;

/// `rollcall:<sha256 hex of the dedup key>`: the value written into the
/// vendor record's correlation field and the only value a look-up by
/// dedup key sends. 73 characters, within ServiceNow's 100 for
/// `correlation_id`, whatever the length of the key.
pub fn correlation_id(dedup_key: &str) -> String {
    format!(
        "{CORRELATION_PREFIX}{}",
        hex::encode(Sha256::digest(dedup_key.as_bytes()))
    )
}

/// Whether `name` is a plain host name: 1 to 253 ASCII letters, digits,
/// `.`, `-` and `_`, starting with a letter or digit. Such a name cannot
/// carry a query operator (`^`, `=`, `!`, `,`, `:`, spaces) of any
/// vendor's query language.
pub fn is_plain_host_name(name: &str) -> bool {
    name.len() <= MAX_HOST_NAME
        && name
            .chars()
            .next()
            .is_some_and(|first| first.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// Whether `text` is a ServiceNow `sys_id` (32 hex digits), so a value a
/// target answered can go into a request path.
pub fn is_sys_id(text: &str) -> bool {
    text.len() == 32 && text.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_id_is_a_fixed_prefix_and_hex_whatever_the_key() {
        for key in [
            "h1:host_down",
            "x^ORactive=true",
            "a\r\nb",
            &"u".repeat(200_000),
        ] {
            let id = correlation_id(key);
            assert_eq!(id.len(), 73);
            assert!(id.starts_with("rollcall:"));
            assert!(id[9..].chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
        }
        assert_ne!(correlation_id("a"), correlation_id("b"));
        assert_eq!(correlation_id("a"), correlation_id("a"));
    }

    #[test]
    fn only_plain_host_names_are_looked_up() {
        for name in ["web1", "web1.example.com", "db-2_a", "A1"] {
            assert!(is_plain_host_name(name), "{name}");
        }
        for name in [
            "",
            "evil^ORname=web1",
            "web1^NQname=x",
            "javascript:gs.getUserID()",
            "a b",
            "-web",
            ".web",
            "web1,web2",
            "wéb",
            &"a".repeat(254),
        ] {
            assert!(!is_plain_host_name(name), "{name}");
        }
    }

    #[test]
    fn sys_ids_are_32_hex_digits() {
        assert!(is_sys_id("0123456789abcdef0123456789ABCDEF"));
        assert!(!is_sys_id("../../sys_user/0123456789abcdef01"));
        assert!(!is_sys_id("abc"));
    }
}
