//! The writer thread: group commit of pending records to the active segment,
//! and the fsyncs that make written records *synced*.

use crate::config::{FsyncPolicy, PENDING_RETAIN_BYTES_MAX};
use crate::error::LogError;
use crate::segment::{self, SegmentMeta};
use crate::shared::Shared;
use parking_lot::Mutex;
use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Records taken from the pending buffer in one go.
#[derive(Default)]
pub(crate) struct Batch {
    buf: Vec<u8>,
    offsets: Vec<u32>,
    first_lsn: u64,
    /// A segment end asked for by `Log::end_segment`, taken with the batch.
    roll_after: Option<u64>,
}

/// How often the writer thread writes records that no caller flushed, under
/// `EverySec` and `No` (where callers normally write inline, see
/// [`Writer::flush`]). A safety net, so an append nobody waits for still
/// reaches the OS soon.
const IDLE_FLUSH_MS: u64 = 10;

pub(crate) struct Writer {
    pub shared: Arc<Shared>,
    pub dir: PathBuf,
    pub policy: FsyncPolicy,
    pub segment_bytes_max: u64,
    /// The active segment, opened for appending.
    pub file: File,
    pub path: PathBuf,
    pub segment_first_lsn: u64,
    pub segment_bytes: u64,
    /// LSN of the next record to write.
    pub next_lsn: u64,
    /// Bytes were written to the active segment since the last fsync began.
    pub unsynced: bool,
    /// Segments sealed without an fsync (`EverySec`, `No`); the next fsync
    /// of the writer thread syncs them and the directory.
    pub unsynced_sealed: Vec<PathBuf>,
    /// Reused buffers for taking pending records.
    pub scratch: Batch,
}

/// Poisons the log if the writer thread unwinds, so no waiter hangs forever.
struct PanicGuard(Arc<Shared>);

impl Drop for PanicGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.poison("log writer thread panicked".into());
        }
    }
}

/// What woke the writer thread.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Work {
    /// Records wait to be written (`Always`: every append; other policies:
    /// records nobody flushed for [`IDLE_FLUSH_MS`]).
    Write,
    /// Records are written but not fsynced (`EverySec`, `No`).
    Sync,
    /// `close`: write and fsync everything, then exit.
    Close,
}

/// The writer thread.
///
/// Under `Always` it does every write and fsync (group commit: one write and
/// one fsync for everything pending, under the writer lock), so durable and
/// synced move together.
///
/// Under `EverySec` and `No`, callers write inline ([`Writer::flush`]; their
/// clients are answered once the records are written) and wake this thread,
/// which fsyncs as soon as anything written is not yet synced: one fsync per
/// group of writes, back to back, whatever the policy, because replication
/// ships only synced records (a region must never ship a record it can lose
/// in a power loss, see `Log::synced_lsn`). The fsync runs outside the writer
/// lock, on a second handle to the file, so writers never wait for it; it
/// covers what was written when it began, and records written meanwhile wait
/// for the next one. The thread also writes what nobody flushed.
pub(crate) fn run(writer: Arc<Mutex<Writer>>, shared: Arc<Shared>, policy: FsyncPolicy) {
    let _guard = PanicGuard(shared.clone());
    loop {
        let work = wait_for_work(&shared, policy);
        let mut w = writer.lock();
        let result = match work {
            Work::Close => w.flush().and_then(|_| w.step_close()).map(|_| None),
            Work::Write if policy == FsyncPolicy::Always => w.flush().map(|_| None),
            Work::Write => w.flush().and_then(|_| w.begin_sync()),
            Work::Sync => w.begin_sync(),
        };
        drop(w);
        match result {
            Ok(Some(sync)) => {
                *shared.last_sync.lock() = Instant::now();
                if let Err(e) = timed_sync(&shared, &sync) {
                    shared.poison(format!("fsync: {e}"));
                    return;
                }
                shared.publish_synced(sync.lsn);
            }
            Ok(None) => {}
            Err(e) => {
                shared.poison(e.to_string());
                return;
            }
        }
        if work == Work::Close {
            return;
        }
    }
}

/// Sleeps until there is work for the thread (see [`Work`]).
fn wait_for_work(shared: &Shared, policy: FsyncPolicy) -> Work {
    let mut p = shared.pending.lock();
    let mut tick = Instant::now() + Duration::from_millis(IDLE_FLUSH_MS);
    loop {
        if p.closing {
            return Work::Close;
        }
        if policy == FsyncPolicy::Always {
            if !p.offsets.is_empty() {
                return Work::Write;
            }
            shared.work.wait(&mut p);
            continue;
        }
        // Checked under the pending lock, which `Shared::wake_writer` takes
        // before notifying: a write published after this check wakes us.
        if shared.sync_due() {
            return Work::Sync;
        }
        if shared.work.wait_until(&mut p, tick).timed_out() {
            if !p.offsets.is_empty() {
                return Work::Write;
            }
            tick = Instant::now() + Duration::from_millis(IDLE_FLUSH_MS);
        }
    }
}

/// What the writer thread fsyncs outside the writer lock.
struct PendingSync {
    /// A second handle to the active segment.
    file: File,
    /// Segments sealed since the last fsync began.
    sealed: Vec<PathBuf>,
    dir: PathBuf,
    /// Every record up to this LSN is in those files: synced once they are.
    lsn: u64,
}

fn timed_sync(shared: &Shared, sync: &PendingSync) -> io::Result<()> {
    let start = Instant::now();
    sync.file.sync_data()?;
    for path in &sync.sealed {
        match File::open(path).and_then(|f| f.sync_all()) {
            // Truncated away meanwhile: nothing to make durable.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    if !sync.sealed.is_empty() {
        // The new segments' directory entries.
        File::open(&sync.dir).and_then(|d| d.sync_all())?;
    }
    let c = &shared.counters;
    c.fsyncs.fetch_add(1, Ordering::Relaxed);
    c.last_fsync_micros
        .store(start.elapsed().as_micros() as u64, Ordering::Relaxed);
    Ok(())
}

impl Writer {
    /// Writes every pending record (fsynced too under `Always`) and
    /// publishes it as durable. Callers hold the writer lock, so batches are
    /// written in LSN order whoever writes them.
    pub(crate) fn flush(&mut self) -> Result<(), LogError> {
        let mut batch = std::mem::take(&mut self.scratch);
        self.take(&mut batch);
        let result = match batch.roll_after.take() {
            None if batch.offsets.is_empty() => Ok(()),
            None => self.write_batch(&batch),
            Some(end) => self.write_ending_segment(&batch, end),
        };
        batch.buf.clear();
        batch.offsets.clear();
        if batch.buf.capacity() > PENDING_RETAIN_BYTES_MAX {
            batch = Batch::default();
        }
        self.scratch = batch;
        result
    }

    /// Swaps the pending buffer into `batch` (which is empty), without waiting.
    fn take(&mut self, batch: &mut Batch) {
        let shared = Arc::clone(&self.shared);
        let mut p = shared.pending.lock();
        batch.first_lsn = p.first_lsn();
        batch.roll_after = p.roll_after.take();
        std::mem::swap(&mut p.buf, &mut batch.buf);
        std::mem::swap(&mut p.offsets, &mut batch.offsets);
        drop(p);
        shared.space.notify_all();
    }

    /// Writes `batch` with a segment ending after LSN `end` (see
    /// `Log::end_segment`): the records up to `end`, a new segment, the
    /// rest. The mark was set when `end` was the last appended LSN, so
    /// every record up to it is written already or in this batch.
    fn write_ending_segment(&mut self, batch: &Batch, end: u64) -> Result<(), LogError> {
        let n = batch.offsets.len() as u64;
        let split = if n == 0 || end < batch.first_lsn {
            0
        } else {
            (end - batch.first_lsn + 1).min(n) as usize
        };
        if split == 0 {
            self.end_segment_at(end)?;
            if n > 0 {
                self.write_batch(batch)?;
            }
            return Ok(());
        }
        if split as u64 == n {
            self.write_batch(batch)?;
            return self.end_segment_at(end);
        }
        let cut = batch.offsets[split] as usize;
        let head = Batch {
            buf: batch.buf[..cut].to_vec(),
            offsets: batch.offsets[..split].to_vec(),
            first_lsn: batch.first_lsn,
            roll_after: None,
        };
        let rest = Batch {
            buf: batch.buf[cut..].to_vec(),
            offsets: batch.offsets[split..]
                .iter()
                .map(|&o| o - cut as u32)
                .collect(),
            first_lsn: batch.first_lsn + split as u64,
            roll_after: None,
        };
        self.write_batch(&head)?;
        self.end_segment_at(end)?;
        self.write_batch(&rest)
    }

    /// Starts a new segment after LSN `end` if the active one holds
    /// records and ends exactly there (a full segment may just have been
    /// rotated, or, if marks raced, records after `end` may be written).
    fn end_segment_at(&mut self, end: u64) -> Result<(), LogError> {
        if self.next_lsn == end + 1 && self.next_lsn > self.segment_first_lsn {
            self.rotate()?;
        }
        Ok(())
    }

    /// If written records are not synced yet, returns what the caller must
    /// fsync outside the lock to sync them: a second handle to the active
    /// file, and the segments sealed since the last fsync began.
    fn begin_sync(&mut self) -> Result<Option<PendingSync>, LogError> {
        let lsn = self.next_lsn - 1;
        let nothing = lsn <= self.shared.synced_lsn() && self.unsynced_sealed.is_empty();
        if nothing || self.shared.hold_syncs.load(Ordering::Acquire) {
            return Ok(None);
        }
        let file = self
            .file
            .try_clone()
            .map_err(|e| LogError::io("dup", &self.path, e))?;
        self.unsynced = false;
        Ok(Some(PendingSync {
            file,
            sealed: std::mem::take(&mut self.unsynced_sealed),
            dir: self.dir.clone(),
            lsn,
        }))
    }

    /// Final fsyncs on close; everything written is then synced.
    fn step_close(&mut self) -> Result<(), LogError> {
        if self.unsynced {
            self.sync()?;
        }
        self.sync_sealed()?;
        self.shared.publish_synced(self.next_lsn - 1);
        Ok(())
    }

    /// Writes one batch, fsyncs it under `Always`, then indexes it, adds it to
    /// the tail and publishes it as durable (and as synced under `Always`),
    /// and rotates if the segment is full. Under the other policies it wakes
    /// the writer thread to fsync it.
    fn write_batch(&mut self, batch: &Batch) -> Result<(), LogError> {
        let count = batch.offsets.len() as u64;
        assert_eq!(
            batch.first_lsn, self.next_lsn,
            "batches must continue the log"
        );
        assert_eq!(batch.offsets[0], 0, "a batch starts with a frame");
        if self.shared.fail_next_write.swap(false, Ordering::AcqRel) {
            return Err(LogError::io(
                "write",
                &self.path,
                io::Error::other("injected write failure"),
            ));
        }
        self.file
            .write_all(&batch.buf)
            .map_err(|e| LogError::io("write", &self.path, e))?;
        self.unsynced = true;
        if self.policy == FsyncPolicy::Always {
            self.sync()?;
        }

        let base = self.segment_bytes;
        {
            let mut segments = self.shared.segments.lock();
            let meta = segments
                .last_mut()
                .expect("there is always an active segment");
            assert_eq!(
                meta.first_lsn, self.segment_first_lsn,
                "index tracks the active segment"
            );
            let ends = batch.offsets[1..]
                .iter()
                .map(|&o| o as usize)
                .chain(std::iter::once(batch.buf.len()));
            for (i, (&start, end)) in batch.offsets.iter().zip(ends).enumerate() {
                meta.note(
                    batch.first_lsn + i as u64,
                    base + u64::from(start),
                    base + end as u64,
                );
            }
        }
        self.segment_bytes += batch.buf.len() as u64;
        let last_lsn = batch.first_lsn + count - 1;
        self.next_lsn = last_lsn + 1;

        let c = &self.shared.counters;
        c.records_written.fetch_add(count, Ordering::Relaxed);
        c.write_batches.fetch_add(1, Ordering::Relaxed);
        self.shared
            .tail
            .lock()
            .push(batch.first_lsn, &batch.buf, &batch.offsets);
        self.shared.publish_durable(last_lsn);
        if self.policy == FsyncPolicy::Always {
            self.shared.publish_synced(last_lsn);
        }

        if self.segment_bytes >= self.segment_bytes_max {
            self.rotate()?;
        }
        if self.policy != FsyncPolicy::Always {
            self.shared.wake_writer();
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), LogError> {
        let start = Instant::now();
        self.file
            .sync_data()
            .map_err(|e| LogError::io("fsync", &self.path, e))?;
        let c = &self.shared.counters;
        c.fsyncs.fetch_add(1, Ordering::Relaxed);
        c.last_fsync_micros
            .store(start.elapsed().as_micros() as u64, Ordering::Relaxed);
        self.unsynced = false;
        Ok(())
    }

    /// fsyncs segments sealed without one and the directory.
    fn sync_sealed(&mut self) -> Result<(), LogError> {
        if self.unsynced_sealed.is_empty() {
            return Ok(());
        }
        for path in self.unsynced_sealed.drain(..) {
            match File::open(&path).and_then(|f| f.sync_all()) {
                Ok(()) => {}
                // Truncated away meanwhile: nothing to make durable.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(LogError::io("fsync", path, e)),
            }
        }
        segment::sync_dir(&self.dir)
    }

    /// Seals the active segment (fsynced unless the policy is `No`) and starts
    /// a new one named after the next LSN.
    fn rotate(&mut self) -> Result<(), LogError> {
        // Only `Always` fsyncs here, under the writer lock. The other
        // policies leave the sealed segment, the new one and the directory
        // to the thread's next fsync, outside the lock (an fsync of a whole
        // segment here stalled every writer for 40–60 ms per 64 MiB).
        let durable = self.policy == FsyncPolicy::Always;
        if durable && self.unsynced {
            self.sync()?;
        }
        if !durable {
            self.unsynced_sealed.push(self.path.clone());
        }
        let (file, path) = segment::create(&self.dir, self.next_lsn, durable)?;
        tracing::debug!(segment = %path.display(), "log segment rotated");
        self.shared
            .segments
            .lock()
            .push(SegmentMeta::new(self.next_lsn, path.clone()));
        self.file = file;
        self.path = path;
        self.segment_first_lsn = self.next_lsn;
        self.segment_bytes = crate::frame::SEGMENT_HEADER_BYTES;
        // Under `EverySec` and `No` the new header is unsynced like
        // everything else; the thread's next fsync covers it.
        self.unsynced = !durable;
        Ok(())
    }
}
