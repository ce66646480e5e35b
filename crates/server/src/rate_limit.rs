//! A per-client-address limit on failed attempts (unknown device tokens), so
//! that tokens can't be guessed. Each replica counts on its own: a guesser
//! spread over N replicas gets N times the budget, which is still tiny.
//! Time comes from the server's clock (Unix seconds).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct RateLimiter {
    max_failures: u32,
    window_secs: i64,
    /// Per address: when its window started, and its failures in it.
    failures: Arc<Mutex<HashMap<IpAddr, (i64, u32)>>>,
}

impl RateLimiter {
    pub fn new(max_failures: u32, window_secs: i64) -> RateLimiter {
        RateLimiter {
            max_failures,
            window_secs,
            failures: Arc::default(),
        }
    }

    /// Whether this address has used up its failures for the current window.
    pub fn is_blocked(&self, addr: IpAddr, now: i64) -> bool {
        let Ok(failures) = self.failures.lock() else {
            return false;
        };
        failures.get(&addr).is_some_and(|(start, count)| {
            now - start < self.window_secs && *count >= self.max_failures
        })
    }

    pub fn record_failure(&self, addr: IpAddr, now: i64) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if failures.len() > 100_000 {
            let window = self.window_secs;
            failures.retain(|_, (start, _)| now - *start < window);
        }
        let entry = failures.entry(addr).or_insert((now, 0));
        if now - entry.0 >= self.window_secs {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_budget_and_only_that_address() {
        let limiter = RateLimiter::new(3, 60);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(!limiter.is_blocked(a, 1_000));
            limiter.record_failure(a, 1_000);
        }
        assert!(limiter.is_blocked(a, 1_000));
        assert!(!limiter.is_blocked(b, 1_000));
    }

    #[test]
    fn the_window_resets() {
        let limiter = RateLimiter::new(1, 10);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        limiter.record_failure(a, 1_000);
        assert!(limiter.is_blocked(a, 1_009));
        assert!(!limiter.is_blocked(a, 1_010));
    }
}
