//! The string type: a multi-value register read by last-write-wins, plus a
//! counter.
//!
//! Each write is kept as an [`Entry`] until a later write that had seen it
//! (its dot is covered by the later write's `deps`) replaces it. Concurrent
//! writes therefore coexist, at most one per region, and reads pick the winner
//! by last-write-wins: greatest hybrid logical clock, ties broken by region.
//! Keeping the losers until they are causally replaced is what makes a
//! concurrent DEL and SET converge whatever order they arrive in, and what
//! lets a later issue expose the losers as siblings.
//!
//! Counter increments are kept apart (see [`crate::counter`]); the visible
//! value is the winner plus every increment no SET or DEL had seen.

use crate::counter::{Contrib, Counter};
use crate::hlc::Hlc;
use crate::num::{format_f64, parse_f64, parse_i64};
use crate::region::REGIONS_MAX;
use crate::vv::{Dot, VersionVector};
use bytes::Bytes;

/// One written value.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub dot: Dot,
    pub hlc: Hlc,
    pub value: Bytes,
    pub expire_at_ms: Option<u64>,
}

/// The replicated state of one string key.
#[derive(Clone, Debug, Default, PartialEq)]
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

    /// The counter, if any increment ever touched the key.
    pub fn counter(&self) -> Option<&Counter> {
        self.counter.as_deref()
    }

    /// The last-write-wins winner among the kept values.
    pub fn winner(&self) -> Option<&Entry> {
        self.entries.iter().max_by_key(|e| (e.hlc, e.dot.region))
    }

    /// True if the key holds anything a reader can see, ignoring expiry.
    pub fn has_content(&self) -> bool {
        !self.entries.is_empty() || self.counter.as_ref().is_some_and(|c| c.unseen().n > 0)
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

    /// The value a reader sees at `now_ms`, or `None` if there is none or it
    /// has expired.
    pub fn read(&self, now_ms: u64) -> Option<Bytes> {
        let winner = self.winner();
        if let Some(w) = winner {
            if w.expire_at_ms.is_some_and(|at| now_ms >= at) {
                return None;
            }
        }
        let base = winner.map(|w| &w.value);
        let Some(counter) = &self.counter else {
            return base.cloned();
        };
        let u = counter.unseen();
        if u.n == 0 {
            return base.cloned();
        }
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

    /// When the visible value expires, if it does.
    pub fn expire_at_ms(&self) -> Option<u64> {
        self.winner().and_then(|w| w.expire_at_ms)
    }

    /// Applies a SET made at `dot` with causal context `deps`.
    pub fn apply_set(
        &mut self,
        dot: Dot,
        hlc: Hlc,
        deps: &VersionVector,
        value: Bytes,
        expire_at_ms: Option<u64>,
        counts: Option<&[Contrib]>,
    ) -> Applied {
        self.entries.retain(|e| !deps.covers(e.dot));
        let conflict = !self.entries.is_empty();
        self.entries.push(Entry {
            dot,
            hlc,
            value,
            expire_at_ms,
        });
        if let (Some(c), Some(seen)) = (self.counter.as_mut(), counts) {
            c.remove_seen(seen);
        }
        // Writes from one region are causally ordered, so at most one entry
        // per region can survive.
        assert!(
            self.entries.len() <= REGIONS_MAX,
            "register holds too many values"
        );
        Applied { conflict }
    }

    /// Applies a DEL with causal context `deps`: removes what it had seen.
    pub fn apply_del(&mut self, deps: &VersionVector, counts: Option<&[Contrib]>) -> Applied {
        self.entries.retain(|e| !deps.covers(e.dot));
        if let (Some(c), Some(seen)) = (self.counter.as_mut(), counts) {
            c.remove_seen(seen);
        }
        Applied::default()
    }

    /// Applies an increment from region index `region`.
    pub fn apply_incr(
        &mut self,
        region: usize,
        regions: usize,
        int: i64,
        float: Option<f64>,
    ) -> Applied {
        self.counter
            .get_or_insert_with(|| Box::new(Counter::new(regions)))
            .add(region, int, float);
        Applied::default()
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
            out.extend_from_slice(&e.expire_at_ms.unwrap_or(u64::MAX).to_le_bytes());
            out.extend_from_slice(&(e.value.len() as u64).to_le_bytes());
            out.extend_from_slice(&e.value);
        }
        if let Some(c) = &self.counter {
            for x in c.contrib.iter().chain(&c.removed) {
                out.extend_from_slice(&x.int.to_le_bytes());
                out.extend_from_slice(&x.float.to_bits().to_le_bytes());
                out.extend_from_slice(&x.n.to_le_bytes());
                out.extend_from_slice(&x.nf.to_le_bytes());
            }
        }
    }
}
