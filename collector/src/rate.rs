//! Rate limiters that run on tokio's clock, so the limits of the agent
//! pipeline can be tested with paused time (`tokio::time::pause`), and a
//! wait for a limit never blocks the executor.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// governor's clock reading `tokio::time::Instant`, in nanoseconds since the
/// clock was made.
#[derive(Debug, Clone)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

impl Default for TokioClock {
    fn default() -> Self {
        Self {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.origin.elapsed())
    }
}

/// A direct (unkeyed) rate limiter on tokio's clock.
#[derive(Debug)]
pub struct Limiter {
    inner: RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Nanos>>,
    clock: TokioClock,
}

impl Limiter {
    /// `rate` cells a second with bursts of `burst`; zero counts as one.
    pub fn new(rate: u32, burst: u32) -> Self {
        let quota = Quota::per_second(NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        let clock = TokioClock::default();
        Self {
            inner: RateLimiter::direct_with_clock(quota, clock.clone()),
            clock,
        }
    }

    /// Takes a cell if one is free now; otherwise says how long until one is.
    pub fn check(&self) -> Result<(), Duration> {
        self.inner
            .check()
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Waits until a cell is free and takes it.
    pub async fn until_ready(&self) {
        while let Err(wait) = self.check() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_passes_then_cells_come_at_the_rate() {
        let limiter = Limiter::new(10, 3);
        for _ in 0..3 {
            assert!(limiter.check().is_ok());
        }
        let wait = limiter.check().expect_err("the burst is spent");
        assert_eq!(wait, Duration::from_millis(100));
        let started = tokio::time::Instant::now();
        limiter.until_ready().await;
        assert_eq!(started.elapsed(), Duration::from_millis(100));
        assert!(limiter.check().is_err());
    }
}
