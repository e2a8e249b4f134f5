//! Dots and version vectors.
//!
//! Every operation a region originates gets a [`Dot`]: the region and a
//! sequence number that starts at 1 and has no gaps. A [`VersionVector`] holds,
//! per region, the highest sequence number applied; because each region's
//! operations are applied in order without gaps, the vector describes exactly
//! the set of operations seen, and "has seen operation d" is
//! `vv.covers(d)`.

use crate::region::RegionId;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::fmt;

/// Regions a version vector holds without a heap allocation. Every op
/// carries a copy of its origin's vector, so this saves an allocation and a
/// free per write in clusters of up to eight regions (the common case).
pub const VV_INLINE: usize = 8;

/// The identity of one operation: which region made it and its sequence number there.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct Dot {
    pub region: RegionId,
    pub seq: u64,
}

impl Dot {
    pub fn new(region: RegionId, seq: u64) -> Dot {
        Dot { region, seq }
    }
}

impl Serialize for RegionId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for RegionId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u16::deserialize(d).map(RegionId)
    }
}

/// Per region, the highest sequence number seen. Dense: one entry per region
/// of the cluster; missing trailing entries read as zero.
#[derive(Clone, PartialEq, Eq, Default, Hash, Serialize, Deserialize)]
pub struct VersionVector(SmallVec<[u64; VV_INLINE]>);

impl VersionVector {
    /// A vector of zeros for `regions` regions.
    pub fn new(regions: usize) -> VersionVector {
        VersionVector(smallvec::smallvec![0; regions])
    }

    /// Builds a vector from raw entries.
    pub fn from_vec(v: Vec<u64>) -> VersionVector {
        VersionVector(SmallVec::from_vec(v))
    }

    /// The raw entries.
    pub fn as_slice(&self) -> &[u64] {
        &self.0
    }

    /// Number of entries (regions).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if it holds no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Highest sequence number seen from `r`.
    pub fn get(&self, r: RegionId) -> u64 {
        self.0.get(r.index()).copied().unwrap_or(0)
    }

    /// Sets the entry for `r`, growing the vector if needed.
    pub fn set(&mut self, r: RegionId, seq: u64) {
        if r.index() >= self.0.len() {
            self.0.resize(r.index() + 1, 0);
        }
        self.0[r.index()] = seq;
    }

    /// True if the operation `d` is among those this vector has seen.
    pub fn covers(&self, d: Dot) -> bool {
        d.seq <= self.get(d.region)
    }

    /// True if every entry is >= the matching entry of `other`.
    pub fn dominates(&self, other: &VersionVector) -> bool {
        let n = self.0.len().max(other.0.len());
        (0..n).all(|i| {
            let r = RegionId(i as u16);
            self.get(r) >= other.get(r)
        })
    }

    /// Entry-wise maximum.
    pub fn merge(&mut self, other: &VersionVector) {
        if other.0.len() > self.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = (*a).max(*b);
        }
    }

    /// Sum over regions of how far `self` is ahead of `other`: the number of
    /// operations `self` has seen that `other` has not.
    pub fn ahead_of(&self, other: &VersionVector) -> u64 {
        (0..self.0.len())
            .map(|i| {
                let r = RegionId(i as u16);
                self.get(r).saturating_sub(other.get(r))
            })
            .sum()
    }

    /// Total number of operations seen.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

impl fmt::Debug for VersionVector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_and_dominates() {
        let mut a = VersionVector::new(3);
        a.set(RegionId(0), 5);
        assert!(a.covers(Dot::new(RegionId(0), 5)));
        assert!(!a.covers(Dot::new(RegionId(0), 6)));
        assert!(!a.covers(Dot::new(RegionId(1), 1)));
        let mut b = VersionVector::new(3);
        b.set(RegionId(1), 2);
        assert!(!a.dominates(&b) && !b.dominates(&a));
        let mut m = a.clone();
        m.merge(&b);
        assert!(m.dominates(&a) && m.dominates(&b));
        assert_eq!(m.ahead_of(&a), 2);
        assert_eq!(m.total(), 7);
    }
}
