//! The presence state machine of every host: `up → suspect → down`,
//! `away` for a planned absence (a goodbye) and `maintenance` for a host
//! silent inside a maintenance window, each of the last two until a
//! deadline after which a still silent host is `down`. Pure: every input carries its time, and
//! the outputs are transitions for the monitor to record.

use std::collections::HashMap;

use serde::Serialize;

/// Presence of one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Heartbeats arrive.
    Up,
    /// The session closed, or heartbeats are late; not yet down.
    Suspect,
    /// No heartbeat for `down_after`.
    Down,
    /// Planned absence until a deadline (goodbye).
    Away,
    /// Silent inside a maintenance window, until the window ends.
    Maintenance,
    /// The CI was retired (silent for `cmdb.retire_after_s`): no longer
    /// watched, no outage runs on; a host heard again is watched anew.
    Retired,
}

impl State {
    /// The states of a watched host, in the order metrics list them
    /// (`Retired` hosts are not watched, so the monitor counts none).
    pub const WATCHED: [State; 5] = [
        State::Up,
        State::Suspect,
        State::Down,
        State::Away,
        State::Maintenance,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Up => "up",
            State::Suspect => "suspect",
            State::Down => "down",
            State::Away => "away",
            State::Maintenance => "maintenance",
            State::Retired => "retired",
        }
    }

    /// Parses a stored name (`unknown` and others: none).
    pub fn parse(text: &str) -> Option<State> {
        match text {
            "up" => Some(State::Up),
            "suspect" => Some(State::Suspect),
            "down" => Some(State::Down),
            "away" => Some(State::Away),
            "maintenance" => Some(State::Maintenance),
            "retired" => Some(State::Retired),
            _ => None,
        }
    }
}

/// What the monitor must record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// The host changed state (written to the store at once).
    Changed {
        /// Host id.
        host_id: String,
        /// New state.
        state: State,
        /// When (ms).
        at: i64,
    },
    /// Silent for `down_after`: an unplanned outage that began at the last heartbeat.
    WentDown {
        /// Host id.
        host_id: String,
        /// Last heartbeat seen (outage begin).
        last_heartbeat: i64,
        /// Detection time.
        at: i64,
    },
    /// A planned absence began (goodbye).
    WentAway {
        /// Host id.
        host_id: String,
        /// Why.
        reason: String,
        /// Last heartbeat (outage begin).
        last_heartbeat: i64,
        /// Deadline (ms).
        until: i64,
    },
    /// The planned absence or maintenance passed its deadline: from here
    /// it is unplanned.
    MissedDeadline {
        /// Host id.
        host_id: String,
        /// `Away` or `Maintenance`: what the deadline ended.
        was: State,
        /// The deadline (unplanned outage begin).
        deadline: i64,
        /// Detection time.
        at: i64,
    },
    /// The host's CI was retired: it is no longer watched; what was open
    /// on it ends now.
    Retired {
        /// Host id.
        host_id: String,
        /// When (ms).
        at: i64,
    },
    /// Heard from again after being down or away.
    Recovered {
        /// Host id.
        host_id: String,
        /// State it recovered from.
        from: State,
        /// When (ms).
        at: i64,
    },
}

/// Presence of one host, as tracked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPresence {
    /// Current state.
    pub state: State,
    /// Last heartbeat (or any message) seen (ms).
    pub last_heartbeat: i64,
    /// Deadline of a planned absence.
    pub away_until: Option<i64>,
}

/// Presence of every known host.
#[derive(Debug, Clone)]
pub struct Presence {
    hosts: HashMap<String, HostPresence>,
    down_after_ms: i64,
    grace_until: i64,
}

impl Presence {
    /// Tracks nobody yet; nobody is declared down before `grace_until`.
    pub fn new(down_after_ms: i64, grace_until: i64) -> Self {
        Self {
            hosts: HashMap::new(),
            down_after_ms,
            grace_until,
        }
    }

    /// Restores a host's presence (e.g. from the store after a restart).
    pub fn restore(&mut self, host_id: String, presence: HostPresence) {
        self.hosts.insert(host_id, presence);
    }

    /// The presence of one host.
    pub fn get(&self, host_id: &str) -> Option<&HostPresence> {
        self.hosts.get(host_id)
    }

    /// Number of tracked hosts per state.
    pub fn counts(&self) -> HashMap<State, usize> {
        let mut counts = HashMap::new();
        for presence in self.hosts.values() {
            *counts.entry(presence.state).or_insert(0) += 1;
        }
        counts
    }

    /// Any message from the host: it is alive.
    pub fn heard(&mut self, host_id: &str, at: i64) -> Vec<Transition> {
        let entry = self
            .hosts
            .entry(host_id.to_string())
            .or_insert(HostPresence {
                state: State::Suspect,
                last_heartbeat: at,
                away_until: None,
            });
        entry.last_heartbeat = entry.last_heartbeat.max(at);
        let from = entry.state;
        if from == State::Up {
            return Vec::new();
        }
        entry.state = State::Up;
        entry.away_until = None;
        let mut out = vec![Transition::Changed {
            host_id: host_id.to_string(),
            state: State::Up,
            at,
        }];
        if matches!(from, State::Down | State::Away | State::Maintenance) {
            out.push(Transition::Recovered {
                host_id: host_id.to_string(),
                from,
                at,
            });
        }
        out
    }

    /// The session closed without a goodbye: suspect at once.
    pub fn session_closed(&mut self, host_id: &str, at: i64) -> Vec<Transition> {
        match self.hosts.get_mut(host_id) {
            Some(entry) if entry.state == State::Up => {
                entry.state = State::Suspect;
                vec![Transition::Changed {
                    host_id: host_id.to_string(),
                    state: State::Suspect,
                    at,
                }]
            }
            _ => Vec::new(),
        }
    }

    /// A goodbye: away until `at + back_within_ms`.
    pub fn goodbye(
        &mut self,
        host_id: &str,
        reason: &str,
        back_within_ms: i64,
        at: i64,
    ) -> Vec<Transition> {
        let entry = self
            .hosts
            .entry(host_id.to_string())
            .or_insert(HostPresence {
                state: State::Up,
                last_heartbeat: at,
                away_until: None,
            });
        entry.last_heartbeat = entry.last_heartbeat.max(at);
        entry.state = State::Away;
        let until = at.saturating_add(back_within_ms.max(0));
        entry.away_until = Some(until);
        vec![
            Transition::Changed {
                host_id: host_id.to_string(),
                state: State::Away,
                at,
            },
            Transition::WentAway {
                host_id: host_id.to_string(),
                reason: reason.to_string(),
                last_heartbeat: entry.last_heartbeat,
                until,
            },
        ]
    }

    /// The host's CI was retired: forgotten (a host heard again starts
    /// anew as a new one does), and a `Retired` transition to record.
    pub fn retire(&mut self, host_id: &str, at: i64) -> Vec<Transition> {
        self.hosts.remove(host_id);
        vec![Transition::Retired {
            host_id: host_id.to_string(),
            at,
        }]
    }

    /// A host just declared down is inside a maintenance window until
    /// `until`: it is in `maintenance` until then (true), unless it is no
    /// longer down (heard from meanwhile: false, nothing changes).
    pub fn enter_maintenance(&mut self, host_id: &str, until: i64) -> bool {
        match self.hosts.get_mut(host_id) {
            Some(entry) if entry.state == State::Down => {
                entry.state = State::Maintenance;
                entry.away_until = Some(until);
                true
            }
            _ => false,
        }
    }

    /// Hosts that have been silent longer than `late_ms` and are not down or away yet.
    pub fn late(&self, now: i64, late_ms: i64) -> usize {
        self.hosts
            .values()
            .filter(|presence| {
                matches!(presence.state, State::Up | State::Suspect)
                    && now.saturating_sub(presence.last_heartbeat) > late_ms
            })
            .count()
    }

    /// Hosts currently counted as reachable or expected (not down).
    pub fn monitored(&self) -> usize {
        self.hosts
            .values()
            .filter(|presence| presence.state != State::Down)
            .count()
    }

    /// Advances time: declares silent hosts down and missed deadlines.
    pub fn tick(&mut self, now: i64) -> Vec<Transition> {
        let mut out = Vec::new();
        if now < self.grace_until {
            return out;
        }
        let mut ids: Vec<&String> = self.hosts.keys().collect();
        ids.sort();
        let ids: Vec<String> = ids.into_iter().cloned().collect();
        for host_id in ids {
            let Some(entry) = self.hosts.get_mut(&host_id) else {
                continue;
            };
            match entry.state {
                State::Up | State::Suspect
                    if now.saturating_sub(entry.last_heartbeat) >= self.down_after_ms =>
                {
                    entry.state = State::Down;
                    out.push(Transition::Changed {
                        host_id: host_id.clone(),
                        state: State::Down,
                        at: now,
                    });
                    out.push(Transition::WentDown {
                        host_id,
                        last_heartbeat: entry.last_heartbeat,
                        at: now,
                    });
                }
                State::Away | State::Maintenance
                    if entry.away_until.is_some_and(|until| now >= until) =>
                {
                    let was = entry.state;
                    let deadline = entry.away_until.take().unwrap_or(now);
                    entry.state = State::Down;
                    out.push(Transition::Changed {
                        host_id: host_id.clone(),
                        state: State::Down,
                        at: now,
                    });
                    out.push(Transition::MissedDeadline {
                        host_id,
                        was,
                        deadline,
                        at: now,
                    });
                }
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(transitions: &[Transition]) -> Vec<&'static str> {
        transitions
            .iter()
            .map(|transition| match transition {
                Transition::Changed { .. } => "changed",
                Transition::WentDown { .. } => "down",
                Transition::WentAway { .. } => "away",
                Transition::MissedDeadline { .. } => "missed",
                Transition::Recovered { .. } => "recovered",
                Transition::Retired { .. } => "retired",
            })
            .collect()
    }

    #[test]
    fn silent_host_goes_down_after_down_after_with_begin_at_last_heartbeat() {
        let mut presence = Presence::new(3_000, 0);
        presence.heard("h", 1_000);
        presence.heard("h", 2_000);
        assert!(presence.tick(4_999).is_empty());
        let out = presence.tick(5_000);
        assert_eq!(
            out[1],
            Transition::WentDown {
                host_id: "h".into(),
                last_heartbeat: 2_000,
                at: 5_000
            }
        );
        assert!(presence.tick(9_000).is_empty(), "down once");
        let back = presence.heard("h", 9_500);
        assert_eq!(
            back[1],
            Transition::Recovered {
                host_id: "h".into(),
                from: State::Down,
                at: 9_500
            }
        );
    }

    #[test]
    fn closed_session_is_suspect_at_once_then_down() {
        let mut presence = Presence::new(3_000, 0);
        presence.heard("h", 1_000);
        assert_eq!(
            presence.session_closed("h", 1_500),
            vec![Transition::Changed {
                host_id: "h".into(),
                state: State::Suspect,
                at: 1_500
            }]
        );
        assert_eq!(presence.get("h").map(|p| p.state), Some(State::Suspect));
        assert_eq!(kinds(&presence.tick(4_000)), vec!["changed", "down"]);
    }

    #[test]
    fn goodbye_is_planned_until_the_deadline() {
        let mut presence = Presence::new(3_000, 0);
        presence.heard("h", 1_000);
        assert_eq!(
            kinds(&presence.goodbye("h", "reboot", 30_000, 2_000)),
            vec!["changed", "away"]
        );
        presence.session_closed("h", 2_100);
        assert!(
            presence.tick(20_000).is_empty(),
            "away hosts are not declared down"
        );
        assert_eq!(
            kinds(&presence.heard("h", 25_000)),
            vec!["changed", "recovered"]
        );
        presence.goodbye("h", "maintenance", 10_000, 30_000);
        let out = presence.tick(40_000);
        assert_eq!(
            out[1],
            Transition::MissedDeadline {
                host_id: "h".into(),
                was: State::Away,
                deadline: 40_000,
                at: 40_000
            }
        );
    }

    #[test]
    fn a_retired_host_is_forgotten_and_watched_anew_when_heard() {
        let mut presence = Presence::new(3_000, 0);
        presence.heard("h", 1_000);
        presence.tick(5_000);
        assert_eq!(kinds(&presence.retire("h", 6_000)), vec!["retired"]);
        assert_eq!(presence.get("h"), None);
        assert!(presence.tick(100_000).is_empty(), "not watched");
        assert_eq!(presence.counts().values().sum::<usize>(), 0);
        assert_eq!(kinds(&presence.heard("h", 200_000)), vec!["changed"]);
        assert_eq!(presence.get("h").map(|p| p.state), Some(State::Up));
        assert_eq!(State::parse("retired"), Some(State::Retired));
    }

    #[test]
    fn a_down_host_in_maintenance_is_down_again_when_the_window_ends() {
        let mut presence = Presence::new(3_000, 0);
        presence.heard("h", 1_000);
        assert!(!presence.enter_maintenance("h", 20_000), "up, not down");
        assert_eq!(kinds(&presence.tick(4_000)), vec!["changed", "down"]);
        assert!(presence.enter_maintenance("h", 20_000));
        assert_eq!(presence.get("h").map(|p| p.state), Some(State::Maintenance));
        assert!(presence.tick(19_999).is_empty(), "inside the window");
        assert_eq!(presence.late(19_999, 1_000), 0, "not late, planned");
        let out = presence.tick(20_000);
        assert_eq!(
            out,
            vec![
                Transition::Changed {
                    host_id: "h".into(),
                    state: State::Down,
                    at: 20_000
                },
                Transition::MissedDeadline {
                    host_id: "h".into(),
                    was: State::Maintenance,
                    deadline: 20_000,
                    at: 20_000
                }
            ]
        );
        // Back inside a window: recovered from maintenance.
        assert!(presence.enter_maintenance("h", 50_000));
        assert_eq!(
            presence.heard("h", 30_000)[1],
            Transition::Recovered {
                host_id: "h".into(),
                from: State::Maintenance,
                at: 30_000
            }
        );
        assert!(!presence.enter_maintenance("h", 60_000), "heard meanwhile");
        assert_eq!(State::parse("maintenance"), Some(State::Maintenance));
        assert_eq!(State::Maintenance.as_str(), "maintenance");
    }

    #[test]
    fn nobody_is_down_during_the_startup_grace() {
        let mut presence = Presence::new(3_000, 10_000);
        presence.restore(
            "h".into(),
            HostPresence {
                state: State::Up,
                last_heartbeat: 0,
                away_until: None,
            },
        );
        assert!(presence.tick(9_999).is_empty());
        presence.heard("h", 9_000);
        assert!(
            presence.tick(10_000).is_empty(),
            "it reconnected during the grace period"
        );
        assert_eq!(kinds(&presence.tick(12_000)), vec!["changed", "down"]);
    }

    #[test]
    fn extreme_times_saturate_instead_of_overflowing() {
        let mut presence = Presence::new(3_000, 0);
        presence.restore(
            "old".into(),
            HostPresence {
                state: State::Up,
                last_heartbeat: i64::MIN,
                away_until: None,
            },
        );
        assert_eq!(presence.late(i64::MAX, 1_000), 1);
        assert_eq!(kinds(&presence.tick(i64::MAX)), vec!["changed", "down"]);
        presence.goodbye("away", "forever", i64::MAX, 1_000);
        assert_eq!(
            presence.get("away").and_then(|p| p.away_until),
            Some(i64::MAX),
            "saturated, not wrapped into the past"
        );
        assert!(presence.tick(i64::MAX - 1).is_empty());
    }

    #[test]
    fn flapping_host_yields_a_down_and_recovery_each_time() {
        let mut presence = Presence::new(1_000, 0);
        let mut downs = 0;
        for round in 0..3 {
            let base = round * 10_000;
            presence.heard("h", base);
            downs += presence
                .tick(base + 1_000)
                .iter()
                .filter(|t| matches!(t, Transition::WentDown { .. }))
                .count();
        }
        assert_eq!(downs, 3);
        assert_eq!(presence.late(40_000, 500), 0, "down hosts are not late");
    }
}
