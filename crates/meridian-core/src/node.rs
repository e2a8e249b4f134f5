//! One region's replica: the keyspace, its clock and version vector, and the
//! rules for turning local writes into ops and applying remote ones.
//!
//! The node performs no I/O. The server shell calls [`Node::write`] for a
//! client's write and logs and ships the op it returns; it calls
//! [`Node::receive`] for each op a peer sends and logs the ops that were
//! applied. The simulator drives the same calls from one thread.
//!
//! # Causal stability
//!
//! Tombstones (keys reduced to an expiry floor, removed list elements) are
//! kept while an op still to come may need them, and dropped once the op
//! that made them is *stable* here: every op this region has not applied
//! yet, including ops not made yet in any region, has it in its causal past
//! (its `deps` cover it). The test, for a dot `d`:
//!
//! - this region has applied `d` (its own later ops have it in their deps);
//! - for every other region `j`: `seen_by[j]` covers `d`, and this region
//!   has applied every op of `j` up to `seen_by[j][j]`.
//!
//! `seen_by[j]` is the entry-wise maximum of vectors each of which is `j`'s
//! version vector at some moment: the deps of an op of `j` plus its own dot
//! (what `j` had applied when it made the op), and what `j` reports having
//! applied ([`Node::peer_seen`]: its acknowledgements). A maximum covers `d`
//! only if one of those vectors `v` does; `j` had applied `d` by then, and
//! its own ops then numbered `v[j] <= seen_by[j][j]`. So every op of `j`
//! numbered above `seen_by[j][j]` was made after `j` applied `d` and has it
//! in its deps, and this region has applied every op of `j` up to that
//! number. Knowing that `j` has applied `d` is not enough alone: `j` may
//! have made an op before it applied `d`, concurrent with `d` (an insert
//! after the element `d` removes, a write the floor `d` set must drop),
//! that has not reached this region yet; dropping the tombstone before it
//! arrives would make it apply differently here than everywhere else.
//!
//! A report from `j` numbering more ops of `j` than this region has applied
//! is held (a few per region, [`PEER_REPORTS_HELD_MAX`]) until they are
//! applied, so that `seen_by[j][j]` never runs ahead of them: merged at
//! once, it would make every report of `j` useless until this region caught
//! up with the newest one, which under steady writes at `j` is never.

use crate::causal::{deliverable, CausalBuffer};
use crate::conflict::ConflictLog;
use crate::glob::glob_match;
use crate::hlc::{ClockAhead, Hlc, HlcClock};
use crate::key::{KeyState, Recorder, View};
use crate::keyspace::Keyspace;
use crate::list::ElemId;
use crate::op::{FieldAction, FieldOp, Kind, ListOp, Op, OpBody};
use crate::region::{RegionId, Regions};
use crate::snapshot::{Snapshot, SnapshotError, SnapshotRef};
use crate::string::SIBLINGS_MAX;
use crate::vv::{Dot, VersionVector};
use bytes::Bytes;

/// How long after a deadline a region that does not own it (see
/// [`crate::expiry::Expiry::owner`]) sweeps the key itself, in
/// milliseconds. The owner normally does it at the deadline and the others
/// receive its expiry op; the grace keeps a dead owner from leaving expired
/// keys in memory for ever, while a live one saves the duplicate ops.
pub const EXPIRE_SWEEP_GRACE_MS: u64 = 10_000;

/// Reports of what a peer has applied ([`Node::peer_seen`]) held per peer
/// until this region has applied the peer's own ops they count (see the
/// module doc). Acknowledgements come a few per round trip, and the oldest
/// held is the first usable; past this the newest replaces the last held,
/// which only delays collection.
pub const PEER_REPORTS_HELD_MAX: usize = 8;

/// Most list elements one [`Node::expire_due`] call looks at (or moves) to
/// collect list tombstones. The call holds the node, which every command
/// waits for, ten times a second. Looking at an element costs about 7 ns
/// and freeing one about 70 ns (measured with 200k-element lists), so a
/// call takes at most about 2 ms (0.25 ms when nothing is stable yet),
/// while it can free up to ~330k tombstones a second: as many as a region
/// running LPUSH and RPOP flat out pops (LPUSH alone runs at ~580k/s, see
/// docs/benchmarks.md), so a busy queue does not outgrow its collector.
/// (Closing a gap in the middle of a long list moves up to half of it at
/// once, a memmove counted after the fact.)
pub const LIST_GC_WORK_MAX: usize = 32_768;

/// A client's write to one key, before it becomes an op.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    /// SET: replaces the key, whatever its type; sets its expiry to
    /// `expire_at_ms` or clears it.
    Set {
        value: Bytes,
        expire_at_ms: Option<u64>,
    },
    /// DEL: removes what this region has seen of the key.
    Del,
    IncrBy(i64),
    IncrByFloat(f64),
    /// Changes fields of a hash, set or sorted set.
    Fields {
        kind: Kind,
        writes: Vec<(Bytes, FieldWrite)>,
    },
    /// EXPIRE family (`Some(deadline)`) or PERSIST (`None`).
    Expire {
        at_ms: Option<u64>,
    },
    /// Inserts values as a chain after an element (or at the head).
    ListInsert {
        after: Option<ElemId>,
        values: Vec<Bytes>,
    },
    /// Removes list elements by id.
    ListRemove {
        ids: Vec<ElemId>,
    },
    /// Replaces a list element's value.
    ListSet {
        id: ElemId,
        value: Bytes,
    },
    /// Replaces the string values `context` covers (MERIDIAN.RESOLVE).
    Resolve {
        context: VersionVector,
        value: Bytes,
    },
}

/// A change to one field of a hash, set or sorted set.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldWrite {
    /// HSET, SADD (empty value), ZADD (the score as text).
    Set(Bytes),
    /// HDEL, SREM, ZREM.
    Del,
    /// HINCRBY.
    IncrBy(i64),
    /// HINCRBYFLOAT, ZINCRBY.
    IncrByFloat(f64),
}

/// Counters of what the node has done.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Ops made here.
    pub ops_local: u64,
    /// Ops from other regions applied here.
    pub ops_remote: u64,
    /// Ops received that were already applied (sent twice, or by two paths).
    pub duplicates: u64,
    /// Conflicts recorded in the conflict log (last-write-wins overwrites
    /// of concurrent values, type clashes, sibling folds).
    pub conflicts: u64,
    /// Conflict-log entries dropped to keep the log bounded.
    pub conflicts_dropped: u64,
    /// Expiry ops made by the sweep.
    pub expired_swept: u64,
    /// Expiry tombstones collected once every region had seen them.
    pub tombstones_collected: u64,
    /// Removed list elements collected once stable.
    pub list_tombstones_collected: u64,
    /// Peers' snapshots installed (full state transfers).
    pub snapshots_installed: u64,
}

/// What [`Node::install`] did.
#[derive(Debug, Default, PartialEq)]
pub struct Installed {
    /// Ops the snapshot brought that this region had not applied.
    pub brought: u64,
    /// Ops of this region's log re-applied on top of the snapshot.
    pub replayed: u64,
    /// Held ops the new state released, applied: the caller logs them.
    pub released: Vec<Op>,
}

/// Why a received op was not taken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReceiveError {
    #[error("op from unknown region index {0}")]
    UnknownRegion(u16),
    #[error("op claims to come from this region")]
    FromSelf,
    #[error(transparent)]
    ClockAhead(#[from] ClockAhead),
    #[error("causal buffer full: {0} ops waiting for their causes")]
    BufferFull(usize),
}

/// What happened to a received op.
#[derive(Debug, Default, PartialEq)]
pub struct Received {
    /// Ops applied, in order: the received one and any held ops it released.
    /// The caller logs them in this order.
    pub applied: Vec<Op>,
    /// It was already applied or already held.
    pub duplicate: bool,
}

/// One region's replica.
pub struct Node {
    regions: Regions,
    me: RegionId,
    clock: HlcClock,
    vv: VersionVector,
    keys: Keyspace,
    pending: CausalBuffer,
    stats: NodeStats,
    conflicts: ConflictLog,
    /// Glob patterns of keys whose concurrent values are siblings.
    siblings: Vec<Bytes>,
    /// Per region, what it is known to have seen (from the deps of its ops,
    /// and from what the shell reports with [`Node::peer_seen`]); the entry
    /// of this region is unused (its vv is `self.vv`). Invariant:
    /// `seen_by[j][j] <= vv[j]` (see the module doc).
    seen_by: Vec<VersionVector>,
    /// Per region, reports not usable yet: they count ops of that region
    /// this one has not applied.
    held: Vec<std::collections::VecDeque<VersionVector>>,
}

impl Node {
    /// An empty replica of region `me`.
    pub fn new(regions: Regions, me: RegionId) -> Node {
        assert!(me.index() < regions.len(), "region id out of range");
        let n = regions.len();
        Node {
            regions,
            me,
            clock: HlcClock::new(),
            vv: VersionVector::new(n),
            keys: Keyspace::new(n),
            pending: CausalBuffer::default(),
            stats: NodeStats::default(),
            conflicts: ConflictLog::default(),
            siblings: Vec::new(),
            seen_by: vec![VersionVector::new(n); n],
            held: vec![Default::default(); n],
        }
    }

    /// Makes string keys matching any of `patterns` (globs) keep concurrent
    /// values as siblings (MERIDIAN.SIBLINGS) instead of logging them as
    /// conflicts. Every region must be given the same patterns.
    pub fn set_siblings(&mut self, patterns: Vec<Bytes>) {
        self.siblings = patterns;
    }

    /// True if `key` is configured for siblings.
    pub fn is_sibling(&self, key: &[u8]) -> bool {
        self.siblings.iter().any(|p| glob_match(p, key))
    }

    /// The sibling patterns.
    pub fn sibling_patterns(&self) -> &[Bytes] {
        &self.siblings
    }

    /// The conflict log.
    pub fn conflicts(&self) -> &ConflictLog {
        &self.conflicts
    }

    pub fn regions(&self) -> &Regions {
        &self.regions
    }
    pub fn me(&self) -> RegionId {
        self.me
    }
    /// Everything applied here, per origin.
    pub fn vv(&self) -> &VersionVector {
        &self.vv
    }
    pub fn keys(&self) -> &Keyspace {
        &self.keys
    }
    pub fn stats(&self) -> &NodeStats {
        &self.stats
    }
    pub fn clock(&self) -> &HlcClock {
        &self.clock
    }
    /// Ops received but waiting for their causes.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The value of string key `key` at `now_ms` (`None` if the key holds
    /// another type).
    pub fn get(&self, key: &[u8], now_ms: u64) -> Option<Bytes> {
        match self.keys.get(key)? {
            // A string without expiry: no cutoff, no type to decide.
            KeyState::Str(s) => s.read(),
            rich => rich.view(now_ms).and_then(|v| v.string()),
        }
    }

    /// True if `key` holds anything visible at `now_ms`.
    pub fn exists(&self, key: &[u8], now_ms: u64) -> bool {
        self.keys.view(key, now_ms).is_some()
    }

    /// `key` as a reader sees it at `now_ms`: its type and content.
    pub fn view(&self, key: &[u8], now_ms: u64) -> Option<View<'_>> {
        self.keys.view(key, now_ms)
    }

    /// Makes a local write into an op, applies it here and returns it for the
    /// caller to log and ship. If the key's deadline has passed here, the op
    /// first expires the key (see [`crate::expiry`]).
    pub fn write(&mut self, now_ms: u64, key: Bytes, write: Write) -> Op {
        let hlc = self.clock.tick(now_ms);
        let seq = self.vv.get(self.me) + 1;
        let state = self.keys.get(&key);
        let body = match state.and_then(|s| s.passed(now_ms)) {
            None => make_body(state, write),
            Some(at_ms) => {
                let state = state.expect("a deadline has a state");
                let cutoff = state.cutoff(now_ms);
                let (counts, fields) = state.hidden_counts(cutoff);
                // The write sees the key as it is after the expiry: only
                // what was written at or after the deadline.
                let then = make_body(Some(state), write);
                OpBody::Expired {
                    at_ms,
                    counts,
                    fields,
                    then: Some(Box::new(then)),
                }
            }
        };
        let op = Op {
            dot: Dot::new(self.me, seq),
            hlc,
            deps: self.vv.clone(),
            key,
            body,
        };
        self.apply(&op);
        self.stats.ops_local += 1;
        op
    }

    /// The expiry sweep: makes an expiry op (see [`crate::expiry`]) for up
    /// to `max` keys whose deadline has passed at `now_ms` and that this
    /// region owns (or that no one swept within
    /// [`EXPIRE_SWEEP_GRACE_MS`]), applies them here and returns them for
    /// the caller to log and ship. Also drops the tombstones (expiry floors,
    /// at most `max`; list elements, [`LIST_GC_WORK_MAX`] elements of work)
    /// that are causally stable (see the module doc).
    pub fn expire_due(&mut self, now_ms: u64, max: usize) -> Vec<Op> {
        let me = self.me;
        // Keys not ours to sweep yet are skipped; bound the look.
        let look_max = max.saturating_mul(8);
        let due: Vec<(u64, Bytes)> = self
            .keys
            .deadlines_until(now_ms)
            .take(look_max)
            .filter(|(at, k)| {
                let owner = self.keys.get(k).and_then(|s| s.expiry()?.owner());
                owner == Some(me) || at.saturating_add(EXPIRE_SWEEP_GRACE_MS) <= now_ms
            })
            .take(max)
            .map(|(at, k)| (at, k.clone()))
            .collect();
        let mut ops = Vec::with_capacity(due.len());
        for (at_ms, key) in due {
            let hlc = self.clock.tick(now_ms);
            let seq = self.vv.get(self.me) + 1;
            let state = self.keys.get(&key).expect("a deadline has a state");
            let (counts, fields) = state.hidden_counts(state.cutoff(now_ms));
            let op = Op {
                dot: Dot::new(self.me, seq),
                hlc,
                deps: self.vv.clone(),
                key,
                body: OpBody::Expired {
                    at_ms,
                    counts,
                    fields,
                    then: None,
                },
            };
            self.apply(&op);
            self.stats.ops_local += 1;
            self.stats.expired_swept += 1;
            ops.push(op);
        }
        self.collect_tombstones(max, LIST_GC_WORK_MAX);
        ops
    }

    /// Drops tombstones that are causally stable here (see the module doc):
    /// up to `max` keys reduced to an expiry floor, and list tombstones
    /// with about `list_work_max` elements of work (see
    /// [`Keyspace::collect_list_tombstones`]). [`Node::expire_due`] calls
    /// it; tests call it with small bounds. Counted in the stats.
    pub fn collect_tombstones(&mut self, max: usize, list_work_max: usize) {
        let stable = Stability {
            me: self.me,
            vv: &self.vv,
            seen_by: &self.seen_by,
        };
        // Lists first: a key left with only a floor is collected next.
        let gc = self
            .keys
            .collect_list_tombstones(list_work_max, |d| stable.is_stable(d));
        self.stats.list_tombstones_collected += gc.dropped as u64;
        let collected = self.keys.collect_tombstones(max, |d| stable.is_stable(d));
        self.stats.tombstones_collected += collected as u64;
    }

    /// True if `d` is causally stable here: every op not applied here yet
    /// has it in its causal past (see the module doc).
    pub fn is_stable(&self, d: Dot) -> bool {
        Stability {
            me: self.me,
            vv: &self.vv,
            seen_by: &self.seen_by,
        }
        .is_stable(d)
    }

    /// Tells the node that region `region` has applied everything in `vv`,
    /// which must be the version vector `region` had at some moment (its
    /// acknowledgements are), so that tombstones can be dropped sooner.
    /// Reports may come late, twice or out of order.
    pub fn peer_seen(&mut self, region: RegionId, vv: &VersionVector) {
        let i = region.index();
        if region == self.me || i >= self.seen_by.len() {
            return;
        }
        if vv.get(region) <= self.vv.get(region) {
            self.seen_by[i].merge(vv);
            return;
        }
        let held = &mut self.held[i];
        if held.back().is_some_and(|last| last.dominates(vv)) {
            return;
        }
        if held.len() >= PEER_REPORTS_HELD_MAX {
            held.pop_back();
        }
        held.push_back(vv.clone());
    }

    /// Takes an op from another region. Applies it if its causes are here,
    /// else holds it; applies any held ops it releases.
    pub fn receive(&mut self, now_ms: u64, op: Op) -> Result<Received, ReceiveError> {
        let origin = op.dot.region;
        if origin.index() >= self.regions.len() {
            return Err(ReceiveError::UnknownRegion(origin.0));
        }
        if self.vv.covers(op.dot) || self.pending.holds(&op) {
            self.stats.duplicates += 1;
            return Ok(Received {
                applied: Vec::new(),
                duplicate: true,
            });
        }
        if origin == self.me {
            return Err(ReceiveError::FromSelf);
        }
        self.clock.check_remote(op.hlc, now_ms)?;
        let mut received = Received::default();
        if deliverable(&op, &self.vv) {
            self.apply(&op);
            self.stats.ops_remote += 1;
            received.applied.push(op);
            while let Some(next) = self.pending.take_ready(&self.vv) {
                self.apply(&next);
                self.stats.ops_remote += 1;
                received.applied.push(next);
            }
        } else {
            if self.pending.is_full() {
                return Err(ReceiveError::BufferFull(self.pending.len()));
            }
            self.pending.hold(op);
        }
        Ok(received)
    }

    /// Re-applies an op read back from this region's own log at start-up.
    /// Logged ops were applied in causal order, so they must be deliverable.
    pub fn replay(&mut self, op: &Op) {
        assert!(
            deliverable(op, &self.vv),
            "log replay out of causal order: {:?} on {:?}",
            op.dot,
            self.vv
        );
        self.apply(op);
    }

    fn apply(&mut self, op: &Op) {
        debug_assert!(deliverable(op, &self.vv));
        let mut rec = Recorder {
            log: &mut self.conflicts,
            siblings: &self.siblings,
        };
        self.keys.apply(op, &mut rec);
        self.stats.conflicts = self.conflicts.recorded();
        self.stats.conflicts_dropped = self.conflicts.dropped();
        self.vv.set(op.dot.region, op.dot.seq);
        if op.dot.region != self.me {
            let (r, i) = (op.dot.region, op.dot.region.index());
            let seen = &mut self.seen_by[i];
            seen.merge(&op.deps);
            // Never lowered: `seen_by[j][j]` only grows (and, as reports
            // ahead of what was applied are held, it is this op's number).
            seen.set(r, seen.get(r).max(op.dot.seq));
            while let Some(v) = self.held[i].front() {
                if v.get(r) > op.dot.seq {
                    break;
                }
                seen.merge(v);
                self.held[i].pop_front();
            }
        }
        self.clock.observe(op.hlc);
    }

    /// Appends this region's state, as a snapshot (see [`crate::snapshot`]),
    /// to `out`. Ops held for their causes are left out (their senders
    /// send them again), as are the conflict log and the counters, which
    /// record what happened here rather than state.
    pub fn encode_snapshot(&self, out: &mut Vec<u8>) {
        let snap = SnapshotRef {
            regions: self.regions.names(),
            region: self.me,
            vv: &self.vv,
            clock: self.clock.last(),
            seen_by: &self.seen_by,
            keys: || self.keys.iter(),
        };
        let buf = postcard::to_extend(&snap, std::mem::take(out))
            .unwrap_or_else(|e| panic!("snapshot encoding failed: {e}"));
        *out = buf;
    }

    /// Region `me`'s replica from a snapshot it wrote itself (restart once
    /// its log is truncated): replay its log after the snapshot on top.
    pub fn from_snapshot(
        regions: Regions,
        me: RegionId,
        snap: Snapshot,
    ) -> Result<Node, SnapshotError> {
        if snap.regions.as_slice() != regions.names() {
            return Err(SnapshotError::Regions {
                theirs: snap.regions,
                ours: regions.names().to_vec(),
            });
        }
        let mut node = Node::new(regions, me);
        node.vv = snap.vv;
        node.clock.observe(snap.clock);
        node.seen_by = snap.seen_by;
        for (key, state) in snap.keys {
            node.keys.restore(key, state);
        }
        Ok(node)
    }

    /// The full state transfer (see [`crate::snapshot`]): takes a peer's
    /// snapshot and re-applies on top, from `log` (this region's log from
    /// its first record, in order), every op the snapshot lacks. Fails,
    /// changing nothing, if an op this region had applied is neither in
    /// the snapshot nor in `log`.
    ///
    /// Ops held for their causes that the new state releases are applied
    /// and returned: the caller logs them, as for [`Node::receive`].
    pub fn install(
        &mut self,
        snap: Snapshot,
        log: impl IntoIterator<Item = Op>,
    ) -> Result<Installed, SnapshotError> {
        let from = snap.region;
        let snap_vv = snap.vv.clone();
        let mut new = Node::from_snapshot(self.regions.clone(), self.me, snap)?;
        new.siblings = self.siblings.clone();
        let mut replayed = 0;
        for op in log {
            if new.vv.covers(op.dot) {
                continue;
            }
            if !deliverable(&op, &new.vv) {
                let origin = op.dot.region;
                return Err(SnapshotError::Missing {
                    origin,
                    seq: new.vv.get(origin) + 1,
                });
            }
            new.apply(&op);
            replayed += 1;
        }
        if let Some((origin, seq)) = self
            .vv
            .as_slice()
            .iter()
            .enumerate()
            .map(|(i, &s)| (RegionId(i as u16), s))
            .find(|&(r, s)| new.vv.get(r) < s)
            .map(|(r, _)| (r, new.vv.get(r) + 1))
        {
            return Err(SnapshotError::Missing { origin, seq });
        }
        // What this region knew of its peers stays true; the sender had
        // applied everything in its snapshot.
        for (mine, theirs) in new.seen_by.iter_mut().zip(&self.seen_by) {
            mine.merge(theirs);
        }
        if from != self.me {
            new.seen_by[from.index()].merge(&snap_vv);
        }
        new.clock.observe(self.clock.last());
        let brought = (0..self.regions.len())
            .map(|i| {
                let r = RegionId(i as u16);
                snap_vv.get(r).saturating_sub(self.vv.get(r))
            })
            .sum();
        new.pending = std::mem::take(&mut self.pending);
        new.stats = std::mem::take(&mut self.stats);
        new.conflicts = std::mem::take(&mut self.conflicts);
        let mut released = Vec::new();
        while let Some(next) = new.pending.take_ready(&new.vv) {
            new.apply(&next);
            new.stats.ops_remote += 1;
            released.push(next);
        }
        new.stats.snapshots_installed += 1;
        *self = new;
        Ok(Installed {
            brought,
            replayed,
            released,
        })
    }

    /// Digest of the keyspace (see [`Keyspace::digest`]).
    pub fn digest(&self) -> String {
        self.keys.digest()
    }
}

/// The facts the stability test reads (borrowed apart from the keyspace,
/// which collection changes).
struct Stability<'a> {
    me: RegionId,
    vv: &'a VersionVector,
    seen_by: &'a [VersionVector],
}

impl Stability<'_> {
    /// See the module doc.
    fn is_stable(&self, d: Dot) -> bool {
        self.vv.covers(d)
            && self.seen_by.iter().enumerate().all(|(j, s)| {
                let j_id = RegionId(j as u16);
                j == self.me.index() || (s.covers(d) && self.vv.get(j_id) >= s.get(j_id))
            })
    }
}

/// Turns a write into an op body, given the key's state at the origin.
fn make_body(state: Option<&KeyState>, write: Write) -> OpBody {
    match write {
        Write::Set {
            value,
            expire_at_ms,
        } => {
            let (counts, fields) = state.map(|s| s.all_counts()).unwrap_or_default();
            OpBody::Set {
                value,
                expire_at_ms,
                counts,
                fields,
            }
        }
        Write::Del => {
            let (counts, fields) = state.map(|s| s.all_counts()).unwrap_or_default();
            OpBody::Del { counts, fields }
        }
        Write::IncrBy(by) => OpBody::IncrInt { by },
        Write::IncrByFloat(by) => OpBody::IncrFloat { by },
        Write::Fields { kind, writes } => {
            let counts = |f: &[u8]| state.and_then(|s| s.field_counts(kind, f));
            let ops = writes
                .into_iter()
                .map(|(field, w)| {
                    let action = match w {
                        FieldWrite::Set(value) => FieldAction::Set {
                            counts: counts(&field),
                            value,
                        },
                        FieldWrite::Del => FieldAction::Del {
                            counts: counts(&field),
                        },
                        FieldWrite::IncrBy(int) => FieldAction::Incr { int, float: None },
                        FieldWrite::IncrByFloat(f) => FieldAction::Incr {
                            int: 0,
                            float: Some(f),
                        },
                    };
                    FieldOp { field, action }
                })
                .collect();
            OpBody::Fields { kind, ops }
        }
        Write::Expire { at_ms } => OpBody::Expire { at_ms },
        Write::ListInsert { after, values } => OpBody::List(ListOp::Insert { after, values }),
        Write::ListRemove { ids } => OpBody::List(ListOp::Remove { ids }),
        Write::ListSet { id, value } => OpBody::List(ListOp::Set { id, value }),
        Write::Resolve { context, value } => {
            // Values the context does not cover stay as siblings; past the
            // bound, the oldest of them are folded into this write.
            let mut kept: Vec<(Hlc, RegionId, Dot)> = state
                .map(|s| s.string().entries())
                .unwrap_or_default()
                .iter()
                .filter(|e| !context.covers(e.dot))
                .map(|e| (e.hlc, e.dot.region, e.dot))
                .collect();
            kept.sort_by(|a, b| b.cmp(a));
            let fold = kept
                .iter()
                .skip(SIBLINGS_MAX - 1)
                .map(|(_, _, d)| *d)
                .collect();
            OpBody::Resolve {
                value,
                context,
                fold,
            }
        }
    }
}
