//! Containers of registers: the state of a hash (field to value), a set
//! (member to an empty value) and, under [`crate::zset`], a sorted set
//! (member to its score).
//!
//! Every field is a [`StringState`]: the values written to it, each with its
//! dot, plus a counter. That one structure gives each type its rules:
//!
//! - HSET writes a value; concurrent HSETs of one field are kept and read by
//!   last-write-wins, HINCRBY increments all count.
//! - SADD writes an empty value and SREM removes the values its origin had
//!   seen, so an SADD concurrent with an SREM of the same member leaves a
//!   value the SREM did not cover: add wins (an observed-remove set).
//! - A DEL of the key removes, in every field, what its origin had seen;
//!   fields written concurrently survive.

use crate::counter::Contrib;
use crate::hlc::Hlc;
use crate::op::{FieldAction, FieldCounts, FieldOp, Kind};
use crate::region::RegionId;
use crate::string::{Applied, StringState};
use crate::vv::{Dot, VersionVector};
use bytes::Bytes;
use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

/// The dot, clock and context of the op being applied.
#[derive(Clone, Copy)]
pub struct OpCtx<'a> {
    pub dot: Dot,
    pub hlc: Hlc,
    pub deps: &'a VersionVector,
    pub regions: usize,
}

/// The fields of one container.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Fields {
    map: HashMap<Bytes, StringState>,
    /// Fields holding something visible, ignoring expiry (derived: not
    /// in snapshots, see [`Fields::restored`]).
    #[serde(skip)]
    live: usize,
}

impl Fields {
    /// The state of one field.
    pub fn get(&self, field: &[u8]) -> Option<&StringState> {
        self.map.get(field)
    }

    /// Number of fields with content, ignoring expiry.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Number of fields a reader sees at `cutoff`.
    pub fn len_at(&self, cutoff: Hlc) -> usize {
        if cutoff == Hlc(0) {
            return self.live;
        }
        self.map
            .values()
            .filter(|s| s.has_content_at(cutoff))
            .count()
    }

    /// The value of `field` at `cutoff`.
    pub fn read_at(&self, field: &[u8], cutoff: Hlc) -> Option<Bytes> {
        self.map.get(field).and_then(|s| s.read_at(cutoff))
    }

    /// True if `field` is visible at `cutoff`.
    pub fn contains_at(&self, field: &[u8], cutoff: Hlc) -> bool {
        self.map
            .get(field)
            .is_some_and(|s| s.has_content_at(cutoff))
    }

    /// The fields visible at `cutoff`, in no particular order.
    pub fn iter_at(&self, cutoff: Hlc) -> impl Iterator<Item = (&Bytes, &StringState)> {
        self.map
            .iter()
            .filter(move |(_, s)| s.has_content_at(cutoff))
    }

    /// Every field state, visible or not.
    pub fn iter_all(&self) -> impl Iterator<Item = (&Bytes, &StringState)> {
        self.map.iter()
    }

    /// True if nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The counter totals of every counter field, for a remover.
    pub fn counts(&self, kind: Kind, out: &mut Vec<FieldCounts>) {
        for (f, s) in &self.map {
            if let Some(counts) = s.counts() {
                out.push(FieldCounts {
                    kind,
                    field: f.clone(),
                    counts,
                });
            }
        }
    }

    /// The counter totals of counter fields hidden at `cutoff`, for an expiry.
    pub fn hidden_counts(&self, kind: Kind, cutoff: Hlc, out: &mut Vec<FieldCounts>) {
        for (f, s) in &self.map {
            if let Some(counts) = s.hidden_counts(cutoff) {
                out.push(FieldCounts {
                    kind,
                    field: f.clone(),
                    counts,
                });
            }
        }
    }

    /// The counter totals of one field, for a write that replaces it.
    pub fn field_counts(&self, field: &[u8]) -> Option<Vec<Contrib>> {
        self.map.get(field).and_then(|s| s.counts())
    }

    /// The newest write visible at `cutoff`, by (HLC, region).
    pub fn newest(&self, cutoff: Hlc) -> Option<(Hlc, RegionId)> {
        self.map.values().filter_map(|s| s.newest(cutoff)).max()
    }

    /// Applies one field change.
    pub fn apply(&mut self, op: &FieldOp, cx: OpCtx<'_>) -> Applied {
        let field = &op.field;
        let (was, applied, is, removable) = match &op.action {
            FieldAction::Del { counts } => {
                let Some(s) = self.map.get_mut(field) else {
                    return Applied::default();
                };
                let was = s.has_content();
                s.remove_covered(cx.deps, counts.as_deref());
                (was, Applied::default(), s.has_content(), s.is_removable())
            }
            FieldAction::Set { value, counts } => {
                let s = self.entry(field);
                let was = s.has_content();
                let a = s.apply_set(cx.dot, cx.hlc, cx.deps, value.clone(), counts.as_deref());
                (was, a, true, false)
            }
            FieldAction::Incr { int, float } => {
                let s = self.entry(field);
                let was = s.has_content();
                let a = s.apply_incr(cx.dot.region, cx.regions, cx.hlc, *int, *float);
                (was, a, s.has_content(), false)
            }
        };
        match (was, is) {
            (false, true) => self.live += 1,
            (true, false) => self.live -= 1,
            _ => {}
        }
        if removable {
            self.map.remove(field);
        }
        applied
    }

    fn entry(&mut self, field: &Bytes) -> &mut StringState {
        if !self.map.contains_key(field) {
            self.map.insert(field.clone(), StringState::default());
        }
        self.map.get_mut(field).expect("just inserted")
    }

    /// Removes what a remover with causal context `deps` had seen, in every
    /// field, and the counter totals in `counts` (those of `kind`).
    pub fn remove_covered(&mut self, kind: Kind, deps: &VersionVector, counts: &[FieldCounts]) {
        for s in self.map.values_mut() {
            s.remove_covered(deps, None);
        }
        for fc in counts.iter().filter(|fc| fc.kind == kind) {
            if let Some(s) = self.map.get_mut(&fc.field) {
                s.remove_counts(&fc.counts);
            }
        }
        self.recount();
    }

    /// Drops every value written before `floor`, and the counter totals in
    /// `counts` (those of `kind`).
    pub fn expire(&mut self, kind: Kind, floor: Hlc, counts: &[FieldCounts]) {
        for s in self.map.values_mut() {
            s.drop_below(floor);
        }
        for fc in counts.iter().filter(|fc| fc.kind == kind) {
            if let Some(s) = self.map.get_mut(&fc.field) {
                s.remove_counts(&fc.counts);
            }
        }
        self.recount();
    }

    /// Rebuilds what snapshots leave out, after decoding one.
    pub fn restored(&mut self) {
        self.recount();
    }

    fn recount(&mut self) {
        self.map.retain(|_, s| !s.is_removable());
        self.live = self.map.values().filter(|s| s.has_content()).count();
    }

    /// Feeds a canonical encoding (fields in byte order) to `out`.
    pub fn canonical(&self, out: &mut Vec<u8>) {
        let mut fields: Vec<&Bytes> = self.map.keys().collect();
        fields.sort();
        out.extend_from_slice(&(fields.len() as u64).to_le_bytes());
        for f in fields {
            out.extend_from_slice(&(f.len() as u64).to_le_bytes());
            out.extend_from_slice(f);
            self.map[f].canonical(out);
        }
    }
}
