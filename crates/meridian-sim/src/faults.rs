//! The fault plan of a run: which links are cut when.
//!
//! A run has a few fault *episodes*, drawn from the seed before it starts.
//! Each is one of:
//!
//! - **isolation**: every link to and from one region is cut (the region
//!   keeps taking local writes, as an active-active region must);
//! - **one-way cut**: the link `a -> b` is cut, so `a`'s ops stop reaching
//!   `b` while `b`'s still reach `a`;
//! - **flapping**: the link `a -> b` is cut and healed repeatedly.
//!
//! Episodes may overlap; a link is down while any episode holds it cut.
//! Every episode ends by the end of the write phase, so the world is whole
//! again when the run waits for quiescence.

use crate::rng::SimRng;

/// Most fault episodes in one run: enough to combine isolation, one-way cuts
/// and flapping in one seed; more would keep the world cut nearly all the
/// time and make every run a catch-up test.
pub const FAULT_EPISODES_MAX: u64 = 4;

/// Shortest fault, in ms: shorter than any one-way delay, so a fault may
/// catch only a message or two in flight, which is a case worth having.
pub const FAULT_MS_MIN: u64 = 5;

/// Shortest and longest up or down phase of a flapping link, in ms: from
/// faster than a round trip (connections die during their handshake) to a
/// few round trips.
pub const FLAP_MS_MIN: u64 = 5;
pub const FLAP_MS_MAX: u64 = 150;

/// One change of one directed link, `at_ms` after the start of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultStep {
    pub at_ms: u64,
    pub from: usize,
    pub to: usize,
    pub cut: bool,
}

/// The fault plan for `regions` regions over `duration_ms`: the number of
/// episodes and the steps, each episode's cut scheduled before its heal.
pub fn plan(rng: &mut SimRng, regions: usize, duration_ms: u64) -> (u64, Vec<FaultStep>) {
    let mut steps = Vec::new();
    if regions < 2 || duration_ms < FAULT_MS_MIN {
        return (0, steps);
    }
    let episodes = rng.range(1, FAULT_EPISODES_MAX);
    for _ in 0..episodes {
        let start = rng.below(duration_ms - FAULT_MS_MIN + 1);
        let len = rng.range(FAULT_MS_MIN, (duration_ms / 2).max(FAULT_MS_MIN));
        let end = (start + len).min(duration_ms);
        let a = rng.index(regions);
        let b = (a + 1 + rng.index(regions - 1)) % regions;
        match rng.below(3) {
            0 => {
                for p in (0..regions).filter(|&p| p != a) {
                    push_outage(&mut steps, a, p, start, end);
                    push_outage(&mut steps, p, a, start, end);
                }
            }
            1 => push_outage(&mut steps, a, b, start, end),
            _ => {
                let mut t = start;
                while t < end {
                    let up = (t + rng.range(FLAP_MS_MIN, FLAP_MS_MAX)).min(end);
                    push_outage(&mut steps, a, b, t, up);
                    t = up + rng.range(FLAP_MS_MIN, FLAP_MS_MAX);
                }
            }
        }
    }
    (episodes, steps)
}

fn push_outage(steps: &mut Vec<FaultStep>, from: usize, to: usize, start: u64, end: u64) {
    steps.push(FaultStep {
        at_ms: start,
        from,
        to,
        cut: true,
    });
    steps.push(FaultStep {
        at_ms: end,
        from,
        to,
        cut: false,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cut_is_healed_within_the_run() {
        for seed in 0..200 {
            let mut rng = SimRng::new(seed);
            let (episodes, steps) = plan(&mut rng, 3, 2_000);
            assert!((1..=FAULT_EPISODES_MAX).contains(&episodes));
            let mut cuts = std::collections::BTreeMap::new();
            for s in &steps {
                assert!(s.at_ms <= 2_000 && s.from != s.to && s.from < 3 && s.to < 3);
                let c: &mut i64 = cuts.entry((s.from, s.to)).or_default();
                *c += if s.cut { 1 } else { -1 };
            }
            assert!(cuts.values().all(|&c| c == 0), "seed {seed}: {steps:?}");
        }
    }

    #[test]
    fn no_faults_in_a_single_region_world() {
        assert_eq!(plan(&mut SimRng::new(1), 1, 2_000), (0, vec![]));
    }
}
