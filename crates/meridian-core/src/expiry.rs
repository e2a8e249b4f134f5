//! Key expiry: EXPIRE, PERSIST, SET with a TTL, and what happens when a
//! deadline passes.
//!
//! A key's expiry is a multi-value register of deadlines. EXPIRE (and SET
//! with EX/PX) replaces the deadlines its origin had seen with its own;
//! PERSIST replaces them with "never"; SET without a TTL and DEL remove them.
//! Concurrent ones are all kept, and the key's deadline is: none if any
//! "never" is kept (PERSIST beats any TTL), else the latest kept deadline
//! (the longest TTL wins).
//!
//! When the deadline `D` passes, values written before `D` (by HLC) are
//! hidden; values written at or after `D` stay visible: they were written to
//! a key that had expired, by a region that had not heard of the deadline,
//! and Redis would have created a fresh key for them. Every region decides
//! with the same state and its own clock, so once the regions' clocks pass
//! `D` they all show the same thing, without any message.
//!
//! The first region to write to the key after `D` (and the sweep, see
//! [`crate::node::Node::expire_due`]) replicates an expiry op
//! ([`crate::op::OpBody::Expired`]). It drops every value written before `D`
//! and keeps `D` as the key's *floor*: a value written before the floor is
//! dropped wherever and whenever it arrives. That is what keeps an expired
//! key gone: a write concurrent with the EXPIRE cannot bring old values back
//! after a later write clears the deadline.
//!
//! Counters are one value whose write time is their latest increment: a
//! counter last incremented before `D` is hidden, and the expiry op removes
//! the increments its origin had seen of such counters.

use crate::hlc::Hlc;
use crate::vv::{Dot, VersionVector};
use serde::{Deserialize, Serialize};

/// One kept deadline: `at_ms` or, if `None`, never (PERSIST).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deadline {
    pub dot: Dot,
    pub hlc: Hlc,
    pub at_ms: Option<u64>,
}

/// The expiry register of one key, and its floor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Expiry {
    deadlines: Vec<Deadline>,
    /// Values written before this (milliseconds, compared with their HLC's
    /// physical part) are gone for good; 0 if none.
    floor_ms: u64,
    /// The op that last raised the floor (for collecting tombstones once
    /// every region has seen it).
    floor_dot: Option<Dot>,
}

impl Expiry {
    /// The kept deadlines.
    pub fn deadlines(&self) -> &[Deadline] {
        &self.deadlines
    }

    /// The floor, in milliseconds (0 if none).
    pub fn floor_ms(&self) -> u64 {
        self.floor_ms
    }

    /// The op that last raised the floor.
    pub fn floor_dot(&self) -> Option<Dot> {
        self.floor_dot
    }

    /// True if no deadline and no floor is kept.
    pub fn is_empty(&self) -> bool {
        self.deadlines.is_empty() && self.floor_ms == 0
    }

    /// The key's deadline: `None` if it has none or a PERSIST is kept, else
    /// the latest kept deadline.
    pub fn deadline(&self) -> Option<u64> {
        let mut best = None;
        for d in &self.deadlines {
            match d.at_ms {
                None => return None,
                Some(at) => best = best.max(Some(at)),
            }
        }
        best
    }

    /// The region that owns the deadline (wrote the winning one; ties by
    /// clock then region), which sweeps the key when it passes.
    pub fn owner(&self) -> Option<crate::region::RegionId> {
        let at = self.deadline()?;
        self.deadlines
            .iter()
            .filter(|d| d.at_ms == Some(at))
            .max_by_key(|d| (d.hlc, d.dot.region))
            .map(|d| d.dot.region)
    }

    /// The deadline if it has passed at `now_ms`.
    pub fn passed(&self, now_ms: u64) -> Option<u64> {
        self.deadline().filter(|at| *at <= now_ms)
    }

    /// Values written before the returned clock are hidden at `now_ms`.
    pub fn cutoff(&self, now_ms: u64) -> Hlc {
        let passed = self.passed(now_ms).unwrap_or(0);
        Hlc::new(self.floor_ms.max(passed), 0)
    }

    /// Replaces the deadlines `deps` covers with `at` (`Some(None)`: never;
    /// `None`: nothing, only removes).
    pub fn apply(&mut self, dot: Dot, hlc: Hlc, deps: &VersionVector, at: Option<Option<u64>>) {
        self.deadlines.retain(|d| !deps.covers(d.dot));
        if let Some(at_ms) = at {
            self.deadlines.push(Deadline { dot, hlc, at_ms });
        }
    }

    /// Removes the deadlines `deps` covers.
    pub fn remove_covered(&mut self, deps: &VersionVector) {
        self.deadlines.retain(|d| !deps.covers(d.dot));
    }

    /// Raises the floor to `at_ms` (an expiry op made at `dot`).
    pub fn raise_floor(&mut self, at_ms: u64, dot: Dot) {
        if at_ms >= self.floor_ms {
            self.floor_ms = at_ms;
            self.floor_dot = Some(dot);
        }
    }

    /// The floor as a clock: values with a smaller HLC are gone.
    pub fn floor(&self) -> Hlc {
        Hlc::new(self.floor_ms, 0)
    }

    /// Feeds a canonical encoding to `out`: the kept deadlines. The floor
    /// is left out: once every region has seen the expiry op that set it,
    /// no op below it can arrive and it changes nothing, and regions learn
    /// that at different times: one that collected the key's tombstone and
    /// then saw the key written again holds no floor where the others still
    /// keep it. Two regions that applied the same ops hold the same floor
    /// until then.
    pub fn canonical(&self, out: &mut Vec<u8>) {
        let mut d: Vec<&Deadline> = self.deadlines.iter().collect();
        d.sort_by_key(|d| d.dot);
        out.extend_from_slice(&(d.len() as u32).to_le_bytes());
        for d in d {
            out.extend_from_slice(&d.dot.region.0.to_le_bytes());
            out.extend_from_slice(&d.dot.seq.to_le_bytes());
            out.extend_from_slice(&d.hlc.0.to_le_bytes());
            out.extend_from_slice(&d.at_ms.map_or(u64::MAX, |a| a).to_le_bytes());
        }
    }
}
