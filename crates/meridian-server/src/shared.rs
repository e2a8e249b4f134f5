//! State shared by every task of one region server.

use crate::config::ServerArgs;
use crate::lag::OriginLag;
use meridian_core::{Node, RegionId};
use meridian_log::Log;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Wall-clock time in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    now_us() / 1000
}

/// Wall-clock time in microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// State of the outgoing link to one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkState {
    Connecting,
    Connected,
    /// The peer refused us, or we refused it; the reason is kept.
    Refused(String),
    Down(String),
}

impl LinkState {
    pub fn label(&self) -> &'static str {
        match self {
            LinkState::Connecting => "connecting",
            LinkState::Connected => "connected",
            LinkState::Refused(_) => "refused",
            LinkState::Down(_) => "down",
        }
    }
}

/// What the server knows of one peer region.
pub struct PeerStatus {
    pub name: String,
    pub id: RegionId,
    pub addr: String,
    pub out: Mutex<OutLink>,
    /// Incoming link connections from this peer now open.
    pub inbound_connections: AtomicU64,
    /// Ops this peer sent us that we applied.
    pub ops_received: AtomicU64,
    /// Incoming ops held back because the peer's clock is too far ahead.
    pub clock_ahead_holds: AtomicU64,
}

/// The sending side's view, updated by the link task.
#[derive(Clone, Debug)]
pub struct OutLink {
    pub state: LinkState,
    /// Our ops the peer has not acknowledged.
    pub ops_behind: u64,
    pub ops_sent: u64,
    /// Other regions' ops relayed to this peer (see `meridian_core::link`).
    pub ops_relayed: u64,
    pub batches_sent: u64,
    pub connects: u64,
}

/// Counters for INFO stats.
#[derive(Default)]
pub struct Counters {
    pub commands: AtomicU64,
    pub connections_received: AtomicU64,
    pub connected_clients: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub protocol_errors: AtomicU64,
    pub next_client_id: AtomicU64,
}

impl Counters {
    pub fn bump(c: &AtomicU64) -> u64 {
        c.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// Everything the tasks of one server share.
pub struct Shared {
    pub args: ServerArgs,
    pub node: Mutex<Node>,
    pub log: Arc<Log>,
    pub peers: Vec<PeerStatus>,
    /// Lag per origin region, indexed by region id.
    pub lag: Mutex<Vec<OriginLag>>,
    pub counters: Counters,
    pub started: Instant,
    pub client_addr: std::net::SocketAddr,
    pub repl_addr: std::net::SocketAddr,
}

impl Shared {
    /// The peer with region id `id`.
    pub fn peer(&self, id: RegionId) -> Option<&PeerStatus> {
        self.peers.iter().find(|p| p.id == id)
    }
}
