//! A per-client-address limit on failed attempts (unknown device tokens), so
//! that tokens can't be guessed. Each distinct token counts once per window:
//! one Mac retrying its stale token behind a shared address (a TLS proxy)
//! doesn't use up everyone's budget. Each replica counts on its own: a
//! guesser spread over N replicas gets N times the budget, which is still
//! tiny. Time comes from the server's clock (Unix seconds).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// One address's window: when it started, and the hashes of the tokens that failed in it.
type Window = (i64, HashSet<u64>);

#[derive(Clone)]
pub struct RateLimiter {
    max_failures: u32,
    window_secs: i64,
    /// Per address: when its window started, and the tokens that failed in it
    /// (hashed with a per-process key, so the map holds no token).
    failures: Arc<Mutex<HashMap<IpAddr, Window>>>,
    hasher: RandomState,
}

impl RateLimiter {
    pub fn new(max_failures: u32, window_secs: i64) -> RateLimiter {
        RateLimiter {
            max_failures,
            window_secs,
            failures: Arc::default(),
            hasher: RandomState::new(),
        }
    }

    /// Whether this address has used up its failures for the current window.
    pub fn is_blocked(&self, addr: IpAddr, now: i64) -> bool {
        let Ok(failures) = self.failures.lock() else {
            return false;
        };
        failures.get(&addr).is_some_and(|(start, tokens)| {
            now - start < self.window_secs && tokens.len() as u32 >= self.max_failures
        })
    }

    pub fn record_failure(&self, addr: IpAddr, token: &str, now: i64) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if failures.len() > 100_000 {
            let window = self.window_secs;
            failures.retain(|_, (start, _)| now - *start < window);
        }
        let entry = failures
            .entry(addr)
            .or_insert_with(|| (now, HashSet::new()));
        if now - entry.0 >= self.window_secs {
            *entry = (now, HashSet::new());
        }
        if entry.1.len() as u32 <= self.max_failures {
            entry.1.insert(self.hasher.hash_one(token));
        }
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
        for n in 0..3 {
            assert!(!limiter.is_blocked(a, 1_000));
            limiter.record_failure(a, &format!("guess-{n}"), 1_000);
        }
        assert!(limiter.is_blocked(a, 1_000));
        assert!(!limiter.is_blocked(b, 1_000));
    }

    #[test]
    fn one_stale_token_retried_counts_once() {
        let limiter = RateLimiter::new(3, 60);
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..50 {
            limiter.record_failure(proxy, "stale-token-of-one-mac", 1_000);
        }
        assert!(!limiter.is_blocked(proxy, 1_000));
    }

    #[test]
    fn the_window_resets() {
        let limiter = RateLimiter::new(1, 10);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        limiter.record_failure(a, "guess", 1_000);
        assert!(limiter.is_blocked(a, 1_009));
        assert!(!limiter.is_blocked(a, 1_010));
    }
}
