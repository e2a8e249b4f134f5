//! What a simulated world looks like: its regions, network, faults and
//! workload.

use crate::rtt::Latencies;
use meridian_core::Regions;

/// Fewest keys a run may use. One key makes every write conflict, which is a
/// legitimate stress; zero keys would leave clients nothing to write.
pub const KEYS_MIN: usize = 1;

/// Most keys a run may use. The simulator is about conflicts, which need a
/// small key set; the reference model keeps per-key history in memory, and
/// 4096 keys is far more than any useful run needs.
pub const KEYS_MAX: usize = 4096;

/// Longest stretch of client writes, in simulated milliseconds. One hour of
/// writes is far beyond what a seed sweep needs and keeps a typo from making
/// a run that never ends.
pub const DURATION_MS_MAX: u64 = 3_600_000;

/// Most writes per second per region. Above this, one run holds so many ops
/// in memory (each region keeps its whole log) that a seed sweep stops being
/// cheap; benchmarks, not the simulator, measure throughput.
pub const WRITES_PER_SEC_MAX: u64 = 100_000;

/// Most writes in one run, over all regions: bounds memory (every op is kept
/// in each region's log and in the reference history).
pub const WRITES_MAX: u64 = 2_000_000;

/// Largest configured one-way delay, jitter or reordering delay, in
/// milliseconds. Real one-way delays stay under 200 ms; ten seconds is far
/// beyond that while keeping simulated time from overflowing.
pub const DELAY_MS_MAX: u64 = 10_000;

/// The three regions a default world runs: one per continent of the matrix.
pub const DEFAULT_REGIONS: [&str; 3] = ["us-east", "eu-west", "ap-southeast"];

/// The shape of one simulated world. Every field is public so a caller can
/// start from [`SimConfig::default`] and change what it needs.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Region names (valid Meridian region names, any order).
    pub regions: Vec<String>,
    /// One-way delay of every link, in ms; `None` takes each pair's delay
    /// from the project's measured matrix (`data/rtt.csv`, half the RTT).
    pub base_latency_ms: Option<u64>,
    /// Each message waits an extra uniform `0..=jitter_ms`.
    pub jitter_ms: u64,
    /// Probability that a message is held back an extra uniform
    /// `1..=reorder_delay_ms_max`, so that later messages overtake it.
    pub reorder_prob: f64,
    /// Longest extra delay of a reordered message.
    pub reorder_delay_ms_max: u64,
    /// Probability that a batch of ops or an ack is delivered twice.
    pub dup_prob: f64,
    /// Whether to cut links during the run (whole-region partitions, one-way
    /// cuts and flapping links; see the crate docs).
    pub partitions: bool,
    /// How long clients write, in simulated ms. The run then heals every
    /// link and continues until no message is left in flight.
    pub duration_ms: u64,
    /// Average client writes per second in each region.
    pub writes_per_sec_per_region: u64,
    /// Number of keys clients write (small, so concurrent writes to the same
    /// key are common).
    pub keys: usize,
    /// Test switch: the first op delivered to any region is dropped there,
    /// and every later copy of it too, as a broken link would. A correct
    /// checker must report the run as failed.
    #[doc(hidden)]
    pub skip_one_delivery: bool,
    /// Test switch: acknowledge only in reply to a batch, never when ops
    /// held for their causes are released by another link's batch. This
    /// deadlocks a sender whose window fills with held batches; the
    /// regression test keeps that hazard visible.
    #[doc(hidden)]
    pub ack_batches_only: bool,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            regions: DEFAULT_REGIONS.iter().map(|s| s.to_string()).collect(),
            base_latency_ms: None,
            jitter_ms: 5,
            reorder_prob: 0.1,
            reorder_delay_ms_max: 200,
            dup_prob: 0.05,
            partitions: true,
            duration_ms: 2_000,
            writes_per_sec_per_region: 100,
            keys: 16,
            skip_one_delivery: false,
            ack_batches_only: false,
        }
    }
}

impl SimConfig {
    /// The default world with all seven regions of the measured matrix and
    /// their real latencies.
    pub fn seven_regions() -> SimConfig {
        SimConfig {
            regions: Latencies::builtin().regions(),
            ..SimConfig::default()
        }
    }

    /// Checks the configuration and returns the cluster's region set.
    pub fn validate(&self) -> Result<Regions, String> {
        let regions = Regions::new(self.regions.iter().cloned()).map_err(|e| e.to_string())?;
        if !(KEYS_MIN..=KEYS_MAX).contains(&self.keys) {
            return Err(format!(
                "keys must be in {KEYS_MIN}..={KEYS_MAX}, got {}",
                self.keys
            ));
        }
        if self.duration_ms > DURATION_MS_MAX {
            return Err(format!("duration_ms above {DURATION_MS_MAX}"));
        }
        if self.writes_per_sec_per_region > WRITES_PER_SEC_MAX {
            return Err(format!(
                "writes_per_sec_per_region above {WRITES_PER_SEC_MAX}"
            ));
        }
        let writes = (self.duration_ms as u128)
            * (self.writes_per_sec_per_region as u128)
            * (regions.len() as u128)
            / 1000;
        if writes > WRITES_MAX as u128 {
            return Err(format!("{writes} writes in total, above {WRITES_MAX}"));
        }
        for (name, p) in [
            ("reorder_prob", self.reorder_prob),
            ("dup_prob", self.dup_prob),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} must be in 0..=1, got {p}"));
            }
        }
        let delays = [
            self.base_latency_ms.unwrap_or(0),
            self.jitter_ms,
            self.reorder_delay_ms_max,
        ];
        if delays.iter().any(|&d| d > DELAY_MS_MAX) {
            return Err(format!("delays must be at most {DELAY_MS_MAX} ms"));
        }
        if self.base_latency_ms.is_none() {
            let m = Latencies::builtin();
            for a in regions.names() {
                for b in regions.names().iter().filter(|b| *b != a) {
                    if m.one_way_ms(a, b).is_none() {
                        return Err(format!(
                            "no measured latency between {a} and {b}: set base_latency_ms"
                        ));
                    }
                }
            }
        }
        Ok(regions)
    }

    /// A one-line Rust expression that replays `seed` under this config.
    pub fn replay_hint(&self, seed: u64) -> String {
        let cfg = if *self == SimConfig::default() {
            "&SimConfig::default()".to_string()
        } else if *self == SimConfig::seven_regions() {
            "&SimConfig::seven_regions()".to_string()
        } else {
            format!("&{self:?}")
        };
        format!("meridian_sim::run_seed({seed}, {cfg})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(SimConfig::default().validate().unwrap().len(), 3);
        assert_eq!(SimConfig::seven_regions().validate().unwrap().len(), 7);
    }

    #[test]
    fn bad_configs_are_refused() {
        let bad = [
            SimConfig {
                keys: 0,
                ..SimConfig::default()
            },
            SimConfig {
                dup_prob: 1.5,
                ..SimConfig::default()
            },
            SimConfig {
                reorder_prob: f64::NAN,
                ..SimConfig::default()
            },
            SimConfig {
                regions: vec!["mars".into(), "us-east".into()],
                ..SimConfig::default()
            },
            SimConfig {
                regions: vec![],
                ..SimConfig::default()
            },
            SimConfig {
                jitter_ms: DELAY_MS_MAX + 1,
                ..SimConfig::default()
            },
            SimConfig {
                writes_per_sec_per_region: WRITES_PER_SEC_MAX,
                duration_ms: DURATION_MS_MAX,
                ..SimConfig::default()
            },
        ];
        for cfg in bad {
            assert!(cfg.validate().is_err(), "{cfg:?}");
        }
        // Unknown regions are fine with a fixed latency.
        let fixed = SimConfig {
            regions: vec!["mars".into(), "venus".into()],
            base_latency_ms: Some(500),
            ..SimConfig::default()
        };
        assert!(fixed.validate().is_ok());
    }

    #[test]
    fn replay_hint_names_the_config() {
        assert_eq!(
            SimConfig::default().replay_hint(7),
            "meridian_sim::run_seed(7, &SimConfig::default())"
        );
        let hint = SimConfig {
            keys: 3,
            ..SimConfig::default()
        }
        .replay_hint(7);
        assert!(hint.contains("keys: 3"), "{hint}");
    }
}
