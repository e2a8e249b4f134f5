//! The sending side of one replication link, as a state machine.
//!
//! A link streams this region's own ops, in log order, to one peer. It also
//! *relays* ops of other regions that the peer still lacks once they are
//! older than [`RELAY_AFTER_MS`]: normally every region hears every origin
//! directly and faster, but when an origin dies after reaching only some
//! regions, or one link is cut while a path through a third region exists,
//! the relay is what lets the survivors converge (and release the ops held
//! for those causes). It keeps
//! the peer's version vector (from `Welcome`, then from each `Ack`) to skip
//! what the peer already has, and remembers how far in the local log every op
//! was acknowledged, so that after a disconnect it resumes from there instead
//! of rescanning the log from the start.

use crate::region::RegionId;
use crate::vv::{Dot, VersionVector};
use std::collections::VecDeque;

/// Most batches sent but not yet acknowledged on one link. A link sends a
/// batch each time the log becomes durable, which under load is hundreds of
/// times a second, and a batch is acknowledged one round trip later (up to
/// 350 ms between the farthest regions): the window must cover rate times
/// round trip, or ops queue behind it for extra round trips (measured: with
/// 64, p99 lag exceeded the link delay by 100 ms and more at 2,000 writes/s).
/// The data itself is bounded by TCP's flow control; this bounds only the
/// bookkeeping (16 bytes a batch, so at most 256 KiB) and how long a dead
/// peer is written to before the link stops reading the log.
pub const IN_FLIGHT_BATCHES_MAX: usize = 16_384;

/// How old another region's op must be, in milliseconds of its hybrid
/// logical clock, before a link relays it to a peer that has not
/// acknowledged it. Above the longest inter-region round trip (350 ms
/// measured) plus ack delays, so a healthy direct path always wins and relays
/// stay rare; low enough that survivors converge about a second after a
/// region dies.
pub const RELAY_AFTER_MS: u64 = 1_000;

/// Sender state for the link from `me` to `peer`.
#[derive(Debug)]
pub struct Outbound {
    me: RegionId,
    peer: RegionId,
    peer_vv: VersionVector,
    /// (last LSN scanned by a batch, highest own seq it carried).
    in_flight: VecDeque<(u64, u64)>,
    /// Every own op at an LSN below this is acknowledged by the peer.
    acked_below_lsn: u64,
    /// Where the next read of the log starts.
    next_lsn: u64,
    /// Where the relay scan reads next.
    relay_next_lsn: u64,
    /// Every other region's op below this LSN was acknowledged by the peer
    /// when the relay scan passed it.
    relay_settled_lsn: u64,
}

impl Outbound {
    /// A link that has never connected: it will scan the log from `first_lsn`.
    pub fn new(me: RegionId, peer: RegionId, regions: usize, first_lsn: u64) -> Outbound {
        Outbound {
            me,
            peer,
            peer_vv: VersionVector::new(regions),
            in_flight: VecDeque::new(),
            acked_below_lsn: first_lsn,
            next_lsn: first_lsn,
            relay_next_lsn: first_lsn,
            relay_settled_lsn: first_lsn,
        }
    }

    pub fn peer(&self) -> RegionId {
        self.peer
    }

    /// The peer's version vector as last reported.
    pub fn peer_vv(&self) -> &VersionVector {
        &self.peer_vv
    }

    /// A (re)connection was welcomed with the peer's version vector. Returns
    /// the LSN to resume reading from. If the peer has fewer of our ops than it
    /// had acknowledged (it lost data), rescan from `first_lsn`.
    pub fn on_welcome(&mut self, vv: VersionVector, first_lsn: u64) -> u64 {
        if vv.get(self.me) < self.peer_vv.get(self.me) {
            self.acked_below_lsn = first_lsn;
        }
        self.acked_below_lsn = self.acked_below_lsn.max(first_lsn);
        self.peer_vv = vv;
        self.in_flight.clear();
        self.next_lsn = self.acked_below_lsn;
        self.relay_settled_lsn = self.relay_settled_lsn.max(first_lsn);
        self.relay_next_lsn = self.relay_settled_lsn;
        self.next_lsn
    }

    /// The log was truncated under the link and now starts at `first_lsn`
    /// (the caller checked that it still holds every op of ours the peer
    /// lacks, see [`crate::snapshot::LogBase::serves`]): every read
    /// position moves up to it. Batches in flight stay, so their acks still
    /// settle them.
    pub fn skip_to(&mut self, first_lsn: u64) {
        self.next_lsn = self.next_lsn.max(first_lsn);
        self.acked_below_lsn = self.acked_below_lsn.max(first_lsn);
        self.relay_next_lsn = self.relay_next_lsn.max(first_lsn);
        self.relay_settled_lsn = self.relay_settled_lsn.max(first_lsn);
    }

    /// Where the relay scan reads next.
    pub fn relay_next_lsn(&self) -> u64 {
        self.relay_next_lsn
    }

    /// True if the op `dot` of another region should be relayed: the peer
    /// has not acknowledged it (the caller checks its age).
    pub fn relay_wants(&self, dot: Dot) -> bool {
        dot.region != self.me && dot.region != self.peer && !self.peer_vv.covers(dot)
    }

    /// Records that the relay scan read the log up to `last_lsn`, relaying
    /// something (`relayed`) or finding everything acknowledged.
    pub fn on_relay_scanned(&mut self, last_lsn: u64, relayed: bool) {
        if !relayed && self.relay_settled_lsn == self.relay_next_lsn {
            self.relay_settled_lsn = last_lsn + 1;
        }
        self.relay_next_lsn = last_lsn + 1;
    }

    /// Where the next read of the log starts.
    pub fn next_lsn(&self) -> u64 {
        self.next_lsn
    }

    /// True if the op `dot` should be sent to the peer.
    pub fn wants(&self, dot: Dot) -> bool {
        dot.region == self.me && !self.peer_vv.covers(dot)
    }

    /// True if another batch may be sent now.
    pub fn can_send(&self) -> bool {
        self.in_flight.len() < IN_FLIGHT_BATCHES_MAX
    }

    /// Records that the log was read up to `last_lsn` and the wanted ops in
    /// that range (highest own seq `max_seq`, 0 if none) were sent.
    pub fn on_sent(&mut self, last_lsn: u64, max_seq: u64) {
        self.next_lsn = last_lsn + 1;
        if self.in_flight.is_empty() && max_seq <= self.peer_vv.get(self.me) {
            // Nothing new was sent and nothing waits: the range is settled.
            self.acked_below_lsn = last_lsn + 1;
        } else {
            self.in_flight.push_back((last_lsn, max_seq));
        }
    }

    /// The peer acknowledged (durably) everything in `vv`.
    pub fn on_ack(&mut self, vv: VersionVector) {
        self.peer_vv.merge(&vv);
        let have = self.peer_vv.get(self.me);
        while let Some(&(last_lsn, max_seq)) = self.in_flight.front() {
            if max_seq > have {
                break;
            }
            self.acked_below_lsn = last_lsn + 1;
            self.in_flight.pop_front();
        }
    }

    /// Our ops the peer has not acknowledged yet.
    pub fn ops_behind(&self, my_vv: &VersionVector) -> u64 {
        my_vv.get(self.me).saturating_sub(self.peer_vv.get(self.me))
    }

    /// Batches sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumes_after_acknowledged_prefix() {
        let me = RegionId(0);
        let mut l = Outbound::new(me, RegionId(1), 2, 1);
        assert_eq!(l.on_welcome(VersionVector::new(2), 1), 1);
        assert!(l.wants(Dot::new(me, 1)));
        assert!(!l.wants(Dot::new(RegionId(1), 1)));
        l.on_sent(10, 4);
        l.on_sent(20, 9);
        l.on_ack(VersionVector::from_vec(vec![4, 0]));
        assert_eq!(l.in_flight(), 1);
        // Reconnect: resume after the acknowledged batch, skip what it has.
        assert_eq!(l.on_welcome(VersionVector::from_vec(vec![6, 0]), 1), 11);
        assert!(!l.wants(Dot::new(me, 6)));
        assert!(l.wants(Dot::new(me, 7)));
        // Peer lost data: rescan from the start.
        assert_eq!(l.on_welcome(VersionVector::from_vec(vec![2, 0]), 1), 1);
        // The log is truncated under the link: reads move up, the batch in
        // flight still settles.
        l.on_sent(30, 12);
        l.skip_to(25);
        assert_eq!(
            (l.next_lsn(), l.relay_next_lsn(), l.in_flight()),
            (31, 25, 1)
        );
        l.on_ack(VersionVector::from_vec(vec![12, 0]));
        assert_eq!(l.in_flight(), 0);
    }
}
