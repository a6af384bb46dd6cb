//! Host identification: which stored host CI an incoming identity belongs
//! to, matched in priority order (DMI UUID + serial, serial, DMI UUID,
//! machine-id, MAC set, hostname) with placeholder values ignored, and
//! strong identifiers that disagree vetoing a weaker match (cloned VMs);
//! then ownership: whether the agent may have the CI it matched
//! ([`claim`]), since identifiers are claims an agent makes, not proof.

use std::collections::BTreeSet;

/// Identity values of a host, as stored or as reported by an agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostIdentity {
    /// `/etc/machine-id`.
    pub machine_id: String,
    /// DMI product UUID.
    pub dmi_uuid: String,
    /// DMI product serial.
    pub dmi_serial: String,
    /// Primary MAC addresses, lower-case.
    pub macs: BTreeSet<String>,
    /// Short host name.
    pub hostname: String,
}

/// A stored host considered for a match.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Host CI id.
    pub host_id: String,
    /// The host's stored identity.
    pub identity: HostIdentity,
}

/// What identification decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The identity is this host, found by `rule`.
    Matched {
        /// Host CI id.
        host_id: String,
        /// Name of the rule that matched.
        rule: &'static str,
    },
    /// No stored host matches: create a new one.
    New,
    /// Several hosts match equally: create a new one flagged as a possible duplicate.
    Ambiguous {
        /// The rule that found several hosts.
        rule: &'static str,
        /// The matching host ids.
        host_ids: Vec<String>,
    },
}

const PLACEHOLDER_SERIALS: &[&str] = &[
    "to be filled by o.e.m.",
    "to be filled by oem",
    "system serial number",
    "default string",
    "not specified",
    "not applicable",
    "none",
    "n/a",
    "na",
    "0",
    "123456789",
    "chassis serial number",
    "invalid",
    "unknown",
    "0123456789",
];

const PLACEHOLDER_UUIDS: &[&str] = &[
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "03000200-0400-0500-0006-000700080009",
];

/// Whether a DMI serial is a vendor placeholder (or empty).
pub fn is_placeholder_serial(serial: &str) -> bool {
    let value = serial.trim().to_ascii_lowercase();
    value.is_empty()
        || PLACEHOLDER_SERIALS.contains(&value.as_str())
        || value.chars().all(|c| c == '0' || c == ' ' || c == '-')
        || value.chars().all(|c| c == 'x' || c == ' ')
}

/// Whether a DMI UUID is a placeholder (or empty).
pub fn is_placeholder_uuid(uuid: &str) -> bool {
    let value = uuid.trim().to_ascii_lowercase();
    value.is_empty()
        || PLACEHOLDER_UUIDS.contains(&value.as_str())
        || value.chars().all(|c| c == '0' || c == '-')
        || value.chars().all(|c| c == 'f' || c == '-')
}

/// Whether a MAC address is a placeholder (or empty).
pub fn is_placeholder_mac(mac: &str) -> bool {
    let value = mac.trim().to_ascii_lowercase();
    value.is_empty() || value.chars().all(|c| c == '0' || c == ':') || value == "ff:ff:ff:ff:ff:ff"
}

impl HostIdentity {
    /// Normalises values and drops placeholders, so they never match anything.
    pub fn cleaned(&self) -> HostIdentity {
        let keep = |value: &str, placeholder: bool| {
            if placeholder {
                String::new()
            } else {
                value.trim().to_string()
            }
        };
        HostIdentity {
            machine_id: self.machine_id.trim().to_ascii_lowercase(),
            dmi_uuid: keep(
                &self.dmi_uuid.to_ascii_lowercase(),
                is_placeholder_uuid(&self.dmi_uuid),
            ),
            dmi_serial: keep(&self.dmi_serial, is_placeholder_serial(&self.dmi_serial)),
            macs: self
                .macs
                .iter()
                .map(|mac| mac.trim().to_ascii_lowercase())
                .filter(|mac| !is_placeholder_mac(mac))
                .collect(),
            hostname: self.hostname.trim().to_ascii_lowercase(),
        }
    }
}

fn both<'a>(left: &'a str, right: &'a str) -> Option<(&'a str, &'a str)> {
    (!left.is_empty() && !right.is_empty()).then_some((left, right))
}

/// Whether a stronger identifier proves these are different machines.
fn conflicts(incoming: &HostIdentity, stored: &HostIdentity) -> bool {
    let differs = |a: &str, b: &str| both(a, b).is_some_and(|(a, b)| a != b);
    differs(&incoming.dmi_uuid, &stored.dmi_uuid)
        || differs(&incoming.dmi_serial, &stored.dmi_serial)
}

type Rule = (&'static str, fn(&HostIdentity, &HostIdentity) -> bool);

const RULES: &[Rule] = &[
    ("dmi_uuid+serial", |a, b| {
        both(&a.dmi_uuid, &b.dmi_uuid).is_some_and(|(x, y)| x == y)
            && both(&a.dmi_serial, &b.dmi_serial).is_some_and(|(x, y)| x == y)
    }),
    ("serial", |a, b| {
        both(&a.dmi_serial, &b.dmi_serial).is_some_and(|(x, y)| x == y)
    }),
    ("dmi_uuid", |a, b| {
        both(&a.dmi_uuid, &b.dmi_uuid).is_some_and(|(x, y)| x == y)
    }),
    ("machine_id", |a, b| {
        both(&a.machine_id, &b.machine_id).is_some_and(|(x, y)| x == y)
            // Clones share a machine-id: a different MAC set is a different machine.
            && (a.macs.is_empty() || b.macs.is_empty() || !a.macs.is_disjoint(&b.macs))
    }),
    ("mac_set", |a, b| {
        !a.macs.is_empty() && !b.macs.is_empty() && !a.macs.is_disjoint(&b.macs)
    }),
    ("hostname", |a, b| {
        both(&a.hostname, &b.hostname).is_some_and(|(x, y)| x == y)
    }),
];

/// Decides which candidate (if any) `incoming` is. Candidates must not be
/// retired-and-replaced duplicates of each other; the caller passes every
/// stored host sharing at least one identifier.
pub fn decide(incoming: &HostIdentity, candidates: &[Candidate]) -> Decision {
    let incoming = incoming.cleaned();
    let cleaned: Vec<(String, HostIdentity)> = candidates
        .iter()
        .map(|candidate| (candidate.host_id.clone(), candidate.identity.cleaned()))
        .collect();
    for (rule, matches) in RULES {
        let found: Vec<&String> = cleaned
            .iter()
            .filter(|(_, stored)| matches(&incoming, stored) && !conflicts(&incoming, stored))
            .map(|(host_id, _)| host_id)
            .collect();
        match found.len() {
            0 => continue,
            1 => {
                return Decision::Matched {
                    host_id: found[0].clone(),
                    rule,
                };
            }
            _ => {
                return Decision::Ambiguous {
                    rule,
                    host_ids: found.into_iter().cloned().collect(),
                };
            }
        }
    }
    Decision::New
}

/// The agent that owns a matched host CI, as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The owning agent's id.
    pub agent_id: String,
    /// When the owner was last heard from (ms); `None` if never, or if the
    /// agent is not on record at all.
    pub last_heard_at: Option<i64>,
    /// Whether the owner was revoked.
    pub revoked: bool,
    /// Whether the owned host is up right now (its owner has a session).
    pub live: bool,
}

/// Whether a claimant may have the host CI its identity matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The claimant owns the CI already, or nobody does.
    Own,
    /// Another agent owns it but is revoked or silent: the claimant takes
    /// it over (recorded as an identity event).
    TakeOver {
        /// `owner_revoked`, `owner_silent` or `not_enforced`.
        reason: &'static str,
    },
    /// Another agent owns it and is live or recently heard: the claimant
    /// gets its own CI, flagged as a possible duplicate of this one.
    Conflict {
        /// `owner_live` or `owner_recent`.
        reason: &'static str,
    },
}

/// Decides whether `claimant` may have a CI owned by `owner` at `now`.
/// `takeover_after_ms` is how long an owner must have been silent before
/// another agent may take its CI over; `None` enforces no ownership (the
/// identification-only path of imports and tests).
pub fn claim(
    claimant: &str,
    owner: Option<&Owner>,
    now: i64,
    takeover_after_ms: Option<i64>,
) -> Claim {
    let Some(owner) = owner else {
        return Claim::Own;
    };
    if owner.agent_id == claimant {
        return Claim::Own;
    }
    if owner.revoked {
        return Claim::TakeOver {
            reason: "owner_revoked",
        };
    }
    let Some(window) = takeover_after_ms else {
        return Claim::TakeOver {
            reason: "not_enforced",
        };
    };
    if owner.live {
        return Claim::Conflict {
            reason: "owner_live",
        };
    }
    match owner.last_heard_at {
        Some(heard) if now.saturating_sub(heard) <= window => Claim::Conflict {
            reason: "owner_recent",
        },
        _ => Claim::TakeOver {
            reason: "owner_silent",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(
        machine_id: &str,
        uuid: &str,
        serial: &str,
        macs: &[&str],
        hostname: &str,
    ) -> HostIdentity {
        HostIdentity {
            machine_id: machine_id.into(),
            dmi_uuid: uuid.into(),
            dmi_serial: serial.into(),
            macs: macs.iter().map(|m| m.to_string()).collect(),
            hostname: hostname.into(),
        }
    }

    fn candidate(id: &str, identity: HostIdentity) -> Candidate {
        Candidate {
            host_id: id.into(),
            identity,
        }
    }

    #[test]
    fn reinstall_matches_by_dmi_even_with_new_machine_id() {
        let stored = candidate(
            "h1",
            identity("old", "4c4c-1", "SN1", &["aa:bb:cc:00:00:01"], "db-07"),
        );
        let incoming = identity("new", "4C4C-1", "SN1", &["aa:bb:cc:00:00:01"], "db-07");
        assert_eq!(
            decide(&incoming, &[stored]),
            Decision::Matched {
                host_id: "h1".into(),
                rule: "dmi_uuid+serial"
            }
        );
    }

    #[test]
    fn clones_with_same_machine_id_do_not_merge() {
        let stored = candidate(
            "h1",
            identity("same", "uuid-a", "", &["52:54:00:00:00:01"], "web"),
        );
        let incoming = identity("same", "uuid-b", "", &["52:54:00:00:00:02"], "web");
        assert_eq!(decide(&incoming, &[stored]), Decision::New);
    }

    #[test]
    fn placeholder_serials_never_match() {
        let stored = candidate("h1", identity("m1", "", "To Be Filled By O.E.M.", &[], "a"));
        let incoming = identity("m2", "", "To Be Filled By O.E.M.", &[], "b");
        assert_eq!(decide(&incoming, &[stored]), Decision::New);
        assert!(is_placeholder_uuid("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"));
        assert!(is_placeholder_uuid("03000200-0400-0500-0006-000700080009"));
        assert!(is_placeholder_uuid("00000000-0000-0000-0000-000000000000"));
        assert!(is_placeholder_serial("System Serial Number"));
        assert!(is_placeholder_serial("Default string"));
        assert!(is_placeholder_serial("0000000"));
        assert!(is_placeholder_mac("00:00:00:00:00:00"));
        assert!(!is_placeholder_serial("CZ1234ABC"));
    }

    #[test]
    fn one_nic_changed_still_matches_by_mac_overlap() {
        let stored = candidate(
            "h1",
            identity("", "", "", &["aa:00:00:00:00:01", "aa:00:00:00:00:02"], "x"),
        );
        let incoming = identity("", "", "", &["aa:00:00:00:00:01", "aa:00:00:00:00:09"], "y");
        assert_eq!(
            decide(&incoming, &[stored]),
            Decision::Matched {
                host_id: "h1".into(),
                rule: "mac_set"
            }
        );
    }

    #[test]
    fn hostname_rename_matches_by_machine_id() {
        let stored = candidate("h1", identity("m1", "", "", &[], "old-name"));
        let incoming = identity("m1", "", "", &[], "new-name");
        assert_eq!(
            decide(&incoming, &[stored]),
            Decision::Matched {
                host_id: "h1".into(),
                rule: "machine_id"
            }
        );
    }

    #[test]
    fn ambiguous_hostname_is_flagged() {
        let a = candidate("h1", identity("", "", "", &[], "web"));
        let b = candidate("h2", identity("", "", "", &[], "web"));
        let incoming = identity("", "", "", &[], "web");
        assert_eq!(
            decide(&incoming, &[a, b]),
            Decision::Ambiguous {
                rule: "hostname",
                host_ids: vec!["h1".into(), "h2".into()]
            }
        );
    }

    #[test]
    fn different_dmi_uuid_vetoes_hostname_match() {
        let stored = candidate("h1", identity("", "uuid-a", "", &[], "web"));
        let incoming = identity("", "uuid-b", "", &[], "web");
        assert_eq!(decide(&incoming, &[stored]), Decision::New);
    }

    fn owner(heard: Option<i64>, revoked: bool, live: bool) -> Owner {
        Owner {
            agent_id: "a1".into(),
            last_heard_at: heard,
            revoked,
            live,
        }
    }

    const HOUR: i64 = 3_600_000;

    #[test]
    fn recently_heard_owner_keeps_its_ci() {
        let owner = owner(Some(10 * HOUR), false, false);
        assert_eq!(
            claim("a2", Some(&owner), 11 * HOUR, Some(24 * HOUR)),
            Claim::Conflict {
                reason: "owner_recent"
            }
        );
    }

    #[test]
    fn live_owner_keeps_its_ci_even_past_the_window() {
        let owner = owner(Some(0), false, true);
        assert_eq!(
            claim("a2", Some(&owner), 48 * HOUR, Some(24 * HOUR)),
            Claim::Conflict {
                reason: "owner_live"
            }
        );
    }

    #[test]
    fn silent_owner_past_the_window_is_taken_over() {
        let owner = owner(Some(0), false, false);
        assert_eq!(
            claim("a2", Some(&owner), 24 * HOUR + 1, Some(24 * HOUR)),
            Claim::TakeOver {
                reason: "owner_silent"
            }
        );
        let never = self::owner(None, false, false);
        assert_eq!(
            claim("a2", Some(&never), 0, Some(24 * HOUR)),
            Claim::TakeOver {
                reason: "owner_silent"
            }
        );
    }

    #[test]
    fn revoked_owner_is_taken_over_at_once() {
        let owner = owner(Some(10), true, true);
        assert_eq!(
            claim("a2", Some(&owner), 11, Some(24 * HOUR)),
            Claim::TakeOver {
                reason: "owner_revoked"
            }
        );
    }

    #[test]
    fn own_or_unowned_ci_is_the_claimants() {
        let owner = owner(Some(10), false, true);
        assert_eq!(claim("a1", Some(&owner), 11, Some(HOUR)), Claim::Own);
        assert_eq!(claim("a2", None, 11, Some(HOUR)), Claim::Own);
    }

    #[test]
    fn without_a_window_ownership_is_not_enforced() {
        let owner = owner(Some(10), false, true);
        assert_eq!(
            claim("a2", Some(&owner), 11, None),
            Claim::TakeOver {
                reason: "not_enforced"
            }
        );
    }
}
