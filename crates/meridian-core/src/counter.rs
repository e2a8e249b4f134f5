//! Counter contributions (the INCR family).
//!
//! Every region keeps, per key, the running total of the increments it
//! originated (a PN-counter: increments and decrements are summed, and each
//! op is applied exactly once, so one signed total per region suffices). A
//! write that replaces or removes the value (SET, DEL) records the totals it
//! had seen; what remains visible is what it had *not* seen, so an increment
//! concurrent with a SET is added to the SET's value and none is lost.

use crate::hlc::Hlc;
use crate::region::RegionId;
use serde::{Deserialize, Serialize};

/// One region's contribution to one key's counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Contrib {
    /// Sum of integer increments (wrapping; overflow is refused at the origin).
    pub int: i64,
    /// Sum of float increments, in the origin's order (so every region sums
    /// the same floats in the same order and gets the same bits).
    pub float: f64,
    /// Number of increments of any kind.
    pub n: u64,
    /// Number of float increments.
    pub nf: u64,
}

impl Contrib {
    /// The later of two observations of the same region's running totals:
    /// totals only grow along that region's history, so the one with more
    /// increments has seen more.
    pub fn later(self, other: Contrib) -> Contrib {
        if other.n > self.n {
            other
        } else {
            self
        }
    }
}

/// Per region: running totals, and the totals that a SET or DEL has removed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Counter {
    pub contrib: Vec<Contrib>,
    pub removed: Vec<Contrib>,
    /// The newest increment, by (HLC, region). The counter counts as written
    /// then, for expiry (see [`crate::expiry`]) and for type clashes.
    pub last: (Hlc, RegionId),
}

/// The visible part of a counter: what no SET or DEL has seen.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Unseen {
    pub int: i64,
    pub float: f64,
    pub n: u64,
    pub nf: u64,
}

impl Counter {
    pub fn new(regions: usize) -> Counter {
        Counter {
            contrib: vec![Contrib::default(); regions],
            removed: vec![Contrib::default(); regions],
            last: (Hlc(0), RegionId(0)),
        }
    }

    /// Adds an increment made by region `r` at `hlc`.
    pub fn add(&mut self, r: RegionId, hlc: Hlc, int: i64, float: Option<f64>) {
        self.last = self.last.max((hlc, r));
        let r = r.index();
        self.grow(r + 1);
        let c = &mut self.contrib[r];
        c.int = c.int.wrapping_add(int);
        c.n += 1;
        if let Some(f) = float {
            c.float += f;
            c.nf += 1;
        }
    }

    /// Records that a SET or DEL saw the totals `seen`.
    pub fn remove_seen(&mut self, seen: &[Contrib]) {
        self.grow(seen.len());
        for (removed, seen) in self.removed.iter_mut().zip(seen) {
            *removed = removed.later(*seen);
        }
    }

    /// The sum of increments not yet removed. Summed in region order, so every
    /// region computes identical bits.
    pub fn unseen(&self) -> Unseen {
        let mut u = Unseen::default();
        for (c, r) in self.contrib.iter().zip(&self.removed) {
            u.int = u.int.wrapping_add(c.int.wrapping_sub(r.int));
            u.float += c.float - r.float;
            u.n += c.n.saturating_sub(r.n);
            u.nf += c.nf.saturating_sub(r.nf);
        }
        u
    }

    fn grow(&mut self, len: usize) {
        if self.contrib.len() < len {
            self.contrib.resize(len, Contrib::default());
            self.removed.resize(len, Contrib::default());
        }
    }
}
