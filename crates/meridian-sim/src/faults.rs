//! The fault plan of a round: which links are cut or slow, which regions
//! crash and whose clocks are off, and when.
//!
//! Each round draws a few fault *episodes* from the enabled kinds before its
//! write phase starts (message loss, duplication and reordering strike
//! single messages instead, see [`crate::net`]):
//!
//! - **isolate**: every link to and from one region is cut (the region
//!   keeps taking local writes, as an active-active region must);
//! - **split**: the regions fall into two groups that cannot talk;
//! - **one-way**: the direction `a -> b` is cut, `b -> a` still works;
//! - **flap**: the link between `a` and `b` is cut and healed repeatedly;
//! - **spike**: the direction `a -> b` becomes much slower for a while;
//! - **crash** / **power-loss**: a region goes down and restarts from its
//!   log (see [`crate::disk`] for what survives);
//! - **skew**: a region's clock is off for the whole write phase, within the
//!   core's bound (`CLOCK_AHEAD_MS_MAX`) or beyond it;
//! - **jump**: a region's clock jumps forwards or backwards mid-round;
//! - **long-down**: a region's process crashes and stays down for 1.5 to
//!   2.5 times the log retention while the others write on, snapshot and
//!   truncate their logs; it returns before the write phase ends (which
//!   the episode lengthens to the restart plus up to half a round) and
//!   catches up by a state transfer. It is planned apart from the other
//!   kinds, being long: in a round with probability
//!   [`LONG_DOWN_ROUND_PROB`] when other episode kinds are on, in every
//!   round when it is the only one.
//!
//! Episodes may overlap. Every episode ends by the end of the write phase,
//! and the world then heals whatever is left (clocks included), so that the
//! settle phase measures recovery, not the faults.

use crate::config::{FaultKind, Faults};
use crate::rng::SimRng;
use meridian_core::hlc::CLOCK_AHEAD_MS_MAX;

/// Most fault episodes in one round: enough to combine kinds in one seed;
/// more would keep the world broken nearly all the time.
pub const EPISODES_MAX: u64 = 4;

/// Shortest fault, in ms: shorter than any one-way delay, so a fault may
/// catch only a message or two in flight, which is a case worth having.
pub const FAULT_MS_MIN: u64 = 5;

/// Shortest and longest up or down phase of a flapping link, in ms: from
/// faster than a round trip to several round trips.
pub const FLAP_MS_MIN: u64 = 5;
pub const FLAP_MS_MAX: u64 = 1_500;

/// Extra one-way delay of a delay spike, in ms: from a congested path to a
/// rerouting across the planet. Below the links' silence timeout, so a
/// spike slows a connection without closing it.
pub const SPIKE_MS_MIN: u64 = 100;
pub const SPIKE_MS_MAX: u64 = 3_000;

/// Longest time a crashed region stays down, in ms (shorter if the write
/// phase ends first): long enough for every peer to give up on it and back
/// off to its longest reconnect delay.
pub const DOWN_MS_MAX: u64 = 6_000;

/// Largest clock offset of a healthy region, either sign, in ms: what NTP
/// keeps well-run clocks within.
pub const NTP_SKEW_MS_MAX: u64 = 20;

/// Largest skew or jump beyond the core's bound, in ms: two and a half
/// times `CLOCK_AHEAD_MS_MAX`, so some ops are held for seconds and links
/// time out while holding them.
pub const CLOCK_FAULT_MS_MAX: u64 = CLOCK_AHEAD_MS_MAX * 5 / 2;

/// Smallest clock jump, in ms.
pub const JUMP_MS_MIN: u64 = 100;

/// Probability that a round has a long-down episode when other episode
/// kinds are on too. A long-down round runs up to about 44 s longer than a
/// plain one in the default world (mostly the downtime), so in `mixed` it
/// strikes about one seed in eight: enough to exercise state transfers in
/// every sweep without multiplying the sweep's time (truncation happens
/// in every seed anyway).
pub const LONG_DOWN_ROUND_PROB: f64 = 1.0 / 16.0;

/// Shortest and longest downtime of a long-down episode, in
/// thousandths of the log retention: beyond it by half at least, so that
/// peers have left the region behind, snapshotted and truncated (one
/// snapshot interval and a maintenance pass after the retention) before
/// it returns.
pub const LONG_DOWN_PERMILLE_MIN: u64 = 1_500;
pub const LONG_DOWN_PERMILLE_MAX: u64 = 2_500;

/// The longest downtime of a long-down episode under `retention_ms`.
pub fn long_down_ms_max(retention_ms: u64) -> u64 {
    retention_ms.saturating_mul(LONG_DOWN_PERMILLE_MAX) / 1_000
}

/// What a fault step does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Messages from `from` to `to` stop arriving (a cut may overlap another).
    Cut {
        from: usize,
        to: usize,
    },
    Heal {
        from: usize,
        to: usize,
    },
    /// Messages from `from` to `to` take `extra_ms` longer (spikes add up).
    SpikeOn {
        from: usize,
        to: usize,
        extra_ms: u64,
    },
    SpikeOff {
        from: usize,
        to: usize,
        extra_ms: u64,
    },
    /// The region goes down; `power` if its machine lost power.
    Crash {
        region: usize,
        power: bool,
    },
    Restart {
        region: usize,
    },
    /// The region's process crashes and stays down until `LongUp`, whatever
    /// other crash episodes end meanwhile.
    LongDown {
        region: usize,
    },
    LongUp {
        region: usize,
    },
    /// The region's clock moves by `delta_ms`.
    Clock {
        region: usize,
        delta_ms: i64,
    },
}

/// One planned change, at an absolute simulated time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultStep {
    pub at_ms: u64,
    pub action: Action,
}

/// The episodes of one round, and their steps.
#[derive(Debug, Default)]
pub struct Plan {
    pub episodes: Vec<FaultKind>,
    pub steps: Vec<FaultStep>,
    /// When the write phase ends: `start_ms + len_ms`, or later after a
    /// long-down episode.
    pub end_ms: u64,
}

/// The episode kinds of `faults` planned per round in the common way (not
/// the message kinds, not long-down).
fn episode_kinds(faults: Faults) -> Vec<FaultKind> {
    faults
        .kinds()
        .filter(|k| {
            !matches!(
                k,
                FaultKind::Loss | FaultKind::Dup | FaultKind::Reorder | FaultKind::LongDown
            )
        })
        .collect()
}

/// Plans the round whose write phase runs `start_ms..start_ms + len_ms` in
/// a world of `regions` regions whose logs keep records for a silent peer
/// `retention_ms`.
pub fn plan(
    rng: &mut SimRng,
    faults: Faults,
    regions: usize,
    start_ms: u64,
    len_ms: u64,
    retention_ms: u64,
) -> Plan {
    let mut plan = Plan {
        end_ms: start_ms + len_ms,
        ..Plan::default()
    };
    let kinds = episode_kinds(faults);
    if faults.has(FaultKind::LongDown)
        && len_ms >= FAULT_MS_MIN
        && (kinds.is_empty() || rng.chance(LONG_DOWN_ROUND_PROB))
    {
        let region = rng.index(regions);
        let at = start_ms + rng.below(len_ms);
        let down = rng.range(
            retention_ms.saturating_mul(LONG_DOWN_PERMILLE_MIN) / 1_000,
            long_down_ms_max(retention_ms),
        );
        let up = at + down;
        let tail = rng.below(len_ms / 2 + 1);
        plan.end_ms = plan.end_ms.max(up + tail);
        plan.steps.push(FaultStep {
            at_ms: at,
            action: Action::LongDown { region },
        });
        plan.steps.push(FaultStep {
            at_ms: up,
            action: Action::LongUp { region },
        });
        plan.episodes.push(FaultKind::LongDown);
    }
    if kinds.is_empty() || len_ms < FAULT_MS_MIN {
        return plan;
    }
    let episodes = rng.range(1, EPISODES_MAX);
    for _ in 0..episodes {
        let kind = kinds[rng.index(kinds.len())];
        let from = rng.below(len_ms - FAULT_MS_MIN + 1);
        let len = rng.range(FAULT_MS_MIN, len_ms - from);
        let (t0, t1) = (start_ms + from, start_ms + from + len);
        let mut p = Planner {
            steps: &mut plan.steps,
        };
        let multi = regions >= 2;
        match kind {
            FaultKind::Isolate if multi => {
                let a = rng.index(regions);
                for b in (0..regions).filter(|&b| b != a) {
                    p.both_ways(a, b, t0, t1);
                }
            }
            FaultKind::Split if multi => {
                let side = split(rng, regions);
                for a in (0..regions).filter(|&a| side[a]) {
                    for b in (0..regions).filter(|&b| !side[b]) {
                        p.both_ways(a, b, t0, t1);
                    }
                }
            }
            FaultKind::OneWay if multi => {
                let (a, b) = pair(rng, regions);
                p.outage(a, b, t0, t1);
            }
            FaultKind::Flap if multi => {
                let (a, b) = pair(rng, regions);
                let mut t = t0;
                while t < t1 {
                    let up = (t + rng.range(FLAP_MS_MIN, FLAP_MS_MAX)).min(t1);
                    p.both_ways(a, b, t, up);
                    t = up + rng.range(FLAP_MS_MIN, FLAP_MS_MAX);
                }
            }
            FaultKind::Spike if multi => {
                let (a, b) = pair(rng, regions);
                let extra_ms = rng.range(SPIKE_MS_MIN, SPIKE_MS_MAX);
                p.step(
                    t0,
                    Action::SpikeOn {
                        from: a,
                        to: b,
                        extra_ms,
                    },
                );
                p.step(
                    t1,
                    Action::SpikeOff {
                        from: a,
                        to: b,
                        extra_ms,
                    },
                );
            }
            FaultKind::Crash | FaultKind::PowerLoss => {
                let region = rng.index(regions);
                let down = rng.range(1, DOWN_MS_MAX).min(len);
                let power = kind == FaultKind::PowerLoss;
                p.step(t0, Action::Crash { region, power });
                p.step(t0 + down, Action::Restart { region });
            }
            FaultKind::Skew => {
                let region = rng.index(regions);
                let delta_ms = clock_offset(rng, 0);
                p.step(start_ms, Action::Clock { region, delta_ms });
            }
            FaultKind::Jump => {
                let region = rng.index(regions);
                let delta_ms = clock_offset(rng, JUMP_MS_MIN);
                p.step(t0, Action::Clock { region, delta_ms });
            }
            // A link fault in a world of one region: nothing to cut.
            _ => continue,
        }
        plan.episodes.push(kind);
    }
    plan
}

struct Planner<'a> {
    steps: &'a mut Vec<FaultStep>,
}

impl Planner<'_> {
    fn step(&mut self, at_ms: u64, action: Action) {
        self.steps.push(FaultStep { at_ms, action });
    }

    fn outage(&mut self, from: usize, to: usize, t0: u64, t1: u64) {
        self.step(t0, Action::Cut { from, to });
        self.step(t1, Action::Heal { from, to });
    }

    fn both_ways(&mut self, a: usize, b: usize, t0: u64, t1: u64) {
        self.outage(a, b, t0, t1);
        self.outage(b, a, t0, t1);
    }
}

/// Two different regions.
fn pair(rng: &mut SimRng, regions: usize) -> (usize, usize) {
    let a = rng.index(regions);
    let b = (a + 1 + rng.index(regions - 1)) % regions;
    (a, b)
}

/// A side for each region, both sides non-empty.
fn split(rng: &mut SimRng, regions: usize) -> Vec<bool> {
    let mut side: Vec<bool> = (0..regions).map(|_| rng.chance(0.5)).collect();
    let (a, b) = pair(rng, regions);
    side[a] = true;
    side[b] = false;
    side
}

/// A clock error of at least `min_ms`: half the time within the core's
/// bound, half beyond it, either sign.
fn clock_offset(rng: &mut SimRng, min_ms: u64) -> i64 {
    let magnitude = if rng.chance(0.5) {
        rng.range(min_ms, CLOCK_AHEAD_MS_MAX)
    } else {
        rng.range(CLOCK_AHEAD_MS_MAX + 1, CLOCK_FAULT_MS_MAX)
    };
    if rng.chance(0.5) {
        magnitude as i64
    } else {
        -(magnitude as i64)
    }
}

/// The clock offset a region keeps when no clock fault holds it: within
/// what NTP guarantees.
pub fn ntp_offset(rng: &mut SimRng) -> i64 {
    rng.range_i64(-(NTP_SKEW_MS_MAX as i64), NTP_SKEW_MS_MAX as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fault_ends_within_the_write_phase() {
        for seed in 0..300 {
            let mut rng = SimRng::new(seed);
            let p = plan(&mut rng, Faults::mixed(), 3, 1_000, 2_000, 15_000);
            let long = p.episodes.contains(&FaultKind::LongDown) as usize;
            assert!((1..=EPISODES_MAX as usize + long).contains(&p.episodes.len()));
            let mut cuts = std::collections::BTreeMap::new();
            let mut down = [0i64; 3];
            for s in &p.steps {
                assert!((1_000..=p.end_ms).contains(&s.at_ms), "seed {seed}: {s:?}");
                if long == 0 {
                    assert_eq!(p.end_ms, 3_000);
                }
                match s.action {
                    Action::Cut { from, to } => *cuts.entry((from, to)).or_insert(0) += 1,
                    Action::Heal { from, to } => *cuts.entry((from, to)).or_insert(0) -= 1,
                    Action::Crash { region, .. } | Action::LongDown { region } => down[region] += 1,
                    Action::Restart { region } | Action::LongUp { region } => down[region] -= 1,
                    _ => {}
                }
            }
            assert!(cuts.values().all(|&c| c == 0), "seed {seed}: {p:?}");
            assert_eq!(down, [0; 3], "seed {seed}");
        }
    }

    #[test]
    fn no_link_faults_in_a_single_region_world() {
        let p = plan(
            &mut SimRng::new(1),
            Faults::NONE.with(FaultKind::Isolate),
            1,
            0,
            2_000,
            15_000,
        );
        assert!(p.steps.is_empty() && p.episodes.is_empty());
    }

    #[test]
    fn a_long_down_outlasts_the_retention_and_ends_in_the_write_phase() {
        let mut seen = 0;
        for seed in 0..200 {
            let mut rng = SimRng::new(seed);
            let alone = Faults::NONE.with(FaultKind::LongDown);
            let p = plan(&mut rng, alone, 3, 1_000, 6_000, 15_000);
            assert_eq!(p.episodes, [FaultKind::LongDown], "seed {seed}");
            let (down, up) = (p.steps[0], p.steps[1]);
            let ms = up.at_ms - down.at_ms;
            assert!((22_500..=37_500).contains(&ms), "seed {seed}: {p:?}");
            assert!(up.at_ms <= p.end_ms && p.end_ms <= up.at_ms + 3_000);
            let mixed = plan(&mut rng, Faults::mixed(), 3, 1_000, 6_000, 15_000);
            seen += mixed.episodes.contains(&FaultKind::LongDown) as u32;
        }
        // In mixed, about one round in sixteen.
        assert!((4..=30).contains(&seen), "{seen}");
    }
}
