//! The checks a quiescent world must pass, and the report of a passing run.

use crate::error::{SimFailure, Violation};
use crate::world::{World, START_MS};
use bytes::Bytes;
use meridian_core::causal::deliverable;
use meridian_core::{Hlc, Node, OpBody, RegionId, VersionVector};
use std::collections::BTreeMap;
use std::fmt;

/// What a passing run did. Two runs of one seed and config give equal
/// reports, digest included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimReport {
    pub seed: u64,
    pub regions: usize,
    /// Client writes made, over all regions.
    pub writes: u64,
    /// Op records handed to a receiving node (copies included).
    pub deliveries: u64,
    /// Records a node had already applied (network duplicates and resends).
    pub duplicates_delivered: u64,
    /// Messages put on the wire (handshakes, batches, acks).
    pub messages_sent: u64,
    /// Messages the network delivered twice.
    pub messages_duplicated: u64,
    /// Messages lost to cut links (sent while cut, or in flight at a cut).
    pub messages_dropped: u64,
    /// Fault episodes (isolations, one-way cuts, flapping links).
    pub partitions: u64,
    /// Times a link went down.
    pub link_cuts: u64,
    /// Writes that met a concurrent value, summed over regions.
    pub conflicts: u64,
    /// Most ops one region held waiting for their causes at once.
    pub pending_max: usize,
    pub events: u64,
    /// Simulated time from start to quiescence, in ms.
    pub simulated_ms: u64,
    /// The keyspace digest every region ended with.
    pub digest: String,
}

impl fmt::Display for SimReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {} ok: {} regions, {} writes, {} deliveries ({} duplicate), {} messages \
             dropped, {} partitions ({} link cuts), {} conflicts, pending max {}, {} ms, digest {}",
            self.seed,
            self.regions,
            self.writes,
            self.deliveries,
            self.duplicates_delivered,
            self.messages_dropped,
            self.partitions,
            self.link_cuts,
            self.conflicts,
            self.pending_max,
            self.simulated_ms,
            self.digest
        )
    }
}

impl World {
    /// Checks a quiescent world (after [`World::run`]): every region holds
    /// every write and nothing pending, all states are identical, counter
    /// and register keys match the reference model, and every region's log
    /// replays to its state.
    pub fn check(&self) -> Result<SimReport, SimFailure> {
        if !self.is_quiescent() {
            return Err(self.failure(Violation::NotQuiescent("check before run".into())));
        }
        self.check_delivery().map_err(|v| self.failure(v))?;
        self.check_convergence().map_err(|v| self.failure(v))?;
        self.check_reference().map_err(|v| self.failure(v))?;
        self.check_replay().map_err(|v| self.failure(v))?;
        Ok(self.report())
    }

    fn name(&self, r: usize) -> String {
        self.regions.names()[r].clone()
    }

    /// Every write reached every region, and nothing waits.
    fn check_delivery(&self) -> Result<(), Violation> {
        let mut expected = VersionVector::new(self.nodes.len());
        for op in &self.made {
            let seq = expected.get(op.dot.region) + 1;
            assert_eq!(seq, op.dot.seq, "a region skipped a sequence number");
            expected.set(op.dot.region, seq);
        }
        for (r, node) in self.nodes.iter().enumerate() {
            if node.pending() > 0 {
                return Err(Violation::Pending {
                    region: self.name(r),
                    ops: node.pending(),
                    vv: format!("{:?}", node.vv()),
                });
            }
            if *node.vv() != expected {
                return Err(Violation::VersionVector {
                    region: self.name(r),
                    vv: format!("{:?}", node.vv()),
                    expected: format!("{expected:?}"),
                });
            }
        }
        Ok(())
    }

    /// All regions read the same values and have the same digest.
    fn check_convergence(&self) -> Result<(), Violation> {
        let digests: Vec<String> = self.nodes.iter().map(Node::digest).collect();
        if digests.iter().all(|d| *d == digests[0]) {
            return Ok(());
        }
        for key in self.all_keys() {
            let values: Vec<Option<Bytes>> = self
                .nodes
                .iter()
                .map(|n| n.get(&key, self.now_ms))
                .collect();
            if values.iter().any(|v| *v != values[0]) {
                return Err(Violation::Diverged {
                    key: show_key(&key),
                    values: self.show_values(&values),
                });
            }
        }
        let digests = (0..self.nodes.len())
            .map(|r| format!("{}={}", self.name(r), digests[r]))
            .collect::<Vec<_>>()
            .join(", ");
        Err(Violation::Digest { digests })
    }

    /// Every key any region holds, sorted.
    fn all_keys(&self) -> Vec<Bytes> {
        let mut keys: Vec<Bytes> = self
            .nodes
            .iter()
            .flat_map(|n| n.keys().iter().map(|(k, _)| k.clone()))
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Counter keys read the sum of all increments; register keys read the
    /// SET with the greatest (HLC, region). Judged on every key whose history
    /// is of one kind, whatever its class.
    fn check_reference(&self) -> Result<(), Violation> {
        let mut history: BTreeMap<Bytes, KeyHistory> = BTreeMap::new();
        for op in &self.made {
            history.entry(op.key.clone()).or_default().add(op);
        }
        for (key, h) in &history {
            let (rule, expected) = match h {
                KeyHistory {
                    sets: 0,
                    other: 0,
                    incrs,
                    ..
                } if *incrs > 0 => ("only INCRBY: the sum of all increments", h.sum.to_string()),
                KeyHistory {
                    incrs: 0,
                    other: 0,
                    best: Some(best),
                    ..
                } => (
                    "only SET: the SET with the greatest (HLC, region)",
                    String::from_utf8_lossy(&best.2).into_owned(),
                ),
                _ => continue,
            };
            let values: Vec<Option<Bytes>> =
                self.nodes.iter().map(|n| n.get(key, self.now_ms)).collect();
            if values
                .iter()
                .any(|v| v.as_deref() != Some(expected.as_bytes()))
            {
                return Err(Violation::Reference {
                    key: show_key(key),
                    rule,
                    expected: format!("{expected:?}"),
                    values: self.show_values(&values),
                });
            }
        }
        Ok(())
    }

    /// Each region's log, replayed into a fresh node (as at a restart), is
    /// in causal order and rebuilds exactly the region's state.
    fn check_replay(&self) -> Result<(), Violation> {
        for (r, log) in self.logs.iter().enumerate() {
            let mut fresh = Node::new(self.regions.clone(), RegionId(r as u16));
            for (i, op) in log.iter().enumerate() {
                if !deliverable(op, fresh.vv()) {
                    return Err(Violation::Replay {
                        region: self.name(r),
                        detail: format!("record {i} ({:?}) is out of causal order", op.dot),
                    });
                }
                fresh.replay(op);
            }
            if fresh.vv() != self.nodes[r].vv() || fresh.digest() != self.nodes[r].digest() {
                return Err(Violation::Replay {
                    region: self.name(r),
                    detail: format!(
                        "rebuilt vv {:?} digest {}, live vv {:?} digest {}",
                        fresh.vv(),
                        fresh.digest(),
                        self.nodes[r].vv(),
                        self.nodes[r].digest()
                    ),
                });
            }
        }
        Ok(())
    }

    fn show_values(&self, values: &[Option<Bytes>]) -> String {
        values
            .iter()
            .enumerate()
            .map(|(r, v)| match v {
                Some(v) => format!("{}={:?}", self.name(r), String::from_utf8_lossy(v)),
                None => format!("{}=(nil)", self.name(r)),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn report(&self) -> SimReport {
        SimReport {
            seed: self.seed,
            regions: self.nodes.len(),
            writes: self.stats.writes,
            deliveries: self.stats.deliveries,
            duplicates_delivered: self.stats.duplicates_delivered,
            messages_sent: self.stats.messages_sent,
            messages_duplicated: self.stats.messages_duplicated,
            messages_dropped: self.stats.messages_dropped,
            partitions: self.episodes,
            link_cuts: self.stats.link_cuts,
            conflicts: self.nodes.iter().map(|n| n.stats().conflicts).sum(),
            pending_max: self.stats.pending_max,
            events: self.stats.events,
            simulated_ms: self.now_ms - START_MS,
            digest: self.nodes[0].digest(),
        }
    }
}

/// The writes made to one key, summarised for the reference checks.
#[derive(Default)]
struct KeyHistory {
    incrs: u64,
    sets: u64,
    /// DEL and INCRBYFLOAT.
    other: u64,
    sum: i64,
    /// The SET with the greatest (HLC, region): (hlc, region, value).
    best: Option<(Hlc, RegionId, Bytes)>,
}

impl KeyHistory {
    fn add(&mut self, op: &meridian_core::Op) {
        match &op.body {
            OpBody::IncrInt { by } => {
                self.incrs += 1;
                self.sum = self.sum.wrapping_add(*by);
            }
            OpBody::Set { value, .. } => {
                self.sets += 1;
                let cand = (op.hlc, op.dot.region, value.clone());
                if self
                    .best
                    .as_ref()
                    .is_none_or(|b| (b.0, b.1) < (cand.0, cand.1))
                {
                    self.best = Some(cand);
                }
            }
            OpBody::Del { .. } | OpBody::IncrFloat { .. } => self.other += 1,
        }
    }
}

fn show_key(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}
