//! Shrinking a failing run to a small history that fails the same way.
//!
//! The seed stays; the config shrinks, one knob at a time, keeping every
//! change after which the run still breaks the same rule: fewer writes (the
//! workload stops after the first N, which leaves those N and everything
//! before them exactly as they were), one round, fewer fault kinds, single
//! writes instead of pipelines, fewer keys, fewer regions. The result is
//! the command that replays the small failure.

use crate::config::SimConfig;
use crate::error::SimFailure;
use crate::world::World;

/// Most runs one shrink may spend: each is a whole (failing) world, a few
/// ms in a release build.
pub const SHRINK_RUNS_MAX: u32 = 300;

/// A smaller failing config.
pub struct Shrunk {
    pub cfg: SimConfig,
    pub failure: SimFailure,
    /// Writes the shrunk run made before it failed.
    pub writes: u64,
    pub runs: u32,
}

struct Shrinker {
    seed: u64,
    rule: &'static str,
    runs: u32,
    best: Shrunk,
}

/// Shrinks the failing run of `seed` under `cfg`. Returns `None` if the run
/// does not fail.
pub fn shrink(seed: u64, cfg: &SimConfig) -> Option<Shrunk> {
    let (failure, writes) = attempt(seed, cfg)?;
    let mut s = Shrinker {
        seed,
        rule: failure.violation.rule(),
        runs: 1,
        best: Shrunk {
            cfg: cfg.clone(),
            failure,
            writes,
            runs: 1,
        },
    };
    s.fewer_writes();
    s.try_cfg(|c| c.rounds = 1);
    for k in s.best.cfg.faults.kinds().collect::<Vec<_>>() {
        s.try_cfg(|c| c.faults = c.faults.without(k));
    }
    s.try_cfg(|c| c.pipeline_max = 1);
    while s.best.cfg.keys > 1 && s.try_cfg(|c| c.keys /= 2) {}
    let mut i = 0;
    while i < s.best.cfg.regions.len() && s.best.cfg.regions.len() > 2 {
        if !s.try_cfg(|c| {
            c.regions.remove(i);
        }) {
            i += 1;
        }
    }
    s.fewer_writes();
    s.best.runs = s.runs;
    Some(s.best)
}

/// Runs `seed` under `cfg` to its failure: the failure and the writes made.
fn attempt(seed: u64, cfg: &SimConfig) -> Option<(SimFailure, u64)> {
    let mut world = match World::new(seed, cfg) {
        Ok(w) => w,
        Err(f) => return Some((f, 0)),
    };
    match world.run() {
        Ok(()) => None,
        Err(f) => Some((f, world.stats.writes)),
    }
}

impl Shrinker {
    /// Tries a change; keeps it if the run still fails the same way.
    fn try_cfg(&mut self, change: impl FnOnce(&mut SimConfig)) -> bool {
        if self.runs >= SHRINK_RUNS_MAX {
            return false;
        }
        let mut cfg = self.best.cfg.clone();
        change(&mut cfg);
        if cfg == self.best.cfg || cfg.validate().is_err() {
            return false;
        }
        self.runs += 1;
        match attempt(self.seed, &cfg) {
            Some((failure, writes)) if failure.violation.rule() == self.rule => {
                self.best = Shrunk {
                    cfg,
                    failure,
                    writes,
                    runs: self.runs,
                };
                true
            }
            _ => false,
        }
    }

    /// Binary search for the smallest write limit that still fails.
    fn fewer_writes(&mut self) {
        let (mut lo, mut hi) = (0, self.best.writes.max(1));
        while lo + 1 < hi && self.runs < SHRINK_RUNS_MAX {
            let mid = lo + (hi - lo) / 2;
            if self.try_cfg(|c| c.writes_limit = Some(mid)) {
                hi = mid.min(self.best.writes.max(1));
            } else {
                lo = mid;
            }
        }
        self.try_cfg(|c| c.writes_limit = Some(hi));
    }
}
