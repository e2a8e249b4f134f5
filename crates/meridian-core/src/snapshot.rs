//! Snapshots of a region's state, and the rules for truncating the log
//! behind them and for the full state transfer.
//!
//! A region's log records every op it applied, in order. Kept for ever, it
//! grows without bound, so a region writes a **snapshot** of its node from
//! time to time ([`crate::Node::encode_snapshot`]: the keyspace, the version
//! vector, the clock and what it knows of its peers) and may then drop the
//! log records the snapshot covers. It restarts from its newest snapshot plus
//! the log after it ([`crate::Node::from_snapshot`]).
//!
//! Peers read the log to catch up, so a record is dropped only once every
//! peer has acknowledged it, or once a peer has been out of reach for longer
//! than the retention the operator allows: that peer is *left behind*. No
//! log then holds what it missed, and it gets a **state transfer**: a peer
//! sends it a snapshot, and it installs it ([`crate::Node::install`]).
//!
//! # Installing a snapshot
//!
//! The receiver `L` cannot just take the sender's state `S`: it may hold ops
//! `S` lacks (its own, written while cut off and not yet shipped, or ops of a
//! third region). It takes `S` and re-applies, from its own log, every op it
//! had applied that `S`'s version vector does not cover, in log order. Its
//! log order is a causal order, and every cause of such an op is either in
//! `S` or re-applied before it, so each is deliverable on top of `S`, and
//! the result is exactly the state of a region that applied the union of
//! both histories in causal order: what op-based convergence already
//! guarantees to be the same everywhere. No per-type merge of states is
//! needed, and none could be: a list element does not record its anchor, so
//! two lists cannot be interleaved from their contents alone.
//!
//! This needs every such op to still be in `L`'s log. [`LogBase`] is, per
//! origin, the highest sequence number `L` has applied but no longer holds
//! in its log (dropped by a truncation, or received in an installed
//! snapshot and so never logged). `L` can install a snapshot with version
//! vector `v` exactly when `v` covers the base: [`LogBase::admits`]. A
//! region truncates only what every peer has acknowledged, or what a
//! left-behind peer lacks, so a region that was merely down long (the case
//! truncation exists for) always admits its peers' snapshots. Two regions
//! cut off from each other for longer than the retention, both writing,
//! each truncate what the other lacks: neither admits the other's snapshot.
//! Any third region that heard both admits either; without one they stay
//! apart, refuse the transfer loudly, and converge once a region that has
//! both histories can send one (see docs/ARCHITECTURE.md).
//!
//! # Serving a peer from the log
//!
//! A link resumes a peer from its version vector by shipping this region's
//! own ops it lacks (and relaying others'). That works while the log holds
//! every own op the peer lacks: [`LogBase::serves`]. Otherwise the link
//! sends a snapshot. Only own ops count: a snapshot installed here moves the
//! base of the other origins to the sender's newest ops, which peers often
//! lack for a round trip, and sending snapshots for that would start a
//! cascade; those ops reach the peers from their origins (or relays).

use crate::hlc::Hlc;
use crate::key::KeyState;
use crate::region::RegionId;
use crate::vv::VersionVector;
use bytes::Bytes;
use serde::ser::SerializeTuple;
use serde::{Deserialize, Serialize, Serializer};

/// Version of the snapshot encoding; others are refused.
pub const SNAPSHOT_FORMAT: u16 = 1;

/// A decoded snapshot.
#[derive(Debug, Deserialize)]
pub struct Snapshot {
    pub format: u16,
    /// The cluster's region names, in id order.
    pub regions: Vec<String>,
    /// The region that wrote it.
    pub region: RegionId,
    /// Every op its state reflects.
    pub vv: VersionVector,
    /// The writer's clock: every op it reflects has a clock at or below.
    pub clock: Hlc,
    /// What the writer knew each region had applied (see `Node`'s
    /// stability rule).
    pub seen_by: Vec<VersionVector>,
    /// Every key state, tombstones included.
    pub keys: Vec<(Bytes, KeyState)>,
}

/// The same fields as [`Snapshot`], borrowed from a live node, so that
/// encoding copies nothing but bytes.
pub(crate) struct SnapshotRef<'a, K> {
    pub regions: &'a [String],
    pub region: RegionId,
    pub vv: &'a VersionVector,
    pub clock: Hlc,
    pub seen_by: &'a [VersionVector],
    /// Called once to serialize the keys as a sequence of pairs.
    pub keys: K,
}

impl<'a, K, I> Serialize for SnapshotRef<'a, K>
where
    K: Fn() -> I,
    I: ExactSizeIterator<Item = (&'a Bytes, &'a KeyState)>,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // A struct in postcard is its fields in order, as a tuple.
        let mut t = s.serialize_tuple(7)?;
        t.serialize_element(&SNAPSHOT_FORMAT)?;
        t.serialize_element(self.regions)?;
        t.serialize_element(&self.region)?;
        t.serialize_element(self.vv)?;
        t.serialize_element(&self.clock)?;
        t.serialize_element(self.seen_by)?;
        t.serialize_element(&Keys(&self.keys))?;
        t.end()
    }
}

struct Keys<'k, K>(&'k K);

impl<'a, K, I> Serialize for Keys<'_, K>
where
    K: Fn() -> I,
    I: ExactSizeIterator<Item = (&'a Bytes, &'a KeyState)>,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq((self.0)())
    }
}

/// Why a snapshot cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnapshotError {
    #[error("snapshot cannot be decoded: {0}")]
    Malformed(String),
    #[error("snapshot format {0} is not supported (this build reads {SNAPSHOT_FORMAT})")]
    Format(u16),
    #[error("snapshot is of another cluster: regions {theirs:?}, ours {ours:?}")]
    Regions {
        theirs: Vec<String>,
        ours: Vec<String>,
    },
    #[error("snapshot is inconsistent: {0}")]
    Inconsistent(String),
    /// Installing would lose an op this region holds: the snapshot lacks
    /// it and this region's log no longer has it.
    #[error(
        "snapshot lacks op {seq} of region {origin}, which this region applied \
         but no longer holds in its log"
    )]
    Missing { origin: RegionId, seq: u64 },
}

impl Snapshot {
    /// Decodes a snapshot encoded by [`crate::Node::encode_snapshot`].
    pub fn decode(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        // Peek the format first, so that another version says so instead
        // of failing somewhere inside.
        let (format, _) = postcard::take_from_bytes::<u16>(bytes)
            .map_err(|e| SnapshotError::Malformed(e.to_string()))?;
        if format != SNAPSHOT_FORMAT {
            return Err(SnapshotError::Format(format));
        }
        let snap: Snapshot =
            postcard::from_bytes(bytes).map_err(|e| SnapshotError::Malformed(e.to_string()))?;
        let n = snap.regions.len();
        if snap.vv.len() != n || snap.seen_by.len() != n || snap.region.index() >= n {
            return Err(SnapshotError::Inconsistent(format!(
                "{n} regions, version vector of {}, {} peer vectors, writer {}",
                snap.vv.len(),
                snap.seen_by.len(),
                snap.region
            )));
        }
        Ok(snap)
    }
}

/// Per origin, the highest sequence number of an op this region has
/// applied but does not hold in its log (see the module doc). Every op of
/// that origin above it that this region has applied is in the log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogBase(pub VersionVector);

impl LogBase {
    /// The base of a log that holds every op applied (nothing truncated).
    pub fn new(regions: usize) -> LogBase {
        LogBase(VersionVector::new(regions))
    }

    /// Records a truncation of records all of whose ops `vv` covers (the
    /// version vector of a snapshot at or after the truncation point).
    pub fn truncated(&mut self, vv: &VersionVector) {
        self.0.merge(vv);
    }

    /// Records that a snapshot with version vector `snap` was installed on
    /// a state that had applied `before`: the ops it brought are not in the
    /// log.
    pub fn installed(&mut self, before: &VersionVector, snap: &VersionVector) {
        for (i, &s) in snap.as_slice().iter().enumerate() {
            let r = RegionId(i as u16);
            if s > before.get(r) && s > self.0.get(r) {
                self.0.set(r, s);
            }
        }
    }

    /// True if a snapshot with version vector `snap` can be installed here:
    /// it covers every op this region holds only in its state.
    pub fn admits(&self, snap: &VersionVector) -> bool {
        self.first_missing(snap).is_none()
    }

    /// An op this region holds only in its state that `snap` lacks.
    pub fn first_missing(&self, snap: &VersionVector) -> Option<(RegionId, u64)> {
        self.0
            .as_slice()
            .iter()
            .enumerate()
            .map(|(i, &b)| (RegionId(i as u16), b))
            .find(|&(r, b)| snap.get(r) < b)
            .map(|(r, _)| (r, snap.get(r) + 1))
    }

    /// True if the log holds every op of `me` that a peer with version
    /// vector `peer` lacks, so that a link can resume it from the log.
    pub fn serves(&self, me: RegionId, peer: &VersionVector) -> bool {
        peer.get(me) >= self.0.get(me)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vv(v: &[u64]) -> VersionVector {
        VersionVector::from_vec(v.to_vec())
    }

    #[test]
    fn base_rules() {
        let me = RegionId(0);
        let mut b = LogBase::new(3);
        assert!(b.serves(me, &vv(&[0, 0, 0])));
        assert!(b.admits(&vv(&[0, 0, 0])));
        b.truncated(&vv(&[10, 4, 2]));
        assert!(!b.serves(me, &vv(&[9, 9, 9])));
        assert!(b.serves(me, &vv(&[10, 0, 0])));
        assert!(b.admits(&vv(&[10, 4, 2])));
        assert_eq!(b.first_missing(&vv(&[10, 3, 9])), Some((RegionId(1), 4)));
        // An install moves the base only where the snapshot brought ops.
        b.installed(&vv(&[12, 4, 2]), &vv(&[11, 8, 2]));
        assert_eq!(b.0, vv(&[10, 8, 2]));
    }
}
