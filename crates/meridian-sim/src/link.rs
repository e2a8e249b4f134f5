//! One directed replication link `from -> to`: the dialer's state (the
//! core's `Outbound`, the connection, the reconnect backoff) and the
//! acceptor's state for each connection (its `Inbox`).
//!
//! The timings are the server's (crates/meridian-server/src/repl): they
//! decide how fast a world heals, so the liveness bound is derived from
//! them. They are copied, not imported (several are private to the server
//! and the simulator does not depend on it): change both together.

use meridian_core::link::Outbound;
use meridian_core::timing;
use meridian_core::{Op, RegionId, VersionVector};
use std::collections::VecDeque;

pub use crate::disk::FIRST_LSN;

/// Most log records one read of a link scans. The server reads
/// `protocol::BATCH_RECORDS_MAX` (4096) records at a time; the simulator's
/// logs are short, and small reads make more, smaller batches for the
/// network to delay, duplicate and lose.
pub const SCAN_RECORDS_MAX: usize = 32;

/// First reconnect delay, doubled after each failure up to the max
/// (`repl::RECONNECT_DELAY_MIN` / `MAX`).
pub const RECONNECT_DELAY_MIN_MS: u64 = timing::RECONNECT_DELAY_MIN_MS;
pub const RECONNECT_DELAY_MAX_MS: u64 = timing::RECONNECT_DELAY_MAX_MS;

/// Longest wait for the handshake (`repl::HANDSHAKE_TIMEOUT`).
pub const HANDSHAKE_TIMEOUT_MS: u64 = timing::HANDSHAKE_TIMEOUT_MS;

/// A connection that hears nothing for this long is closed
/// (`repl::LINK_SILENCE_MAX`). Heartbeats are not simulated: a connection
/// goes silent only behind a cut or while its acceptor is blocked holding
/// an op whose clock is too far ahead.
pub const LINK_SILENCE_MAX_MS: u64 = timing::LINK_SILENCE_MAX_MS;

/// How often an idle link sends a heartbeat (`repl::HEARTBEAT_INTERVAL`).
/// Heartbeats are not simulated as messages; a dialer whose peer's machine
/// lost power and came back learns that its connection is dead at the next
/// heartbeat, from the reset the rebooted peer answers with.
pub const HEARTBEAT_INTERVAL_MS: u64 = timing::HEARTBEAT_INTERVAL_MS;

/// How often a dialer scans its log for ops to relay (`dial.rs`).
pub const RELAY_SCAN_INTERVAL_MS: u64 = timing::RELAY_SCAN_INTERVAL_MS;

/// How often an acceptor checks whether its version vector moved without
/// an Ack (`accept.rs`, `ACK_CHECK_INTERVAL`).
pub const ACK_CHECK_INTERVAL_MS: u64 = timing::ACK_CHECK_INTERVAL_MS;

/// How long an acceptor waits before retrying an op whose clock is too far
/// ahead (`accept.rs`, `CLOCK_AHEAD_RETRY`).
pub const CLOCK_AHEAD_RETRY_MS: u64 = timing::CLOCK_AHEAD_RETRY_MS;

/// The dialer's view of its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conn {
    /// No connection: waiting for the backoff to end (or the region is down).
    Down,
    /// Handshake under way.
    Dialing,
    /// Streaming. The connection may be dead already: the dialer learns it
    /// only from a `Closed` event.
    Up,
}

/// What an acceptor's connection task is doing.
#[derive(Clone, Debug, PartialEq)]
pub enum InboxState {
    /// Waiting for a message or a tick.
    Idle,
    /// An op's clock is too far ahead: waiting to retry it (the server's
    /// task sleeps and reads nothing meanwhile). (An Ack waiting for the log
    /// to be synced does not stop the task: see `World::sync_waits`.)
    Holding { since_ms: u64 },
}

/// The acceptor's side of one connection: the server's `receive_ops` task.
pub struct Inbox {
    pub epoch: u64,
    /// False once the connection is gone. A task blocked holding an op
    /// still finishes the batch it holds, as the server's does, then ends.
    pub alive: bool,
    pub accepted_ms: u64,
    /// The version vector last acknowledged.
    pub acked: VersionVector,
    /// Batches received and not yet started.
    pub queue: VecDeque<Vec<Op>>,
    /// The rest of the batch being applied.
    pub current: VecDeque<Op>,
    pub state: InboxState,
    /// An ack tick is scheduled.
    pub tick: bool,
    /// Since when the op at the front of `current` has been held for its
    /// clock (across retries).
    pub held_since_ms: Option<u64>,
    /// It accepted a snapshot offer and waits for the snapshot: its region
    /// is installing, and refuses other offers.
    pub accepted: bool,
}

impl Inbox {
    pub fn new(epoch: u64, now_ms: u64) -> Inbox {
        Inbox {
            epoch,
            alive: true,
            accepted_ms: now_ms,
            // As the server's: empty, so the first tick acknowledges.
            acked: VersionVector::default(),
            queue: VecDeque::new(),
            current: VecDeque::new(),
            state: InboxState::Idle,
            tick: false,
            held_since_ms: None,
            accepted: false,
        }
    }

    /// True if it has nothing left to do.
    pub fn is_idle(&self) -> bool {
        self.state == InboxState::Idle && self.queue.is_empty() && self.current.is_empty()
    }
}

/// The dialer's state transfer on its connection (see `crate::snap`):
/// between the `Welcome` and the streaming of batches when its log no
/// longer holds what the peer lacks.
#[derive(Clone, Debug)]
pub enum Transfer {
    /// `SnapshotOffer` sent; waiting for `SnapshotAccept`.
    Offered,
    /// Accepted; the snapshot is encoded and waits until the log is synced
    /// up to `lsn` (nothing not synced leaves a region).
    Syncing {
        bytes: bytes::Bytes,
        vv: VersionVector,
        seen: Vec<u64>,
        lsn: u64,
    },
    /// Sent; waiting for the `Ack` of an installed state (a version vector
    /// covering `vv`), then streaming resumes after `lsn`.
    Sent { vv: VersionVector, lsn: u64 },
}

/// A directed link and its current connection.
pub struct Link {
    pub from: usize,
    pub to: usize,
    pub out: Outbound,
    pub conn: Conn,
    /// Id of the latest connection; never reused, even across restarts.
    pub epoch: u64,
    /// Connection `epoch` is open. A message of another connection, or of
    /// a closed one, is lost.
    pub live: bool,
    pub up_ms: u64,
    pub backoff_ms: u64,
    pub connects: u64,
    pub connects_seen: u64,
    /// A relay scan is scheduled.
    pub relay_tick: bool,
    /// `Broken::ResumeSkipsOne`: the next batch leaves out its first op.
    pub skip_next: bool,
    /// A state transfer under way on connection `epoch`.
    pub transfer: Option<Transfer>,
    /// The acceptor's side of connection `epoch`.
    pub inbox: Option<Inbox>,
    /// Acceptor sides of closed connections still finishing a held batch.
    pub stale: Vec<Inbox>,
}

impl Link {
    /// A link whose dialer has never connected.
    pub fn new(from: usize, to: usize, regions: usize) -> Link {
        Link {
            from,
            to,
            out: Outbound::new(region(from), region(to), regions, FIRST_LSN),
            conn: Conn::Down,
            epoch: 0,
            live: false,
            up_ms: 0,
            backoff_ms: RECONNECT_DELAY_MIN_MS,
            connects: 0,
            connects_seen: 0,
            relay_tick: false,
            skip_next: false,
            transfer: None,
            inbox: None,
            stale: Vec::new(),
        }
    }

    /// The dialer restarts with its region: a fresh `Outbound`, as the
    /// server makes one at start-up.
    pub fn restart_dialer(&mut self, regions: usize) {
        self.out = Outbound::new(region(self.from), region(self.to), regions, FIRST_LSN);
        self.conn = Conn::Down;
        self.live = false;
        self.backoff_ms = RECONNECT_DELAY_MIN_MS;
        self.connects = 0;
        self.connects_seen = 0;
        self.relay_tick = false;
        self.skip_next = false;
        self.transfer = None;
    }

    /// The session ended: how long the dialer sleeps before dialing again,
    /// updating the backoff as `dial::run` does.
    pub fn next_backoff_ms(&mut self) -> u64 {
        let sleep = self.backoff_ms;
        self.backoff_ms = (self.backoff_ms * 2).min(RECONNECT_DELAY_MAX_MS);
        if self.connects > self.connects_seen {
            self.connects_seen = self.connects;
            self.backoff_ms = RECONNECT_DELAY_MIN_MS;
        }
        sleep
    }

    /// The inbox of connection `epoch`, current or stale.
    pub fn inbox_mut(&mut self, epoch: u64) -> Option<&mut Inbox> {
        match &mut self.inbox {
            Some(i) if i.epoch == epoch => Some(i),
            _ => self.stale.iter_mut().find(|i| i.epoch == epoch),
        }
    }

    /// Takes the inbox of connection `epoch` out, to work on it.
    pub fn take_inbox(&mut self, epoch: u64) -> Option<Inbox> {
        if self.inbox.as_ref().is_some_and(|i| i.epoch == epoch) {
            return self.inbox.take();
        }
        let at = self.stale.iter().position(|i| i.epoch == epoch)?;
        Some(self.stale.remove(at))
    }

    /// Puts back an inbox taken with `take_inbox`, unless its task ended.
    pub fn put_inbox(&mut self, inbox: Inbox) {
        if inbox.alive && inbox.epoch == self.epoch && self.live {
            self.inbox = Some(inbox);
        } else if !inbox.current.is_empty() {
            self.stale.push(inbox);
        }
    }

    /// The acceptor's side learns its connection is gone.
    pub fn close_inbox(&mut self) {
        if let Some(mut inbox) = self.inbox.take() {
            inbox.alive = false;
            inbox.queue.clear();
            if matches!(inbox.state, InboxState::Holding { .. }) {
                self.stale.push(inbox);
            }
        }
    }
}

/// The id of region index `i`.
pub fn region(i: usize) -> RegionId {
    RegionId(i as u16)
}

/// The first multiple of `period_ms` after `base_ms` that is later than
/// `now_ms`: when a periodic timer started at `base_ms` fires next.
pub fn next_tick_ms(base_ms: u64, now_ms: u64, period_ms: u64) -> u64 {
    base_ms + ((now_ms.saturating_sub(base_ms)) / period_ms + 1) * period_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_resets_after_a_connection() {
        let mut l = Link::new(0, 1, 2);
        let sleeps: Vec<u64> = (0..8).map(|_| l.next_backoff_ms()).collect();
        assert_eq!(sleeps, [50, 100, 200, 400, 800, 1600, 2000, 2000]);
        l.connects += 1;
        assert_eq!(l.next_backoff_ms(), 2000);
        assert_eq!(l.next_backoff_ms(), 50);
    }

    #[test]
    fn ticks_keep_their_phase() {
        assert_eq!(next_tick_ms(100, 100, 20), 120);
        assert_eq!(next_tick_ms(100, 119, 20), 120);
        assert_eq!(next_tick_ms(100, 120, 20), 140);
    }
}
