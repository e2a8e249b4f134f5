//! Replication between regions: one outgoing link per peer streams this
//! region's ops ([`dial`]); one listener takes the peers' links ([`accept`]).

pub mod accept;
pub mod auth;
pub mod dial;
pub mod framed;

use meridian_core::timing;
use std::time::Duration;

/// How often an idle link sends a heartbeat.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(timing::HEARTBEAT_INTERVAL_MS);

/// A link that has received nothing for this long is considered dead and is
/// closed; heartbeats arrive every [`HEARTBEAT_INTERVAL`], so this is several
/// missed heartbeats, plus the longest inter-region round trip.
pub const LINK_SILENCE_MAX: Duration = Duration::from_millis(timing::LINK_SILENCE_MAX_MS);

/// Longest wait for a handshake step before giving up on the connection.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(timing::HANDSHAKE_TIMEOUT_MS);

/// First reconnect delay; doubled after each failure up to
/// [`RECONNECT_DELAY_MAX`].
pub const RECONNECT_DELAY_MIN: Duration = Duration::from_millis(timing::RECONNECT_DELAY_MIN_MS);

/// Longest reconnect delay: a region that comes back is found within this.
pub const RECONNECT_DELAY_MAX: Duration = Duration::from_millis(timing::RECONNECT_DELAY_MAX_MS);

/// How long either end of a full state transfer waits for the other while
/// it encodes, installs or persists a whole snapshot under its state lock
/// (every task, heartbeats included, may be waiting for that lock then).
/// Far above the pause of a large region (measured: 0.3 s to encode 950k
/// keys, 1.1 s to install and persist them; 5.6 s to install 1.7M keys
/// under load), far below "for ever": a peer that dies mid-transfer is
/// noticed within it.
pub const SNAPSHOT_SILENCE_MAX: Duration = Duration::from_secs(300);

/// A message's kind, for errors about messages out of place: a `Batch` or
/// a `SnapshotChunk` printed whole would put megabytes into a log line and
/// into INFO's `last_error`.
pub fn kind(msg: &meridian_core::protocol::Msg) -> &'static str {
    use meridian_core::protocol::Msg;
    match msg {
        Msg::Hello { .. } => "Hello",
        Msg::Challenge { .. } => "Challenge",
        Msg::Auth { .. } => "Auth",
        Msg::Welcome { .. } => "Welcome",
        Msg::Refused { .. } => "Refused",
        Msg::Batch { .. } => "Batch",
        Msg::Ack { .. } => "Ack",
        Msg::Heartbeat => "Heartbeat",
        Msg::SnapshotOffer { .. } => "SnapshotOffer",
        Msg::SnapshotAccept => "SnapshotAccept",
        Msg::SnapshotChunk { .. } => "SnapshotChunk",
        Msg::SnapshotDone { .. } => "SnapshotDone",
    }
}
