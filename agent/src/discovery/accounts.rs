//! Local users (`/etc/passwd`) and groups (`/etc/group`). Password data is
//! never read: `/etc/shadow` is not opened and the password field of the
//! files read is ignored.

use rollcall_proto::v1::{Group, Section, User};

use super::{HostRoot, StatusLog};

/// Collects local users.
pub(crate) fn users(root: &HostRoot, status: &mut StatusLog) -> Vec<User> {
    match root.read("etc/passwd") {
        Ok(text) => parse_passwd(&text),
        Err(_) => {
            status.unavailable(Section::Users, "/etc/passwd unreadable");
            Vec::new()
        }
    }
}

/// Collects local groups.
pub(crate) fn groups(root: &HostRoot, status: &mut StatusLog) -> Vec<Group> {
    match root.read("etc/group") {
        Ok(text) => parse_group(&text),
        Err(_) => {
            status.unavailable(Section::Groups, "/etc/group unreadable");
            Vec::new()
        }
    }
}

/// Whether a line is an entry (not blank, a comment or a NIS `+`/`-` hook).
fn is_entry(line: &str) -> bool {
    !(line.trim().is_empty() || line.starts_with(['#', '+', '-']))
}

/// Parses `/etc/passwd` (`name:password:uid:gid:gecos:home:shell`); lines
/// with a bad uid or gid are skipped.
pub fn parse_passwd(text: &str) -> Vec<User> {
    text.lines()
        .filter(|line| is_entry(line))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() < 7 {
                return None;
            }
            Some(User {
                name: fields[0].to_owned(),
                uid: fields[2].parse().ok()?,
                gid: fields[3].parse().ok()?,
                gecos: fields[4].to_owned(),
                home: fields[5].to_owned(),
                shell: fields[6].trim_end().to_owned(),
            })
        })
        .collect()
}

/// Parses `/etc/group` (`name:password:gid:member,member`).
pub fn parse_group(text: &str) -> Vec<Group> {
    text.lines()
        .filter(|line| is_entry(line))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() < 3 {
                return None;
            }
            Some(Group {
                name: fields[0].to_owned(),
                gid: fields[2].parse().ok()?,
                members: fields
                    .get(3)
                    .map(|members| {
                        members
                            .trim_end()
                            .split(',')
                            .filter(|member| !member.is_empty())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::discovery::test_support::fixture_text;

    #[test]
    fn passwd_entries() {
        let users = parse_passwd(&fixture_text("host-debian/etc/passwd"));
        assert_eq!(users.len(), 4);
        let alice = users.iter().find(|user| user.name == "alice").unwrap();
        assert_eq!((alice.uid, alice.gid), (1000, 1000));
        assert_eq!(alice.gecos, "Alice Example,,,");
        assert_eq!(alice.home, "/home/alice");
        assert_eq!(alice.shell, "/bin/bash");
        assert!(
            parse_passwd("+::::::\n# x\nbad:x:notanumber:0::/:/bin/sh\nshort:x:1\n").is_empty()
        );
    }

    #[test]
    fn group_entries() {
        let groups = parse_group(&fixture_text("host-debian/etc/group"));
        assert_eq!(groups.len(), 4);
        let sudo = groups.iter().find(|group| group.name == "sudo").unwrap();
        assert_eq!(sudo.gid, 27);
        assert_eq!(sudo.members, vec!["alice", "bob"]);
        assert!(
            groups
                .iter()
                .find(|group| group.name == "root")
                .unwrap()
                .members
                .is_empty()
        );
    }
}
