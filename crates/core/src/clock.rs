//! The time, injected: the system clock in the server, a clock that tests
//! move by hand so they never sleep to let time pass.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// Unix seconds, from the system or from a hand-moved clock. Cheap to clone;
/// clones of a manual clock share its time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system's time.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock that stands at `start` until [`Clock::advance`] moves it.
    pub fn manual(start: i64) -> Clock {
        Clock {
            manual: Some(Arc::new(AtomicI64::new(start))),
        }
    }

    pub fn now(&self) -> i64 {
        match &self.manual {
            Some(time) => time.load(Ordering::SeqCst),
            None => system_now(),
        }
    }

    /// Moves a manual clock forward; the system clock can't be moved.
    pub fn advance(&self, secs: i64) {
        if let Some(time) = &self.manual {
            time.fetch_add(secs, Ordering::SeqCst);
        }
    }
}

fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_its_clones_follow() {
        let clock = Clock::manual(1_000);
        let clone = clock.clone();
        assert_eq!(clock.now(), 1_000);
        clone.advance(61);
        assert_eq!(clock.now(), 1_061);
        let system = Clock::system();
        system.advance(1_000_000);
        assert!((system.now() - Clock::system().now()).abs() < 5);
    }
}
