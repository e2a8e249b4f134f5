//! A snapshot of log counters and sizes.

/// Counters and sizes, for INFO-style reporting. Counters count since `open`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Bytes of valid content in all retained segments.
    pub disk_bytes: u64,
    /// Retained segment files (including the active one).
    pub segments: usize,
    /// Bytes held by the in-memory tail (at most `tail_bytes_max`).
    pub tail_bytes: usize,
    /// Records held by the in-memory tail.
    pub tail_records: usize,
    /// Bytes appended but not yet taken by the writer.
    pub pending_bytes: usize,
    /// Records written to disk.
    pub records_written: u64,
    /// write(2) batches (group commits).
    pub write_batches: u64,
    /// fsync calls.
    pub fsyncs: u64,
    /// Duration of the most recent fsync, in microseconds.
    pub last_fsync_micros: u64,
    /// Oldest retained LSN.
    pub first_lsn: u64,
    /// Last durable LSN (written to the OS).
    pub durable_lsn: u64,
    /// Last synced LSN (fsynced; what replication ships).
    pub synced_lsn: u64,
    /// Last appended LSN.
    pub last_lsn: u64,
    /// Whether a write or fsync failed (see [`crate::LogError::Poisoned`]).
    pub poisoned: bool,
}
