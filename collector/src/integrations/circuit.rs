//! A per-target circuit breaker: opens after N consecutive retryable
//! failures, lets one probe through after a cool-down (half-open), and
//! closes on the first success.

use std::time::Duration;

use serde::Serialize;

/// Breaker state as shown by the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CircuitStatus {
    /// `closed`, `open` or `half_open`.
    pub state: &'static str,
    /// Consecutive retryable failures.
    pub consecutive_failures: u32,
    /// When an open circuit lets a probe through (ms).
    pub open_until_ms: Option<i64>,
}

/// What a worker may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    /// Send as usual.
    Send,
    /// Send exactly one row as a probe.
    Probe,
    /// Send nothing until this time (ms).
    WaitUntil(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed,
    Open { until_ms: i64 },
    HalfOpen,
}

/// One target's breaker.
#[derive(Debug)]
pub struct Circuit {
    state: State,
    consecutive_failures: u32,
    threshold: u32,
    cooldown_ms: i64,
}

impl Circuit {
    /// A closed breaker opening after `threshold` failures for `cooldown`.
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            state: State::Closed,
            consecutive_failures: 0,
            threshold: threshold.max(1),
            cooldown_ms: i64::try_from(cooldown.as_millis()).unwrap_or(i64::MAX),
        }
    }

    /// What may be sent at `now_ms`; an open breaker past its cool-down turns half-open.
    pub fn allowance(&mut self, now_ms: i64) -> Allowance {
        match self.state {
            State::Closed => Allowance::Send,
            State::Open { until_ms } if now_ms < until_ms => Allowance::WaitUntil(until_ms),
            State::Open { .. } | State::HalfOpen => {
                self.state = State::HalfOpen;
                Allowance::Probe
            }
        }
    }

    /// The target answered (accepted, or refused for good): close.
    pub fn success(&mut self) {
        self.state = State::Closed;
        self.consecutive_failures = 0;
    }

    /// A retryable failure at `now_ms`; returns true when this opened the breaker.
    pub fn failure(&mut self, now_ms: i64) -> bool {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let open = match self.state {
            State::HalfOpen => true,
            State::Closed => self.consecutive_failures >= self.threshold,
            State::Open { .. } => false,
        };
        if open {
            self.state = State::Open {
                until_ms: now_ms.saturating_add(self.cooldown_ms),
            };
        }
        open
    }

    /// State for display.
    pub fn status(&self, now_ms: i64) -> CircuitStatus {
        let (state, open_until_ms) = match self.state {
            State::Closed => ("closed", None),
            State::Open { until_ms } if now_ms < until_ms => ("open", Some(until_ms)),
            State::Open { until_ms } => ("half_open", Some(until_ms)),
            State::HalfOpen => ("half_open", None),
        };
        CircuitStatus {
            state,
            consecutive_failures: self.consecutive_failures,
            open_until_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_probes_and_closes() {
        let mut circuit = Circuit::new(3, Duration::from_secs(10));
        assert_eq!(circuit.allowance(0), Allowance::Send);
        assert!(!circuit.failure(0));
        assert!(!circuit.failure(1));
        assert!(circuit.failure(2));
        assert_eq!(circuit.allowance(5), Allowance::WaitUntil(10_002));
        assert_eq!(circuit.status(5).state, "open");
        assert_eq!(circuit.allowance(10_002), Allowance::Probe);
        // A failed probe opens it again at once.
        assert!(circuit.failure(10_003));
        assert_eq!(circuit.allowance(10_004), Allowance::WaitUntil(20_003));
        assert_eq!(circuit.allowance(20_003), Allowance::Probe);
        circuit.success();
        assert_eq!(circuit.allowance(20_004), Allowance::Send);
        assert_eq!(circuit.status(20_004).consecutive_failures, 0);
    }
}
