//! The conflict log: what last-write-wins threw away, and type clashes.
//!
//! Last-write-wins loses data, and Meridian says which. Every time a region
//! applies a write that meets a concurrent value (one neither write had
//! seen) and readers will see only one of them, it records an entry: the
//! key, the type, the winning and losing values (cut to
//! [`CONFLICT_VALUE_BYTES_MAX`]), their regions and clocks, and why the
//! winner won. Every region that sees the conflict records it; the log is
//! local and not replicated.
//!
//! The log is a ring of [`CONFLICT_LOG_ENTRIES_MAX`] entries; past that the
//! oldest are dropped and counted, and entry ids (consecutive) show the gap.

use crate::hlc::Hlc;
use crate::op::Kind;
use crate::region::RegionId;
use bytes::Bytes;
use std::collections::VecDeque;

/// Most entries the conflict log keeps. At about 600 bytes an entry this is
/// a few megabytes, enough to hold hours of conflicts on a busy key set;
/// the count of dropped entries says when it was not.
pub const CONFLICT_LOG_ENTRIES_MAX: usize = 10_000;

/// Longest value kept in a conflict entry, in bytes. The log explains a
/// conflict; it is not a backup of the lost value.
pub const CONFLICT_VALUE_BYTES_MAX: usize = 128;

/// Longest key or field kept in a conflict entry, in bytes.
pub const CONFLICT_KEY_BYTES_MAX: usize = 256;

/// Why the winner won.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Concurrent writes; the winner's hybrid logical clock is greater.
    LaterClock,
    /// Concurrent writes at the same clock; the winner's region name sorts
    /// later.
    SameClockLaterRegion,
    /// The key was written as two types concurrently; the type whose newest
    /// write is later wins and the other is hidden until the winner is
    /// removed.
    TypeClash,
    /// A key configured for siblings had more than
    /// [`crate::string::SIBLINGS_MAX`]; the oldest were folded into a
    /// resolve.
    SiblingFold,
}

impl Reason {
    /// A sentence for humans.
    pub fn text(self) -> &'static str {
        match self {
            Reason::LaterClock => "concurrent writes: later clock wins",
            Reason::SameClockLaterRegion => {
                "concurrent writes at the same clock: later region name wins"
            }
            Reason::TypeClash => {
                "type clash: the type written last wins; the other is hidden, not deleted"
            }
            Reason::SiblingFold => "too many siblings: the oldest was folded by last-write-wins",
        }
    }

    /// The reason for a last-write-wins decision between two ranks.
    pub fn lww(winner: (Hlc, RegionId), loser: (Hlc, RegionId)) -> Reason {
        if winner.0 > loser.0 {
            Reason::LaterClock
        } else {
            Reason::SameClockLaterRegion
        }
    }
}

/// One side of a conflict.
#[derive(Clone, Debug, PartialEq)]
pub struct Side {
    pub kind: Kind,
    /// The value (cut to [`CONFLICT_VALUE_BYTES_MAX`]), or for a type clash
    /// a description of the content.
    pub value: Bytes,
    /// True if `value` was cut.
    pub truncated: bool,
    pub region: RegionId,
    pub hlc: Hlc,
}

impl Side {
    /// A side with `value` cut to the limit.
    pub fn new(kind: Kind, value: &[u8], region: RegionId, hlc: Hlc) -> Side {
        let n = value.len().min(CONFLICT_VALUE_BYTES_MAX);
        Side {
            kind,
            value: Bytes::copy_from_slice(&value[..n]),
            truncated: n < value.len(),
            region,
            hlc,
        }
    }
}

/// One recorded conflict.
#[derive(Clone, Debug, PartialEq)]
pub struct Conflict {
    /// Consecutive from 1 in this region; a gap means dropped entries.
    pub id: u64,
    /// The key (cut to [`CONFLICT_KEY_BYTES_MAX`]).
    pub key: Bytes,
    /// The hash field, set member, sorted-set member or list element it
    /// concerns, if not the whole key.
    pub field: Option<Bytes>,
    pub winner: Side,
    pub loser: Side,
    pub reason: Reason,
}

/// The bounded log.
#[derive(Debug, Default)]
pub struct ConflictLog {
    entries: VecDeque<Conflict>,
    recorded: u64,
    dropped: u64,
}

fn cut(b: &[u8]) -> Bytes {
    Bytes::copy_from_slice(&b[..b.len().min(CONFLICT_KEY_BYTES_MAX)])
}

impl ConflictLog {
    /// Records a conflict.
    pub fn record(
        &mut self,
        key: &[u8],
        field: Option<&[u8]>,
        winner: Side,
        loser: Side,
        reason: Reason,
    ) {
        self.recorded += 1;
        if self.entries.len() == CONFLICT_LOG_ENTRIES_MAX {
            self.entries.pop_front();
            self.dropped += 1;
        }
        self.entries.push_back(Conflict {
            id: self.recorded,
            key: cut(key),
            field: field.map(cut),
            winner,
            loser,
            reason,
        });
    }

    /// Conflicts recorded since start.
    pub fn recorded(&self) -> u64 {
        self.recorded
    }

    /// Entries dropped to keep the log bounded.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Entries kept, oldest first.
    pub fn entries(&self) -> impl DoubleEndedIterator<Item = &Conflict> {
        self.entries.iter()
    }

    /// Number of entries kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if no entry is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_drops_oldest_and_counts() {
        let mut log = ConflictLog::default();
        let side = |v: &[u8]| Side::new(Kind::String, v, RegionId(0), Hlc(1));
        for i in 0..CONFLICT_LOG_ENTRIES_MAX + 3 {
            log.record(
                b"k",
                None,
                side(b"w"),
                side(&[b'x'; 300]),
                Reason::LaterClock,
            );
            assert_eq!(log.recorded(), i as u64 + 1);
        }
        assert_eq!(log.len(), CONFLICT_LOG_ENTRIES_MAX);
        assert_eq!(log.dropped(), 3);
        let first = log.entries().next().unwrap();
        assert_eq!(first.id, 4);
        assert!(first.loser.truncated);
        assert_eq!(first.loser.value.len(), CONFLICT_VALUE_BYTES_MAX);
    }
}
