//! One region's replica: the keyspace, its clock and version vector, and the
//! rules for turning local writes into ops and applying remote ones.
//!
//! The node performs no I/O. The server shell calls [`Node::write`] for a
//! client's write and logs and ships the op it returns; it calls
//! [`Node::receive`] for each op a peer sends and logs the ops that were
//! applied. The simulator drives the same calls from one thread.

use crate::causal::{deliverable, CausalBuffer};
use crate::hlc::{ClockAhead, HlcClock};
use crate::keyspace::Keyspace;
use crate::op::{Op, OpBody};
use crate::region::{RegionId, Regions};
use crate::vv::VersionVector;
use bytes::Bytes;

/// A client's write to one key, before it becomes an op.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    Set {
        value: Bytes,
        expire_at_ms: Option<u64>,
    },
    Del,
    IncrBy(i64),
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
    /// Writes that met a concurrent value they had not seen.
    pub conflicts: u64,
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
        }
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

    /// The value of string key `key` at `now_ms`.
    pub fn get(&self, key: &[u8], now_ms: u64) -> Option<Bytes> {
        self.keys.get(key).and_then(|s| s.read(now_ms))
    }

    /// True if `key` holds a visible value at `now_ms`.
    pub fn exists(&self, key: &[u8], now_ms: u64) -> bool {
        self.get(key, now_ms).is_some()
    }

    /// Makes a local write into an op, applies it here and returns it for the
    /// caller to log and ship.
    pub fn write(&mut self, now_ms: u64, key: Bytes, write: Write) -> Op {
        let hlc = self.clock.tick(now_ms);
        let seq = self.vv.get(self.me) + 1;
        let counts = self.keys.get(&key).and_then(|s| s.counts());
        let body = match write {
            Write::Set {
                value,
                expire_at_ms,
            } => OpBody::Set {
                value,
                expire_at_ms,
                counts,
            },
            Write::Del => OpBody::Del { counts },
            Write::IncrBy(by) => OpBody::IncrInt { by },
            Write::IncrByFloat(by) => OpBody::IncrFloat { by },
        };
        let op = Op {
            dot: crate::vv::Dot::new(self.me, seq),
            hlc,
            deps: self.vv.clone(),
            key,
            body,
        };
        self.apply(&op);
        self.stats.ops_local += 1;
        op
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
        let applied = self.keys.apply(op);
        if applied.conflict {
            self.stats.conflicts += 1;
        }
        self.vv.set(op.dot.region, op.dot.seq);
        self.clock.observe(op.hlc);
    }

    /// Digest of the keyspace (see [`Keyspace::digest`]).
    pub fn digest(&self) -> String {
        self.keys.digest()
    }
}
