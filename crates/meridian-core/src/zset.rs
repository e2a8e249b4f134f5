//! Sorted sets: a container of registers (see [`crate::fields`]) whose
//! values are scores, plus an index in score order.
//!
//! ZADD writes the member's score as text (a register: concurrent ZADDs of
//! one member are read by last-write-wins); ZINCRBY adds to the member's
//! counter, so concurrent increments all count; ZREM removes what its origin
//! had seen, so a concurrent ZADD or ZINCRBY survives it (add wins). A
//! member's score is its register's winner plus the increments no ZADD had
//! seen.
//!
//! The index holds every member with content, ignoring expiry, ordered by
//! (score, member) as Redis orders them. It is derived state, rebuilt from
//! the fields when needed and never part of the digest.

use crate::fields::{Fields, OpCtx};
use crate::hlc::Hlc;
use crate::op::{FieldCounts, FieldOp, Kind};
use crate::string::Applied;
use crate::vv::VersionVector;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeSet;

/// A score with a total order (`f64::total_cmp`; -0 reads as 0).
#[derive(Clone, Copy, Debug)]
pub struct Score(pub f64);

impl Score {
    pub fn new(v: f64) -> Score {
        Score(if v == 0.0 { 0.0 } else { v })
    }
}

impl PartialEq for Score {
    fn eq(&self, other: &Score) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Score {}
impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Score) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Score {
    fn cmp(&self, other: &Score) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Formats a score for the register: the shortest text that reads back to
/// the same bits.
pub fn score_text(v: f64) -> Bytes {
    Bytes::from(format!("{}", Score::new(v).0))
}

/// The replicated state of one sorted set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ZSet {
    fields: Fields,
    /// Derived: not in snapshots (see [`ZSet::restored`]).
    #[serde(skip)]
    index: BTreeSet<(Score, Bytes)>,
}

impl ZSet {
    /// The members' registers.
    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// Members in (score, member) order, ignoring expiry.
    pub fn index(&self) -> &BTreeSet<(Score, Bytes)> {
        &self.index
    }

    /// The score of `member` at `cutoff`.
    pub fn score_at(&self, member: &[u8], cutoff: Hlc) -> Option<f64> {
        self.fields
            .get(member)
            .and_then(|s| s.number_at(cutoff))
            .map(|v| Score::new(v).0)
    }

    /// Members visible at `cutoff` in order. Without a cutoff this is the
    /// index itself; within an expiry window it is computed.
    pub fn ordered_at(&self, cutoff: Hlc) -> Vec<(Score, Bytes)> {
        if cutoff == Hlc(0) {
            return self.index.iter().cloned().collect();
        }
        let mut v: Vec<(Score, Bytes)> = self
            .fields
            .iter_at(cutoff)
            .filter_map(|(m, s)| s.number_at(cutoff).map(|x| (Score::new(x), m.clone())))
            .collect();
        v.sort();
        v
    }

    /// Applies one member change, keeping the index in step.
    pub fn apply(&mut self, op: &FieldOp, cx: OpCtx<'_>) -> Applied {
        let before = self.score_at(&op.field, Hlc(0));
        let applied = self.fields.apply(op, cx);
        let after = self.score_at(&op.field, Hlc(0));
        if before.map(Score::new) != after.map(Score::new) {
            if let Some(b) = before {
                self.index.remove(&(Score::new(b), op.field.clone()));
            }
            if let Some(a) = after {
                self.index.insert((Score::new(a), op.field.clone()));
            }
        }
        applied
    }

    /// Removes what a DEL with causal context `deps` had seen.
    pub fn remove_covered(&mut self, deps: &VersionVector, counts: &[FieldCounts]) {
        self.fields.remove_covered(Kind::ZSet, deps, counts);
        self.reindex();
    }

    /// Drops what an expiry at `floor` removes.
    pub fn expire(&mut self, floor: Hlc, counts: &[FieldCounts]) {
        self.fields.expire(Kind::ZSet, floor, counts);
        self.reindex();
    }

    /// Rebuilds what snapshots leave out (the index), after decoding one.
    pub fn restored(&mut self) {
        self.fields.restored();
        self.reindex();
    }

    fn reindex(&mut self) {
        self.index = self
            .fields
            .iter_at(Hlc(0))
            .filter_map(|(m, s)| s.number_at(Hlc(0)).map(|x| (Score::new(x), m.clone())))
            .collect();
    }

    /// Checks that the index matches the fields (tests and assertions).
    pub fn index_consistent(&self) -> bool {
        let mut copy = self.clone();
        copy.reindex();
        copy.index == self.index
    }
}
