//! Agent-chosen text made safe for incidents: control characters and ANSI
//! escape sequences removed, lengths capped, lists truncated with a count,
//! and rule subjects derived from a hash of the names rather than the names
//! themselves (an incident's dedup key is sent to every ITSM target).

use sha2::{Digest, Sha256};

/// Longest incident summary, in characters.
pub const MAX_SUMMARY_CHARS: usize = 200;
/// Longest incident description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4096;
/// Longest single name inside a summary, in characters.
pub const MAX_NAME_IN_SUMMARY_CHARS: usize = 64;
/// Names listed in a summary before "and N more".
pub const NAMES_IN_SUMMARY: usize = 5;
/// Names kept in an incident's details (the count keeps the total).
pub const MAX_LISTED_ITEMS: usize = 100;
/// Longest name kept in an incident's details, in characters.
pub const MAX_LISTED_NAME_CHARS: usize = 256;

/// `text` without control characters or ANSI escape sequences (CSI `ESC [
/// … final`, OSC `ESC ] … BEL|ESC \`, and two-character escapes), at most
/// `max_chars` characters long (an ellipsis marks a cut).
pub fn clean(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars * 4));
    let mut count = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            match chars.next() {
                Some('[') => {
                    // Parameters and intermediates, then one final byte in @..~.
                    for next in chars.by_ref() {
                        if ('@'..='~').contains(&next) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    while let Some(next) = chars.next() {
                        if next == '\u{7}' {
                            break;
                        }
                        if next == '\u{1b}' {
                            chars.next_if_eq(&'\\');
                            break;
                        }
                    }
                }
                _ => {}
            }
            continue;
        }
        if c.is_control() {
            continue;
        }
        if count == max_chars {
            out.pop();
            out.push('…');
            break;
        }
        out.push(c);
        count += 1;
    }
    out
}

/// A short stable subject for a set of names: the first 16 hex digits of
/// the SHA-256 of the sorted, distinct names.
pub fn names_hash<S: AsRef<str>>(names: &[S]) -> String {
    let mut sorted: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut hasher = Sha256::new();
    for name in sorted {
        hasher.update(name.as_bytes());
        hasher.update([0]);
    }
    hex::encode(hasher.finalize())[..16].to_string()
}

/// "a, b, c and 7 more": at most `NAMES_IN_SUMMARY` names, each cleaned.
pub fn name_list<S: AsRef<str>>(names: &[S]) -> String {
    let shown: Vec<String> = names
        .iter()
        .take(NAMES_IN_SUMMARY)
        .map(|name| clean(name.as_ref(), MAX_NAME_IN_SUMMARY_CHARS))
        .collect();
    let mut text = shown.join(", ");
    if names.len() > NAMES_IN_SUMMARY {
        text.push_str(&format!(" and {} more", names.len() - NAMES_IN_SUMMARY));
    }
    text
}

/// The names kept in details: the first `MAX_LISTED_ITEMS`, each cleaned.
pub fn listed<S: AsRef<str>>(names: &[S]) -> Vec<String> {
    names
        .iter()
        .take(MAX_LISTED_ITEMS)
        .map(|name| clean(name.as_ref(), MAX_LISTED_NAME_CHARS))
        .collect()
}

/// A summary, cleaned and capped at `MAX_SUMMARY_CHARS`.
pub fn summary(text: &str) -> String {
    clean(text, MAX_SUMMARY_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_controls_are_removed() {
        assert_eq!(
            clean(
                "<script>\u{1b}[31mred\u{1b}[0m\u{1b}]0;title\u{7}\nx\u{7f}",
                100
            ),
            "<script>redx"
        );
        assert_eq!(clean("a\u{1b}]8;;http://e\u{1b}\\b", 100), "ab");
        assert_eq!(clean("plain", 100), "plain");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        let cut = clean(&"é".repeat(300), 10);
        assert_eq!(cut.chars().count(), 10);
        assert!(cut.ends_with('…'));
        assert_eq!(clean("exactly", 7), "exactly");
    }

    #[test]
    fn the_hash_ignores_order_and_duplicates() {
        assert_eq!(names_hash(&["b", "a"]), names_hash(&["a", "b", "a"]));
        assert_ne!(names_hash(&["a"]), names_hash(&["b"]));
        assert_ne!(names_hash(&["ab"]), names_hash(&["a", "b"]));
        assert_eq!(names_hash(&["x".repeat(200_000)]).len(), 16);
    }

    #[test]
    fn lists_are_truncated_with_a_count() {
        let names: Vec<String> = (0..5000).map(|i| format!("u{i}.service")).collect();
        assert_eq!(
            name_list(&names),
            "u0.service, u1.service, u2.service, u3.service, u4.service and 4995 more"
        );
        assert_eq!(listed(&names).len(), MAX_LISTED_ITEMS);
    }
}
