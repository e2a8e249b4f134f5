//! Hybrid logical clock (Kulkarni, Demirbas et al., 2014).
//!
//! A timestamp is physical milliseconds since the Unix epoch in the high 48
//! bits and a logical counter in the low 16 bits, so timestamps compare as
//! plain integers. A region's clock never goes backwards, and after it has seen
//! a remote timestamp every later local timestamp is greater: a write that has
//! seen another write always wins over it, whatever the wall clocks say.
//!
//! One broken clock must not win every conflict, so a remote timestamp more
//! than [`CLOCK_AHEAD_MS_MAX`] ahead of local physical time is not observed:
//! [`HlcClock::check_remote`] reports it and the caller holds that operation
//! back until local time has caught up (its writes are delayed, visibly, in the
//! lag figures, instead of dragging every clock forward).

use serde::{Deserialize, Serialize};
use std::fmt;

/// How far ahead of our physical clock a remote timestamp may be, in
/// milliseconds. NTP keeps well-run clocks within tens of milliseconds; 5 s
/// tolerates a bad NTP day while stopping a clock set hours ahead from
/// dominating every last-write-wins decision.
pub const CLOCK_AHEAD_MS_MAX: u64 = 5_000;

const LOGICAL_BITS: u32 = 16;
const LOGICAL_MASK: u64 = (1 << LOGICAL_BITS) - 1;

/// A hybrid logical clock timestamp.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Hlc(pub u64);

impl Hlc {
    /// Builds a timestamp from physical milliseconds and a logical counter.
    pub fn new(physical_ms: u64, logical: u16) -> Hlc {
        Hlc((physical_ms << LOGICAL_BITS) | logical as u64)
    }
    /// Physical part, milliseconds since the Unix epoch.
    pub fn physical_ms(self) -> u64 {
        self.0 >> LOGICAL_BITS
    }
    /// Logical counter.
    pub fn logical(self) -> u16 {
        (self.0 & LOGICAL_MASK) as u16
    }
}

impl fmt::Debug for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.physical_ms(), self.logical())
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A remote timestamp too far in the future to observe now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "remote clock {remote} is {ahead_ms} ms ahead of local time (bound {CLOCK_AHEAD_MS_MAX} ms)"
)]
pub struct ClockAhead {
    pub remote: Hlc,
    pub ahead_ms: u64,
}

/// One region's clock. Physical time is passed in, never read here, so the
/// simulator controls it.
#[derive(Clone, Debug, Default)]
pub struct HlcClock {
    last: Hlc,
}

impl HlcClock {
    /// A clock that has issued nothing yet.
    pub fn new() -> HlcClock {
        HlcClock { last: Hlc(0) }
    }

    /// The greatest timestamp issued or observed so far.
    pub fn last(&self) -> Hlc {
        self.last
    }

    /// Issues a timestamp for a local event at physical time `now_ms`; it is
    /// greater than every timestamp issued or observed before.
    pub fn tick(&mut self, now_ms: u64) -> Hlc {
        let candidate = Hlc::new(now_ms, 0);
        self.last = if candidate > self.last {
            candidate
        } else {
            // Same millisecond or our clock went back: bump the counter. On
            // overflow of the counter this carries into the physical part,
            // which keeps timestamps strictly increasing.
            Hlc(self.last.0 + 1)
        };
        self.last
    }

    /// Checks that `remote` is not too far ahead of `now_ms`.
    pub fn check_remote(&self, remote: Hlc, now_ms: u64) -> Result<(), ClockAhead> {
        let ahead_ms = remote.physical_ms().saturating_sub(now_ms);
        if ahead_ms > CLOCK_AHEAD_MS_MAX {
            return Err(ClockAhead { remote, ahead_ms });
        }
        Ok(())
    }

    /// Observes a remote timestamp (already checked with `check_remote`), so
    /// that every later local timestamp is greater.
    pub fn observe(&mut self, remote: Hlc) {
        if remote > self.last {
            self.last = remote;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_when_wall_clock_goes_back() {
        let mut c = HlcClock::new();
        let a = c.tick(1000);
        let b = c.tick(900);
        let d = c.tick(1000);
        assert!(a < b && b < d);
        assert_eq!(b.physical_ms(), 1000);
    }

    #[test]
    fn observed_remote_is_exceeded() {
        let mut c = HlcClock::new();
        c.tick(1000);
        let remote = Hlc::new(3000, 7);
        c.check_remote(remote, 1000).unwrap();
        c.observe(remote);
        assert!(c.tick(1000) > remote);
    }

    #[test]
    fn far_future_remote_is_refused() {
        let c = HlcClock::new();
        let remote = Hlc::new(1000 + CLOCK_AHEAD_MS_MAX + 1, 0);
        assert!(c.check_remote(remote, 1000).is_err());
        assert!(c
            .check_remote(Hlc::new(1000 + CLOCK_AHEAD_MS_MAX, 0), 1000)
            .is_ok());
    }
}
