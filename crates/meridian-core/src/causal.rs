//! The causal delivery buffer.
//!
//! Each region ships its own ops over its own links, so an op can arrive
//! before one of its causes (sent by a third region over a slower path). Such
//! an op waits here until everything in its `deps` has been applied.

use crate::op::Op;
use crate::region::RegionId;
use crate::vv::VersionVector;
use std::collections::BTreeMap;

/// Most ops held waiting for their causes. Each is fully decoded in memory; a
/// peer whose causes never come must not grow memory without bound, so past
/// this the receiver refuses more and the sending link reconnects later.
pub const PENDING_OPS_MAX: usize = 100_000;

/// Ops waiting for their causes, per origin, by sequence number.
#[derive(Default)]
pub struct CausalBuffer {
    by_origin: BTreeMap<RegionId, BTreeMap<u64, Op>>,
    len: usize,
}

/// True if `op` can be applied on top of `vv`: it is the next op of its
/// origin, and every op it had seen has been applied.
pub fn deliverable(op: &Op, vv: &VersionVector) -> bool {
    if op.dot.seq != vv.get(op.dot.region) + 1 {
        return false;
    }
    op.deps
        .as_slice()
        .iter()
        .enumerate()
        .all(|(i, &seq)| i == op.dot.region.index() || seq <= vv.get(RegionId(i as u16)))
}

impl CausalBuffer {
    /// Number of ops waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True if no more ops may be held.
    pub fn is_full(&self) -> bool {
        self.len >= PENDING_OPS_MAX
    }

    /// True if an op with this dot is held.
    pub fn holds(&self, op: &Op) -> bool {
        self.by_origin
            .get(&op.dot.region)
            .is_some_and(|ops| ops.contains_key(&op.dot.seq))
    }

    /// Holds `op` until its causes arrive. A duplicate replaces nothing.
    pub fn hold(&mut self, op: Op) {
        let slot = self.by_origin.entry(op.dot.region).or_default();
        if let std::collections::btree_map::Entry::Vacant(v) = slot.entry(op.dot.seq) {
            v.insert(op);
            self.len += 1;
        }
    }

    /// Removes and returns one op that is deliverable on `vv`, dropping held
    /// ops that `vv` already covers.
    pub fn take_ready(&mut self, vv: &VersionVector) -> Option<Op> {
        for ops in self.by_origin.values_mut() {
            while let Some(entry) = ops.first_entry() {
                if vv.covers(entry.get().dot) {
                    entry.remove();
                    self.len -= 1;
                    continue;
                }
                if deliverable(entry.get(), vv) {
                    self.len -= 1;
                    return Some(entry.remove());
                }
                break;
            }
        }
        None
    }
}
