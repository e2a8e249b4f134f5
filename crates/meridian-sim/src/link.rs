//! One directed replication link `from -> to`: the sender's state machine
//! (meridian-core's `Outbound`) and the state of the wire under faults.

use meridian_core::link::Outbound;
use meridian_core::{Op, RegionId};

/// LSN of the first record of every region's log.
pub const FIRST_LSN: u64 = 1;

/// Most ops in one batch. The server batches by bytes
/// (`protocol::BATCH_RECORDS_MAX`); the simulator's ops are small and its
/// logs short, and small batches make more messages for the network to
/// delay, duplicate and drop.
pub const BATCH_OPS_MAX: usize = 32;

/// The state of a link's connection, as its sender sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conn {
    /// `Hello` sent, waiting for `Welcome`: nothing is sent meanwhile.
    Dialing,
    /// Streaming ops. The sender does not notice a cut (no connection reset
    /// crosses a partition); it sends into the void until its window of
    /// unacknowledged batches fills, then waits for the heal.
    Up,
}

/// A directed link and its current connection.
pub struct Link {
    pub from: usize,
    pub to: usize,
    /// One-way delays, sender to receiver and back.
    pub forward_ms: u64,
    pub back_ms: u64,
    /// Fault episodes holding the link cut; down while above zero.
    cuts: u32,
    /// Connection generation, bumped on every cut and heal. A message sent
    /// on an older generation is lost, as data in flight on a broken TCP
    /// connection is.
    pub epoch: u64,
    pub conn: Conn,
    /// The generation whose `Hello` the receiver accepted: the receiver may
    /// send on that connection only.
    pub accepted: Option<u64>,
    pub out: Outbound,
}

impl Link {
    /// A link that is up and about to dial its first connection.
    pub fn new(from: usize, to: usize, forward_ms: u64, back_ms: u64, regions: usize) -> Link {
        Link {
            from,
            to,
            forward_ms,
            back_ms,
            cuts: 0,
            epoch: 0,
            conn: Conn::Dialing,
            accepted: None,
            out: Outbound::new(region(from), region(to), regions, FIRST_LSN),
        }
    }

    /// True while a fault holds the link cut.
    pub fn is_cut(&self) -> bool {
        self.cuts > 0
    }

    /// True if a message sent on connection `epoch` arrives now.
    pub fn carries(&self, epoch: u64) -> bool {
        !self.is_cut() && self.epoch == epoch
    }

    /// A fault episode cuts the link. Returns true if it just went down,
    /// which breaks the current connection.
    pub fn cut(&mut self) -> bool {
        self.cuts += 1;
        if self.cuts == 1 {
            self.epoch += 1;
        }
        self.cuts == 1
    }

    /// A fault episode ends. Returns true if the link just came back: the
    /// sender then notices its connection is dead and dials a new one.
    pub fn heal(&mut self) -> bool {
        assert!(self.cuts > 0, "heal of a link that is not cut");
        self.cuts -= 1;
        if self.cuts == 0 {
            self.epoch += 1;
            self.conn = Conn::Dialing;
        }
        self.cuts == 0
    }

    /// The next batch to send from the sender's `log`: the ops the peer
    /// lacks, from where the link last read, if the connection is up and the
    /// window has room. Records it as sent.
    pub fn next_batch(&mut self, log: &[Op]) -> Option<Vec<Op>> {
        if self.conn != Conn::Up || !self.out.can_send() {
            return None;
        }
        let start = (self.out.next_lsn() - FIRST_LSN) as usize;
        let mut batch: Vec<Op> = Vec::new();
        let mut last_lsn = 0;
        for (i, op) in log.iter().enumerate().skip(start) {
            if self.out.wants(op.dot) {
                batch.push(op.clone());
                last_lsn = i as u64 + FIRST_LSN;
                if batch.len() == BATCH_OPS_MAX {
                    break;
                }
            }
        }
        let last = batch.last()?;
        // The sender's own ops sit in its log in sequence order.
        assert!(batch.windows(2).all(|w| w[0].dot.seq < w[1].dot.seq));
        self.out.on_sent(last_lsn, last.dot.seq);
        Some(batch)
    }
}

/// The id of region index `i`.
pub fn region(i: usize) -> RegionId {
    RegionId(i as u16)
}
