//! The live sessions of each agent, so that revoking an agent ends them at
//! once: every session holds a [`Registration`] whose token the revoke
//! handler cancels. A leaf (no imports of ours), held by `State`.
//!
//! Revocation is written to the store first and signalled here second; a
//! session that registers after the signal finds the revocation in the store
//! (it reads the agent again once registered), so no session slips between
//! the two.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

/// Agent id → the cancellation token its open sessions share, and how many
/// sessions hold it.
#[derive(Debug, Default)]
pub struct Revocations {
    live: Arc<Mutex<Live>>,
}

/// The registry behind the lock.
#[derive(Debug, Default)]
struct Live {
    agents: HashMap<String, Entry>,
    /// Tells entries of one agent apart across a revocation.
    next_generation: u64,
}

#[derive(Debug)]
struct Entry {
    token: CancellationToken,
    sessions: usize,
    generation: u64,
}

impl Revocations {
    /// Registers a session of `agent_id`; the registration's token is
    /// cancelled when the agent is revoked, and the entry goes away when the
    /// last registration of the agent is dropped.
    pub fn register(&self, agent_id: &str) -> Registration {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let generation = live.next_generation;
        let entry = live
            .agents
            .entry(agent_id.to_string())
            .or_insert_with(|| Entry {
                token: CancellationToken::new(),
                sessions: 0,
                generation,
            });
        entry.sessions += 1;
        let registration = Registration {
            agent_id: agent_id.to_string(),
            token: entry.token.clone(),
            generation: entry.generation,
            live: self.live.clone(),
        };
        if registration.generation == generation {
            live.next_generation += 1;
        }
        registration
    }

    /// Ends every open session of `agent_id`; returns how many there were.
    pub fn revoke(&self, agent_id: &str) -> usize {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        match live.agents.remove(agent_id) {
            Some(entry) => {
                entry.token.cancel();
                entry.sessions
            }
            None => 0,
        }
    }

    /// Number of agents with an open session.
    pub fn agents(&self) -> usize {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .agents
            .len()
    }
}

/// One session's hold on its agent's entry.
#[derive(Debug)]
pub struct Registration {
    agent_id: String,
    token: CancellationToken,
    generation: u64,
    live: Arc<Mutex<Live>>,
}

impl Registration {
    /// Cancelled when the agent is revoked.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        // A revoked entry was removed already, and a later session may have
        // made a new one: only count down the entry this registration holds.
        if let Some(entry) = live.agents.get_mut(&self.agent_id)
            && entry.generation == self.generation
        {
            entry.sessions -= 1;
            if entry.sessions == 0 {
                live.agents.remove(&self.agent_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoking_cancels_every_session_of_that_agent_only() {
        let revocations = Revocations::default();
        let first = revocations.register("a");
        let second = revocations.register("a");
        let other = revocations.register("b");
        assert_eq!(revocations.revoke("a"), 2);
        assert!(first.token().is_cancelled() && second.token().is_cancelled());
        assert!(!other.token().is_cancelled());
        assert_eq!(revocations.revoke("a"), 0, "already gone");
    }

    #[test]
    fn entries_go_away_with_their_last_session() {
        let revocations = Revocations::default();
        let first = revocations.register("a");
        let second = revocations.register("a");
        drop(first);
        assert_eq!(revocations.agents(), 1);
        drop(second);
        assert_eq!(revocations.agents(), 0);
        // A session ending after its agent was revoked leaves a newer entry alone.
        let old = revocations.register("a");
        revocations.revoke("a");
        let new = revocations.register("a");
        drop(old);
        assert_eq!(revocations.agents(), 1);
        assert!(!new.token().is_cancelled());
    }
}
