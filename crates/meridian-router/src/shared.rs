//! State every task of one router shares: the configuration, the decider
//! (under a lock held only to apply an event or read a choice), counters,
//! and a watch that ticks whenever a region's health or the primary
//! changes.

use crate::args::RouterConfig;
use crate::decide::{Decider, Event, Health, Note, Reason};
use crate::stats::{RegionStats, Totals};
use parking_lot::Mutex;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tokio::sync::{watch, Notify};

/// The last change of primary, for INFO.
#[derive(Clone, Debug)]
pub struct SwitchRecord {
    pub at: Instant,
    pub from: Option<usize>,
    pub to: Option<usize>,
    pub reason: Reason,
}

pub struct Shared {
    pub cfg: RouterConfig,
    pub decider: Mutex<Decider>,
    pub regions: Vec<RegionStats>,
    pub totals: Totals,
    /// Bumped on every health change or switch.
    pub changes: watch::Sender<u64>,
    /// Wakes a region's prober for an immediate probe.
    pub wake: Vec<Notify>,
    pub last_switch: Mutex<Option<SwitchRecord>>,
    epoch: Instant,
}

impl Shared {
    pub fn new(cfg: RouterConfig) -> Shared {
        let decider = Decider::new(
            cfg.regions
                .iter()
                .map(|r| (r.name.clone(), r.floor_ms))
                .collect(),
            cfg.tuning.clone(),
        );
        let n = cfg.regions.len();
        Shared {
            decider: Mutex::new(decider),
            regions: (0..n).map(|_| RegionStats::default()).collect(),
            totals: Totals::default(),
            changes: watch::channel(0).0,
            wake: (0..n).map(|_| Notify::new()).collect(),
            last_switch: Mutex::new(None),
            epoch: Instant::now(),
            cfg,
        }
    }

    /// Microseconds since the router started: the decider's clock.
    pub fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    pub fn name(&self, i: usize) -> &str {
        &self.cfg.regions[i].name
    }

    pub fn health(&self, i: usize) -> Health {
        self.decider.lock().region(i).health
    }

    /// Feeds one event to the decider and acts on what changed.
    pub fn apply(&self, region: usize, event: Event) {
        let now = self.now_us();
        let notes = self.decider.lock().on_event(now, region, event);
        self.publish(notes);
    }

    /// Re-evaluates time-based rules.
    pub fn tick(&self) {
        let now = self.now_us();
        let notes = self.decider.lock().tick(now);
        self.publish(notes);
    }

    fn publish(&self, notes: Vec<Note>) {
        if notes.is_empty() {
            return;
        }
        for note in &notes {
            match *note {
                Note::Health { region, from, to } => {
                    let why = self.decider.lock().region(region).last_error.clone();
                    if to == Health::Down {
                        tracing::warn!(
                            region = self.name(region),
                            from = from.label(),
                            why = why.as_deref().unwrap_or(""),
                            "region down"
                        );
                    } else {
                        tracing::info!(
                            region = self.name(region),
                            from = from.label(),
                            to = to.label(),
                            "region health"
                        );
                    }
                }
                Note::Switch { from, to, reason } => {
                    let name = |r: Option<usize>| r.map_or("none", |i| self.name(i));
                    tracing::warn!(
                        from = name(from),
                        to = name(to),
                        reason = reason.label(),
                        "primary region changed"
                    );
                    self.totals.switches.fetch_add(1, Ordering::Relaxed);
                    if reason == Reason::Failover {
                        self.totals.failovers.fetch_add(1, Ordering::Relaxed);
                        if let Some(f) = from {
                            self.regions[f].failovers.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    *self.last_switch.lock() = Some(SwitchRecord {
                        at: Instant::now(),
                        from,
                        to,
                        reason,
                    });
                }
            }
        }
        self.changes.send_modify(|g| *g += 1);
    }
}
