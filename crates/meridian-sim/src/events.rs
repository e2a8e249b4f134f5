//! The event queue: everything that happens in a world, in time order.
//!
//! Events are ordered by (simulated ms, insertion counter). The counter
//! breaks ties between events of the same millisecond in the order they were
//! scheduled, so a run never depends on how a heap orders equal keys.

use crate::faults::FaultStep;
use bytes::Bytes;
use meridian_core::{Op, VersionVector};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Index of a directed link `from -> to` (see `World::link_id`).
pub type LinkId = usize;

/// A message on one connection of a directed link. The dialer (the link's
/// sender) sends `Hello`, `Auth`, `Batch`, `Offer` and `Snapshot`; the
/// acceptor sends `Challenge`, `Welcome`, `Ack` and `Accept`, as in
/// `meridian_core::protocol`. (A refusal is the acceptor closing the
/// connection; the dialer learns it as from a reset.)
#[derive(Clone, Debug)]
pub enum Msg {
    Hello,
    Challenge,
    Auth,
    /// The acceptor's version vector: where the sender resumes.
    Welcome(VersionVector),
    /// Ops in the sender's log order: its own, and relayed ones.
    Batch(Vec<Op>),
    /// The acceptor's version vector, once everything in it is durable.
    Ack(VersionVector),
    /// `SnapshotOffer`: the sender's log no longer holds what the peer
    /// lacks; it offers a snapshot covering at least this.
    Offer(VersionVector),
    /// `SnapshotAccept`.
    Accept,
    /// The snapshot, whole (`SnapshotChunk`s and `SnapshotDone`: one
    /// message, delayed by its size over [`crate::snap::SNAPSHOT_BYTES_PER_MS`]).
    Snapshot(Box<SnapshotMsg>),
}

/// A snapshot in flight.
#[derive(Clone, Debug)]
pub struct SnapshotMsg {
    pub bytes: Bytes,
    /// The sender's own bookkeeping of what it holds (`Region::seen`), which
    /// the simulator carries along to keep the receiver's.
    pub seen: Vec<u64>,
}

impl Msg {
    /// True for messages from the dialer to the acceptor.
    pub fn forward(&self) -> bool {
        matches!(
            self,
            Msg::Hello | Msg::Auth | Msg::Batch(_) | Msg::Offer(_) | Msg::Snapshot(_)
        )
    }

    /// True for messages the network may duplicate or reorder. The
    /// handshake is kept intact: one connection has one of each.
    pub fn may_disturb(&self) -> bool {
        matches!(self, Msg::Batch(_) | Msg::Ack(_))
    }

    /// A short tag for histories.
    pub fn tag(&self) -> u8 {
        match self {
            Msg::Hello => 1,
            Msg::Challenge => 2,
            Msg::Auth => 3,
            Msg::Welcome(_) => 4,
            Msg::Batch(_) => 5,
            Msg::Ack(_) => 6,
            Msg::Offer(_) => 7,
            Msg::Accept => 8,
            Msg::Snapshot(_) => 9,
        }
    }
}

/// Something that happens at a simulated time.
#[derive(Clone, Debug)]
pub enum Event {
    /// A client of `region` sends a pipeline of writes.
    Write { region: usize },
    /// `msg` arrives on connection `epoch` of `link`.
    Deliver { link: LinkId, epoch: u64, msg: Msg },
    /// The dialer of `link` (re)connects after its backoff.
    Dial { link: LinkId },
    /// The dialer learns that connection `epoch` of `link` is gone (reset,
    /// closed by the peer, or timed out).
    Closed { link: LinkId, epoch: u64 },
    /// The handshake of connection `epoch` must be done by now.
    HandshakeTimeout { link: LinkId, epoch: u64 },
    /// Connection `epoch` has heard nothing since `since_ms` if the cut or
    /// hold that began then still lasts: it is closed.
    Silence {
        link: LinkId,
        epoch: u64,
        since_ms: u64,
    },
    /// The acceptor's periodic check: acknowledge if the vv moved.
    AckTick { link: LinkId, epoch: u64 },
    /// The dialer's periodic relay scan.
    RelayTick { link: LinkId, epoch: u64 },
    /// The acceptor retries an op whose clock was too far ahead.
    Retry { link: LinkId, epoch: u64 },
    /// A region's log write (`always`) or fsync (`everysec`, `no`) is done.
    Sync { region: usize, life: u64 },
    /// A region's periodic snapshot and truncation pass (`crate::snap`).
    Maintain { region: usize, life: u64 },
    /// A planned fault starts or ends.
    Fault(FaultStep),
    /// The write phase of the current round ends: every fault heals.
    Heal,
    /// The liveness deadline of the current round.
    Deadline { round: u32 },
}

struct Scheduled {
    at_ms: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at_ms, self.seq) == (other.at_ms, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    // Reversed: BinaryHeap pops the greatest, we want the earliest.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at_ms, other.seq).cmp(&(self.at_ms, self.seq))
    }
}

/// Pending events, earliest first.
#[derive(Default)]
pub struct EventQueue {
    heap: BinaryHeap<Scheduled>,
    next_seq: u64,
}

impl EventQueue {
    /// Schedules `event` at `at_ms`.
    pub fn push(&mut self, at_ms: u64, event: Event) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Scheduled { at_ms, seq, event });
    }

    /// Removes and returns the earliest event.
    pub fn pop(&mut self) -> Option<(u64, Event)> {
        self.heap.pop().map(|s| (s.at_ms, s.event))
    }

    /// Number of events waiting.
    pub fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_time_events_keep_insertion_order() {
        let mut q = EventQueue::default();
        q.push(5, Event::Write { region: 2 });
        q.push(3, Event::Write { region: 0 });
        q.push(5, Event::Write { region: 1 });
        q.push(5, Event::Write { region: 3 });
        let order: Vec<(u64, usize)> = std::iter::from_fn(|| q.pop())
            .map(|(t, e)| match e {
                Event::Write { region } => (t, region),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(order, [(3, 0), (5, 2), (5, 1), (5, 3)]);
    }
}
