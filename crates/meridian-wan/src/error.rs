//! The crate's error type.

use std::net::SocketAddr;

/// Everything that can go wrong in `meridian-wan`.
#[derive(Debug, thiserror::Error)]
pub enum WanError {
    /// A CSV input (RTT matrix or region list) is malformed. `line` is
    /// 1-based and counts the header line.
    #[error("{file} line {line}: {reason}")]
    Parse {
        /// Which kind of file was being parsed (`"rtt.csv"`, `"regions.csv"`).
        file: &'static str,
        /// 1-based line number of the offending line.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// Binding the proxy's listening socket failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address we tried to bind.
        addr: SocketAddr,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// Any other socket error.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// A configuration value is outside its allowed range.
    #[error("invalid link config: {0}")]
    Config(String),
    /// [`crate::Wan::add_link`] was called twice for the same directed pair.
    #[error("link {from} -> {to} already exists")]
    DuplicateLink {
        /// Source region.
        from: String,
        /// Destination region.
        to: String,
    },
    /// No link exists for the directed pair.
    #[error("no link {from} -> {to}")]
    UnknownLink {
        /// Source region.
        from: String,
        /// Destination region.
        to: String,
    },
    /// No link touches the named region.
    #[error("no link touches region {0}")]
    UnknownRegion(String),
}
