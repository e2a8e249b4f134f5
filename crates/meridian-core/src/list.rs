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
//! it (at-least-once) and it is gone once.
//!
//! The sequence is a deque in document order, tombstones included, so an
//! insert or a lookup by position costs O(n) in the list length.
//!
//! # Collecting tombstones
//!
//! A tombstone is dropped ([`List::collect`]) once it is no longer needed,
//! which takes two conditions. Each region decides alone, at its own pace;
//! the argument below shows that whatever each has dropped, all regions keep
//! showing the same list.
//!
//! **1. Stable.** Every element records the op that removed it
//! ([`Elem::removed_by`]): the LPOP/RPOP/LREM/LTRIM that named it, the DEL
//! or SET that covered it, or the expiry op whose floor dropped it. The
//! element is *stable* here when both that op and the one that inserted it
//! are causally stable: every op this region has not applied yet (including
//! those not made yet, anywhere) has both in its causal past. The node
//! decides that (see `Node`'s stability rule in `node.rs`). Then:
//!
//! - (a) no op still to come names the element: inserts name a visible
//!   anchor (or an element of their own chain), LSET, LREM and pops a
//!   visible element, and wherever an op still to come is made, the element
//!   is already removed;
//! - (b) every op that names it is here already: such an op was made where
//!   the element was visible, so it is not after the removal, and every op
//!   not after the removal has been applied here. In particular every child
//!   of the element (an element inserted right after it) is here.
//!
//! **2. Its successor is stable or older.** The sequence is the preorder
//! walk of a tree: an element's parent is its anchor (the head is the
//! root), and siblings go greatest id first. A descendant was inserted by
//! an op that had seen its ancestor, so it has a greater id; hence the
//! element right after a subtree is smaller than the subtree's root. An
//! insert of id `n` after anchor `a` skips, after `a`, every element
//! greater than `n` (the subtrees of the children of `a` greater than `n`)
//! and goes in front of the first smaller one, `s`.
//!
//! Stability alone does not make dropping safe. Say tombstone `x` is a
//! child of `a`, and `w` a child of `x` inserted concurrently with the
//! removal of `x`: here the sequence is `a x w`. An insert `n` after `a`,
//! with `x < n < w`, made by a region that had seen the removal but not `w`
//! yet, stops at `x`: `a n x w`, read `a n w`. A region that dropped `x`
//! holds `a w`: the scan skips `w` (greater than `n`) and gives `a w n`.
//! The removal is stable at that region (it has `w`), yet the lists differ
//! for good. So a tombstone is dropped only if the element after it (once
//! this pass's drops are done) is smaller than it, or has a stable insert
//! too, or there is none: either way every insert still to come is greater
//! than that element (it has seen it, or it has seen the tombstone, which
//! is greater), and will stop at it as it would have at the tombstone. In
//! a queue fed by RPUSH (each element a child of the one before) the head
//! popped is dropped once the next element is stable, about a round trip
//! later.
//!
//! Why that suffices. Let `D` be the elements a region has dropped. First,
//! what follows an element `x` of `D` on the full sequence (every element
//! the region's ops inserted, as a region that dropped nothing holds it)
//! never changes: it is the greatest child of `x` if it has one, and no
//! child is still to come (by (a) and (b)); else it is the element after
//! the subtree of `x`, a smaller sibling of an ancestor `b` of `x` (or of
//! `x`), and anything still to come has seen `x`, so `b`, and is greater
//! than `b`: it goes before `b`, not there. So the first element not in `D`
//! after `x`, `t`, is fixed, and by condition 2, applied to `x` and to each
//! element of `D` between `x` and `t` when it was dropped, `t` is smaller
//! than an element of `D` (whose insert is stable) or has a stable insert
//! itself: every insert still to come is greater than `t`.
//!
//! Claim: the region's sequence is the full sequence without `D`.
//! Removals, DEL, expiry and LSET act by id on elements; by (a) none names
//! an element of `D`. An insert's anchor is not in `D` (by (a)), so it is
//! found. On the full sequence the insert stops at `s`; the elements before
//! `s` are greater than `n`, so the scan here skips those still here too.
//! If `s` is here, it stops there. If `s` is in `D`, the first element
//! still here after it is `t` above, smaller than `n`, and the scan stops
//! there. Either way the new element goes after the same elements still
//! here as on the full sequence, and the claim holds after the insert.
//! Every region's visible list is thus the full sequence's, whatever each
//! has dropped: lists converge.
//!
//! Collected tombstones are not part of the digest: see
//! [`List::canonical`].

use crate::hlc::Hlc;
use crate::region::RegionId;
use crate::vv::{Dot, VersionVector};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Most elements one list may hold, tombstones not collected yet included.
/// An insert scans the list, and every element costs memory (a tombstone
/// too, until it is stable and collected: normally within a round trip of
/// its removal, but not while some region is unreachable); a list past this
/// refuses pushes at the origin.
pub const LIST_ELEMS_MAX: usize = 1_000_000;

/// The `removed_by` of an element not removed (no op has sequence number 0).
const NOT_REMOVED: Dot = Dot {
    region: RegionId(0),
    seq: 0,
};

/// The identity and priority of a list element: greater means inserted
/// later (by clock), and goes first among elements inserted at one place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ElemId {
    pub hlc: Hlc,
    pub region: RegionId,
    pub idx: u32,
}

/// One element.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Elem {
    pub id: ElemId,
    /// Sequence number of the inserting op (its dot is `(id.region, seq)`).
    pub seq: u64,
    /// The op that removed it; `NOT_REMOVED` while it is not removed (an
    /// `Option<Dot>` would make every element 8 bytes bigger).
    removed_by: Dot,
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

    /// True if it was removed (a tombstone).
    pub fn is_removed(&self) -> bool {
        self.removed_by.seq != 0
    }

    /// The op that removed it (the first to, here), if it was removed.
    pub fn removed_by(&self) -> Option<Dot> {
        self.is_removed().then_some(self.removed_by)
    }

    /// True if a reader sees it at `cutoff`.
    pub fn visible_at(&self, cutoff: Hlc) -> bool {
        !self.is_removed() && self.id.hlc >= cutoff
    }
}

/// An LSET that replaced a concurrent value by last-write-wins.
pub struct Overwrite {
    pub winner: (Bytes, Dot, Hlc),
    pub loser: (Bytes, Dot, Hlc),
}

/// What one [`List::collect`] pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Collected {
    /// Elements looked at, and elements moved to close the gap: the work.
    pub work: usize,
    /// Tombstones dropped.
    pub dropped: usize,
    /// Where the next pass starts, in elements from the back (0: the back).
    pub cursor: usize,
}

/// The replicated state of one list.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct List {
    /// A deque, so that LPUSH and RPUSH, the common inserts, shift nothing
    /// (a Vec made LPUSH on a 600k-element list cost 1 ms each).
    elems: VecDeque<Elem>,
    /// Elements not removed (derived: not in snapshots, see
    /// [`List::restored`]).
    #[serde(skip)]
    live: usize,
}

impl List {
    /// Number of elements not removed, ignoring expiry.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Rebuilds what snapshots leave out, after decoding one.
    pub fn restored(&mut self) {
        self.live = self.elems.iter().filter(|e| !e.is_removed()).count();
    }

    /// Number of tombstones kept (removed elements not collected yet).
    pub fn tombstones(&self) -> usize {
        self.elems.len() - self.live
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
    /// that names it, and an element is dropped only once no op still to
    /// come can name it (see the module doc), so `after` is always here for
    /// a well-formed op. A malformed one (a peer naming an anchor that never
    /// existed, or one it had seen removed, which some regions may have
    /// dropped and others not) inserts at the head: no crash on a peer's
    /// input, though only the first kind lands the same everywhere.
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
                    removed_by: NOT_REMOVED,
                    value: v.clone(),
                    value_dot: dot,
                    value_hlc: hlc,
                },
            );
            self.live += 1;
            anchor = Some(at);
        }
    }

    /// Removes elements by id (an op made at `dot`); ids not found are
    /// already collected (see the module doc: only ops concurrent with an
    /// element's removal can name it, and those arrive before it is) or were
    /// never here; either way there is nothing to do.
    pub fn remove(&mut self, ids: &[ElemId], dot: Dot) {
        for id in ids {
            if let Some(p) = self.position(*id) {
                self.mark_removed(p, dot);
            }
        }
    }

    /// Marks element `p` removed by `by`, unless it already is (the first
    /// removal here is the one recorded: any op whose application removes
    /// an element proves, once stable, that it is removed everywhere).
    fn mark_removed(&mut self, p: usize, by: Dot) {
        let e = &mut self.elems[p];
        if !e.is_removed() {
            e.removed_by = by;
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

    /// Removes the elements a DEL or SET made at `dot` with causal context
    /// `deps` had seen.
    pub fn remove_covered(&mut self, deps: &VersionVector, dot: Dot) {
        for p in 0..self.elems.len() {
            if deps.covers(self.elems[p].dot()) {
                self.mark_removed(p, dot);
            }
        }
    }

    /// Removes the elements inserted before `floor` (an expired deadline),
    /// set by the expiry op `dot`.
    pub fn expire(&mut self, floor: Hlc, dot: Dot) {
        for p in 0..self.elems.len() {
            if self.elems[p].id.hlc < floor {
                self.mark_removed(p, dot);
            }
        }
    }

    /// One collection pass (see the module doc): looks at up to about `max`
    /// elements, going towards the front from `cursor` elements before the
    /// back, and drops the tombstones that are stable (`stable` holds for
    /// the dots of the ops that inserted and removed them) and whose
    /// successor (the element after them once this pass's drops are done)
    /// is smaller, has a stable insert, or does not exist. Stable
    /// tombstones that must stay lose their value, which nothing reads any
    /// more. Once at the front it goes on
    /// from the back, to where it started, if `max` allows. Returns the
    /// work done and where the next pass should start. A cursor is only a
    /// hint: elements may come and go between passes, and any window is
    /// correct.
    pub fn collect(
        &mut self,
        cursor: usize,
        max: usize,
        stable: &impl Fn(Dot) -> bool,
    ) -> Collected {
        let first = self.collect_window(cursor, max, stable);
        let rest = max.saturating_sub(first.work);
        if first.cursor != 0 || cursor == 0 || rest == 0 {
            return first;
        }
        // The last `cursor` elements were not looked at, and are still last.
        let second = self.collect_window(0, rest.min(cursor), stable);
        Collected {
            work: first.work + second.work,
            dropped: first.dropped + second.dropped,
            cursor: second.cursor,
        }
    }

    /// [`List::collect`] without the wrap.
    fn collect_window(
        &mut self,
        cursor: usize,
        max: usize,
        stable: &impl Fn(Dot) -> bool,
    ) -> Collected {
        let n = self.elems.len();
        let hi = n - cursor.min(n);
        let lo = hi.saturating_sub(max);
        // The element after the one looked at, in the sequence as it will
        // be once this pass's drops are done, and whether its insert is
        // stable (computed once it matters).
        let mut next: Option<(ElemId, Dot)> = self.elems.get(hi).map(|e| (e.id, e.dot()));
        // Kept elements are packed towards `hi`, in order; what ends up in
        // `lo..w` is dropped.
        let mut w = hi;
        for p in (lo..hi).rev() {
            let e = &mut self.elems[p];
            let gone = e.removed_by().is_some_and(stable) && stable(e.dot());
            let drop = gone && next.is_none_or(|(after, dot)| after < e.id || stable(dot));
            if !drop {
                if gone && !e.value.is_empty() {
                    e.value = Bytes::new();
                }
                w -= 1;
                self.elems.swap(p, w);
                next = Some((self.elems[w].id, self.elems[w].dot()));
            }
        }
        let dropped = w - lo;
        // Closing the gap moves the shorter side of the deque.
        let moved = if dropped == 0 { 0 } else { lo.min(n - w) };
        self.elems.drain(lo..w);
        Collected {
            work: (hi - lo) + moved,
            dropped,
            cursor: if lo == 0 { 0 } else { n - w },
        }
    }

    /// Feeds a canonical encoding (document order) of the elements not
    /// removed to `out`. Tombstones are left out: each region drops them
    /// when they are stable there, at different times, and once every
    /// region has applied the same ops the elements not removed, in order,
    /// are the same everywhere (see the module doc).
    pub fn canonical(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.live as u64).to_le_bytes());
        for e in self.elems.iter().filter(|e| !e.is_removed()) {
            out.extend_from_slice(&e.id.hlc.0.to_le_bytes());
            out.extend_from_slice(&e.id.region.0.to_le_bytes());
            out.extend_from_slice(&e.id.idx.to_le_bytes());
            out.extend_from_slice(&e.seq.to_le_bytes());
            out.extend_from_slice(&e.value_dot.region.0.to_le_bytes());
            out.extend_from_slice(&e.value_dot.seq.to_le_bytes());
            out.extend_from_slice(&e.value_hlc.0.to_le_bytes());
            out.extend_from_slice(&(e.value.len() as u64).to_le_bytes());
            out.extend_from_slice(&e.value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dot(r: u16, seq: u64) -> Dot {
        Dot::new(RegionId(r), seq)
    }

    fn id(hlc: u64, r: u16) -> ElemId {
        ElemId {
            hlc: Hlc(hlc),
            region: RegionId(r),
            idx: 0,
        }
    }

    fn values(l: &List) -> Vec<Bytes> {
        l.visible_at(Hlc(0)).map(|e| e.value.clone()).collect()
    }

    fn all_stable(_: Dot) -> bool {
        true
    }

    /// Every element is 96 bytes: `removed_by` took the padding the removed
    /// flag had, plus 8 bytes. Growing it costs every list element.
    #[test]
    fn an_element_stays_small() {
        assert!(std::mem::size_of::<Elem>() <= 96);
    }

    /// LPUSH and RPOP forever: once stable, the popped elements go.
    #[test]
    fn a_queue_keeps_only_its_live_elements() {
        let mut l = List::default();
        for s in 1..=1000u64 {
            l.insert(None, &[Bytes::from(s.to_string())], dot(0, s), Hlc(s * 10));
            if s > 3 {
                let last = l.visible_at(Hlc(0)).next_back().map(|e| e.id);
                l.remove(&last.into_iter().collect::<Vec<_>>(), dot(1, s));
            }
            l.collect(0, 64, &all_stable);
        }
        assert_eq!(l.live(), 3);
        assert_eq!(l.elems().len(), 3);
        assert_eq!(values(&l), ["1000", "999", "998"]);
    }

    /// The removal of nothing stable: nothing goes.
    #[test]
    fn an_unstable_tombstone_stays() {
        let mut l = List::default();
        l.insert(None, &[Bytes::from("a")], dot(0, 1), Hlc(10));
        l.remove(&[id(10, 0)], dot(1, 1));
        let r = l.collect(0, 64, &|d: Dot| d != dot(1, 1));
        assert_eq!(r.dropped, 0);
        assert_eq!(l.tombstones(), 1);
        let r = l.collect(0, 64, &all_stable);
        assert_eq!(r.dropped, 1);
        assert!(l.elems().is_empty());
    }

    /// The case of the module doc: a stable tombstone `x` with a child `w`
    /// inserted concurrently with its removal. Dropping `x` anyway would
    /// place a later insert `n` (x < n < w) after `w` in this region and
    /// before it in one that kept `x`; the collector keeps `x` until the
    /// insert of `w` is stable too (then no insert to come is smaller than
    /// `w`).
    #[test]
    fn a_tombstone_waits_for_its_successor_to_be_stable() {
        let mut full = List::default();
        full.insert(None, &[Bytes::from("a")], dot(0, 1), Hlc(10));
        full.insert(Some(id(10, 0)), &[Bytes::from("x")], dot(0, 2), Hlc(20));
        full.insert(Some(id(20, 0)), &[Bytes::from("w")], dot(1, 1), Hlc(40));
        full.remove(&[id(20, 0)], dot(2, 1));
        let n = (Some(id(10, 0)), [Bytes::from("n")], dot(2, 2), Hlc(30));

        // What dropping `x` regardless would do.
        let mut naive = full.clone();
        let p = naive.position(id(20, 0)).expect("x is there");
        naive.elems.remove(p);
        naive.insert(n.0, &n.1, n.2, n.3);
        let mut kept = full.clone();
        kept.insert(n.0, &n.1, n.2, n.3);
        assert_eq!(values(&kept), ["a", "n", "w"]);
        assert_eq!(values(&naive), ["a", "w", "n"], "the divergence");

        // `w` is not known everywhere yet: `x` stays (its value goes).
        let mut gc = full.clone();
        let w_not_yet = |d: Dot| d != dot(1, 1);
        assert_eq!(gc.collect(0, 64, &w_not_yet).dropped, 0);
        assert!(gc.elems()[1].is_removed() && gc.elems()[1].value.is_empty());
        gc.insert(n.0, &n.1, n.2, n.3);
        assert_eq!(values(&gc), values(&kept));

        // Once it is, `x` goes and `w` stays; inserts to come have seen `w`.
        let mut gc = full.clone();
        assert_eq!(gc.collect(0, 64, &all_stable).dropped, 1);
        assert_eq!(values(&gc), ["a", "w"]);
        gc.insert(Some(id(10, 0)), &[Bytes::from("m")], dot(2, 2), Hlc(50));
        assert_eq!(values(&gc), ["a", "m", "w"]);
    }

    /// A chain (one LPUSH of several values, or RPUSHes one after the
    /// other) popped from the front: each goes though its successor stays.
    #[test]
    fn a_chain_popped_from_the_front_goes() {
        let mut l = List::default();
        let vs: Vec<Bytes> = ["c", "b", "a"].into_iter().map(Bytes::from).collect();
        l.insert(None, &vs, dot(0, 1), Hlc(10));
        let ids: Vec<ElemId> = l.elems().iter().map(|e| e.id).collect();
        l.remove(&ids[..2], dot(0, 2));
        assert_eq!(l.collect(0, 64, &all_stable).dropped, 2);
        assert_eq!(values(&l), ["a"]);
    }

    /// Small windows walk the list from the back and wrap around.
    #[test]
    fn passes_walk_the_list_in_windows() {
        let mut l = List::default();
        for s in 1..=10u64 {
            l.insert(None, &[Bytes::from(s.to_string())], dot(0, s), Hlc(s * 10));
        }
        let odd: Vec<ElemId> = l
            .elems()
            .iter()
            .filter(|e| e.seq % 2 == 1)
            .map(|e| e.id)
            .collect();
        l.remove(&odd, dot(1, 1));
        let mut cursor = 0;
        let mut dropped = 0;
        for _ in 0..4 {
            let r = l.collect(cursor, 3, &all_stable);
            cursor = r.cursor;
            dropped += r.dropped;
        }
        assert_eq!(dropped, 5);
        assert_eq!(values(&l), ["10", "8", "6", "4", "2"]);
        assert_eq!(l.elems().len(), 5);
    }
}
