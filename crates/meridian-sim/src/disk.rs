//! A region's log on a simulated disk.
//!
//! The log is a list of records (ops) with two watermarks, as the server's
//! `meridian-log` has them:
//!
//! - **written**: handed to the OS (`write(2)`). This is the server's
//!   `durable_lsn`: client replies, replication acks and replication reads
//!   wait for it. Under `everysec` and `no` the server writes inline, so it
//!   moves with every append; under `always` it moves only when the group
//!   commit's write and fsync finish.
//! - **synced**: fsynced. Under `always` equal to written; under `everysec`
//!   it follows written once a second; under `no`, at the OS's writeback.
//!
//! A process crash keeps everything written (the OS has it) and may keep
//! part of what was appended but not yet written. A power loss keeps what
//! was synced and a random part of the rest: the cut may fall inside a
//! record (a torn write), which recovery drops, so the surviving log is
//! always a prefix of whole records. The real log's recovery of torn
//! records is tested in meridian-log; here only its outcome is modelled.

use crate::config::Fsync;
use crate::rng::SimRng;
use meridian_core::Op;

/// Time a group commit takes under `always` (write plus fsync), in ms,
/// drawn per commit: local NVMe fsyncs in well under a millisecond (one
/// simulated ms is the smallest step), cloud network disks in a few ms.
/// The span leaves crashes room to fall between an append and its reply.
pub const FSYNC_MS_MIN: u64 = 1;
pub const FSYNC_MS_MAX: u64 = 5;

/// Interval of `everysec` fsyncs, as `meridian_log::EVERYSEC_INTERVAL_MS`.
pub const EVERYSEC_MS: u64 = 1_000;

/// Interval of the OS's writeback under `no` (Linux flushes dirty pages
/// older than 30 s, checking every 5 s; modelled as a flush every 5 s).
pub const WRITEBACK_MS: u64 = 5_000;

/// LSN of the first record of every log.
pub const FIRST_LSN: u64 = 1;

/// One region's log.
#[derive(Default)]
pub struct Disk {
    /// Every record appended, LSN = index + `FIRST_LSN`.
    pub records: Vec<Op>,
    written: usize,
    synced: usize,
    /// A write (`always`) or fsync (`everysec`, `no`) is scheduled.
    pub sync_scheduled: bool,
}

/// What a crash left of a log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    /// Records kept.
    pub kept: usize,
    /// Records lost (appended after the cut).
    pub lost: usize,
}

impl Disk {
    /// Appends a record; returns its LSN. Under `everysec` and `no` it is
    /// written at once, as the server writes inline.
    pub fn append(&mut self, op: Op, fsync: Fsync) -> u64 {
        self.records.push(op);
        if fsync != Fsync::Always {
            self.written = self.records.len();
        }
        self.records.len() as u64 - 1 + FIRST_LSN
    }

    /// LSN of the last record appended (`FIRST_LSN - 1` if none).
    pub fn last_lsn(&self) -> u64 {
        self.records.len() as u64 + FIRST_LSN - 1
    }

    /// LSN of the last written record: what readers may see.
    pub fn written_lsn(&self) -> u64 {
        self.written as u64 + FIRST_LSN - 1
    }

    /// True if appended records wait to be written or fsynced.
    pub fn needs_sync(&self) -> bool {
        self.synced < self.records.len()
    }

    /// The scheduled write or fsync is done: under `always` every appended
    /// record is now written and synced; otherwise everything written is
    /// synced.
    pub fn sync(&mut self, fsync: Fsync) {
        self.sync_scheduled = false;
        if fsync == Fsync::Always {
            self.written = self.records.len();
        }
        self.synced = self.written;
    }

    /// The record at `lsn`.
    pub fn record(&self, lsn: u64) -> &Op {
        &self.records[(lsn - FIRST_LSN) as usize]
    }

    /// Cuts the log as a crash does (see the module docs) and returns what
    /// was kept. Afterwards every kept record is written and synced, as
    /// recovery leaves it.
    pub fn crash(&mut self, power: bool, rng: &mut SimRng) -> Cut {
        let floor = if power { self.synced } else { self.written };
        let len = self.records.len();
        let kept = floor + rng.index(len - floor + 1);
        self.records.truncate(kept);
        self.written = kept;
        self.synced = kept;
        self.sync_scheduled = false;
        Cut {
            kept,
            lost: len - kept,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use meridian_core::{Node, Regions, Write};

    fn ops(n: usize) -> Vec<Op> {
        let regions = Regions::new(["eu-west"]).unwrap();
        let mut node = Node::new(regions, meridian_core::RegionId(0));
        (0..n)
            .map(|i| node.write(i as u64, Bytes::from("k"), Write::IncrBy(1)))
            .collect()
    }

    #[test]
    fn process_crash_keeps_what_was_written() {
        let mut rng = SimRng::new(3);
        for _ in 0..50 {
            let mut d = Disk::default();
            for op in ops(4) {
                d.append(op, Fsync::EverySec);
            }
            assert_eq!(d.written_lsn(), 4);
            assert_eq!(d.crash(false, &mut rng).kept, 4);
            let mut a = Disk::default();
            for op in ops(3) {
                a.append(op, Fsync::Always);
            }
            assert_eq!(a.written_lsn(), 0);
            a.sync(Fsync::Always);
            a.append(ops(1).remove(0), Fsync::Always);
            let cut = a.crash(false, &mut rng);
            assert!(cut.kept >= 3 && cut.kept + cut.lost == 4);
        }
    }

    #[test]
    fn power_loss_keeps_what_was_synced() {
        let mut rng = SimRng::new(5);
        let mut lost = 0;
        for _ in 0..50 {
            let mut d = Disk::default();
            for op in ops(2) {
                d.append(op, Fsync::EverySec);
            }
            d.sync(Fsync::EverySec);
            for op in ops(3) {
                d.append(op, Fsync::EverySec);
            }
            let cut = d.crash(true, &mut rng);
            assert!(cut.kept >= 2);
            lost += cut.lost;
        }
        assert!(lost > 0);
    }
}
