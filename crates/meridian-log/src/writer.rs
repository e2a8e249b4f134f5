//! The writer thread: group commit of pending records to the active segment.

use crate::config::{FsyncPolicy, EVERYSEC_INTERVAL_MS, PENDING_RETAIN_BYTES_MAX};
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
    pub last_sync: Instant,
    /// Bytes were written since the last fsync.
    pub unsynced: bool,
    /// Segments sealed without an fsync (policy `No`); `close` fsyncs them.
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

/// The writer thread. Under `Always` it does every write and fsync (group
/// commit: one write and one fsync for everything pending). Under
/// `EverySec` and `No`, callers write inline ([`Writer::flush`]) and the
/// thread only fsyncs once a second (outside the writer lock, on a second
/// handle to the file, so writers never wait for an fsync) and writes what
/// nobody flushed.
pub(crate) fn run(writer: Arc<Mutex<Writer>>, shared: Arc<Shared>, policy: FsyncPolicy) {
    let _guard = PanicGuard(shared.clone());
    loop {
        let deadline = writer.lock().sync_deadline();
        let closing = wait_for_work(&shared, policy, deadline);
        let mut w = writer.lock();
        let result = w
            .flush()
            .and_then(|_| if closing { w.step_close() } else { Ok(None) });
        let result = match result {
            Ok(None) if !closing => w.begin_periodic_sync(),
            other => other,
        };
        drop(w);
        match result {
            Ok(Some(sync)) => {
                if let Err(e) = timed_sync(&shared, &sync) {
                    shared.poison(format!("fsync: {e}"));
                    return;
                }
            }
            Ok(None) => {}
            Err(e) => {
                shared.poison(e.to_string());
                return;
            }
        }
        if closing {
            return;
        }
    }
}

/// Sleeps until there is work for the thread: pending records (`Always`),
/// the idle-flush tick (other policies), an fsync deadline, or close.
/// Returns whether the log is closing.
fn wait_for_work(shared: &Shared, policy: FsyncPolicy, deadline: Option<Instant>) -> bool {
    let mut p = shared.pending.lock();
    loop {
        if p.closing {
            return true;
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return false;
        }
        if policy == FsyncPolicy::Always {
            if !p.offsets.is_empty() {
                return false;
            }
            match deadline {
                Some(d) => {
                    shared.work.wait_until(&mut p, d);
                }
                None => shared.work.wait(&mut p),
            }
        } else {
            if !p.offsets.is_empty() {
                return false;
            }
            let tick = now + Duration::from_millis(IDLE_FLUSH_MS);
            let until = deadline.map_or(tick, |d| d.min(tick));
            // Return on every tick: callers write inline, so whether an
            // fsync is due changes without this thread seeing any record,
            // and the deadline must be recomputed by the caller.
            shared.work.wait_until(&mut p, until);
            return p.closing;
        }
    }
}

/// What the writer thread fsyncs outside the writer lock.
struct PeriodicSync {
    file: File,
    sealed: Vec<PathBuf>,
    dir: PathBuf,
}

fn timed_sync(shared: &Shared, sync: &PeriodicSync) -> io::Result<()> {
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
        let result = if batch.offsets.is_empty() {
            Ok(())
        } else {
            self.write_batch(&batch)
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
        std::mem::swap(&mut p.buf, &mut batch.buf);
        std::mem::swap(&mut p.offsets, &mut batch.offsets);
        drop(p);
        shared.space.notify_all();
    }

    /// If an `EverySec` fsync is due, marks the data synced and returns what
    /// the caller must fsync outside the lock: a second handle to the active
    /// file, and the segments sealed since the last fsync.
    fn begin_periodic_sync(&mut self) -> Result<Option<PeriodicSync>, LogError> {
        if self.sync_deadline().is_none_or(|d| Instant::now() < d) {
            return Ok(None);
        }
        let file = self
            .file
            .try_clone()
            .map_err(|e| LogError::io("dup", &self.path, e))?;
        self.last_sync = Instant::now();
        self.unsynced = false;
        Ok(Some(PeriodicSync {
            file,
            sealed: std::mem::take(&mut self.unsynced_sealed),
            dir: self.dir.clone(),
        }))
    }

    /// Final fsyncs on close.
    fn step_close(&mut self) -> Result<Option<PeriodicSync>, LogError> {
        if self.unsynced {
            self.sync()?;
        }
        self.sync_sealed()?;
        Ok(None)
    }

    /// When the next EverySec fsync is due, if there is unsynced data.
    fn sync_deadline(&self) -> Option<Instant> {
        (self.policy == FsyncPolicy::EverySec
            && (self.unsynced || !self.unsynced_sealed.is_empty()))
        .then(|| self.last_sync + Duration::from_millis(EVERYSEC_INTERVAL_MS))
    }

    /// Writes one batch, fsyncs it under `Always`, then indexes it, adds it to
    /// the tail and publishes it as durable, and rotates if the segment is full.
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

        if self.segment_bytes >= self.segment_bytes_max {
            self.rotate()?;
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
        self.last_sync = Instant::now();
        self.unsynced = false;
        Ok(())
    }

    /// fsyncs segments sealed without one (policy `No`) and the directory.
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
        // Only `Always` fsyncs here, under the writer lock. `EverySec` leaves
        // the sealed segment to the thread's next periodic fsync (outside the
        // lock: an fsync of a whole segment here stalled every writer for
        // 40–60 ms per 64 MiB), and `No` to `close`.
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
        // Under `No` the new header is unsynced like everything else; `close`
        // fsyncs it.
        self.unsynced = !durable;
        Ok(())
    }
}
