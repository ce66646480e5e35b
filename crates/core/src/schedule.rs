//! When a host is asked its vitals, labels and policies again.

/// Seconds since the Unix epoch.
pub type UnixSeconds = i64;

/// How often each kind of distributed query is re-sent to a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intervals {
    pub detail_secs: i64,
    pub label_secs: i64,
    pub policy_secs: i64,
    /// The largest extra delay one host may get, as a percentage of the interval,
    /// so that hosts enrolled together do not all come due together.
    pub jitter_percent: u8,
}

impl Default for Intervals {
    fn default() -> Self {
        Intervals {
            detail_secs: 3600,
            label_secs: 3600,
            policy_secs: 3600,
            jitter_percent: 10,
        }
    }
}

/// What the server knows about a host's last answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HostFreshness {
    pub detail_updated_at: Option<UnixSeconds>,
    pub label_updated_at: Option<UnixSeconds>,
    pub policy_updated_at: Option<UnixSeconds>,
    pub refetch_requested: bool,
}

/// Which kinds of queries the next distributed read sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DueQueries {
    pub details: bool,
    pub labels: bool,
    pub policies: bool,
}

impl DueQueries {
    pub fn any(&self) -> bool {
        self.details || self.labels || self.policies
    }
}

/// A host's fixed extra delay for an interval: the same host always gets the
/// same delay, and hosts spread evenly across `0..interval * jitter_percent / 100`.
pub fn jitter_secs(host_key: u64, interval_secs: i64, jitter_percent: u8) -> i64 {
    let span = interval_secs.max(0) * i64::from(jitter_percent) / 100;
    if span == 0 {
        return 0;
    }
    (spread(host_key) % span as u64) as i64
}

/// SplitMix64 finaliser: consecutive host ids land far apart.
fn spread(key: u64) -> u64 {
    let mut z = key.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn is_due(last: Option<UnixSeconds>, now: UnixSeconds, interval: i64, jitter: i64) -> bool {
    match last {
        None => true,
        Some(last) => now >= last + interval + jitter,
    }
}

/// Decides what a host is asked on this distributed read.
pub fn due_queries(
    host_key: u64,
    freshness: &HostFreshness,
    intervals: &Intervals,
    now: UnixSeconds,
) -> DueQueries {
    if freshness.refetch_requested {
        return DueQueries {
            details: true,
            labels: true,
            policies: true,
        };
    }
    let due = |last, interval| {
        is_due(
            last,
            now,
            interval,
            jitter_secs(host_key, interval, intervals.jitter_percent),
        )
    };
    DueQueries {
        details: due(freshness.detail_updated_at, intervals.detail_secs),
        labels: due(freshness.label_updated_at, intervals.label_secs),
        policies: due(freshness.policy_updated_at, intervals.policy_secs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_new_host_is_asked_everything() {
        let due = due_queries(1, &HostFreshness::default(), &Intervals::default(), NOW);
        assert!(due.details && due.labels && due.policies);
    }

    #[test]
    fn fresh_results_are_not_asked_again_until_the_interval_passes() {
        let intervals = Intervals {
            jitter_percent: 0,
            ..Intervals::default()
        };
        let fresh = HostFreshness {
            detail_updated_at: Some(NOW - 100),
            label_updated_at: Some(NOW - 3600),
            policy_updated_at: Some(NOW - 3599),
            refetch_requested: false,
        };
        let due = due_queries(1, &fresh, &intervals, NOW);
        assert_eq!(
            due,
            DueQueries {
                details: false,
                labels: true,
                policies: false
            }
        );
    }

    #[test]
    fn a_refetch_asks_everything() {
        let fresh = HostFreshness {
            detail_updated_at: Some(NOW),
            label_updated_at: Some(NOW),
            policy_updated_at: Some(NOW),
            refetch_requested: true,
        };
        assert!(due_queries(1, &fresh, &Intervals::default(), NOW).policies);
    }

    #[test]
    fn jitter_is_stable_bounded_and_spread() {
        let a = jitter_secs(17, 3600, 10);
        assert_eq!(a, jitter_secs(17, 3600, 10));
        let values: Vec<i64> = (0..1000).map(|h| jitter_secs(h, 3600, 10)).collect();
        assert!(values.iter().all(|v| (0..360).contains(v)));
        let distinct: std::collections::HashSet<_> = values.iter().collect();
        assert!(
            distinct.len() > 250,
            "only {} distinct delays",
            distinct.len()
        );
        assert_eq!(jitter_secs(17, 3600, 0), 0);
    }

    #[test]
    fn jitter_delays_the_due_time() {
        let intervals = Intervals::default();
        let host = (0..100).find(|h| jitter_secs(*h, 3600, 10) > 0).unwrap();
        let fresh = HostFreshness {
            policy_updated_at: Some(NOW - 3600),
            detail_updated_at: Some(NOW),
            label_updated_at: Some(NOW),
            refetch_requested: false,
        };
        assert!(!due_queries(host, &fresh, &intervals, NOW).policies);
        let later = NOW + jitter_secs(host, 3600, 10);
        assert!(due_queries(host, &fresh, &intervals, later).policies);
    }
}
