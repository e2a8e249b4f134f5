//! The `Log` handle: append, wait for durability, read back, truncate.

use crate::config::FsyncPolicy;
use crate::config::{LogConfig, PENDING_BYTES_MAX, RECORD_BYTES_MAX};
use crate::error::LogError;
use crate::frame::{self, FrameCursor, FrameError, FRAME_HEADER_BYTES};
use crate::recover;
use crate::segment::{self, SegmentMeta};
use crate::shared::{Counters, Pending, Shared};
use crate::stats::LogStats;
use crate::tail::{Collector, Tail};
use crate::writer::{self, Writer};
use bytes::Bytes;
use parking_lot::{Condvar, Mutex};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use tokio::sync::watch;

/// Name of the lock file that keeps two writers out of one directory.
pub const LOCK_FILE_NAME: &str = "LOCK";

/// An append-only, durable, segmented log of opaque records numbered by LSN
/// (1, 2, 3, ... never reused). Appends go to memory; they are written to
/// the OS in groups (by callers inline, or by the writer thread under
/// `Always`) and fsynced in groups by the writer thread. Two watermarks say
/// how far: [`Log::durable_lsn`] (written: survives a process crash; client
/// replies wait for it) and [`Log::synced_lsn`] (fsynced: survives power
/// loss; replication ships only this far). `Send + Sync`; share it behind
/// the `Arc` that [`Log::open`] returns.
pub struct Log {
    shared: Arc<Shared>,
    policy: FsyncPolicy,
    /// The writer state; whoever holds it writes (the thread, or a caller
    /// flushing inline).
    state: Arc<Mutex<Writer>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Holds the directory lock for the life of the log.
    _lock: File,
}

impl Log {
    /// Opens (creating if needed) the log in `cfg.dir`.
    ///
    /// Scans all segments in order, verifies every record's CRC and calls
    /// `replay(lsn, record)` for each so the caller can rebuild its state. A
    /// torn or corrupt tail of the **last** segment is truncated (the dropped
    /// byte count is logged); damage anywhere else fails with
    /// [`LogError::Corrupt`] (see the `recover` module docs). On error,
    /// `replay` may already have seen a prefix of the log. Every recovered
    /// segment is fsynced (a process crash may have left records written but
    /// not synced), so all recovered records start out synced. Starts the
    /// writer thread.
    pub fn open(cfg: LogConfig, mut replay: impl FnMut(u64, &[u8])) -> Result<Arc<Log>, LogError> {
        cfg.validate()?;
        fs::create_dir_all(&cfg.dir).map_err(|e| LogError::io("create dir", &cfg.dir, e))?;
        let lock = lock_dir(&cfg)?;
        let recovered = recover::recover(&cfg.dir, &mut replay)?;
        let active = recovered
            .segments
            .last()
            .expect("recovery yields a segment")
            .clone();
        let last_lsn = active.next_lsn() - 1;
        sync_recovered(&cfg, &recovered.segments)?;
        let file = OpenOptions::new()
            .append(true)
            .open(&active.path)
            .map_err(|e| LogError::io("open", &active.path, e))?;
        let (durable_tx, _) = watch::channel(last_lsn);
        let (synced_tx, _) = watch::channel(last_lsn);
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                buf: Vec::new(),
                offsets: Vec::new(),
                last_lsn,
                closing: false,
                roll_after: None,
            }),
            work: Condvar::new(),
            space: Condvar::new(),
            last_lsn: AtomicU64::new(last_lsn),
            durable_lsn: AtomicU64::new(last_lsn),
            durable_tx,
            synced_lsn: AtomicU64::new(last_lsn),
            synced_tx,
            poisoned: AtomicBool::new(false),
            poison_reason: Mutex::new(None),
            segments: Mutex::new(recovered.segments),
            tail: Mutex::new(Tail::new(cfg.tail_bytes_max)),
            counters: Counters::default(),
            fail_next_write: AtomicBool::new(false),
            hold_syncs: AtomicBool::new(false),
            policy: cfg.fsync,
            replicated: AtomicBool::new(false),
            last_sync: Mutex::new(std::time::Instant::now()),
        });
        let writer = Writer {
            shared: shared.clone(),
            dir: cfg.dir.clone(),
            policy: cfg.fsync,
            segment_bytes_max: cfg.segment_bytes_max,
            file,
            path: active.path.clone(),
            segment_first_lsn: active.first_lsn,
            segment_bytes: active.bytes,
            next_lsn: last_lsn + 1,
            unsynced: false,
            unsynced_sealed: Vec::new(),
            scratch: Default::default(),
        };
        let state = Arc::new(Mutex::new(writer));
        let (thread_state, thread_shared, policy) = (state.clone(), shared.clone(), cfg.fsync);
        let handle = std::thread::Builder::new()
            .name("meridian-log-writer".into())
            .spawn(move || writer::run(thread_state, thread_shared, policy))
            .map_err(|e| LogError::io("spawn writer thread", &cfg.dir, e))?;
        tracing::info!(dir = %cfg.dir.display(), last_lsn, fsync = %cfg.fsync, "log opened");
        Ok(Arc::new(Log {
            shared,
            policy: cfg.fsync,
            state,
            writer: Mutex::new(Some(handle)),
            _lock: lock,
        }))
    }

    /// Appends a record and returns its LSN (the previous one plus 1). The
    /// record is only in memory until [`Log::durable_lsn`] reaches it.
    ///
    /// Never waits for disk I/O: it copies the record into the pending buffer
    /// under a short mutex. The one exception is backpressure: if the writer is
    /// [`PENDING_BYTES_MAX`] behind (a stalled disk), it blocks until the
    /// writer catches up. Fails if the record exceeds [`RECORD_BYTES_MAX`],
    /// or the log is poisoned or closed.
    pub fn append(&self, record: &[u8]) -> Result<u64, LogError> {
        if record.len() > RECORD_BYTES_MAX {
            return Err(LogError::RecordTooLarge {
                len: record.len(),
                max: RECORD_BYTES_MAX,
            });
        }
        let len = record.len() as u32;
        let hasher = frame::payload_hasher(record);
        let shared = &*self.shared;
        let mut p = shared.pending.lock();
        loop {
            if shared.is_poisoned() {
                return Err(LogError::Poisoned(shared.poison_reason()));
            }
            if p.closing {
                return Err(LogError::Closed);
            }
            if p.buf.len() < PENDING_BYTES_MAX {
                break;
            }
            shared.space.wait(&mut p);
        }
        let lsn = p.last_lsn + 1;
        let crc = frame::finish_crc(hasher, len, lsn);
        let offset = u32::try_from(p.buf.len()).expect("pending buffer is bounded below 4 GiB");
        p.offsets.push(offset);
        p.buf.reserve(FRAME_HEADER_BYTES + record.len());
        p.buf.extend_from_slice(&len.to_le_bytes());
        p.buf.extend_from_slice(&crc.to_le_bytes());
        p.buf.extend_from_slice(record);
        p.last_lsn = lsn;
        shared.last_lsn.store(lsn, Ordering::Release);
        drop(p);
        if self.policy == FsyncPolicy::Always {
            // Under the other policies callers write inline (`flush`), and
            // waking the thread for every append would cost a context switch.
            shared.work.notify_one();
        }
        Ok(lsn)
    }

    /// LSN of the last durable record: written to the OS with write(2), and
    /// also fsynced when the policy is `Always`. Durable means it survives a
    /// process crash (SIGKILL); under `Always` it also survives power loss.
    /// Client replies wait for it.
    pub fn durable_lsn(&self) -> u64 {
        self.shared.durable_lsn()
    }

    /// LSN of the last synced record: fsynced, so it survives power loss.
    /// Never above [`Log::durable_lsn`]; equal to it under `Always`. Under
    /// `EverySec` and `No` the writer thread fsyncs whatever is written but
    /// not synced as soon as it is written (one fsync per group, back to
    /// back), so it trails `durable_lsn` by about one fsync.
    ///
    /// Replication ships records only up to here
    /// ([`Log::read_synced_from`]): an op a peer holds must never be lost by
    /// its origin, or the origin would hand out its sequence number again
    /// for a different op after a power loss.
    pub fn synced_lsn(&self) -> u64 {
        self.shared.synced_lsn()
    }

    /// LSN of the last appended record (0 if none ever).
    pub fn last_lsn(&self) -> u64 {
        self.shared.last_lsn.load(Ordering::Acquire)
    }

    /// Oldest LSN still retained (the first record of the oldest segment).
    pub fn first_lsn(&self) -> u64 {
        self.shared.segments.lock()[0].first_lsn
    }

    /// True once a write or fsync has failed; appends are then refused.
    pub fn is_poisoned(&self) -> bool {
        self.shared.is_poisoned()
    }

    /// Writes every appended record now, on the calling thread, and makes it
    /// durable, unless the policy is `Always`, where the writer thread does
    /// the writing (its fsync must not block the caller's thread). This is
    /// how the server avoids a context switch per pipeline: like Redis, it
    /// writes its log itself before replying. Concurrent callers serialise on
    /// the writer lock; the first one writes everyone's records.
    pub fn flush(&self) -> Result<(), LogError> {
        if self.policy == FsyncPolicy::Always || self.durable_lsn() >= self.last_lsn() {
            return Ok(());
        }
        let result = self.state.lock().flush();
        if let Err(e) = &result {
            self.shared.poison(e.to_string());
        }
        result
    }

    /// Writes every appended record now, on the calling thread, whatever
    /// the policy (under `Always` it also fsyncs, as the writer thread
    /// would), and returns once [`Log::durable_lsn`] reaches the last one.
    /// For rare callers that must read back everything they appended (the
    /// server reads its whole log to install a peer's snapshot); it blocks
    /// for a write, and for an fsync under `Always`.
    pub fn write_now(&self) -> Result<(), LogError> {
        if self.durable_lsn() >= self.last_lsn() && self.shared.pending.lock().roll_after.is_none()
        {
            return Ok(());
        }
        let result = self.state.lock().flush();
        if let Err(e) = &result {
            self.shared.poison(e.to_string());
        }
        result
    }

    /// Ends the active segment after the last appended record: the next
    /// record starts a new segment, so that `truncate_before(lsn + 1)`
    /// can delete every record up to the returned `lsn`, and none after.
    /// Cheap (it only marks the position; whoever writes next, or
    /// `truncate_before`, starts the new segment), so a caller can mark the
    /// exact end of what a snapshot covers while it holds its state lock.
    /// An empty active segment is not ended again. A later mark replaces
    /// one not acted on yet.
    pub fn end_segment(&self) -> u64 {
        let mut p = self.shared.pending.lock();
        p.roll_after = Some(p.last_lsn);
        p.last_lsn
    }

    /// Waits until `durable_lsn() >= lsn`, writing inline first under
    /// `EverySec` and `No` (see [`Log::flush`]). Returns an error if the log
    /// is poisoned first, or if `lsn` was never appended.
    pub async fn wait_durable(&self, lsn: u64) -> Result<(), LogError> {
        if self.durable_lsn() >= lsn {
            return Ok(());
        }
        let last = self.last_lsn();
        if lsn > last {
            return Err(LogError::NotAppended { lsn, last });
        }
        if self.policy != FsyncPolicy::Always {
            self.flush()?;
            if self.durable_lsn() >= lsn {
                return Ok(());
            }
        }
        self.wait_until(lsn, &self.shared.durable_tx, Shared::durable_lsn)
            .await
    }

    /// Waits until `synced_lsn() >= lsn`, writing inline first under
    /// `EverySec` and `No` (see [`Log::flush`]; the writer thread then
    /// fsyncs). Returns an error if the log is poisoned first, or if `lsn`
    /// was never appended.
    pub async fn wait_synced(&self, lsn: u64) -> Result<(), LogError> {
        if self.synced_lsn() >= lsn {
            return Ok(());
        }
        let last = self.last_lsn();
        if lsn > last {
            return Err(LogError::NotAppended { lsn, last });
        }
        if self.policy != FsyncPolicy::Always {
            self.flush()?;
        }
        self.wait_until(lsn, &self.shared.synced_tx, Shared::synced_lsn)
            .await
    }

    /// Waits until the watermark `tx` publishes (and `current` reads) reaches
    /// `lsn`, or the log is poisoned (then an error).
    async fn wait_until(
        &self,
        lsn: u64,
        tx: &watch::Sender<u64>,
        current: fn(&Shared) -> u64,
    ) -> Result<(), LogError> {
        let shared = &*self.shared;
        let mut rx = tx.subscribe();
        // The sender lives in `shared`, which outlives this borrow of `self`,
        // so `wait_for` cannot see a closed channel.
        let _ = rx
            .wait_for(|&reached| reached >= lsn || shared.is_poisoned())
            .await;
        if current(shared) >= lsn {
            Ok(())
        } else {
            Err(LogError::Poisoned(shared.poison_reason()))
        }
    }

    /// A receiver of `durable_lsn()`, updated after every write batch, for
    /// tasks that follow what is written. (It is also nudged, without a new
    /// value, when the log is poisoned; check [`Log::stats`].)
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.durable_tx.subscribe()
    }

    /// A receiver of `synced_lsn()`, updated after every fsync, for tasks
    /// that stream synced records to peers (see [`Log::read_synced_from`]).
    /// Also nudged, without a new value, when the log is poisoned.
    pub fn subscribe_synced(&self) -> watch::Receiver<u64> {
        self.shared.synced_tx.subscribe()
    }

    /// Declares that peers read this log's synced records (the region has
    /// replication peers): from now on written records are fsynced at once,
    /// one fsync per group, back to back, whatever the policy, so that
    /// replication is not held back by it. Without it, `EverySec` fsyncs
    /// once a second and `No` leaves writeback to the OS.
    pub fn set_replicated(&self) {
        self.shared.replicated.store(true, Ordering::Release);
        self.shared.wake_writer();
    }

    /// Reads durable records with LSN >= `from`: at most `max_records`, and
    /// stopping before the payload total would exceed `max_bytes` (but always
    /// at least one record if any is available). Serves from the in-memory
    /// tail when it still holds `from`, otherwise from the segment files.
    ///
    /// Returns an empty vec when `from > durable_lsn()`, and
    /// [`LogError::Truncated`] when `from < first_lsn()`.
    pub fn read_from(
        &self,
        from: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, Bytes)>, LogError> {
        self.read_up_to(from, self.durable_lsn(), max_records, max_bytes)
    }

    /// As [`Log::read_from`], but only synced records (LSN at most
    /// [`Log::synced_lsn`]): what replication may ship. Returns an empty vec
    /// when `from > synced_lsn()`.
    pub fn read_synced_from(
        &self,
        from: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, Bytes)>, LogError> {
        self.read_up_to(from, self.synced_lsn(), max_records, max_bytes)
    }

    /// Reads records from `from` to `durable` (a watermark read before, so
    /// every record up to it is in the tail or on disk).
    fn read_up_to(
        &self,
        from: u64,
        durable: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Vec<(u64, Bytes)>, LogError> {
        let first = self.first_lsn();
        if from < first {
            return Err(LogError::Truncated {
                requested: from,
                first,
            });
        }
        let mut out = Collector::new(max_records, max_bytes);
        let mut next = from;
        while next <= durable && !out.is_full() {
            {
                let tail = self.shared.tail.lock();
                if tail.first_lsn().is_some_and(|f| f <= next) {
                    next = tail.read(next, durable, &mut out);
                    continue;
                }
            }
            let before = next;
            next = self.read_segment(next, durable, &mut out)?;
            assert!(
                next > before || out.is_full(),
                "durable LSN {before} is neither in the tail nor on disk"
            );
        }
        Ok(out.out)
    }

    /// Reads from the segment holding `next` until its end, `durable`, or the
    /// budget; returns the next LSN not read.
    fn read_segment(&self, next: u64, durable: u64, out: &mut Collector) -> Result<u64, LogError> {
        let (path, seek_lsn, seek_offset, end) = {
            let segments = self.shared.segments.lock();
            let i = segments.partition_point(|s| s.first_lsn <= next);
            if i == 0 {
                return Err(LogError::Truncated {
                    requested: next,
                    first: segments[0].first_lsn,
                });
            }
            let seg = &segments[i - 1];
            let (lsn, offset) = seg.seek(next);
            (seg.path.clone(), lsn, offset, seg.bytes)
        };
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(LogError::Truncated {
                    requested: next,
                    first: self.first_lsn(),
                })
            }
            Err(e) => return Err(LogError::io("open", &path, e)),
        };
        let mut cursor = FrameCursor::new(&file, seek_offset, end, seek_lsn);
        while cursor.lsn() <= durable {
            let lsn = cursor.lsn();
            let frame = match cursor.next(lsn >= next) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(FrameError::Io(e)) => return Err(LogError::io("read", &path, e)),
                Err(FrameError::Incomplete { offset }) => {
                    return Err(LogError::corrupt(
                        &path,
                        offset,
                        "durable record is incomplete",
                    ))
                }
                Err(FrameError::Invalid { offset, reason, .. }) => {
                    return Err(LogError::corrupt(
                        &path,
                        offset,
                        format!("durable record LSN {lsn}: {reason}"),
                    ))
                }
            };
            if frame.lsn < next {
                continue;
            }
            let len = frame.payload.len();
            if !out.push(frame.lsn, || frame.payload, len) {
                return Ok(frame.lsn);
            }
        }
        Ok(cursor.lsn().max(next))
    }

    /// Deletes whole segments whose records all have LSN < `lsn`. The active
    /// segment is never deleted. The caller decides when this is safe (every
    /// peer has acknowledged those records and state no longer needs them).
    pub fn truncate_before(&self, lsn: u64) -> Result<(), LogError> {
        if self.shared.pending.lock().roll_after.is_some() {
            // Start the segment `end_segment` asked for first, so that
            // everything before the mark can go now.
            self.write_now()?;
        }
        let victims: Vec<_> = {
            let mut segments = self.shared.segments.lock();
            let n = segments
                .windows(2)
                .take_while(|w| w[1].first_lsn <= lsn)
                .count();
            segments.drain(..n).collect()
        };
        for seg in &victims {
            match fs::remove_file(&seg.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io("remove", &seg.path, e)),
            }
        }
        if let Some(last) = victims.last() {
            tracing::info!(
                segments = victims.len(),
                first_lsn = last.next_lsn(),
                "log truncated"
            );
        }
        Ok(())
    }

    /// Current counters and sizes.
    pub fn stats(&self) -> LogStats {
        let (disk_bytes, segments, first_lsn) = {
            let s = self.shared.segments.lock();
            (s.iter().map(|m| m.bytes).sum(), s.len(), s[0].first_lsn)
        };
        let (tail_bytes, tail_records) = {
            let t = self.shared.tail.lock();
            (t.bytes(), t.records())
        };
        let pending_bytes = self.shared.pending.lock().buf.len();
        let c = &self.shared.counters;
        LogStats {
            disk_bytes,
            segments,
            tail_bytes,
            tail_records,
            pending_bytes,
            records_written: c.records_written.load(Ordering::Relaxed),
            write_batches: c.write_batches.load(Ordering::Relaxed),
            fsyncs: c.fsyncs.load(Ordering::Relaxed),
            last_fsync_micros: c.last_fsync_micros.load(Ordering::Relaxed),
            first_lsn,
            durable_lsn: self.durable_lsn(),
            synced_lsn: self.synced_lsn(),
            last_lsn: self.last_lsn(),
            poisoned: self.shared.is_poisoned(),
        }
    }

    /// Stops accepting appends, writes and fsyncs every record appended
    /// before it (whatever the policy), and stops the writer thread. Returns
    /// only after that; idempotent. Also run on drop. Fails if the log is (or
    /// becomes) poisoned, in which case records after `durable_lsn()` are lost.
    pub fn close(&self) -> Result<(), LogError> {
        self.shared.pending.lock().closing = true;
        self.shared.work.notify_one();
        self.shared.space.notify_all();
        if let Some(handle) = self.writer.lock().take() {
            if handle.join().is_err() {
                tracing::error!("log writer thread panicked");
            }
        }
        if self.shared.is_poisoned() {
            return Err(LogError::Poisoned(self.shared.poison_reason()));
        }
        assert_eq!(
            self.durable_lsn(),
            self.last_lsn(),
            "close must leave every appended record durable"
        );
        assert_eq!(
            self.synced_lsn(),
            self.last_lsn(),
            "close must leave every appended record synced"
        );
        Ok(())
    }

    /// Test hook: makes the writer's next write fail, poisoning the log.
    #[doc(hidden)]
    pub fn inject_write_failure(&self) {
        self.shared.fail_next_write.store(true, Ordering::Release);
    }

    /// Test hook: while `hold` is true the writer thread starts no fsync
    /// under `EverySec` and `No`, so `synced_lsn()` stays where it is while
    /// records are written (`close` still fsyncs everything).
    #[doc(hidden)]
    pub fn hold_syncs(&self, hold: bool) {
        self.shared.hold_syncs.store(hold, Ordering::Release);
        if !hold {
            self.shared.wake_writer();
        }
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!(error = %e, "closing log on drop failed");
        }
    }
}

/// fsyncs every recovered segment and the directory. A process crash under
/// `EverySec` or `No` can leave records written but not fsynced, and
/// recovery reads them back from the page cache; they are about to count as
/// synced (and be shipped to peers), so they must survive a power loss that
/// follows the restart. A file with nothing dirty syncs quickly.
fn sync_recovered(cfg: &LogConfig, segments: &[SegmentMeta]) -> Result<(), LogError> {
    for seg in segments {
        File::open(&seg.path)
            .and_then(|f| f.sync_all())
            .map_err(|e| LogError::io("fsync", &seg.path, e))?;
    }
    segment::sync_dir(&cfg.dir)
}

fn lock_dir(cfg: &LogConfig) -> Result<File, LogError> {
    let path = cfg.dir.join(LOCK_FILE_NAME);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| LogError::io("open", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(LogError::Locked(cfg.dir.clone())),
        Err(fs::TryLockError::Error(e)) => Err(LogError::io("lock", &path, e)),
    }
}
