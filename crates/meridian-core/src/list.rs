//! Lists: a replicated growable array (RGA; Roh, Jeon, Kim, Lee, 2011).
//!
//! Every element has an [`ElemId`]: the clock and region of the op that
//! inserted it, and its index within that op (one LPUSH may insert several).
//! An insert names the element it goes right after (or the head). Elements
//! inserted after the same one concurrently are ordered by id, greatest
//! first, so every region builds the same sequence whatever the arrival
//! order. An element inserted by an op that had seen another has a greater
//! clock than it (the hybrid logical clock guarantees that), which is what
//! keeps an element's later neighbours behind it.
//!
//! Removal marks an element as removed (a tombstone) and keeps it: a
//! concurrent insert may name it as its anchor. Removing by id makes a pop
//! idempotent: two regions popping the same element concurrently both return
//! it (at-least-once) and it is gone once. Tombstones are kept forever for
//! now; dropping them once every region has seen the removal (causal
//! stability) is future work.
//!
//! The sequence is a vector in document order, tombstones included, so an
//! insert or a lookup by position costs O(n) in the list length.

use crate::hlc::Hlc;
use crate::region::RegionId;
use crate::vv::{Dot, VersionVector};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Most elements one list may hold, tombstones included. An insert scans
/// the list, and every element costs memory until tombstones can be
/// collected; a list past this refuses pushes at the origin.
pub const LIST_ELEMS_MAX: usize = 1_000_000;

/// The identity and priority of a list element: greater means inserted
/// later (by clock), and goes first among elements inserted at one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ElemId {
    pub hlc: Hlc,
    pub region: RegionId,
    pub idx: u32,
}

/// One element.
#[derive(Clone, Debug, PartialEq)]
pub struct Elem {
    pub id: ElemId,
    /// Sequence number of the inserting op (its dot is `(id.region, seq)`).
    pub seq: u64,
    pub removed: bool,
    pub value: Bytes,
    /// Who wrote `value` (the insert, or the LSET that replaced it) and when.
    pub value_dot: Dot,
    pub value_hlc: Hlc,
}

impl Elem {
    /// The dot of the op that inserted the element.
    pub fn dot(&self) -> Dot {
        Dot::new(self.id.region, self.seq)
    }

    /// True if a reader sees it at `cutoff`.
    pub fn visible_at(&self, cutoff: Hlc) -> bool {
        !self.removed && self.id.hlc >= cutoff
    }
}

/// An LSET that replaced a concurrent value by last-write-wins.
pub struct Overwrite {
    pub winner: (Bytes, Dot, Hlc),
    pub loser: (Bytes, Dot, Hlc),
}

/// The replicated state of one list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct List {
    /// A deque, so that LPUSH and RPUSH, the common inserts, shift nothing
    /// (a Vec made LPUSH on a 600k-element list cost 1 ms each).
    elems: VecDeque<Elem>,
    /// Elements not removed.
    live: usize,
}

impl List {
    /// Number of elements not removed, ignoring expiry.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Every element, tombstones included, in order.
    pub fn elems(&self) -> &VecDeque<Elem> {
        &self.elems
    }

    /// Elements a reader sees at `cutoff`, in order.
    pub fn visible_at(&self, cutoff: Hlc) -> impl DoubleEndedIterator<Item = &Elem> {
        self.elems.iter().filter(move |e| e.visible_at(cutoff))
    }

    /// Number of elements a reader sees at `cutoff`.
    pub fn len_at(&self, cutoff: Hlc) -> usize {
        if cutoff == Hlc(0) {
            return self.live;
        }
        self.visible_at(cutoff).count()
    }

    /// The newest element visible at `cutoff`, by (HLC, region).
    pub fn newest(&self, cutoff: Hlc) -> Option<(Hlc, RegionId)> {
        self.visible_at(cutoff)
            .map(|e| (e.id.hlc.max(e.value_hlc), e.id.region))
            .max()
    }

    /// Where element `id` is. Searches from both ends at once: the anchors
    /// of RPUSH and RPOP are at the back, those of LPOP at the front.
    fn position(&self, id: ElemId) -> Option<usize> {
        let n = self.elems.len();
        for k in 0..n.div_ceil(2) {
            if self.elems[k].id == id {
                return Some(k);
            }
            if self.elems[n - 1 - k].id == id {
                return Some(n - 1 - k);
            }
        }
        None
    }

    /// Inserts `values` as a chain after `after` (or at the head).
    ///
    /// Causal delivery applies the insert of every anchor before any op
    /// that names it, and elements are never dropped, so `after` is always
    /// here for a well-formed op. A malformed one (a peer naming an anchor
    /// that never existed) inserts at the head: the same in every region,
    /// and no crash on a peer's input.
    pub fn insert(&mut self, after: Option<ElemId>, values: &[Bytes], dot: Dot, hlc: Hlc) {
        let mut anchor = after.and_then(|a| self.position(a));
        for (i, v) in values.iter().enumerate() {
            let id = ElemId {
                hlc,
                region: dot.region,
                idx: i as u32,
            };
            let mut at = anchor.map_or(0, |p| p + 1);
            // Skip elements inserted after the anchor with higher priority,
            // and their successors (all of which have greater ids still).
            while at < self.elems.len() && self.elems[at].id > id {
                at += 1;
            }
            self.elems.insert(
                at,
                Elem {
                    id,
                    seq: dot.seq,
                    removed: false,
                    value: v.clone(),
                    value_dot: dot,
                    value_hlc: hlc,
                },
            );
            self.live += 1;
            anchor = Some(at);
        }
    }

    /// Removes elements by id; ids not found are already gone or were never
    /// here, which cannot happen under causal delivery but is harmless.
    pub fn remove(&mut self, ids: &[ElemId]) {
        for id in ids {
            if let Some(p) = self.position(*id) {
                self.mark_removed(p);
            }
        }
    }

    fn mark_removed(&mut self, p: usize) {
        if !self.elems[p].removed {
            self.elems[p].removed = true;
            self.live -= 1;
        }
    }

    /// Applies an LSET: the value with the greater (HLC, region) wins.
    /// Returns the overwrite if the replaced value was concurrent.
    pub fn set(
        &mut self,
        id: ElemId,
        value: &Bytes,
        dot: Dot,
        hlc: Hlc,
        deps: &VersionVector,
    ) -> Option<Overwrite> {
        let p = self.position(id)?;
        let e = &mut self.elems[p];
        let concurrent = !deps.covers(e.value_dot);
        let old = (e.value.clone(), e.value_dot, e.value_hlc);
        let new = (value.clone(), dot, hlc);
        let new_wins = (hlc, dot.region) > (e.value_hlc, e.value_dot.region);
        if new_wins {
            e.value = value.clone();
            e.value_dot = dot;
            e.value_hlc = hlc;
        }
        concurrent.then(|| {
            if new_wins {
                Overwrite {
                    winner: new,
                    loser: old,
                }
            } else {
                Overwrite {
                    winner: old,
                    loser: new,
                }
            }
        })
    }

    /// Removes the elements a DEL with causal context `deps` had seen.
    pub fn remove_covered(&mut self, deps: &VersionVector) {
        for p in 0..self.elems.len() {
            if deps.covers(self.elems[p].dot()) {
                self.mark_removed(p);
            }
        }
    }

    /// Removes the elements inserted before `floor` (an expired deadline).
    pub fn expire(&mut self, floor: Hlc) {
        for p in 0..self.elems.len() {
            if self.elems[p].id.hlc < floor {
                self.mark_removed(p);
            }
        }
    }

    /// Feeds a canonical encoding (document order) to `out`.
    pub fn canonical(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.elems.len() as u64).to_le_bytes());
        for e in &self.elems {
            out.extend_from_slice(&e.id.hlc.0.to_le_bytes());
            out.extend_from_slice(&e.id.region.0.to_le_bytes());
            out.extend_from_slice(&e.id.idx.to_le_bytes());
            out.extend_from_slice(&e.seq.to_le_bytes());
            out.push(e.removed as u8);
            out.extend_from_slice(&e.value_dot.region.0.to_le_bytes());
            out.extend_from_slice(&e.value_dot.seq.to_le_bytes());
            out.extend_from_slice(&e.value_hlc.0.to_le_bytes());
            out.extend_from_slice(&(e.value.len() as u64).to_le_bytes());
            out.extend_from_slice(&e.value);
        }
    }
}
