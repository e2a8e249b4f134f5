//! Replication lag: for every op applied here from another region, the time
//! from its write at the origin (its hybrid logical clock) to its apply here.
//!
//! The origin's clock and ours are different clocks, so across machines the
//! figure includes their offset; in the local world they are the same clock.
//! HLC physical time has millisecond resolution and is truncated, so a
//! reading can be up to 1 ms too high, never too low.

use hdrhistogram::Histogram;

/// Highest lag a histogram records, in microseconds; larger readings are
/// clamped to it. An hour covers a region that was cut off and catches up.
pub const LAG_US_MAX: u64 = 3_600_000_000;

/// Lag readings from one origin region.
pub struct OriginLag {
    hist: Histogram<u64>,
    last_us: u64,
}

impl Default for OriginLag {
    fn default() -> Self {
        OriginLag {
            // Three significant digits: sub-percent error at any scale.
            hist: Histogram::new_with_bounds(1, LAG_US_MAX, 3)
                .unwrap_or_else(|e| panic!("histogram bounds: {e}")),
            last_us: 0,
        }
    }
}

/// A summary of lag readings, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LagSummary {
    pub count: u64,
    pub last_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl OriginLag {
    /// Records one op's lag.
    pub fn record(&mut self, lag_us: u64) {
        let v = lag_us.clamp(1, LAG_US_MAX);
        self.hist.saturating_record(v);
        self.last_us = lag_us;
    }

    /// Summary since start or the last reset.
    pub fn summary(&self) -> LagSummary {
        let ms = |us: u64| us as f64 / 1000.0;
        LagSummary {
            count: self.hist.len(),
            last_ms: ms(self.last_us),
            p50_ms: ms(self.hist.value_at_quantile(0.5)),
            p99_ms: ms(self.hist.value_at_quantile(0.99)),
            max_ms: ms(self.hist.max()),
        }
    }

    /// Forgets all readings.
    pub fn reset(&mut self) {
        self.hist.reset();
    }
}
