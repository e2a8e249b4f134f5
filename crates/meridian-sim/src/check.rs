//! The checkers: causality as ops are applied, and at every quiescent point
//! delivery, convergence, the reference model, durability and memory; at
//! the end, that every log replays to its region's state.

use crate::config::Broken;
use crate::error::{SimFailure, Violation};
use crate::reference::{expected, Mismatch, Read};
use crate::region::Made;
use crate::stats::Stats;
use crate::workload::class_of;
use crate::world::{World, START_MS};
use bytes::Bytes;
use meridian_core::Op;
use std::collections::BTreeMap;
use std::fmt;

/// What a passing run did. Two runs of one seed and config give equal
/// reports, history hash and digest included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimReport {
    pub seed: u64,
    pub regions: usize,
    pub rounds: u32,
    pub stats: Stats,
    /// Writes that met a concurrent value, summed over regions.
    pub conflicts: u64,
    /// Simulated time from start to the last quiescent point, in ms.
    pub simulated_ms: u64,
    /// The hash of the whole history (see [`crate::history`]).
    pub history: u64,
    /// The keyspace digest every region ended with.
    pub digest: String,
}

impl SimReport {
    /// Simulated region-hours: regions times simulated time.
    pub fn region_hours(&self) -> f64 {
        self.regions as f64 * self.simulated_ms as f64 / 3_600_000.0
    }
}

impl fmt::Display for SimReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        write!(
            f,
            "seed {} ok: {} regions, {} rounds, {} simulated ms, {} events\n  \
             writes {} ({} acknowledged, {} lost unacknowledged in crashes), {} conflicts\n  \
             deliveries {} ({} duplicate), {} ops relayed, {} messages ({} dropped)\n  \
             connects {}, silence closes {}, handshake timeouts {}, clock holds {}\n  \
             pending max {}, {}\n  \
             snapshots {}, log records truncated {}, longest log {} records\n  \
             state transfers: {} offered, {} sent ({} bytes), {} installed ({} ops brought, \
             {} own re-applied), {} refused\n  \
             faults: {}\n  history {:016x}, digest {}",
            self.seed,
            self.regions,
            self.rounds,
            self.simulated_ms,
            s.events,
            s.writes,
            s.writes_acked,
            s.writes_lost_unacked,
            self.conflicts,
            s.deliveries,
            s.duplicates_delivered,
            s.ops_relayed,
            s.messages_sent,
            s.messages_dropped,
            s.connects,
            s.silence_closes,
            s.handshake_timeouts,
            s.clock_holds,
            s.pending_max,
            settled(s),
            s.snapshots_written,
            s.records_truncated,
            s.log_records_max,
            s.snapshot_offers,
            s.snapshots_sent,
            s.snapshot_bytes_sent,
            s.snapshot_installs,
            s.ops_brought,
            s.ops_reapplied,
            s.snapshot_refusals,
            s.faults,
            self.history,
            self.digest
        )
    }
}

impl World {
    /// The report of a finished run.
    pub fn report(&self) -> Result<SimReport, SimFailure> {
        if !self.is_done() {
            return Err(self.failure(Violation::Livelock("report before the end".into())));
        }
        Ok(SimReport {
            seed: self.seed,
            regions: self.n(),
            rounds: self.cfg.rounds,
            stats: self.stats.clone(),
            conflicts: self.rs.iter().map(|r| r.node.stats().conflicts).sum(),
            simulated_ms: self.now_ms - START_MS,
            history: self.history.hash(),
            digest: self.rs[0].node.digest(),
        })
    }

    /// Causality, as region `to` applies `op` from another region: it is
    /// the next op of its origin, an op some client really made, and every
    /// write in its true causal past is already in `to`'s log.
    pub(crate) fn check_causal(&self, to: usize, op: &Op) -> Result<(), Violation> {
        let origin = op.dot.region.index();
        let seen = &self.rs[to].seen;
        let name = |r: usize| self.name(r).to_string();
        if op.dot.seq != seen[origin] + 1 {
            return Err(Violation::Causality(format!(
                "{} applied {}:{} after {}:{}",
                name(to),
                name(origin),
                op.dot.seq,
                name(origin),
                seen[origin]
            )));
        }
        let made = self.made[origin]
            .get(op.dot.seq as usize - 1)
            .filter(|m| m.op == *op)
            .or_else(|| self.ghosts.get(&op.dot).filter(|m| m.op == *op));
        let Some(made) = made else {
            return Err(Violation::Causality(format!(
                "{} applied {}:{}, which is not the op its client made",
                name(to),
                name(origin),
                op.dot.seq
            )));
        };
        for (i, &need) in made.past.iter().enumerate() {
            if i != origin && need > seen[i] {
                return Err(Violation::Causality(format!(
                    "{} applied {}:{} before its cause {}:{} (its log holds {}:{})",
                    name(to),
                    name(origin),
                    op.dot.seq,
                    name(i),
                    need,
                    name(i),
                    seen[i]
                )));
            }
        }
        Ok(())
    }

    /// Every checker of a quiescent point.
    pub(crate) fn check_quiescent(&self) -> Result<(), Violation> {
        self.check_delivery()?;
        self.check_convergence()?;
        self.check_durability()?;
        self.check_reference()?;
        self.check_memory()
    }

    /// Every surviving write reached every region, and nothing waits.
    fn check_delivery(&self) -> Result<(), Violation> {
        let expected: Vec<u64> = self.made.iter().map(|m| m.len() as u64).collect();
        for (r, region) in self.rs.iter().enumerate() {
            let node = &region.node;
            if node.pending() > 0 {
                return Err(Violation::Pending {
                    region: self.name(r).to_string(),
                    ops: node.pending(),
                    vv: format!("{:?}", node.vv()),
                });
            }
            if node.vv().as_slice() != expected.as_slice() {
                return Err(Violation::VersionVector {
                    region: self.name(r).to_string(),
                    vv: format!("{:?}", node.vv()),
                    expected: format!("{expected:?}"),
                });
            }
        }
        Ok(())
    }

    /// What a client of region `r` reads of `key` now, through the broken
    /// read wrappers when one is on.
    pub(crate) fn read(&self, r: usize, key: &[u8]) -> Read {
        let node = &self.rs[r].node;
        let mut read = crate::read::read(node, key, self.now_ms);
        if self.broken(Broken::CounterMax) {
            if let Some(state) = node.keys().get(key) {
                if let (None, Some(c)) = (state.winner(), state.counter()) {
                    let most = c
                        .contrib
                        .iter()
                        .zip(&c.removed)
                        .map(|(a, b)| a.int.wrapping_sub(b.int))
                        .max()
                        .unwrap_or(0);
                    read.string = Some(Bytes::from(most.to_string()));
                }
            }
        }
        if self.broken(Broken::ListByInsertion) {
            if let Some(v) = node.view(key, self.now_ms) {
                if let Some(l) = v.list() {
                    let mut elems: Vec<_> = l.visible_at(v.cutoff).collect();
                    elems.sort_by_key(|e| e.id);
                    read.list = elems.into_iter().map(|e| e.value.clone()).collect();
                }
            }
        }
        read
    }

    /// All regions read the same of every key and have the same digest.
    fn check_convergence(&self) -> Result<(), Violation> {
        for key in self.all_keys() {
            let values: Vec<Read> = (0..self.n()).map(|r| self.read(r, &key)).collect();
            if values.iter().any(|v| *v != values[0]) {
                return Err(Violation::Diverged {
                    key: show_key(&key),
                    values: self.show_values(&values),
                });
            }
        }
        let digests: Vec<String> = self.rs.iter().map(|r| r.node.digest()).collect();
        if digests.iter().all(|d| *d == digests[0]) {
            return Ok(());
        }
        let mut digests = (0..self.n())
            .map(|r| format!("{}={}", self.name(r), digests[r]))
            .collect::<Vec<_>>()
            .join(", ");
        // Name the first key whose replicated state differs.
        let state = |r: usize, key: &[u8]| {
            let mut out = Vec::new();
            if let Some(s) = self.rs[r].node.keys().get(key) {
                s.canonical(&mut out);
            }
            out
        };
        for key in self.all_keys() {
            let states: Vec<Vec<u8>> = (0..self.n()).map(|r| state(r, &key)).collect();
            if states.iter().any(|s| *s != states[0]) {
                let held: Vec<String> = (0..self.n())
                    .map(|r| {
                        let s = self.rs[r].node.keys().get(&key[..]);
                        format!("{}={:?}", self.name(r), s)
                    })
                    .collect();
                digests.push_str(&format!(
                    "; first differing state: key {} ({})",
                    show_key(&key),
                    held.join("; ")
                ));
                break;
            }
        }
        Err(Violation::Digest { digests })
    }

    /// Every key any region holds, sorted.
    fn all_keys(&self) -> Vec<Bytes> {
        let mut keys: Vec<Bytes> = self
            .rs
            .iter()
            .flat_map(|r| r.node.keys().iter().map(|(k, _)| k.clone()))
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Every acknowledged write is in every region's log, as its client
    /// made it (no write lost, none replaced by another with its dot).
    fn check_durability(&self) -> Result<(), Violation> {
        for (r, region) in self.rs.iter().enumerate() {
            // Per origin, by sequence number: every log holds each origin's
            // ops in order, so this is a direct index.
            let mut held: Vec<Vec<Option<&Op>>> =
                self.made.iter().map(|m| vec![None; m.len()]).collect();
            // What its newest durable snapshot holds (dropped records are
            // in it, and ops an install brought).
            let in_snapshot = |d: meridian_core::Dot| {
                region
                    .disk
                    .snapshot
                    .as_ref()
                    .is_some_and(|s| d.seq <= s.seen[d.region.index()])
            };
            for op in region.disk.records() {
                let by_seq = &mut held[op.dot.region.index()];
                let i = op.dot.seq as usize - 1;
                if i >= by_seq.len() {
                    by_seq.resize(i + 1, None);
                }
                by_seq[i] = Some(op);
            }
            for m in self.made.iter().flatten() {
                let at = held[m.op.dot.region.index()].get(m.op.dot.seq as usize - 1);
                match at.copied().flatten() {
                    Some(op) if *op == m.op => {}
                    Some(_) => {
                        return Err(Violation::Durability(format!(
                            "{} holds another op than its client made at {}:{}",
                            self.name(r),
                            self.name(m.op.dot.region.index()),
                            m.op.dot.seq
                        )))
                    }
                    None if in_snapshot(m.op.dot) => {}
                    None if m.acked_ms.is_some() => {
                        return Err(Violation::Durability(format!(
                            "{}'s log and snapshot lack {}:{}, acknowledged at {} ms",
                            self.name(r),
                            self.name(m.op.dot.region.index()),
                            m.op.dot.seq,
                            m.acked_ms.unwrap_or(0) - START_MS
                        )))
                    }
                    None => {}
                }
            }
        }
        Ok(())
    }

    /// Every key reads what the reference model says; the rule reported is
    /// the one of the key's class, or of expiry or type clashes.
    fn check_reference(&self) -> Result<(), Violation> {
        let mut history: BTreeMap<&Bytes, Vec<&Made>> = BTreeMap::new();
        for m in self.made.iter().flatten() {
            history.entry(&m.op.key).or_default().push(m);
        }
        for (key, writes) in &history {
            let want = expected(writes, self.now_ms);
            let values: Vec<Read> = (0..self.n()).map(|r| self.read(r, key)).collect();
            let Some(miss) = values.iter().find_map(|v| want.check(v).err()) else {
                continue;
            };
            let rule = match miss {
                Mismatch::Kind => "type clash: the type whose newest visible write is greatest",
                Mismatch::Deadline => {
                    "expiry: the longest surviving TTL wins, PERSIST beats any TTL"
                }
                Mismatch::Content => class_of(key).map_or("the reference model", |c| c.rule()),
            };
            return Err(Violation::Reference {
                key: show_key(key),
                rule,
                expected: want.to_string(),
                values: self.show_values(&values),
            });
        }
        Ok(())
    }

    /// Memory is back to its bound: no op held for its causes, nothing
    /// unacknowledged on any link, no acceptor with queued batches, and no
    /// log holding a record older than [`World::log_age_max_ms`] (counted
    /// from when its region last started).
    fn check_memory(&self) -> Result<(), Violation> {
        let age_max = self.log_age_max_ms();
        for (r, region) in self.rs.iter().enumerate() {
            if region.node.pending() > 0 {
                return Err(Violation::Memory(format!(
                    "{} holds {} ops for their causes",
                    self.name(r),
                    region.node.pending()
                )));
            }
            let disk = &region.disk;
            if let Some(at) = disk.oldest_appended_ms() {
                let age = self.now_ms - at.max(region.started_ms);
                if age > age_max {
                    return Err(Violation::Memory(format!(
                        "{}'s log holds {} records, the oldest (record {}) {age} ms old, \
                         beyond the {age_max} ms a log keeps them (snapshot through {:?}, \
                         what peers acknowledged: {})",
                        self.name(r),
                        disk.len(),
                        disk.first_lsn(),
                        disk.snapshot.as_ref().map(|s| s.lsn),
                        self.acked_by_peers(r)
                    )));
                }
            }
        }
        for id in self.link_ids() {
            let l = self.link_ref(id);
            let queued = l
                .inbox
                .as_ref()
                .map_or(0, |i| i.queue.len() + i.current.len());
            if l.out.in_flight() > 0 || queued > 0 || !l.stale.is_empty() {
                return Err(Violation::Memory(format!(
                    "link {}->{}: {} batches in flight, {} ops queued, {} old connections",
                    self.name(l.from),
                    self.name(l.to),
                    l.out.in_flight(),
                    queued,
                    l.stale.len()
                )));
            }
        }
        Ok(())
    }

    /// The oldest a record may be in a log at a quiescent point, in ms:
    /// the first snapshot covering it is written within
    /// `SNAPSHOT_INTERVAL_MS` (at a maintenance pass), and the pass after
    /// every peer acknowledged it or was left behind drops it. A silent
    /// peer is left behind after the retention. A peer that is heard from
    /// acknowledges within a round trip, unless a fault holds it up: a cut
    /// or a crash for less than the retention (see
    /// `SimConfig::retention_ms`), or a clock off by more than the HLC
    /// bound. A region whose clock is behind holds everyone's newer ops
    /// (and acknowledges none of them) until its clock is that much less
    /// behind; one whose clock is ahead makes ops everyone holds as long,
    /// and after the heal until their clocks catch up with its HLC, which
    /// is when the round's settling starts counting (as the liveness bound
    /// does). The longer of those holds is added.
    pub(crate) fn log_age_max_ms(&self) -> u64 {
        use crate::snap::{MAINTAIN_INTERVAL_MS, SNAPSHOT_INTERVAL_MS};
        let clock_hold = self
            .clock_error_max_ms
            .saturating_sub(meridian_core::hlc::CLOCK_AHEAD_MS_MAX);
        self.retention_ms
            + SNAPSHOT_INTERVAL_MS
            + 2 * MAINTAIN_INTERVAL_MS
            + self.settle_wait_ms.max(clock_hold)
    }

    /// What region `r`'s links last heard each peer acknowledge, for
    /// failures.
    fn acked_by_peers(&self, r: usize) -> String {
        (0..self.n())
            .filter(|&p| p != r)
            .map(|p| {
                let vv = self.link_ref(self.link_id(r, p)).out.peer_vv();
                format!("{}={vv:?}", self.name(p))
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Each region's newest snapshot and the log after it, rebuilt as at a
    /// restart, are in causal order and rebuild exactly the region's state.
    pub(crate) fn check_replay(&self) -> Result<(), Violation> {
        for (r, region) in self.rs.iter().enumerate() {
            let (fresh, _) = self.rebuild(r)?;
            let live = &region.node;
            if fresh.vv() != live.vv() || fresh.digest() != live.digest() {
                return Err(Violation::Replay {
                    region: self.name(r).to_string(),
                    detail: format!(
                        "rebuilt vv {:?} digest {}, live vv {:?} digest {}",
                        fresh.vv(),
                        fresh.digest(),
                        live.vv(),
                        live.digest()
                    ),
                });
            }
        }
        Ok(())
    }

    fn show_values(&self, values: &[Read]) -> String {
        values
            .iter()
            .enumerate()
            .map(|(r, v)| format!("{}={v}", self.name(r)))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// How fast the rounds settled, plain and after a long-down.
fn settled(s: &Stats) -> String {
    let mut parts = Vec::new();
    if s.liveness_bound_ms > 0 {
        parts.push(format!(
            "settled within {} ms of healing (bound {} ms)",
            s.settle_ms_max, s.liveness_bound_ms
        ));
    }
    if s.long_bound_ms > 0 {
        parts.push(format!(
            "after a long-down within {} ms (bound {} ms)",
            s.long_settle_ms_max, s.long_bound_ms
        ));
    }
    parts.join(", ")
}

fn show_key(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}
