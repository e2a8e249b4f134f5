//! Counters of what happened in a run, and of the faults injected.

use crate::config::FaultKind;
use std::fmt;
use std::ops::AddAssign;

/// Faults injected, by kind: episodes for the planned kinds, messages for
/// loss, duplication and reordering, regions for crashes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts([u64; FaultKind::ALL.len()]);

impl FaultCounts {
    pub fn add(&mut self, k: FaultKind, n: u64) {
        self.0[k as usize] += n;
    }

    pub fn get(&self, k: FaultKind) -> u64 {
        self.0[k as usize]
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

impl AddAssign<&FaultCounts> for FaultCounts {
    fn add_assign(&mut self, other: &FaultCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }
}

impl fmt::Display for FaultCounts {
    /// `kind=n` for every kind that struck.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = FaultKind::ALL
            .iter()
            .filter(|k| self.get(**k) > 0)
            .map(|k| format!("{}={}", k.name(), self.get(*k)))
            .collect();
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join(" "))
        }
    }
}

/// Counters of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub events: u64,
    /// Client writes made (ops), over all regions.
    pub writes: u64,
    /// Client writes whose reply was sent (durable under the policy).
    pub writes_acked: u64,
    /// Made but lost in a crash before being acknowledged.
    pub writes_lost_unacked: u64,
    /// Acknowledged and lost (only power loss may do that, within its bound).
    pub writes_lost_acked: u64,
    /// Expiry ops made by the regions' expiry sweeps (not client writes).
    pub swept: u64,
    pub pipelines: u64,
    /// Op records handed to a receiving node (copies included).
    pub deliveries: u64,
    /// Records a node had already applied or held.
    pub duplicates_delivered: u64,
    pub messages_sent: u64,
    /// Messages that arrived on a closed connection (or were sent on one).
    pub messages_dropped: u64,
    /// Ops sent by relay scans (another region's ops).
    pub ops_relayed: u64,
    /// Handshakes completed.
    pub connects: u64,
    /// Connections closed because they heard nothing for the silence max.
    pub silence_closes: u64,
    pub handshake_timeouts: u64,
    /// Times an acceptor held an op whose clock was too far ahead.
    pub clock_holds: u64,
    /// Most ops one region held for their causes at once.
    pub pending_max: usize,
    /// Longest time from a heal to the quiescent point, over rounds
    /// without a long-down episode, in ms.
    pub settle_ms_max: u64,
    /// The liveness bound of those rounds, in ms (the largest, over runs).
    pub liveness_bound_ms: u64,
    /// The same for rounds with a long-down episode (state transfers).
    pub long_settle_ms_max: u64,
    pub long_bound_ms: u64,
    /// Snapshots that became durable (periodic ones and those written
    /// after an install).
    pub snapshots_written: u64,
    /// Log records dropped behind snapshots.
    pub records_truncated: u64,
    /// Most records one region's log held at a quiescent point.
    pub log_records_max: u64,
    /// State transfers offered by senders whose logs no longer held what
    /// the peer lacked.
    pub snapshot_offers: u64,
    /// Snapshots sent after an accepted offer, their bytes and the largest.
    pub snapshots_sent: u64,
    pub snapshot_bytes_sent: u64,
    pub snapshot_bytes_max: u64,
    /// Snapshots installed, the ops they brought and the receiver's own
    /// ops re-applied on top.
    pub snapshot_installs: u64,
    pub ops_brought: u64,
    pub ops_reapplied: u64,
    /// Offers refused (another transfer under way, or the offer lacked an
    /// op the receiver holds only in its state) and installs that failed.
    pub snapshot_refusals: u64,
    pub faults: FaultCounts,
}

impl Stats {
    /// Adds another run's counters (maxima for the `_max` fields).
    pub fn absorb(&mut self, o: &Stats) {
        self.events += o.events;
        self.writes += o.writes;
        self.writes_acked += o.writes_acked;
        self.writes_lost_unacked += o.writes_lost_unacked;
        self.writes_lost_acked += o.writes_lost_acked;
        self.swept += o.swept;
        self.pipelines += o.pipelines;
        self.deliveries += o.deliveries;
        self.duplicates_delivered += o.duplicates_delivered;
        self.messages_sent += o.messages_sent;
        self.messages_dropped += o.messages_dropped;
        self.ops_relayed += o.ops_relayed;
        self.connects += o.connects;
        self.silence_closes += o.silence_closes;
        self.handshake_timeouts += o.handshake_timeouts;
        self.clock_holds += o.clock_holds;
        self.pending_max = self.pending_max.max(o.pending_max);
        self.settle_ms_max = self.settle_ms_max.max(o.settle_ms_max);
        self.liveness_bound_ms = self.liveness_bound_ms.max(o.liveness_bound_ms);
        self.long_settle_ms_max = self.long_settle_ms_max.max(o.long_settle_ms_max);
        self.long_bound_ms = self.long_bound_ms.max(o.long_bound_ms);
        self.snapshots_written += o.snapshots_written;
        self.records_truncated += o.records_truncated;
        self.log_records_max = self.log_records_max.max(o.log_records_max);
        self.snapshot_offers += o.snapshot_offers;
        self.snapshots_sent += o.snapshots_sent;
        self.snapshot_bytes_sent += o.snapshot_bytes_sent;
        self.snapshot_bytes_max = self.snapshot_bytes_max.max(o.snapshot_bytes_max);
        self.snapshot_installs += o.snapshot_installs;
        self.ops_brought += o.ops_brought;
        self.ops_reapplied += o.ops_reapplied;
        self.snapshot_refusals += o.snapshot_refusals;
        self.faults += &o.faults;
    }
}
