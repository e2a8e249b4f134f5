//! The event queue: everything that happens in a world, in time order.
//!
//! Events are ordered by (simulated ms, insertion counter). The counter
//! breaks ties between events of the same millisecond in the order they were
//! scheduled, so a run never depends on how a heap orders equal keys.

use meridian_core::{Op, VersionVector};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Index of a directed link `from -> to` (see `World::link_id`).
pub type LinkId = usize;

/// A message on the connection of one directed link. `Hello` and `Batch`
/// travel from the link's sender to its receiver; `Welcome` and `Ack` come
/// back.
#[derive(Clone, Debug)]
pub enum Msg {
    /// The sender (re)connects.
    Hello,
    /// The receiver's version vector, answering `Hello`.
    Welcome(VersionVector),
    /// The sender's own ops, in its log order.
    Batch(Vec<Op>),
    /// The receiver's version vector after applying a batch.
    Ack(VersionVector),
}

impl Msg {
    /// True for messages from the link's sender to its receiver.
    pub fn forward(&self) -> bool {
        matches!(self, Msg::Hello | Msg::Batch(_))
    }

    /// True for messages the network may duplicate. The handshake is kept
    /// single: a connection has one `Hello` and one `Welcome`.
    pub fn may_duplicate(&self) -> bool {
        matches!(self, Msg::Batch(_) | Msg::Ack(_))
    }
}

/// Something that happens at a simulated time.
#[derive(Clone, Debug)]
pub enum Event {
    /// A client of `region` writes.
    Write { region: usize },
    /// `msg` arrives on `link`; it is lost if the connection it was sent on
    /// (`epoch`) is gone.
    Deliver { link: LinkId, epoch: u64, msg: Msg },
    /// A fault episode cuts `link`.
    Cut { link: LinkId },
    /// A fault episode ends its cut of `link`.
    Heal { link: LinkId },
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

    /// True if nothing waits: the world is quiescent.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
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
