//! The crate's error type.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in `meridian-log`.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A file operation failed.
    #[error("log i/o error: {op} {path}: {source}")]
    Io {
        /// What we were doing (`"write"`, `"fsync"`, `"open"`, ...).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// An earlier write or fsync failed, so the log refuses further appends:
    /// after a failed fsync the kernel may have dropped the dirty pages, and
    /// retrying could report data durable that is not (PostgreSQL's
    /// "fsyncgate"). Restart the process to recover from what is on disk.
    #[error("log is poisoned (an earlier write or fsync failed): {0}")]
    Poisoned(String),
    /// The record is larger than [`crate::RECORD_BYTES_MAX`].
    #[error("record of {len} bytes exceeds RECORD_BYTES_MAX ({max})")]
    RecordTooLarge {
        /// Size of the rejected record.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A segment is damaged somewhere other than a torn tail, so recovering
    /// would silently drop records that were acknowledged as durable.
    #[error("corrupt log segment {path} at byte {offset}: {reason}")]
    Corrupt {
        /// The damaged segment file.
        path: PathBuf,
        /// Byte offset of the damage.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The requested LSN is older than the oldest retained record.
    #[error("LSN {requested} was truncated; the oldest retained LSN is {first}")]
    Truncated {
        /// The LSN asked for.
        requested: u64,
        /// The oldest LSN still in the log.
        first: u64,
    },
    /// `wait_durable` was asked about an LSN that was never appended.
    #[error("LSN {lsn} was never appended (last appended is {last})")]
    NotAppended {
        /// The LSN asked for.
        lsn: u64,
        /// The last appended LSN.
        last: u64,
    },
    /// The log was closed; no more appends.
    #[error("log is closed")]
    Closed,
    /// Another process (or another `Log` in this one) holds the directory.
    #[error("log directory {0} is locked by another writer")]
    Locked(PathBuf),
    /// A configuration value is out of range or unparsable.
    #[error("invalid log config: {0}")]
    Config(String),
}

impl LogError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(
        path: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Self {
        Self::Corrupt {
            path: path.into(),
            offset,
            reason: reason.into(),
        }
    }
}
