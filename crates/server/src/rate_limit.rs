//! Limits on failed attempts, per client address (unknown device tokens) or
//! per host (device tokens claimed that belong to another host), so that
//! tokens can't be guessed. Each distinct token counts once per window:
//! one Mac retrying its stale token behind a shared address (a TLS proxy)
//! doesn't use up everyone's budget. Each replica counts on its own: a
//! guesser spread over N replicas gets N times the budget, which is still
//! tiny. Time comes from the server's clock (Unix seconds).

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// One address's window: when it started, and the hashes of the tokens that failed in it.
type Window = (i64, HashSet<u64>);

#[derive(Clone)]
pub struct RateLimiter<K = IpAddr> {
    max_failures: u32,
    window_secs: i64,
    /// Per key: when its window started, and the tokens that failed in it
    /// (hashed with a per-process key, so the map holds no token).
    failures: Arc<Mutex<HashMap<K, Window>>>,
    hasher: RandomState,
}

impl<K: Hash + Eq + Copy> RateLimiter<K> {
    pub fn new(max_failures: u32, window_secs: i64) -> RateLimiter<K> {
        RateLimiter {
            max_failures,
            window_secs,
            failures: Arc::default(),
            hasher: RandomState::new(),
        }
    }

    /// Whether this key has used up its failures for the current window.
    pub fn is_blocked(&self, addr: K, now: i64) -> bool {
        let Ok(failures) = self.failures.lock() else {
            return false;
        };
        failures.get(&addr).is_some_and(|(start, tokens)| {
            now - start < self.window_secs && tokens.len() as u32 >= self.max_failures
        })
    }

    /// Counts `token` against this key's window: a failed one (an unknown
    /// device token), or one that is itself a guess (a new device token, a
    /// new set of enroll secrets). The same token again counts once.
    pub fn record(&self, addr: K, token: &str, now: i64) {
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

/// Enrollments: a bucket per client address and one per enroll secret,
/// each holding `burst` enrollments and refilled at `per_second`. An
/// enrollment takes one from both, so a leaked secret can't flood the
/// server with fake hosts from many addresses, nor one address with many
/// secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnrollLimit {
    pub burst: u32,
    pub per_second: u32,
}

impl Default for EnrollLimit {
    /// Enough for a whole office enrolling after a deployment; past it,
    /// agents retry and get through at the refill rate.
    fn default() -> Self {
        EnrollLimit {
            burst: 1_000,
            per_second: 10,
        }
    }
}

#[derive(Clone)]
pub struct EnrollLimiter {
    limit: EnrollLimit,
    /// Per key: the tokens left and when they were last counted.
    buckets: Arc<Mutex<HashMap<u64, (f64, i64)>>>,
    hasher: RandomState,
}

impl EnrollLimiter {
    pub fn new(limit: EnrollLimit) -> EnrollLimiter {
        EnrollLimiter {
            limit,
            buckets: Arc::default(),
            hasher: RandomState::new(),
        }
    }

    /// Takes one enrollment from the address's bucket and the secret's,
    /// or none when either is empty.
    pub fn allow(&self, addr: IpAddr, secret: &str, now: i64) -> bool {
        let Ok(mut buckets) = self.buckets.lock() else {
            return true;
        };
        let burst = f64::from(self.limit.burst);
        let rate = f64::from(self.limit.per_second);
        if buckets.len() > 100_000 {
            // A bucket refilled to full says nothing; forget it.
            buckets.retain(|_, (left, at)| *left + (now - *at) as f64 * rate < burst);
        }
        let keys = [
            self.hasher.hash_one(("address", addr)),
            self.hasher.hash_one(("secret", secret)),
        ];
        let mut levels = [0.0; 2];
        for (level, key) in levels.iter_mut().zip(keys) {
            let (left, at) = buckets.get(&key).copied().unwrap_or((burst, now));
            *level = (left + (now - at).max(0) as f64 * rate).min(burst);
        }
        if levels.iter().any(|level| *level < 1.0) {
            return false;
        }
        for (level, key) in levels.into_iter().zip(keys) {
            buckets.insert(key, (level - 1.0, now));
        }
        true
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
            limiter.record(a, &format!("guess-{n}"), 1_000);
        }
        assert!(limiter.is_blocked(a, 1_000));
        assert!(!limiter.is_blocked(b, 1_000));
    }

    #[test]
    fn one_stale_token_retried_counts_once() {
        let limiter = RateLimiter::new(3, 60);
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..50 {
            limiter.record(proxy, "stale-token-of-one-mac", 1_000);
        }
        assert!(!limiter.is_blocked(proxy, 1_000));
    }

    #[test]
    fn the_window_resets() {
        let limiter = RateLimiter::new(1, 10);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        limiter.record(a, "guess", 1_000);
        assert!(limiter.is_blocked(a, 1_009));
        assert!(!limiter.is_blocked(a, 1_010));
    }

    #[test]
    fn enrollments_are_limited_per_address_and_per_secret() {
        let limiter = EnrollLimiter::new(EnrollLimit {
            burst: 3,
            per_second: 1,
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.allow(a, "secret-one", 1_000));
        }
        assert!(
            !limiter.allow(a, "secret-one", 1_000),
            "the address's burst is spent"
        );
        assert!(
            !limiter.allow(a, "secret-two", 1_000),
            "another secret from it too"
        );
        assert!(
            !limiter.allow(b, "secret-one", 1_000),
            "the secret's burst is spent"
        );
        assert!(limiter.allow(b, "secret-two", 1_000));
        // One more per second, never more than the burst.
        assert!(limiter.allow(a, "secret-one", 1_001));
        assert!(!limiter.allow(a, "secret-one", 1_001));
        let later = 1_000_000;
        for _ in 0..3 {
            assert!(limiter.allow(a, "secret-one", later));
        }
        assert!(!limiter.allow(a, "secret-one", later));
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
