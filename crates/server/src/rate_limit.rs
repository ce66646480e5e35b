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

/// Bad logins: counted per (account, address) and per address. Past a
/// threshold each further failure doubles a wait (up to a minute) during
/// which that key is refused; the wait ends on its own, so an attacker can
/// slow an account down from their own address but not lock its owner out,
/// and a success clears the account's count.
#[derive(Clone, Default)]
pub struct LoginLimiter {
    failures: Arc<Mutex<HashMap<String, Backoff>>>,
}

#[derive(Clone, Copy, Default)]
struct Backoff {
    count: u32,
    last: i64,
    blocked_until: i64,
}

/// Failures allowed per account and address before the backoff starts.
const ACCOUNT_FREE_FAILURES: u32 = 10;
/// Failures allowed per address (any accounts) before the backoff starts.
const ADDRESS_FREE_FAILURES: u32 = 100;
/// The longest single wait.
const MAX_BACKOFF_SECS: i64 = 60;
/// A count is forgotten after this long without failures.
const FORGET_AFTER_SECS: i64 = 15 * 60;

impl LoginLimiter {
    fn keys(addr: IpAddr, email: &str) -> [(String, u32); 2] {
        [
            (
                format!("account:{}:{addr}", email.to_ascii_lowercase()),
                ACCOUNT_FREE_FAILURES,
            ),
            (format!("address:{addr}"), ADDRESS_FREE_FAILURES),
        ]
    }

    pub fn blocked(&self, addr: IpAddr, email: &str, now: i64) -> bool {
        let Ok(failures) = self.failures.lock() else {
            return false;
        };
        Self::keys(addr, email)
            .iter()
            .any(|(key, _)| failures.get(key).is_some_and(|b| now < b.blocked_until))
    }

    pub fn record_failure(&self, addr: IpAddr, email: &str, now: i64) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if failures.len() > 100_000 {
            failures.retain(|_, b| now - b.last < FORGET_AFTER_SECS);
        }
        for (key, free) in Self::keys(addr, email) {
            let backoff = failures.entry(key).or_default();
            if now - backoff.last >= FORGET_AFTER_SECS {
                *backoff = Backoff::default();
            }
            backoff.count += 1;
            backoff.last = now;
            if backoff.count > free {
                let over = (backoff.count - free).min(7);
                backoff.blocked_until = now + (1i64 << over).min(MAX_BACKOFF_SECS);
            }
        }
    }

    pub fn record_success(&self, addr: IpAddr, email: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            let [(account, _), _] = Self::keys(addr, email);
            failures.remove(&account);
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

    #[test]
    fn bad_logins_back_off_and_the_wait_ends_on_its_own() {
        let limiter = LoginLimiter::default();
        let attacker: IpAddr = "10.0.0.9".parse().unwrap();
        let owner: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..ACCOUNT_FREE_FAILURES {
            assert!(!limiter.blocked(attacker, "admin@example.com", 1_000));
            limiter.record_failure(attacker, "admin@example.com", 1_000);
        }
        limiter.record_failure(attacker, "Admin@Example.com", 1_000);
        assert!(limiter.blocked(attacker, "admin@example.com", 1_001));
        // The owner, elsewhere, is not locked out; the wait ends.
        assert!(!limiter.blocked(owner, "admin@example.com", 1_001));
        assert!(!limiter.blocked(attacker, "admin@example.com", 1_000 + MAX_BACKOFF_SECS));
        // Waits grow but never past the longest.
        for n in 0..20 {
            limiter.record_failure(attacker, "admin@example.com", 2_000 + n);
        }
        assert!(limiter.blocked(attacker, "admin@example.com", 2_019 + MAX_BACKOFF_SECS - 1));
        assert!(!limiter.blocked(attacker, "admin@example.com", 2_019 + MAX_BACKOFF_SECS));
        limiter.record_success(attacker, "admin@example.com");
        assert!(!limiter.blocked(attacker, "admin@example.com", 2_020));
    }
}
