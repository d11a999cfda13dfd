//! The clock: the one way the code learns the time. Production runs on [`SystemClock`]; tests
//! hand a [`ManualClock`] to the store (and so to every flow and handler) and move it forward
//! instead of sleeping. Rules that depend on the time (holding periods, link expiry, the
//! settlement cutoff, replay windows) take it from here, or as a parameter.

use std::sync::Mutex;

use time::{Date, Duration, OffsetDateTime};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> OffsetDateTime;

    /// [`Clock::now`] in Unix milliseconds.
    fn now_ms(&self) -> i64 {
        unix_ms(self.now())
    }

    /// The previous UTC day: what a nightly settlement run settles.
    fn yesterday(&self) -> Date {
        let today = self.now().date();
        today.previous_day().unwrap_or(today)
    }
}

/// `at` in Unix milliseconds (saturating far outside the domain's years).
pub fn unix_ms(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos().div_euclid(1_000_000)).unwrap_or(i64::MAX)
}

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug)]
pub struct ManualClock {
    at: Mutex<OffsetDateTime>,
}

impl ManualClock {
    pub fn new(at: OffsetDateTime) -> Self {
        Self { at: Mutex::new(at) }
    }

    /// Starting at the system's time now.
    pub fn starting_now() -> Self {
        Self::new(OffsetDateTime::now_utc())
    }

    pub fn set(&self, at: OffsetDateTime) {
        *self.at.lock().unwrap_or_else(|e| e.into_inner()) = at;
    }

    /// Moves the clock forward by `by` (saturating at the end of time).
    pub fn advance(&self, by: Duration) {
        let mut at = self.at.lock().unwrap_or_else(|e| e.into_inner());
        *at = at.checked_add(by).unwrap_or(*at);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.at.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The system's time moved by a shift that only grows when told to (end-to-end tests: time
/// flows as usual, and a test that needs a link to expire or a holding period to end skips
/// ahead instead of sleeping).
#[derive(Debug, Default)]
pub struct ShiftedClock {
    shift: Mutex<Duration>,
}

impl ShiftedClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Skips ahead by `by`.
    pub fn advance(&self, by: Duration) {
        let mut shift = self.shift.lock().unwrap_or_else(|e| e.into_inner());
        *shift = shift.checked_add(by).unwrap_or(*shift);
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        let shift = *self.shift.lock().unwrap_or_else(|e| e.into_inner());
        now.checked_add(shift).unwrap_or(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(datetime!(2026-12-01 00:30 UTC));
        assert_eq!(clock.now(), datetime!(2026-12-01 00:30 UTC));
        assert_eq!(clock.yesterday(), date!(2026 - 11 - 30));
        clock.advance(Duration::hours(24));
        assert_eq!(clock.now(), datetime!(2026-12-02 00:30 UTC));
        assert_eq!(clock.now_ms(), 1_796_171_400_000);
        clock.set(datetime!(2000-01-01 00:00 UTC));
        assert_eq!(clock.yesterday(), date!(1999 - 12 - 31));
    }

    #[test]
    fn a_shifted_clock_runs_ahead_of_the_system_by_what_it_was_told() {
        let clock = ShiftedClock::new();
        clock.advance(Duration::days(2));
        let ahead = clock.now() - OffsetDateTime::now_utc();
        assert!(
            ahead > Duration::hours(47) && ahead <= Duration::days(2),
            "{ahead}"
        );
    }
}
