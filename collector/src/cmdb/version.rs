//! Package version ordering as the package managers define it: dpkg
//! (`epoch:upstream-revision`, `~` before everything, letters before other
//! characters) and rpm (`rpmvercmp` segments, with epoch and release).

use std::cmp::Ordering;

fn dpkg_char_order(c: Option<char>) -> i32 {
    match c {
        None => 0,
        Some('~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(c) => c as i32 + 256,
    }
}

/// dpkg's `verrevcmp` on one part (upstream or revision).
fn dpkg_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let mut first_diff = 0;
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = dpkg_char_order(a.get(i).map(|c| *c as char).filter(|c| !c.is_ascii_digit()));
            let bc = dpkg_char_order(b.get(j).map(|c| *c as char).filter(|c| !c.is_ascii_digit()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            if i < a.len() && !a[i].is_ascii_digit() {
                i += 1;
            }
            if j < b.len() && !b[j].is_ascii_digit() {
                j += 1;
            }
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_diff == 0 {
                first_diff = i32::from(a[i]) - i32::from(b[j]);
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_diff != 0 {
            return first_diff.cmp(&0);
        }
    }
    Ordering::Equal
}

fn split_epoch(version: &str) -> (u64, &str) {
    match version.split_once(':') {
        Some((epoch, rest)) if epoch.chars().all(|c| c.is_ascii_digit()) && !epoch.is_empty() => {
            (epoch.parse().unwrap_or(0), rest)
        }
        _ => (0, version),
    }
}

/// Compares two Debian package versions as dpkg does.
pub fn dpkg_compare(a: &str, b: &str) -> Ordering {
    let (epoch_a, rest_a) = split_epoch(a.trim());
    let (epoch_b, rest_b) = split_epoch(b.trim());
    let (upstream_a, revision_a) = rest_a.rsplit_once('-').unwrap_or((rest_a, ""));
    let (upstream_b, revision_b) = rest_b.rsplit_once('-').unwrap_or((rest_b, ""));
    epoch_a
        .cmp(&epoch_b)
        .then_with(|| dpkg_part(upstream_a, upstream_b))
        .then_with(|| dpkg_part(revision_a, revision_b))
}

/// rpm's `rpmvercmp` on one part.
fn rpm_part(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        while !a.is_empty() && !a[0].is_ascii_alphanumeric() && a[0] != b'~' && a[0] != b'^' {
            a = &a[1..];
        }
        while !b.is_empty() && !b[0].is_ascii_alphanumeric() && b[0] != b'~' && b[0] != b'^' {
            b = &b[1..];
        }
        match (a.first(), b.first()) {
            (Some(b'~'), Some(b'~')) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (Some(b'~'), _) => return Ordering::Less,
            (_, Some(b'~')) => return Ordering::Greater,
            (Some(b'^'), Some(b'^')) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (Some(b'^'), None) => return Ordering::Greater,
            (None, Some(b'^')) => return Ordering::Less,
            (Some(b'^'), _) => return Ordering::Less,
            (_, Some(b'^')) => return Ordering::Greater,
            (None, _) | (_, None) => break,
            _ => {}
        }
        let numeric = a[0].is_ascii_digit();
        let take = |s: &[u8]| {
            s.iter()
                .take_while(|c| {
                    if numeric {
                        c.is_ascii_digit()
                    } else {
                        c.is_ascii_alphabetic()
                    }
                })
                .count()
        };
        let (len_a, len_b) = (take(a), take(b));
        let (seg_a, seg_b) = (&a[..len_a], &b[..len_b]);
        if len_b == 0 {
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let order = if numeric {
            let trim =
                |s: &[u8]| -> Vec<u8> { s.iter().skip_while(|c| **c == b'0').copied().collect() };
            let (ta, tb) = (trim(seg_a), trim(seg_b));
            ta.len().cmp(&tb.len()).then_with(|| ta.cmp(&tb))
        } else {
            seg_a.cmp(seg_b)
        };
        if order != Ordering::Equal {
            return order;
        }
        a = &a[len_a..];
        b = &b[len_b..];
    }
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

/// Compares two rpm `[epoch:]version[-release]` strings as rpm does.
pub fn rpm_compare(a: &str, b: &str) -> Ordering {
    let (epoch_a, rest_a) = split_epoch(a.trim());
    let (epoch_b, rest_b) = split_epoch(b.trim());
    let (version_a, release_a) = rest_a.rsplit_once('-').unwrap_or((rest_a, ""));
    let (version_b, release_b) = rest_b.rsplit_once('-').unwrap_or((rest_b, ""));
    epoch_a
        .cmp(&epoch_b)
        .then_with(|| rpm_part(version_a, version_b))
        .then_with(|| {
            if release_a.is_empty() || release_b.is_empty() {
                Ordering::Equal
            } else {
                rpm_part(release_a, release_b)
            }
        })
}

/// Compares versions by the ordering of the package manager that reported them.
pub fn compare(manager: &str, a: &str, b: &str) -> Ordering {
    match manager {
        "rpm" => rpm_compare(a, b),
        _ => dpkg_compare(a, b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::{Equal, Greater, Less};

    #[test]
    fn dpkg_ordering_matches_dpkg() {
        for (a, b, expected) in [
            ("1.0", "1.0", Equal),
            ("1.0", "1.1", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~~", "1.0~", Less),
            ("1.0a", "1.0", Greater),
            ("1.0a", "1.0+", Less),
            ("1:0.1", "2.0", Greater),
            ("3.0.13-1", "3.0.11-1~deb12u2", Greater),
            ("3.0.11-1~deb12u2", "3.0.11-1", Less),
            ("3.0.11-1~deb12u2", "3.0.11-1~deb12u3", Less),
            ("2.36-9+deb12u4", "2.36-9+deb12u10", Less),
            ("1.2.3", "1.2.3-0", Equal),
            ("10", "9", Greater),
            ("1.01", "1.1", Equal),
        ] {
            assert_eq!(dpkg_compare(a, b), expected, "{a} vs {b}");
            assert_eq!(dpkg_compare(b, a), expected.reverse(), "{b} vs {a}");
        }
    }

    #[test]
    fn rpm_ordering_matches_rpmvercmp() {
        for (a, b, expected) in [
            ("1.0", "1.0", Equal),
            ("1.0", "1.0.1", Less),
            ("2.0", "1.99", Greater),
            ("1.0a", "1.0", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0^git1", "1.0", Greater),
            ("1:1.0", "2.0", Greater),
            ("3.0.7-16.el9", "3.0.7-24.el9", Less),
            ("1.010", "1.9", Greater),
            ("a", "1", Less),
        ] {
            assert_eq!(rpm_compare(a, b), expected, "{a} vs {b}");
            assert_eq!(rpm_compare(b, a), expected.reverse(), "{b} vs {a}");
        }
    }
}
