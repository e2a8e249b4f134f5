//! Link configuration, state and counters, and the proxy's limits.

use std::time::Duration;

/// Largest configurable one-way delay, in milliseconds. Real one-way
/// latencies are under ~200 ms; ten seconds leaves room for "very bad
/// link" experiments while rejecting unit mistakes (ns/µs given as ms).
pub const DELAY_MS_MAX: u64 = 10_000;

/// Bytes that may be read but not yet delivered, per connection and
/// direction; beyond this the proxy stops reading, as a full TCP window
/// would. 8 MiB is above Linux's default socket-buffer maximum and lets one
/// connection carry ~47 MB/s over the longest measured path (≈170 ms one
/// way); worst-case memory is 16 MiB per busy connection.
pub const QUEUE_BYTES_MAX: usize = 8 << 20;

/// Size of one read, in bytes. Large enough that tens of MB/s cost only a
/// few hundred syscalls per second; small next to [`QUEUE_BYTES_MAX`].
pub const READ_BUF_BYTES: usize = 64 << 10;

/// Most bytes joined into one write when several chunks are already due.
/// Bounds the extra copy buffer per direction while cutting syscalls when
/// many small messages fall due together.
pub const WRITE_COALESCE_BYTES_MAX: usize = 256 << 10;

/// How long the proxy waits to connect to its target, in milliseconds,
/// before dropping the accepted client. The target is on loopback, so
/// anything slower means it is down or overloaded.
pub const CONNECT_TIMEOUT_MS: u64 = 5_000;

/// Pause after a failed `accept` (e.g. out of file descriptors), in
/// milliseconds, so the accept loop does not spin.
pub const ACCEPT_RETRY_MS: u64 = 50;

/// Per-link settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkConfig {
    /// Added delay for every byte, each direction; at most [`DELAY_MS_MAX`].
    pub one_way_delay: Duration,
}

impl LinkConfig {
    /// A config with the given one-way delay.
    pub fn new(one_way_delay: Duration) -> LinkConfig {
        LinkConfig { one_way_delay }
    }
}

/// Whether a link carries traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Connections are accepted and forwarded.
    Up,
    /// Partitioned: existing connections were dropped, new ones are closed
    /// right after accept.
    Cut,
}

/// A snapshot of a link's counters. "Client" is whoever dialled the proxy;
/// "target" is the address the proxy forwards to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Bytes delivered to the target.
    pub bytes_to_target: u64,
    /// Bytes delivered back to clients.
    pub bytes_to_client: u64,
    /// Connections accepted since start (including ones closed while cut).
    pub connections_accepted: u64,
    /// Connections closed at once because the link was cut.
    pub connections_refused: u64,
    /// Connections currently being forwarded.
    pub connections_current: u64,
    /// Bytes read from clients and not yet delivered, all connections.
    pub in_flight_to_target: u64,
    /// Bytes read from the target and not yet delivered, all connections.
    pub in_flight_to_client: u64,
    /// Largest in-flight amount seen in any one connection and direction;
    /// never above [`QUEUE_BYTES_MAX`].
    pub peak_in_flight_bytes: u64,
}
