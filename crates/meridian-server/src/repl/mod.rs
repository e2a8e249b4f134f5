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
