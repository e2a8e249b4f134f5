//! State shared between the `Log` handle and its writer thread.

use crate::config::{FsyncPolicy, EVERYSEC_INTERVAL_MS};
use crate::segment::SegmentMeta;
use crate::tail::Tail;
use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Appended records not yet taken by the writer.
pub(crate) struct Pending {
    /// Encoded frames, back to back.
    pub buf: Vec<u8>,
    /// Offset of each frame in `buf`.
    pub offsets: Vec<u32>,
    /// LSN of the last appended record.
    pub last_lsn: u64,
    /// Set by `close`: no more appends; the writer drains, fsyncs and exits.
    pub closing: bool,
    /// Set by [`crate::Log::end_segment`]: the active segment ends after
    /// this LSN; whoever writes next starts a new segment there.
    pub roll_after: Option<u64>,
}

impl Pending {
    /// LSN of the first record in `buf` (meaningful when non-empty).
    pub(crate) fn first_lsn(&self) -> u64 {
        self.last_lsn + 1 - self.offsets.len() as u64
    }
}

/// Monotonic counters for [`crate::LogStats`].
#[derive(Default)]
pub(crate) struct Counters {
    pub records_written: AtomicU64,
    pub write_batches: AtomicU64,
    pub fsyncs: AtomicU64,
    pub last_fsync_micros: AtomicU64,
}

pub(crate) struct Shared {
    pub pending: Mutex<Pending>,
    /// The writer sleeps on this when nothing is pending.
    pub work: Condvar,
    /// Appenders sleep on this while the pending buffer is full.
    pub space: Condvar,
    pub last_lsn: AtomicU64,
    /// Written to the OS (`write(2)`): survives a process crash.
    pub durable_lsn: AtomicU64,
    pub durable_tx: watch::Sender<u64>,
    /// fsynced: survives power loss. Never above `durable_lsn`.
    pub synced_lsn: AtomicU64,
    pub synced_tx: watch::Sender<u64>,
    pub poisoned: AtomicBool,
    pub poison_reason: Mutex<Option<String>>,
    pub segments: Mutex<Vec<SegmentMeta>>,
    pub tail: Mutex<Tail>,
    pub counters: Counters,
    /// Test hook: the next write fails.
    pub fail_next_write: AtomicBool,
    /// Test hook: the writer thread starts no fsync (`EverySec`, `No`)
    /// until cleared; `close` still fsyncs.
    pub hold_syncs: AtomicBool,
    pub policy: FsyncPolicy,
    /// Set by [`crate::Log::set_replicated`]: peers read synced records.
    pub replicated: AtomicBool,
    /// When the last fsync began (`EverySec` without a link: once a second).
    pub last_sync: Mutex<Instant>,
}

impl Shared {
    pub(crate) fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    pub(crate) fn poison_reason(&self) -> String {
        self.poison_reason
            .lock()
            .clone()
            .unwrap_or_else(|| "unknown failure".into())
    }

    /// Marks the log failed and wakes everyone waiting on it. Records not yet
    /// durable never will be.
    pub(crate) fn poison(&self, reason: String) {
        tracing::error!(%reason, "log poisoned; refusing further appends");
        self.poison_reason.lock().get_or_insert(reason);
        {
            // Under the pending lock so an appender cannot check the flag and
            // then miss the wakeup.
            let _pending = self.pending.lock();
            self.poisoned.store(true, Ordering::Release);
        }
        self.space.notify_all();
        self.durable_tx.send_modify(|_| {});
        self.synced_tx.send_modify(|_| {});
    }

    pub(crate) fn durable_lsn(&self) -> u64 {
        self.durable_lsn.load(Ordering::Acquire)
    }

    pub(crate) fn synced_lsn(&self) -> u64 {
        self.synced_lsn.load(Ordering::Acquire)
    }

    /// True if the writer thread has records to fsync (written, not synced),
    /// is allowed to, and they are due: at once if the log is replicated
    /// (peers read only synced records), else on the policy's schedule
    /// (`EverySec`: a second after the last fsync began; `No`: never, the
    /// OS writes back). A region without peers has nothing to ship, and
    /// fsyncing every write would only cost its clients throughput.
    pub(crate) fn sync_due(&self) -> bool {
        if self.hold_syncs.load(Ordering::Acquire) || self.durable_lsn() <= self.synced_lsn() {
            return false;
        }
        if self.replicated.load(Ordering::Acquire) {
            return true;
        }
        match self.policy {
            FsyncPolicy::EverySec => {
                self.last_sync.lock().elapsed() >= Duration::from_millis(EVERYSEC_INTERVAL_MS)
            }
            FsyncPolicy::No | FsyncPolicy::Always => false,
        }
    }

    /// Wakes the writer thread if it sleeps: called after records were
    /// written inline, so it fsyncs them. Takes the pending lock first,
    /// which the thread holds from checking for work until it sleeps, so
    /// the wakeup cannot fall in between and be lost.
    pub(crate) fn wake_writer(&self) {
        drop(self.pending.lock());
        self.work.notify_one();
    }

    /// Makes records up to `lsn` visible as durable.
    pub(crate) fn publish_durable(&self, lsn: u64) {
        assert!(
            lsn >= self.durable_lsn.load(Ordering::Relaxed),
            "durable LSN must not go backwards"
        );
        self.durable_lsn.store(lsn, Ordering::Release);
        self.durable_tx.send_replace(lsn);
    }

    /// Makes records up to `lsn` visible as synced (fsynced). Only records
    /// already durable (written) can be synced, and the watermark never goes
    /// back.
    pub(crate) fn publish_synced(&self, lsn: u64) {
        assert!(
            lsn <= self.durable_lsn.load(Ordering::Acquire),
            "synced LSN {lsn} must not pass the durable LSN"
        );
        if self.synced_lsn.fetch_max(lsn, Ordering::AcqRel) < lsn {
            self.synced_tx.send_replace(lsn);
        }
    }
}
