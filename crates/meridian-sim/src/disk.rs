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
//!
//! Next to the log the disk holds the region's newest snapshot and its
//! [`LogBase`] (see [`crate::snap`]): a snapshot becomes durable once it is
//! written and the log is synced up to the position it covers (the server
//! renames it into place then), so a restart never finds a snapshot ahead
//! of its log; a truncation drops only records a durable snapshot covers.

use crate::config::Fsync;
use crate::events::Event;
use crate::rng::SimRng;
use crate::world::World;
use bytes::Bytes;
use meridian_core::{LogBase, Op, VersionVector};
use std::collections::VecDeque;

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

/// A snapshot of a region's node on its disk (see [`crate::snap`]), with
/// the log position it covers.
#[derive(Clone, Debug)]
pub struct Stored {
    /// `Node::encode_snapshot`.
    pub bytes: Bytes,
    /// The last log record its state reflects.
    pub lsn: u64,
    /// Its version vector (as the snapshot says).
    pub vv: VersionVector,
    /// Per origin, the highest sequence number the region held when it
    /// was written, as the simulator kept it (`Region::seen`), not as the
    /// core says: what the checkers count as held in it.
    pub seen: Vec<u64>,
    /// When it was written.
    pub at_ms: u64,
}

/// One region's log, and its newest snapshot.
#[derive(Default)]
pub struct Disk {
    /// The records still held, LSN `dropped + index + FIRST_LSN`.
    records: VecDeque<Op>,
    /// When each record held was appended (for the memory check).
    appended_ms: VecDeque<u64>,
    /// Records dropped from the front by truncations.
    dropped: u64,
    /// Records written, counting dropped ones.
    written: u64,
    /// Records synced, counting dropped ones.
    synced: u64,
    /// A write (`always`) or fsync (`everysec`, `no`) is scheduled.
    pub sync_scheduled: bool,
    /// Under `everysec` and `no`: the fsync under way covers the records
    /// below this count.
    syncing: Option<u64>,
    /// The policy is `everysec` or `no`: the writer thread's fsyncs make
    /// records synced, not the client path's group commit.
    background: bool,
    /// The newest snapshot that is durable: written, and the log synced up
    /// to its LSN. A restart starts from it.
    pub snapshot: Option<Stored>,
    /// A snapshot written and waiting for the log to be synced up to its
    /// LSN (it is renamed into place then); lost in a crash.
    pub pending: Option<Stored>,
    /// The log positions (LSN, version vector) of the snapshots that became
    /// durable since the last truncation, oldest first: the log may be
    /// dropped through any of them once every peer acknowledged its
    /// version vector (the newest snapshot, on disk, covers them all). Kept
    /// in memory: after a crash only the newest snapshot's counts.
    pub points: VecDeque<(u64, VersionVector)>,
    /// What the region applied but its log does not hold, per origin:
    /// stored with the snapshot, changed only with it or with a truncation
    /// behind it (both atomic here).
    pub base: LogBase,
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
    /// An empty log of a cluster of `regions` regions.
    pub fn new(regions: usize) -> Disk {
        Disk {
            base: LogBase::new(regions),
            ..Disk::default()
        }
    }

    fn total(&self) -> u64 {
        self.dropped + self.records.len() as u64
    }

    /// Appends a record at simulated time `now_ms`; returns its LSN. Under
    /// `everysec` and `no` it is written at once, as the server writes
    /// inline.
    pub fn append(&mut self, op: Op, fsync: Fsync, now_ms: u64) -> u64 {
        self.records.push_back(op);
        self.appended_ms.push_back(now_ms);
        if fsync != Fsync::Always {
            self.written = self.total();
            self.background = true;
        }
        self.last_lsn()
    }

    /// LSN of the last record appended (`FIRST_LSN - 1` if none ever was).
    pub fn last_lsn(&self) -> u64 {
        self.total() + FIRST_LSN - 1
    }

    /// LSN of the first record held (`last_lsn() + 1` if none is).
    pub fn first_lsn(&self) -> u64 {
        self.dropped + FIRST_LSN
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True if no record is held.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// LSN of the last written record: what client replies wait for.
    pub fn written_lsn(&self) -> u64 {
        self.written + FIRST_LSN - 1
    }

    /// LSN of the last synced record: what replication ships, and what
    /// acks and `Welcome`s wait for.
    pub fn synced_lsn(&self) -> u64 {
        self.synced + FIRST_LSN - 1
    }

    /// True if appended records wait for the group commit of `always`,
    /// which the client path schedules. Under `everysec` and `no` the
    /// writer thread's fsyncs are started by `World::start_fsyncs`
    /// instead, so this is false.
    pub fn needs_sync(&self) -> bool {
        !self.background && self.synced < self.total()
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
            self.written = self.total();
            self.synced = self.written;
        } else if let Some(upto) = self.syncing.take() {
            self.synced = self.synced.max(upto);
        }
    }

    /// Writes and fsyncs everything appended at once: a state transfer
    /// does, under the region's state lock, before it writes its snapshot
    /// (see `World::install`). A write or fsync under way still completes
    /// later, covering nothing new.
    pub fn sync_now(&mut self) {
        self.written = self.total();
        self.synced = self.written;
    }

    /// The record at `lsn`, which must be held.
    pub fn record(&self, lsn: u64) -> &Op {
        assert!(
            lsn >= self.first_lsn(),
            "read of truncated record {lsn} (first held {})",
            self.first_lsn()
        );
        &self.records[(lsn - self.first_lsn()) as usize]
    }

    /// The records held, in log order.
    pub fn records(&self) -> impl DoubleEndedIterator<Item = &Op> + ExactSizeIterator + '_ {
        self.records.iter()
    }

    /// The records held from `lsn` on, in log order.
    pub fn records_from(&self, lsn: u64) -> impl Iterator<Item = &Op> + '_ {
        let skip = lsn.saturating_sub(self.first_lsn()) as usize;
        self.records.iter().skip(skip)
    }

    /// When the oldest record held was appended.
    pub fn oldest_appended_ms(&self) -> Option<u64> {
        self.appended_ms.front().copied()
    }

    /// Drops the records up to `lsn` (a truncation behind a snapshot that
    /// covers them), and the snapshot points up to it; returns how many
    /// records.
    pub fn truncate_through(&mut self, lsn: u64) -> u64 {
        while self.points.front().is_some_and(|(l, _)| *l <= lsn) {
            self.points.pop_front();
        }
        assert!(
            lsn <= self.synced_lsn(),
            "truncation through {lsn} beyond the synced {}",
            self.synced_lsn()
        );
        let n = (lsn + 1).saturating_sub(self.first_lsn()) as usize;
        let n = n.min(self.records.len());
        self.records.drain(..n);
        self.appended_ms.drain(..n);
        self.dropped += n as u64;
        n as u64
    }

    /// Cuts the log as a crash does (see the module docs) and returns what
    /// was kept. Afterwards every kept record is written and synced, as
    /// recovery leaves it. A snapshot waiting for the log is lost.
    pub fn crash(&mut self, power: bool, rng: &mut SimRng) -> Cut {
        let floor = if power { self.synced } else { self.written };
        let len = self.total();
        // Truncation only drops synced records, so the floor is held.
        debug_assert!(floor >= self.dropped);
        let kept = floor + rng.index((len - floor + 1) as usize) as u64;
        self.records.truncate((kept - self.dropped) as usize);
        self.appended_ms.truncate((kept - self.dropped) as usize);
        self.written = kept;
        self.synced = kept;
        self.sync_scheduled = false;
        self.syncing = None;
        self.pending = None;
        self.points.clear();
        if let Some(s) = &self.snapshot {
            if s.lsn >= self.first_lsn() {
                self.points.push_back((s.lsn, s.vv.clone()));
            }
        }
        Cut {
            kept: (kept - self.dropped) as usize,
            lost: (len - kept) as usize,
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
                d.append(op, Fsync::EverySec, 0);
            }
            assert_eq!(d.written_lsn(), 4);
            assert_eq!(d.crash(false, &mut rng).kept, 4);
            let mut a = Disk::default();
            for op in ops(3) {
                a.append(op, Fsync::Always, 0);
            }
            assert_eq!(a.written_lsn(), 0);
            a.sync(Fsync::Always);
            a.append(ops(1).remove(0), Fsync::Always, 0);
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
                d.append(op, Fsync::EverySec, 0);
            }
            assert!(d.begin_fsync());
            d.sync(Fsync::EverySec);
            for op in ops(3) {
                d.append(op, Fsync::EverySec, 0);
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
            d.append(op, Fsync::EverySec, 0);
        }
        assert!(!d.needs_sync(), "the client path schedules nothing");
        assert!(d.begin_fsync());
        assert!(!d.begin_fsync(), "one fsync at a time");
        for op in more {
            d.append(op, Fsync::EverySec, 0);
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

    fn stored(lsn: u64) -> Stored {
        Stored {
            bytes: Bytes::new(),
            lsn,
            vv: VersionVector::from_vec(vec![lsn]),
            seen: vec![lsn],
            at_ms: 0,
        }
    }

    #[test]
    fn truncation_keeps_positions_and_a_crash_keeps_the_newest_point() {
        let mut d = Disk::new(1);
        for (i, op) in ops(6).into_iter().enumerate() {
            d.append(op, Fsync::EverySec, i as u64 * 10);
        }
        assert!(d.begin_fsync());
        d.sync(Fsync::EverySec);
        d.points.push_back((2, VersionVector::from_vec(vec![2])));
        d.points.push_back((4, VersionVector::from_vec(vec![4])));
        d.snapshot = Some(stored(4));
        assert_eq!(d.truncate_through(2), 2);
        assert_eq!((d.first_lsn(), d.last_lsn(), d.len()), (3, 6, 4));
        assert_eq!(d.record(3).dot.seq, 3);
        assert_eq!(
            d.records_from(5).map(|o| o.dot.seq).collect::<Vec<_>>(),
            [5, 6]
        );
        assert_eq!(d.oldest_appended_ms(), Some(20));
        assert_eq!(d.points.len(), 1);
        // LSNs go on after the dropped records.
        assert_eq!(d.append(ops(7).pop().unwrap(), Fsync::EverySec, 70), 7);
        // A crash keeps what was written, and of the points only the
        // durable snapshot's; a snapshot waiting for the log is lost.
        d.pending = Some(stored(7));
        let cut = d.crash(false, &mut SimRng::new(1));
        assert_eq!((cut.kept, cut.lost), (5, 0));
        assert!(d.pending.is_none());
        assert_eq!(d.points.iter().map(|p| p.0).collect::<Vec<_>>(), [4]);
        assert_eq!(d.truncate_through(4), 2);
        assert_eq!(d.first_lsn(), 5);
    }

    #[test]
    #[should_panic(expected = "read of truncated record")]
    fn a_truncated_record_cannot_be_read() {
        let mut d = Disk::new(1);
        for op in ops(3) {
            d.append(op, Fsync::Always, 0);
        }
        d.sync(Fsync::Always);
        d.truncate_through(2);
        d.record(2);
    }
}
