//! `meridian-log`: the durable, segmented operation log of a Meridian region.
//!
//! Every write the server applies is encoded as an opaque record and appended
//! here while the server holds its state lock, so LSN order is state order.
//! Clients are answered once their record is durable ([`Log::wait_durable`]:
//! written, or fsynced under `always`); replication links stream only synced
//! (fsynced) records to peers with [`Log::read_synced_from`], woken by
//! [`Log::subscribe_synced`], from a bounded in-memory tail or, for a peer
//! that is far behind, from disk.
//!
//! * [`config`]: [`LogConfig`], [`FsyncPolicy`] and the size limits.
//! * [`Log`]: append, group commit and prompt group fsync by one writer
//!   thread, read back, truncate.
//! * [`frame`]: the on-disk format (segment header, CRC-checked frames).
//! * Recovery on open: a torn tail of the last segment is truncated; damage
//!   anywhere else is an error (see [`Log::open`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), meridian_log::LogError> {
//! use meridian_log::{FsyncPolicy, Log, LogConfig};
//! let log = Log::open(LogConfig::new("/var/lib/meridian/log", FsyncPolicy::EverySec), |_lsn, _rec| {})?;
//! let lsn = log.append(b"SET k v")?;
//! log.wait_durable(lsn).await?; // now reply to the client
//! let recs = log.read_from(1, 1024, 256 * 1024)?; // written records
//! log.wait_synced(lsn).await?; // fsynced: may be shipped to peers
//! let ship = log.read_synced_from(1, 1024, 256 * 1024)?;
//! # let _ = ship;
//! # let _ = recs; Ok(()) }
//! ```

pub mod config;
pub mod error;
pub mod frame;
mod log;
mod recover;
mod segment;
mod shared;
mod stats;
mod tail;
mod writer;

pub use config::{
    FsyncPolicy, LogConfig, DEFAULT_SEGMENT_BYTES_MAX, DEFAULT_TAIL_BYTES_MAX,
    EVERYSEC_INTERVAL_MS, PENDING_BYTES_MAX, PENDING_RETAIN_BYTES_MAX, READ_CHUNK_BYTES,
    RECORD_BYTES_MAX, SEGMENT_BYTES_MIN, SPARSE_INDEX_INTERVAL_BYTES,
};
pub use error::LogError;
pub use log::{Log, LOCK_FILE_NAME};
pub use segment::{SEGMENT_NAME_DIGITS, SEGMENT_SUFFIX};
pub use stats::LogStats;

#[cfg(test)]
mod tests {
    #[test]
    fn log_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<super::Log>();
        assert_send_sync::<super::LogError>();
    }
}
