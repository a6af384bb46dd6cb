//! Rate limiters that run on tokio's clock, so the limits of the agent
//! pipeline can be tested with paused time (`tokio::time::pause`), and a
//! wait for a limit never blocks the executor: a direct one and one per
//! source address.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::HashMapStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// Most source addresses a [`SourceLimiter`] tracks; past it, sources whose
/// cells have all come back are forgotten (`retain_recent`), and if that is
/// not enough a new source is refused until some are.
pub const MAX_TRACKED_SOURCES: usize = 65_536;

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
        let clock = TokioClock::default();
        Self {
            inner: RateLimiter::direct_with_clock(quota_of(rate, burst), clock.clone()),
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

/// `rate` cells a second with bursts of `burst`; zero counts as one.
fn quota_of(rate: u32, burst: u32) -> Quota {
    Quota::per_second(NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

/// A rate limiter per source address, on tokio's clock, holding at most
/// [`MAX_TRACKED_SOURCES`] sources. IPv6 sources are limited per /64, the
/// block one host is usually given, so that rotating addresses inside it
/// buys nothing.
#[derive(Debug)]
pub struct SourceLimiter {
    inner: RateLimiter<IpAddr, HashMapStateStore<IpAddr>, TokioClock, NoOpMiddleware<Nanos>>,
    clock: TokioClock,
}

impl SourceLimiter {
    /// `rate` cells a second with bursts of `burst` for each source; zero
    /// counts as one.
    pub fn new(rate: u32, burst: u32) -> Self {
        let clock = TokioClock::default();
        Self {
            inner: RateLimiter::hashmap_with_clock(quota_of(rate, burst), clock.clone()),
            clock,
        }
    }

    /// Takes a cell of `source` if one is free now; otherwise says how long
    /// until one is.
    pub fn check(&self, source: IpAddr) -> Result<(), Duration> {
        let key = source_key(source);
        if self.inner.len() >= MAX_TRACKED_SOURCES {
            self.inner.retain_recent();
            self.inner.shrink_to_fit();
            if self.inner.len() >= MAX_TRACKED_SOURCES {
                return Err(Duration::from_secs(1));
            }
        }
        self.inner
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// How many sources are tracked now.
    pub fn tracked(&self) -> usize {
        self.inner.len()
    }
}

/// The key a source is limited under: IPv4 as is (also when mapped into
/// IPv6), IPv6 by its /64.
fn source_key(source: IpAddr) -> IpAddr {
    match source {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
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

    #[tokio::test(start_paused = true)]
    async fn each_source_has_its_own_cells() {
        let limiter = SourceLimiter::new(1, 2);
        let guesser: IpAddr = "127.0.0.2".parse().unwrap();
        let agent: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(limiter.check(guesser).is_ok());
        assert!(limiter.check(guesser).is_ok());
        assert_eq!(limiter.check(guesser), Err(Duration::from_secs(1)));
        assert!(
            limiter.check(agent).is_ok(),
            "another source is not limited"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(limiter.check(guesser).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn ipv6_sources_share_their_slash_64_and_mapped_ipv4_is_ipv4() {
        let limiter = SourceLimiter::new(1, 1);
        assert!(limiter.check("2001:db8::1".parse().unwrap()).is_ok());
        assert!(limiter.check("2001:db8::ffff:2".parse().unwrap()).is_err());
        assert!(limiter.check("2001:db8:0:1::1".parse().unwrap()).is_ok());
        assert!(limiter.check("10.0.0.1".parse().unwrap()).is_ok());
        assert!(limiter.check("::ffff:10.0.0.1".parse().unwrap()).is_err());
        assert_eq!(limiter.tracked(), 3);
    }
}
