//! The replication shell's timing, in milliseconds: one definition shared by
//! the server (`meridian-server/src/repl`, `cmd/expire.rs`), which turns
//! them into `Duration`s, and the simulator, which runs the same schedule in
//! simulated time. Changing one here changes both, so the simulator always
//! tests the timing the server runs.

/// How often an idle link sends a heartbeat.
pub const HEARTBEAT_INTERVAL_MS: u64 = 500;

/// A link that has received nothing for this long is considered dead and is
/// closed: several missed heartbeats, plus the longest inter-region round
/// trip.
pub const LINK_SILENCE_MAX_MS: u64 = 5_000;

/// Longest wait for a handshake step before giving up on the connection.
pub const HANDSHAKE_TIMEOUT_MS: u64 = 5_000;

/// First reconnect delay; doubled after each failure up to
/// [`RECONNECT_DELAY_MAX_MS`].
pub const RECONNECT_DELAY_MIN_MS: u64 = 50;

/// Longest reconnect delay: a region that comes back is found within this.
pub const RECONNECT_DELAY_MAX_MS: u64 = 2_000;

/// How often a dialer scans its log for third regions' ops to relay (see
/// [`crate::link::RELAY_AFTER_MS`]).
pub const RELAY_SCAN_INTERVAL_MS: u64 = 100;

/// How often an acceptor checks whether its version vector moved without an
/// Ack having been sent for it.
pub const ACK_CHECK_INTERVAL_MS: u64 = 20;

/// How long an acceptor waits before retrying an op whose clock is too far
/// ahead (see [`crate::hlc::CLOCK_AHEAD_MS_MAX`]).
pub const CLOCK_AHEAD_RETRY_MS: u64 = 100;

/// How often a region sweeps keys whose deadline passed.
pub const SWEEP_INTERVAL_MS: u64 = 100;
