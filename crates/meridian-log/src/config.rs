//! Configuration: fsync policy, directory and size limits.

use crate::error::LogError;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Largest record, in bytes. A record is one encoded replication op, and
/// meridian-core caps an op at a 32 MiB value plus a 64 KiB key and metadata;
/// 64 MiB leaves headroom while still bounding what one corrupt length prefix
/// can make recovery or a reader allocate.
pub const RECORD_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Most bytes of appended-but-not-yet-written records. If the disk stalls,
/// `append` blocks (backpressure) once this much is queued instead of letting
/// memory grow without bound; normally the writer drains it in microseconds.
pub const PENDING_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Capacity, in bytes, the writer keeps in its swap buffers after a burst.
/// Keeps steady-state appends allocation-free without pinning a burst-sized
/// buffer (up to [`PENDING_BYTES_MAX`]) forever.
pub const PENDING_RETAIN_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Default segment size, in bytes. Large enough that rotation (an fsync of the
/// old file and a directory fsync) is rare, small enough that truncation frees
/// space in useful steps.
pub const DEFAULT_SEGMENT_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// Smallest allowed `segment_bytes_max`: room for the segment header and one
/// small record. Tiny values are only useful in tests.
pub const SEGMENT_BYTES_MIN: u64 = 64;

/// Default bytes of recent records kept in memory for replication readers.
/// 64 MiB covers well over a second at 1M ops/s of 64-byte records, so a
/// peer that is only slightly behind never touches disk.
pub const DEFAULT_TAIL_BYTES_MAX: usize = 64 * 1024 * 1024;

/// The promise of [`FsyncPolicy::EverySec`], in milliseconds: at most about
/// this much acknowledged data is lost on power failure (Redis' meaning of
/// `appendfsync everysec`). In a replicated region the writer thread does
/// better than it promises: it fsyncs written records back to back, whatever
/// the policy, because replication ships only synced records
/// ([`crate::Log::set_replicated`]); so there what a power loss can lose is
/// one or two fsyncs' worth, unless the disk stalls.
pub const EVERYSEC_INTERVAL_MS: u64 = 1_000;

/// Distance between sparse offset-index entries within a segment, in bytes.
/// A disk read seeks to the nearest entry and scans at most this far; 64 KiB
/// costs 16 bytes of memory per 64 KiB of log.
pub const SPARSE_INDEX_INTERVAL_BYTES: u64 = 64 * 1024;

/// Bytes read from a segment file per read call during recovery and disk
/// reads. Large enough to amortise the syscall over thousands of small
/// records; a bigger record is read in one piece.
pub const READ_CHUNK_BYTES: usize = 256 * 1024;

/// What "durable" means for client replies ([`crate::Log::wait_durable`]).
///
/// In a replicated log ([`crate::Log::set_replicated`]), whatever the
/// policy, the writer thread fsyncs written records promptly (one fsync per
/// group, back to back) and [`crate::Log::synced_lsn`] follows; replication
/// ships only synced records. The policy then decides only whether a reply
/// waits for that fsync. Without replication, `EverySec` fsyncs once a
/// second and `No` never (the OS writes back), as in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// fsync after every write batch, before records count as durable.
    /// Durable records survive power loss.
    Always,
    /// Durable once written to the OS; the fsync follows in the background.
    /// Durable records survive a process crash; power loss may lose what was
    /// acknowledged since the last fsync (promised: about
    /// [`EVERYSEC_INTERVAL_MS`]; in practice one or two fsyncs).
    EverySec,
    /// Redis' `appendfsync no`: replies after write(2); without replication
    /// the OS writes back; a replicated log still fsyncs promptly, because
    /// replication waits for fsyncs.
    No,
}

impl FromStr for FsyncPolicy {
    type Err = LogError;

    /// Parses `always`, `everysec` or `no` (ASCII case-insensitive, as Redis'
    /// `appendfsync`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Ok(Self::Always),
            "everysec" => Ok(Self::EverySec),
            "no" => Ok(Self::No),
            _ => Err(LogError::Config(format!(
                "fsync policy {s:?} is not one of always, everysec, no"
            ))),
        }
    }
}

impl fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Always => "always",
            Self::EverySec => "everysec",
            Self::No => "no",
        })
    }
}

/// Where the log lives and how it behaves.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Directory holding the segment files; created if missing.
    pub dir: PathBuf,
    /// When records are fsynced.
    pub fsync: FsyncPolicy,
    /// A segment is closed and a new one started once it reaches this many
    /// bytes (one write batch may overshoot it). At least [`SEGMENT_BYTES_MIN`].
    pub segment_bytes_max: u64,
    /// Bytes of recent durable records kept in memory for `read_from`
    /// (0 disables the tail; every read goes to disk).
    pub tail_bytes_max: usize,
}

impl LogConfig {
    /// A config with default sizes ([`DEFAULT_SEGMENT_BYTES_MAX`],
    /// [`DEFAULT_TAIL_BYTES_MAX`]).
    pub fn new(dir: impl Into<PathBuf>, fsync: FsyncPolicy) -> Self {
        Self {
            dir: dir.into(),
            fsync,
            segment_bytes_max: DEFAULT_SEGMENT_BYTES_MAX,
            tail_bytes_max: DEFAULT_TAIL_BYTES_MAX,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), LogError> {
        if self.segment_bytes_max < SEGMENT_BYTES_MIN {
            return Err(LogError::Config(format!(
                "segment_bytes_max {} is below SEGMENT_BYTES_MIN ({SEGMENT_BYTES_MIN})",
                self.segment_bytes_max
            )));
        }
        Ok(())
    }
}

// Batch offsets are stored as u32: a batch is at most the pending limit plus
// one maximal record (the append that crossed the limit).
const _: () = assert!(PENDING_BYTES_MAX + RECORD_BYTES_MAX + 8 < u32::MAX as usize);
