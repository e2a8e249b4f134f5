//! The register: a multi-value register read by last-write-wins, plus a
//! counter. It is the state of a string key, and of every field of a hash,
//! member of a set and member of a sorted set.
//!
//! Each write is kept as an [`Entry`] until a later write that had seen it
//! (its dot is covered by the later write's `deps`) replaces it. Concurrent
//! writes therefore coexist, and reads pick the winner by last-write-wins:
//! greatest hybrid logical clock, ties broken by region. Keeping the losers
//! until they are causally replaced is what makes a concurrent DEL and SET
//! converge whatever order they arrive in, and what lets keys configured for
//! siblings show every concurrent value (MERIDIAN.SIBLINGS).
//!
//! Counter increments are kept apart (see [`crate::counter`]); the visible
//! value is the winner plus every increment no SET or DEL had seen.
//!
//! Reads take a `cutoff` (see [`crate::expiry`]): values written before it
//! are hidden. `Hlc(0)` hides nothing; it is what a key without expiry uses.

use crate::counter::{Contrib, Counter, Unseen};
use crate::hlc::Hlc;
use crate::num::{format_f64, parse_f64, parse_i64};
use crate::region::{RegionId, REGIONS_MAX};
use crate::vv::{Dot, VersionVector};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Most siblings one MERIDIAN.RESOLVE leaves at its origin. A resolve
/// replaces only the values its context covers, so values written after the
/// read it was based on stay; past this many the origin folds the oldest (by
/// last-write-wins) into the resolve. Plain writes replace everything their
/// origin has seen, so without resolves a key holds at most one value per
/// region. Sixteen concurrent versions is more than any application can
/// merge by hand.
pub const SIBLINGS_MAX: usize = 16;

/// Most values a register may hold: each origin leaves at most
/// [`SIBLINGS_MAX`], and concurrent origins add theirs.
pub const ENTRIES_MAX: usize = SIBLINGS_MAX * REGIONS_MAX;

/// One written value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub dot: Dot,
    pub hlc: Hlc,
    pub value: Bytes,
}

impl Entry {
    /// The last-write-wins order: clock, then region.
    pub fn rank(&self) -> (Hlc, RegionId) {
        (self.hlc, self.dot.region)
    }
}

/// The replicated state of one register.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StringState {
    entries: Vec<Entry>,
    counter: Option<Box<Counter>>,
}

/// What applying a write did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// The write met a concurrent value it had not seen: a conflict, decided
    /// for readers by last-write-wins.
    pub conflict: bool,
}

impl StringState {
    /// The values currently kept (one, or several concurrent ones).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The counter, if any increment ever touched the register.
    pub fn counter(&self) -> Option<&Counter> {
        self.counter.as_deref()
    }

    /// The last-write-wins winner among the kept values.
    pub fn winner(&self) -> Option<&Entry> {
        self.entries.iter().max_by_key(|e| e.rank())
    }

    /// The winner among the values written at or after `cutoff`.
    pub fn winner_at(&self, cutoff: Hlc) -> Option<&Entry> {
        self.entries
            .iter()
            .filter(|e| e.hlc >= cutoff)
            .max_by_key(|e| e.rank())
    }

    /// The increments no SET or DEL has seen, if the counter is visible at
    /// `cutoff` and has any.
    fn unseen_at(&self, cutoff: Hlc) -> Option<Unseen> {
        let c = self.counter.as_ref()?;
        if c.last.0 < cutoff {
            return None;
        }
        Some(c.unseen()).filter(|u| u.n > 0)
    }

    /// True if the register holds anything a reader can see, ignoring expiry.
    pub fn has_content(&self) -> bool {
        !self.entries.is_empty() || self.counter.as_ref().is_some_and(|c| c.unseen().n > 0)
    }

    /// True if a reader can see anything at `cutoff`.
    pub fn has_content_at(&self, cutoff: Hlc) -> bool {
        self.entries.iter().any(|e| e.hlc >= cutoff) || self.unseen_at(cutoff).is_some()
    }

    /// True if the state can be dropped without changing any future merge:
    /// no values, and no counter whose totals later ops may refer to.
    pub fn is_removable(&self) -> bool {
        self.entries.is_empty() && self.counter.is_none()
    }

    /// The per-region counter totals, recorded by a SET or DEL made here.
    pub fn counts(&self) -> Option<Vec<Contrib>> {
        self.counter.as_ref().map(|c| c.contrib.clone())
    }

    /// The counter totals if the counter is hidden at `cutoff` (it was last
    /// incremented before it), for an expiry to remove.
    pub fn hidden_counts(&self, cutoff: Hlc) -> Option<Vec<Contrib>> {
        self.counter
            .as_ref()
            .filter(|c| c.last.0 < cutoff)
            .map(|c| c.contrib.clone())
    }

    /// The newest write a reader sees at `cutoff`, by (HLC, region).
    pub fn newest(&self, cutoff: Hlc) -> Option<(Hlc, RegionId)> {
        let e = self.winner_at(cutoff).map(|e| e.rank());
        let c = self
            .unseen_at(cutoff)
            .and(self.counter.as_ref().map(|c| c.last));
        e.max(c)
    }

    /// The value a reader sees, ignoring expiry.
    pub fn read(&self) -> Option<Bytes> {
        self.read_at(Hlc(0))
    }

    /// The value a reader sees at `cutoff`, or `None` if there is none.
    pub fn read_at(&self, cutoff: Hlc) -> Option<Bytes> {
        let base = self.winner_at(cutoff).map(|w| &w.value);
        let Some(u) = self.unseen_at(cutoff) else {
            return base.cloned();
        };
        if u.nf == 0 {
            let b = match base {
                None => Some(0),
                Some(b) => parse_i64(b),
            };
            if let Some(b) = b {
                return Some(Bytes::from(b.wrapping_add(u.int).to_string()));
            }
        }
        let b = match base {
            None => Some(0.0),
            Some(b) => parse_f64(b),
        };
        match b {
            Some(b) => Some(Bytes::from(format_f64(b + u.int as f64 + u.float))),
            // A non-numeric value with concurrent increments: the value wins
            // and the increments stay hidden until a write sees them.
            None => base.cloned(),
        }
    }

    /// The value as a number (a sorted-set score): the winner read as a
    /// float (0 if there is none or it is not a number) plus the unseen
    /// increments; `None` if nothing is visible at `cutoff`.
    pub fn number_at(&self, cutoff: Hlc) -> Option<f64> {
        let base = self.winner_at(cutoff);
        let u = self.unseen_at(cutoff);
        if base.is_none() && u.is_none() {
            return None;
        }
        let b = base.and_then(|w| parse_f64(&w.value)).unwrap_or(0.0);
        Some(match u {
            Some(u) => b + u.int as f64 + u.float,
            None => b,
        })
    }

    /// Keeps a value. Almost every register holds one value all its life:
    /// the first gets room for exactly one (a plain `push` would make room
    /// for four, 168 bytes more per key).
    fn push(&mut self, entry: Entry) {
        if self.entries.capacity() == 0 {
            self.entries.reserve_exact(1);
        }
        self.entries.push(entry);
    }

    /// Applies a write of `value` made at `dot` with causal context `deps`.
    pub fn apply_set(
        &mut self,
        dot: Dot,
        hlc: Hlc,
        deps: &VersionVector,
        value: Bytes,
        counts: Option<&[Contrib]>,
    ) -> Applied {
        self.entries.retain(|e| !deps.covers(e.dot));
        let conflict = !self.entries.is_empty();
        self.push(Entry { dot, hlc, value });
        if let Some(seen) = counts {
            self.remove_counts(seen);
        }
        assert!(
            self.entries.len() <= ENTRIES_MAX,
            "register holds too many values"
        );
        Applied { conflict }
    }

    /// Applies a resolve made with causal context `deps`: replaces the
    /// values `context` covers that its origin had seen (`deps` covers),
    /// and those in `fold`; other values stay as siblings. A context may
    /// name values the origin has not received yet (a client can read it
    /// through another region); such a value is concurrent with the
    /// resolve and must survive it in every region, whichever arrives
    /// first.
    pub fn apply_resolve(
        &mut self,
        dot: Dot,
        hlc: Hlc,
        context: &VersionVector,
        deps: &VersionVector,
        fold: &[Dot],
        value: Bytes,
    ) -> Applied {
        self.entries.retain(|e| {
            let covered = context.covers(e.dot) && deps.covers(e.dot);
            !covered && !fold.contains(&e.dot)
        });
        let conflict = !self.entries.is_empty();
        self.push(Entry { dot, hlc, value });
        assert!(
            self.entries.len() <= ENTRIES_MAX,
            "register holds too many values"
        );
        Applied { conflict }
    }

    /// Removes what a remover with causal context `deps` had seen: the
    /// values it covers, and the counter totals `counts`.
    pub fn remove_covered(&mut self, deps: &VersionVector, counts: Option<&[Contrib]>) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| !deps.covers(e.dot));
        if let Some(seen) = counts {
            self.remove_counts(seen);
        }
        self.entries.len() != before || counts.is_some()
    }

    /// Records that a SET or DEL saw the counter totals `seen`.
    pub fn remove_counts(&mut self, seen: &[Contrib]) {
        if let Some(c) = self.counter.as_mut() {
            c.remove_seen(seen);
        }
    }

    /// Drops the values written before `floor` (an expired deadline).
    pub fn drop_below(&mut self, floor: Hlc) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.hlc >= floor);
        self.entries.len() != before
    }

    /// Applies an increment made by `region` at `hlc`.
    pub fn apply_incr(
        &mut self,
        region: RegionId,
        regions: usize,
        hlc: Hlc,
        int: i64,
        float: Option<f64>,
    ) -> Applied {
        self.counter
            .get_or_insert_with(|| Box::new(Counter::new(regions)))
            .add(region, hlc, int, float);
        Applied::default()
    }

    /// The values ordered for MERIDIAN.SIBLINGS: the last-write-wins winner
    /// first.
    pub fn siblings(&self, cutoff: Hlc) -> Vec<&Entry> {
        let mut v: Vec<&Entry> = self.entries.iter().filter(|e| e.hlc >= cutoff).collect();
        v.sort_by_key(|e| std::cmp::Reverse(e.rank()));
        v
    }

    /// Feeds a canonical encoding of the state to `out` (for digests): entries
    /// in dot order, floats by their bits.
    pub fn canonical(&self, out: &mut Vec<u8>) {
        let mut entries: Vec<&Entry> = self.entries.iter().collect();
        entries.sort_by_key(|e| e.dot);
        out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        for e in entries {
            out.extend_from_slice(&e.dot.region.0.to_le_bytes());
            out.extend_from_slice(&e.dot.seq.to_le_bytes());
            out.extend_from_slice(&e.hlc.0.to_le_bytes());
            out.extend_from_slice(&(e.value.len() as u64).to_le_bytes());
            out.extend_from_slice(&e.value);
        }
        if let Some(c) = &self.counter {
            out.push(1);
            out.extend_from_slice(&c.last.0 .0.to_le_bytes());
            out.extend_from_slice(&c.last.1 .0.to_le_bytes());
            for x in c.contrib.iter().chain(&c.removed) {
                out.extend_from_slice(&x.int.to_le_bytes());
                out.extend_from_slice(&x.float.to_bits().to_le_bytes());
                out.extend_from_slice(&x.n.to_le_bytes());
                out.extend_from_slice(&x.nf.to_le_bytes());
            }
        } else {
            out.push(0);
        }
    }
}
