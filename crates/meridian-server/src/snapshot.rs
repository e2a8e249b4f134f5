//! Snapshots of the region's state in its data directory, the log
//! truncation behind them, and the server's half of the full state
//! transfer (the rules are `meridian_core::snapshot`'s).
//!
//! # The snapshot file
//!
//! `DATA/snapshot` holds the newest snapshot: the state as of one log
//! position (LSN) `s`, and the region's [`LogBase`]. On start the region
//! loads it and replays the log records after `s`. It is replaced whole:
//! written to `snapshot.tmp`, fsynced, renamed, and the directory fsynced,
//! so a crash leaves the old file or the new one, never a mix.
//!
//! ```text
//! magic "MRDNSNAP" | format u16 | lsn u64 | base_len u32 | base (postcard LogBase)
//!   | node_len u64 | node (Node::encode_snapshot) | crc32 of everything before
//! ```
//! (integers little-endian). A file that fails any check stops start-up
//! with an error: starting without it would silently lose what the log no
//! longer holds.
//!
//! # When
//!
//! [`run`] writes one each time the log grew by `--snapshot-log-mb` since
//! the last one (checked every [`CHECK_INTERVAL`]); `MERIDIAN.SNAPSHOT`
//! writes one at once ([`take`]). The state is encoded under the state
//! lock, which every command waits for: that is the pause the INFO field
//! `last_snapshot_pause_ms` shows (measured, release build, 2 cores:
//! 0.2–0.3 s for 980k keys set by `redis-benchmark -t set`, a 37 MB file
//! written in 40–130 ms). The file is written off the lock, once every record the
//! snapshot covers is fsynced: were a record lost in a crash, the log
//! would hand its LSN to a new record, which the next start-up would skip.
//!
//! # Truncation
//!
//! Every snapshot is a *truncation point*: its position `s` and version
//! vector `v`. The log records up to `s` may be deleted once every peer
//! either acknowledged `v` on our outgoing link (its acknowledgements cover
//! only synced ops) or is *left behind*: nothing came from it on any link
//! for longer than `--log-retention-secs`. A snapshot taken under steady
//! writes covers ops applied a moment before, which no peer has
//! acknowledged yet, so the check runs again every [`CHECK_INTERVAL`] over
//! the points kept (up to [`POINTS_MAX`]) and cuts behind the newest one
//! allowed ([`truncate_behind`]). The base then covers `v`; it is persisted
//! before any segment goes, in the base file (`DATA/log-base`; start-up
//! takes the greater of it and the snapshot file's). The log ends its
//! segment at every snapshot's `s` exactly
//! ([`meridian_log::Log::end_segment`], under the state lock), so
//! truncation stops right there. Nothing is truncated while a peer's
//! snapshot is being received here.
//!
//! # Installing a peer's snapshot
//!
//! [`install`] runs under the state lock for its whole length: it reads
//! this region's retained log back, installs the snapshot with those ops
//! on top (`Node::install`), writes and fsyncs its own snapshot file, and
//! logs the ops the new state released. Acknowledgements from any link
//! report the node's version vector, so nothing may be seen of the
//! installed state before it is durable: every command waits meanwhile
//! (the pause is logged and shown in INFO; measured: 1.1 s for 950k keys,
//! 36 MB, on an idle region; 5.6 s for 1.7M keys, 135 MB, with 400k own
//! ops to re-apply, under load).

use crate::shared::Shared;
use anyhow::{anyhow, bail, Context};
use meridian_core::{LogBase, Op, Snapshot, VersionVector};
use meridian_log::Log;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Name of the snapshot file in the data directory.
pub const FILE_NAME: &str = "snapshot";

/// Where a new snapshot file is written before it replaces the old one.
const TMP_NAME: &str = "snapshot.tmp";

/// First bytes of a snapshot file.
const MAGIC: &[u8; 8] = b"MRDNSNAP";

/// Version of the file layout (the node's encoding inside carries its own,
/// `meridian_core::snapshot::SNAPSHOT_FORMAT`).
pub const FILE_FORMAT: u16 = 1;

/// Bytes before the base: magic, format, LSN, base length.
const HEAD_BYTES: usize = 8 + 2 + 8 + 4;

/// Largest encoded base accepted when reading: a version vector of at most
/// a few hundred regions. A larger length is damage.
const BASE_BYTES_MAX: usize = 64 * 1024;

/// Name of the file holding the log base once the log is truncated behind
/// a snapshot older than the newest file (see [`truncate_behind`]).
pub const BASE_FILE_NAME: &str = "log-base";

/// Where a new base file is written before it replaces the old one.
const BASE_TMP_NAME: &str = "log-base.tmp";

/// First bytes of a base file.
const BASE_MAGIC: &[u8; 8] = b"MRDNBASE";

/// Most snapshots kept as truncation points ([`SnapshotState::points`]);
/// past it the oldest is forgotten (the log is then cut behind a newer
/// one, later). At the default of a snapshot per 256 MiB of log this is
/// 16 GiB of log waiting for acknowledgements.
///
/// [`SnapshotState::points`]: crate::shared::SnapshotState::points
pub const POINTS_MAX: usize = 64;

/// How often [`run`] checks whether the log has grown enough for a
/// snapshot, and whether it can be truncated behind one. The check is a
/// look at the log's size and at the peers' acknowledgements.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// How long [`run`] waits after a failed snapshot before trying again, so
/// that a full disk is not hammered every second.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// Bytes read from the log at a time while installing a snapshot.
const INSTALL_READ_BYTES: usize = 4 * 1024 * 1024;

/// Records read from the log at a time while installing a snapshot.
const INSTALL_READ_RECORDS: usize = 16 * 1024;

/// A snapshot file as read back.
pub struct SnapshotFile {
    /// Every log record up to here is reflected in the state.
    pub lsn: u64,
    pub base: LogBase,
    bytes: Vec<u8>,
    node: std::ops::Range<usize>,
}

impl SnapshotFile {
    /// The node's encoded snapshot (`Snapshot::decode` reads it).
    pub fn node_bytes(&self) -> &[u8] {
        &self.bytes[self.node.clone()]
    }

    /// Size of the file.
    pub fn file_bytes(&self) -> u64 {
        self.bytes.len() as u64
    }
}

/// Path of the snapshot file in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Reads and checks the snapshot file in `dir`; `None` if there is none.
pub fn read(dir: &Path) -> anyhow::Result<Option<SnapshotFile>> {
    let path = path(dir);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
    };
    parse(bytes).map(Some).map_err(|why| {
        anyhow!(
            "snapshot file {} is damaged: {why}. Without it the state its log no longer \
             holds is lost, so this region will not start. Restore the file from a backup, \
             or move the data directory away and start the region empty: its peers then \
             send it their state (its own writes that never reached a peer are lost)",
            path.display()
        )
    })
}

fn parse(bytes: Vec<u8>) -> Result<SnapshotFile, String> {
    let len = bytes.len();
    if len < HEAD_BYTES + 8 + 4 {
        return Err(format!("{len} bytes is too short for a snapshot file"));
    }
    if &bytes[..8] != MAGIC {
        return Err("it does not start with the snapshot magic".into());
    }
    let (body, crc) = bytes.split_at(len - 4);
    let want = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let got = crc32fast::hash(body);
    if want != got {
        return Err(format!(
            "checksum mismatch (stored {want:08x}, computed {got:08x})"
        ));
    }
    let le = |at: usize, n: usize| -> u64 {
        bytes[at..at + n]
            .iter()
            .rev()
            .fold(0u64, |v, b| (v << 8) | u64::from(*b))
    };
    let format = le(8, 2) as u16;
    if format != FILE_FORMAT {
        return Err(format!(
            "file format {format} is not supported (this build reads {FILE_FORMAT})"
        ));
    }
    let lsn = le(10, 8);
    let base_len = le(18, 4) as usize;
    if base_len > BASE_BYTES_MAX || HEAD_BYTES + base_len + 8 > body.len() {
        return Err(format!("base of {base_len} bytes does not fit"));
    }
    let base: LogBase = postcard::from_bytes(&bytes[HEAD_BYTES..HEAD_BYTES + base_len])
        .map_err(|e| format!("base cannot be decoded: {e}"))?;
    let at = HEAD_BYTES + base_len;
    let node_len = le(at, 8);
    let node_at = at + 8;
    if node_len != (body.len() - node_at) as u64 {
        return Err(format!(
            "state of {node_len} bytes does not match the file's {} bytes",
            body.len() - node_at
        ));
    }
    let node = node_at..body.len();
    Ok(SnapshotFile {
        lsn,
        base,
        bytes,
        node,
    })
}

/// Writes the snapshot file in `dir` (see the module doc), replacing the
/// old one atomically and durably; returns its size.
pub fn write(dir: &Path, lsn: u64, base: &LogBase, node: &[u8]) -> anyhow::Result<u64> {
    let tmp = dir.join(TMP_NAME);
    let base_bytes = postcard::to_allocvec(base).context("encode the log base")?;
    let mut head = Vec::with_capacity(HEAD_BYTES + base_bytes.len() + 8);
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&FILE_FORMAT.to_le_bytes());
    head.extend_from_slice(&lsn.to_le_bytes());
    head.extend_from_slice(&(base_bytes.len() as u32).to_le_bytes());
    head.extend_from_slice(&base_bytes);
    head.extend_from_slice(&(node.len() as u64).to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&head);
    crc.update(node);
    let crc = crc.finalize();
    let written = (|| -> io::Result<()> {
        let mut f = BufWriter::with_capacity(1024 * 1024, File::create(&tmp)?);
        f.write_all(&head)?;
        f.write_all(node)?;
        f.write_all(&crc.to_le_bytes())?;
        let f = f.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()
    })();
    written.with_context(|| format!("write {}", tmp.display()))?;
    let to = path(dir);
    fs::rename(&tmp, &to)
        .with_context(|| format!("rename {} to {}", tmp.display(), to.display()))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("fsync directory {}", dir.display()))?;
    Ok((head.len() + node.len() + 4) as u64)
}

/// Writes the base file in `dir` (magic, postcard `LogBase`, crc32),
/// replacing the old one atomically and durably.
pub fn write_base(dir: &Path, base: &LogBase) -> anyhow::Result<()> {
    let tmp = dir.join(BASE_TMP_NAME);
    let mut bytes = BASE_MAGIC.to_vec();
    bytes.extend_from_slice(&postcard::to_allocvec(base).context("encode the log base")?);
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    let written = (|| -> io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()
    })();
    written.with_context(|| format!("write {}", tmp.display()))?;
    let to = dir.join(BASE_FILE_NAME);
    fs::rename(&tmp, &to)
        .with_context(|| format!("rename {} to {}", tmp.display(), to.display()))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("fsync directory {}", dir.display()))
}

/// Reads and checks the base file in `dir`; `None` if there is none.
pub fn read_base(dir: &Path) -> anyhow::Result<Option<LogBase>> {
    let path = dir.join(BASE_FILE_NAME);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
    };
    let damaged = |why: &str| {
        anyhow!(
            "the log base file {} is damaged ({why}); without it this region cannot tell \
             which ops its log no longer holds. Restore it from a backup, or remove the \
             region's whole data directory to let it rejoin by a full state transfer",
            path.display()
        )
    };
    if bytes.len() < BASE_MAGIC.len() + 4 || &bytes[..BASE_MAGIC.len()] != BASE_MAGIC {
        return Err(damaged("not a log base file"));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32fast::hash(body).to_le_bytes() != crc {
        return Err(damaged("checksum mismatch"));
    }
    postcard::from_bytes(&body[BASE_MAGIC.len()..])
        .map(Some)
        .map_err(|e| damaged(&e.to_string()))
}

/// What one snapshot did.
#[derive(Clone, Debug)]
pub struct Taken {
    /// The log position it covers.
    pub lsn: u64,
    /// Size of the file.
    pub file_bytes: u64,
    /// How long it held the state lock.
    pub pause: Duration,
    /// How long writing the file took.
    pub write: Duration,
    /// Log records deleted behind it.
    pub truncated: u64,
    /// The log's first retained position afterwards.
    pub first_lsn: u64,
    /// Why the log was not truncated (empty if it was).
    pub held: Vec<String>,
}

impl Taken {
    /// A one-line status, as MERIDIAN.SNAPSHOT replies.
    pub fn status(&self) -> String {
        let mut s = format!(
            "snapshot lsn={} bytes={} pause_ms={:.1} write_ms={:.1} truncated={} log_first_lsn={}",
            self.lsn,
            self.file_bytes,
            ms(self.pause),
            ms(self.write),
            self.truncated,
            self.first_lsn
        );
        if !self.held.is_empty() {
            s.push_str(" kept: ");
            s.push_str(&self.held.join("; "));
        }
        s.replace(['\r', '\n'], " ")
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Writes a snapshot now and truncates the log behind it if every peer
/// allows (see the module doc).
pub async fn take(shared: &Arc<Shared>) -> anyhow::Result<Taken> {
    let _file = shared.snapshots.file.clone().lock_owned().await;
    let sh = shared.clone();
    let (node, lsn, vv, pause) = tokio::task::spawn_blocking(move || encode(&sh, true))
        .await
        .context("snapshot encoding task")?;
    if shared.peers.is_empty() {
        // Nothing is shipped, so nothing waits for fsyncs (under `no` the
        // log never fsyncs): written is enough not to lose positions in a
        // process crash, and start-up repairs a file ahead of its log.
        shared.log.wait_durable(lsn).await
    } else {
        shared.log.wait_synced(lsn).await
    }
    .context("wait for the log to be written")?;
    let base = shared.snapshots.state.lock().base.clone();
    let started = Instant::now();
    let file_bytes = {
        let dir = shared.args.data.clone();
        tokio::task::spawn_blocking(move || write(&dir, lsn, &base, &node))
            .await
            .context("snapshot writing task")??
    };
    let write_time = started.elapsed();
    {
        let mut st = shared.snapshots.state.lock();
        st.lsn = lsn;
        st.file_bytes = file_bytes;
        st.written += 1;
        st.last_pause_us = pause.as_micros() as u64;
        st.last_write_us = write_time.as_micros() as u64;
        st.points.push_back((lsn, vv));
        if st.points.len() > POINTS_MAX {
            st.points.pop_front();
        }
    }
    let (truncated, held) = truncate_behind(shared).await?;
    let first_lsn = shared.log.first_lsn();
    shared.snapshots.state.lock().log_bytes_after = shared.log.stats().disk_bytes;
    let taken = Taken {
        lsn,
        file_bytes,
        pause,
        write: write_time,
        truncated,
        first_lsn,
        held,
    };
    tracing::info!(
        lsn,
        bytes = file_bytes,
        pause_ms = %format!("{:.1}", ms(pause)),
        write_ms = %format!("{:.1}", ms(write_time)),
        truncated,
        log_first_lsn = first_lsn,
        kept = %taken.held.join("; "),
        "snapshot written"
    );
    Ok(taken)
}

/// Cuts the log behind the newest snapshot point (see
/// [`crate::shared::SnapshotState::points`]) that every peer acknowledged
/// or is left behind for; returns the records deleted and, if the newest
/// point is not the one cut behind, why. The caller holds
/// [`crate::shared::Snapshots::file`]. The base is persisted (the snapshot
/// file's, or the base file) before any segment is deleted.
pub async fn truncate_behind(shared: &Arc<Shared>) -> anyhow::Result<(u64, Vec<String>)> {
    let log = shared.log.clone();
    let points = shared.snapshots.state.lock().points.clone();
    let mut held_newest = None;
    let mut chosen = None;
    for (lsn, vv) in points.iter().rev() {
        let (held, left) = truncation_held(shared, vv);
        if held.is_empty() {
            chosen = Some((*lsn, vv.clone(), left));
            break;
        }
        held_newest.get_or_insert(held);
    }
    let held = held_newest.unwrap_or_default();
    let Some((lsn, vv, left_behind)) = chosen else {
        shared.snapshots.state.lock().held = held.join("; ");
        return Ok((0, held));
    };
    let before = log.first_lsn();
    let (base, changed) = {
        let st = shared.snapshots.state.lock();
        let mut base = st.base.clone();
        base.truncated(&vv);
        let changed = base != st.base;
        (base, changed)
    };
    if changed {
        let (dir, b) = (shared.args.data.clone(), base.clone());
        tokio::task::spawn_blocking(move || write_base(&dir, &b))
            .await
            .context("log base writing task")??;
        // Before any segment goes: links decide from the base whether
        // they can serve a peer from the log.
        shared.snapshots.state.lock().base = base;
    }
    for (name, silent_s) in &left_behind {
        tracing::warn!(
            peer = %name,
            silent_s,
            "truncating the log past what {name} may lack: nothing heard from it for \
             {silent_s} s (--log-retention-secs {}); it gets a full state transfer when it is back",
            shared.args.log_retention_secs
        );
    }
    if lsn >= before {
        let l = log.clone();
        tokio::task::spawn_blocking(move || l.truncate_before(lsn + 1))
            .await
            .context("log truncation task")?
            .context("truncate the log")?;
    }
    let truncated = log.first_lsn().saturating_sub(before);
    let mut st = shared.snapshots.state.lock();
    while st.points.front().is_some_and(|(l, _)| *l <= lsn) {
        st.points.pop_front();
    }
    st.records_truncated += truncated;
    st.held = held.join("; ");
    Ok((truncated, held))
}

/// Why the log may not be truncated behind a snapshot with version vector
/// `vv` (empty: it may), and the peers it would leave behind (name,
/// seconds silent).
fn truncation_held(shared: &Shared, vv: &VersionVector) -> (Vec<String>, Vec<(String, u64)>) {
    if shared.snapshots.receiving.load(Ordering::Acquire) {
        return (
            vec!["a state transfer into this region is in progress".into()],
            Vec::new(),
        );
    }
    let retention_ms = shared.args.log_retention_secs.saturating_mul(1000);
    let mut held = Vec::new();
    let mut left = Vec::new();
    for p in &shared.peers {
        if p.out.lock().acked.dominates(vv) {
            continue;
        }
        let silent = shared.silent_ms(p);
        if silent > retention_ms {
            left.push((p.name.clone(), silent / 1000));
        } else {
            held.push(format!(
                "{} has not acknowledged it (heard from {:.1} s ago, left behind after {} s)",
                p.name,
                silent as f64 / 1000.0,
                shared.args.log_retention_secs
            ));
        }
    }
    (held, left)
}

/// Writes a snapshot each time the log has grown by `--snapshot-log-mb`.
pub async fn run(shared: Arc<Shared>) {
    let every = shared.args.snapshot_log_mb.saturating_mul(1024 * 1024);
    let mut tick = tokio::time::interval(CHECK_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if shared.log.is_poisoned() {
            continue;
        }
        let grown = shared
            .log
            .stats()
            .disk_bytes
            .saturating_sub(shared.snapshots.state.lock().log_bytes_after);
        if grown < every {
            if !shared.snapshots.state.lock().points.is_empty() {
                let _file = shared.snapshots.file.clone().lock_owned().await;
                if let Err(e) = truncate_behind(&shared).await {
                    tracing::error!("truncating the log failed: {e:#}");
                    tokio::time::sleep(RETRY_AFTER_FAILURE).await;
                }
            }
            continue;
        }
        if let Err(e) = take(&shared).await {
            tracing::error!("writing a snapshot failed: {e:#}");
            tokio::time::sleep(RETRY_AFTER_FAILURE).await;
        }
    }
}

/// A snapshot of this region's state: the bytes, the log position it
/// covers, its version vector, and how long the state lock was held.
/// `end_segment`: the log's segment ends at that position (a snapshot
/// file, which the log may be cut behind); a peer's copy does not need
/// it. Runs on a blocking thread.
pub fn encode(shared: &Shared, end_segment: bool) -> (Vec<u8>, u64, VersionVector, Duration) {
    let hint = shared.snapshots.state.lock().file_bytes as usize;
    let node = shared.node.lock();
    let locked = Instant::now();
    // Appends happen under the state lock: this is exactly the last
    // record the state reflects.
    let lsn = if end_segment {
        shared.log.end_segment()
    } else {
        shared.log.last_lsn()
    };
    let mut out = Vec::with_capacity(hint + hint / 8);
    node.encode_snapshot(&mut out);
    let vv = node.vv().clone();
    drop(node);
    (out, lsn, vv, locked.elapsed())
}

/// What installing a peer's snapshot did.
#[derive(Clone, Debug)]
pub struct InstallDone {
    pub brought: u64,
    pub replayed: u64,
    pub released: usize,
    /// The log position this region's new snapshot file covers.
    pub lsn: u64,
    pub file_bytes: u64,
    /// How long the state lock was held.
    pub pause: Duration,
}

/// Why a snapshot was not installed.
#[derive(Debug)]
pub enum InstallError {
    /// It would lose ops (or cannot be used): nothing changed; the sender
    /// is told why.
    Refused(String),
    /// This region cannot read or write its log: nothing changed.
    Failed(anyhow::Error),
}

/// Installs a peer's snapshot (see the module doc). The caller holds
/// [`crate::shared::Snapshots::file`]. Runs on a blocking thread: it holds
/// the state lock for the whole install.
pub fn install(shared: &Shared, snap: Snapshot) -> Result<InstallDone, InstallError> {
    let mut node = shared.node.lock();
    let locked = Instant::now();
    let log = &shared.log;
    // Every record appended so far must be readable: write them out.
    log.write_now()
        .map_err(|e| InstallError::Failed(anyhow!("write the log: {e}")))?;
    let before = node.vv().clone();
    let snap_vv = snap.vv.clone();
    let mut read_error = None;
    let ops = LogOps::new(log, &mut read_error);
    let result = node.install(snap, ops);
    let done = match result {
        Ok(done) => done,
        Err(e) => {
            return Err(match read_error {
                Some(r) => InstallError::Failed(r.context("read this region's log")),
                None => InstallError::Refused(e.to_string()),
            })
        }
    };
    if let Some(e) = read_error {
        // Every op this region had applied is in the new state (install
        // checks that), so nothing was lost; say it anyway.
        tracing::warn!("reading the log back during an install stopped early: {e:#}");
    }
    // The snapshot file comes first, covering the released ops' records
    // too (appends happen under the state lock, so their positions are
    // known): should appending them fail, or the process die before
    // they are written, start-up finds the file ahead of the log and
    // counts those ops as held in the state only.
    let lsn = log.last_lsn() + done.released.len() as u64;
    let base = {
        let mut st = shared.snapshots.state.lock();
        st.base.installed(&before, &snap_vv);
        st.base.clone()
    };
    let mut encoded = Vec::new();
    node.encode_snapshot(&mut encoded);
    let writing = Instant::now();
    let file_bytes = match write(&shared.args.data, lsn, &base, &encoded) {
        Ok(n) => n,
        Err(e) => {
            // The installed state is in memory only, and every link's
            // acknowledgement reports it: carrying on would tell peers
            // this region holds ops a restart loses.
            tracing::error!(
                "cannot write the snapshot file after installing a peer's snapshot: {e:#}; \
                 stopping so that no peer is told of state that is not durable"
            );
            std::process::abort();
        }
    };
    let write_time = writing.elapsed();
    drop(encoded);
    let mut record = Vec::new();
    for op in &done.released {
        record.clear();
        op.encode_into(&mut record);
        if let Err(e) = log.append(&record) {
            return Err(InstallError::Failed(anyhow!(
                "log the ops the snapshot released: {e}"
            )));
        }
    }
    if let Err(e) = log.write_now() {
        return Err(InstallError::Failed(anyhow!("write the log: {e}")));
    }
    let pause = locked.elapsed();
    let node_vv = node.vv().clone();
    drop(node);
    let disk_bytes = log.stats().disk_bytes;
    let mut st = shared.snapshots.state.lock();
    st.lsn = lsn;
    st.points.push_back((lsn, node_vv));
    if st.points.len() > POINTS_MAX {
        st.points.pop_front();
    }
    st.file_bytes = file_bytes;
    st.written += 1;
    st.last_pause_us = pause.as_micros() as u64;
    st.last_write_us = write_time.as_micros() as u64;
    st.log_bytes_after = disk_bytes;
    Ok(InstallDone {
        brought: done.brought,
        replayed: done.replayed,
        released: done.released.len(),
        lsn,
        file_bytes,
        pause,
    })
}

/// This region's retained log, read in pieces and decoded, for
/// `Node::install`. A read or decode error ends it and is kept.
struct LogOps<'a> {
    log: &'a Log,
    next: u64,
    last: u64,
    buf: std::vec::IntoIter<(u64, bytes::Bytes)>,
    error: &'a mut Option<anyhow::Error>,
}

impl<'a> LogOps<'a> {
    fn new(log: &'a Log, error: &'a mut Option<anyhow::Error>) -> LogOps<'a> {
        LogOps {
            log,
            next: log.first_lsn(),
            last: log.last_lsn(),
            buf: Vec::new().into_iter(),
            error,
        }
    }
}

impl Iterator for LogOps<'_> {
    type Item = Op;

    fn next(&mut self) -> Option<Op> {
        if self.error.is_some() {
            return None;
        }
        loop {
            if let Some((lsn, rec)) = self.buf.next() {
                return match Op::decode(&rec) {
                    Ok(op) => Some(op),
                    Err(e) => {
                        *self.error = Some(anyhow!("log record {lsn}: {e}"));
                        None
                    }
                };
            }
            if self.next > self.last {
                return None;
            }
            match self
                .log
                .read_from(self.next, INSTALL_READ_RECORDS, INSTALL_READ_BYTES)
            {
                Ok(recs) if recs.is_empty() => {
                    *self.error = Some(anyhow!(
                        "log records {} to {} are not readable",
                        self.next,
                        self.last
                    ));
                    return None;
                }
                Ok(recs) => {
                    if let Some(&(l, _)) = recs.last() {
                        self.next = l + 1;
                    }
                    self.buf = recs.into_iter();
                }
                Err(e) => {
                    *self.error = Some(anyhow!(e));
                    return None;
                }
            }
        }
    }
}

/// What start-up recovered: the node, the base, and the snapshot's
/// position and size (0 if none).
pub struct Recovered {
    pub node: meridian_core::Node,
    pub base: LogBase,
    pub snapshot_lsn: u64,
    pub snapshot_bytes: u64,
    /// The snapshot's version vector (the log may be cut behind it).
    pub snapshot_vv: Option<VersionVector>,
    /// Log records replayed on top of the snapshot.
    pub replayed: u64,
    pub log: Arc<Log>,
}

/// Loads the snapshot (if any), opens the log and replays what follows it.
pub fn recover(
    data: &Path,
    log_cfg: meridian_log::LogConfig,
    regions: &meridian_core::Regions,
    me: meridian_core::RegionId,
    siblings: Vec<bytes::Bytes>,
) -> anyhow::Result<Recovered> {
    let file = read(data)?;
    let mut snapshot_vv = None;
    let (mut node, mut base, snapshot_lsn, snapshot_bytes) = match &file {
        Some(f) => {
            let snap = Snapshot::decode(f.node_bytes())
                .with_context(|| format!("snapshot file {}", path(data).display()))?;
            if snap.region != me {
                bail!(
                    "snapshot file {} was written by region {} of its cluster, not by this region",
                    path(data).display(),
                    snap.region
                );
            }
            snapshot_vv = Some(snap.vv.clone());
            let node = meridian_core::Node::from_snapshot(regions.clone(), me, snap)
                .with_context(|| format!("snapshot file {}", path(data).display()))?;
            if f.base.0.len() > regions.len() {
                bail!(
                    "snapshot file {} has a log base for {} regions; the cluster has {}",
                    path(data).display(),
                    f.base.0.len(),
                    regions.len()
                );
            }
            (node, f.base.clone(), f.lsn, f.file_bytes())
        }
        None => (
            meridian_core::Node::new(regions.clone(), me),
            LogBase::new(regions.len()),
            0,
            0,
        ),
    };
    drop(file);
    // The base only grows; a truncation behind an older snapshot than the
    // newest file persisted it in the base file.
    if let Some(b) = read_base(data)? {
        if b.0.len() > regions.len() {
            bail!(
                "the log base file in {} is for {} regions; the cluster has {}",
                data.display(),
                b.0.len(),
                regions.len()
            );
        }
        base.0.merge(&b.0);
    }
    node.set_siblings(siblings);
    let mut bad = None;
    let mut replayed = 0u64;
    let dir = log_cfg.dir.clone();
    let mut first_seen = None;
    let log = Log::open(log_cfg, |lsn, record| {
        if bad.is_some() {
            return;
        }
        if first_seen.is_none() {
            first_seen = Some(lsn);
            if lsn > snapshot_lsn + 1 {
                bad = Some(gap(&dir, data, lsn, snapshot_lsn));
                return;
            }
        }
        if lsn <= snapshot_lsn {
            return;
        }
        match Op::decode(record) {
            Ok(op) if op.dot.region.index() >= regions.len() => {
                bad = Some(format!("record {lsn}: unknown region {}", op.dot.region))
            }
            Ok(op) if node.vv().covers(op.dot) => {}
            Ok(op) if !meridian_core::causal::deliverable(&op, node.vv()) => {
                bad = Some(format!(
                    "record {lsn}: op {} of region {} comes before ops it depends on \
                     (this region has applied {:?})",
                    op.dot.seq,
                    op.dot.region,
                    node.vv()
                ))
            }
            Ok(op) => {
                node.replay(&op);
                replayed += 1;
            }
            Err(e) => bad = Some(format!("record {lsn}: {e}")),
        }
    })
    .with_context(|| format!("open log in {}", dir.display()))?;
    let first = log.first_lsn();
    if first > snapshot_lsn + 1 {
        bail!("{}", gap(&dir, data, first, snapshot_lsn));
    }
    if let Some(why) = bad {
        bail!("the log in {} cannot be replayed: {why}", dir.display());
    }
    let last = log.last_lsn();
    let mut snapshot_lsn = snapshot_lsn;
    let mut snapshot_bytes = snapshot_bytes;
    if last < snapshot_lsn {
        // The snapshot was written under the state lock (an install) and
        // the records it covers past `last` were lost with the process or
        // the machine before they were written or fsynced. Their ops are
        // in the state, not in the log: count every op of the snapshot as
        // held only in the state, and move the file back to the log's end,
        // so that the next records' positions are not taken for covered.
        tracing::warn!(
            snapshot_lsn,
            log_last_lsn = last,
            "the snapshot file covers log records that were lost; rewriting it at the log's end"
        );
        base.truncated(node.vv());
        let mut encoded = Vec::new();
        node.encode_snapshot(&mut encoded);
        snapshot_bytes = write(data, last, &base, &encoded)?;
        snapshot_lsn = last;
        snapshot_vv = Some(node.vv().clone());
    }
    Ok(Recovered {
        node,
        base,
        snapshot_lsn,
        snapshot_bytes,
        snapshot_vv,
        replayed,
        log,
    })
}

/// The error of a log that starts after what the snapshot covers.
fn gap(log_dir: &Path, data: &Path, first: u64, snapshot_lsn: u64) -> String {
    if snapshot_lsn == 0 {
        return format!(
            "the log in {} starts at record {first}, and there is no snapshot file ({}) \
             holding what came before: the state those records made is missing",
            log_dir.display(),
            path(data).display()
        );
    }
    format!(
        "the log in {} starts at record {first}, but the snapshot file {} covers only up \
         to record {snapshot_lsn}: records {} to {} are missing",
        log_dir.display(),
        path(data).display(),
        snapshot_lsn + 1,
        first - 1
    )
}
