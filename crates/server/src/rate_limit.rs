//! A per-client-address limit on failed attempts (unknown device tokens), so
//! that tokens can't be guessed. Each replica counts on its own: a guesser
//! spread over N replicas gets N times the budget, which is still tiny.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct RateLimiter {
    max_failures: u32,
    window: Duration,
    failures: Arc<Mutex<HashMap<IpAddr, (Instant, u32)>>>,
}

impl RateLimiter {
    pub fn new(max_failures: u32, window: Duration) -> RateLimiter {
        RateLimiter {
            max_failures,
            window,
            failures: Arc::default(),
        }
    }

    /// Whether this address has used up its failures for the current window.
    pub fn is_blocked(&self, addr: IpAddr) -> bool {
        let Ok(failures) = self.failures.lock() else {
            return false;
        };
        failures.get(&addr).is_some_and(|(start, count)| {
            start.elapsed() < self.window && *count >= self.max_failures
        })
    }

    pub fn record_failure(&self, addr: IpAddr) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if failures.len() > 100_000 {
            let window = self.window;
            failures.retain(|_, (start, _)| start.elapsed() < window);
        }
        let entry = failures.entry(addr).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= self.window {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_budget_and_only_that_address() {
        let limiter = RateLimiter::new(3, Duration::from_secs(60));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(!limiter.is_blocked(a));
            limiter.record_failure(a);
        }
        assert!(limiter.is_blocked(a));
        assert!(!limiter.is_blocked(b));
    }

    #[test]
    fn the_window_resets() {
        let limiter = RateLimiter::new(1, Duration::from_millis(10));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        limiter.record_failure(a);
        assert!(limiter.is_blocked(a));
        std::thread::sleep(Duration::from_millis(20));
        assert!(!limiter.is_blocked(a));
    }
}
