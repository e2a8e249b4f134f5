//! A region's log on a simulated disk.
//!
//! The log is a list of records (ops) with two watermarks, as the server's
//! `meridian-log` has them:
//!
//! - **written**: handed to the OS (`write(2)`). This is the server's
//!   `durable_lsn`: client replies wait for it. Under `everysec` and `no`
//!   the server writes inline, so it moves with every append; under
//!   `always` it moves only when the group commit's write and fsync finish.
//! - **synced**: fsynced, the server's `synced_lsn`: replication reads
//!   (own ops and relays), acks and `Welcome`s wait for it, whatever the
//!   policy, so no peer ever holds or counts on an op its sender can lose.
//!   Under `always` equal to written. Under `everysec` and `no` the log's
//!   writer thread fsyncs as soon as anything written is unsynced, one fsync
//!   per group, back to back (`World::start_fsyncs`): an fsync takes
//!   `FSYNC_MS_MIN..=FSYNC_MS_MAX` and covers what was written when it
//!   began; what is written meanwhile waits for the next.
//!
//! A process crash keeps everything written (the OS has it) and may keep
//! part of what was appended but not yet written. A power loss keeps what
//! was synced and a random part of the rest: the cut may fall inside a
//! record (a torn write), which recovery drops, so the surviving log is
//! always a prefix of whole records. The real log's recovery of torn
//! records is tested in meridian-log; here only its outcome is modelled.
//! Recovery fsyncs what it kept (as `meridian_log::Log::open` does), so
//! after a restart every record is synced.

use crate::config::Fsync;
use crate::events::Event;
use crate::rng::SimRng;
use crate::world::World;
use meridian_core::Op;

/// Time a group commit takes under `always` (write plus fsync), and an
/// fsync of the writer thread under `everysec` and `no`, in ms, drawn per
/// commit: local NVMe fsyncs in well under a millisecond (one simulated ms
/// is the smallest step), cloud network disks in a few ms. The span leaves
/// crashes room to fall between an append and its reply or its fsync.
pub const FSYNC_MS_MIN: u64 = 1;
pub const FSYNC_MS_MAX: u64 = 5;

/// The promise of `everysec`, as `meridian_log::EVERYSEC_INTERVAL_MS`. No
/// longer when the disk fsyncs: the writer fsyncs back to back whatever the
/// policy (`World::start_fsyncs`), so an acknowledged write is synced
/// within two fsyncs (the one under way when it was written, and the next).
pub const EVERYSEC_MS: u64 = 1_000;

/// Interval of the OS's writeback under `no` (Linux flushes dirty pages
/// older than 30 s, checking every 5 s). As [`EVERYSEC_MS`], no longer
/// when the disk fsyncs: the writer fsyncs promptly under `no` too.
pub const WRITEBACK_MS: u64 = 5_000;

/// Most time from a record being written to it being synced under
/// `everysec` and `no`: the fsync under way when it was written may not
/// cover it, the next one does.
pub const SYNC_LAG_MS_MAX: u64 = 2 * FSYNC_MS_MAX;

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
    /// Under `everysec` and `no`: the fsync under way covers the records
    /// below this count.
    syncing: Option<usize>,
    /// The policy is `everysec` or `no`: the writer thread's fsyncs make
    /// records synced, not the client path's group commit.
    background: bool,
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
            self.background = true;
        }
        self.records.len() as u64 - 1 + FIRST_LSN
    }

    /// LSN of the last record appended (`FIRST_LSN - 1` if none).
    pub fn last_lsn(&self) -> u64 {
        self.records.len() as u64 + FIRST_LSN - 1
    }

    /// LSN of the last written record: what client replies wait for.
    pub fn written_lsn(&self) -> u64 {
        self.written as u64 + FIRST_LSN - 1
    }

    /// LSN of the last synced record: what replication ships, and what
    /// acks and `Welcome`s wait for.
    pub fn synced_lsn(&self) -> u64 {
        self.synced as u64 + FIRST_LSN - 1
    }

    /// True if appended records wait for the group commit of `always`,
    /// which the client path schedules. Under `everysec` and `no` the
    /// writer thread's fsyncs are started by `World::start_fsyncs`
    /// instead, so this is false.
    pub fn needs_sync(&self) -> bool {
        !self.background && self.synced < self.records.len()
    }

    /// Starts an fsync of everything written if some of it is unsynced
    /// and no fsync is under way (`everysec`, `no`). Returns whether it did.
    fn begin_fsync(&mut self) -> bool {
        if !self.background || self.syncing.is_some() || self.synced == self.written {
            return false;
        }
        self.syncing = Some(self.written);
        self.sync_scheduled = true;
        true
    }

    /// The scheduled write or fsync is done: under `always` every appended
    /// record is now written and synced; otherwise what was written when
    /// the fsync began is synced.
    pub fn sync(&mut self, fsync: Fsync) {
        self.sync_scheduled = false;
        if fsync == Fsync::Always {
            self.written = self.records.len();
            self.synced = self.written;
        } else if let Some(upto) = self.syncing.take() {
            self.synced = self.synced.max(upto);
        }
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
        self.syncing = None;
        Cut {
            kept,
            lost: len - kept,
        }
    }
}

impl World {
    /// The log writer thread of every region under `everysec` and `no`:
    /// as soon as something written is not synced and no fsync is under
    /// way, an fsync starts, covering what is written now. Run after every
    /// event, as the server's writer thread is woken by every write and
    /// goes on at the end of every fsync. The fsync ends with an
    /// `Event::Sync`, which ships what it synced and releases waiting acks.
    pub(crate) fn start_fsyncs(&mut self) {
        if self.cfg.fsync == Fsync::Always {
            return;
        }
        for r in 0..self.n() {
            let region = &mut self.rs[r];
            if !region.up || !region.disk.begin_fsync() {
                continue;
            }
            let life = region.life;
            let after = self.disk_rng.range(FSYNC_MS_MIN, FSYNC_MS_MAX);
            self.queue
                .push(self.now_ms + after, Event::Sync { region: r, life });
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
            assert!(d.begin_fsync());
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

    #[test]
    fn an_fsync_covers_what_was_written_when_it_began() {
        let mut d = Disk::default();
        let mut more = ops(5).into_iter();
        for op in more.by_ref().take(2) {
            d.append(op, Fsync::EverySec);
        }
        assert!(!d.needs_sync(), "the client path schedules nothing");
        assert!(d.begin_fsync());
        assert!(!d.begin_fsync(), "one fsync at a time");
        for op in more {
            d.append(op, Fsync::EverySec);
        }
        assert_eq!((d.written_lsn(), d.synced_lsn()), (5, 0));
        d.sync(Fsync::EverySec);
        assert_eq!(d.synced_lsn(), 2, "records written during the fsync wait");
        assert!(d.begin_fsync());
        d.sync(Fsync::EverySec);
        assert_eq!(d.synced_lsn(), 5);
        assert!(!d.begin_fsync(), "nothing left to sync");
        // A stray completion (no fsync under way) changes nothing.
        d.sync(Fsync::EverySec);
        assert_eq!(d.synced_lsn(), 5);
    }
}
