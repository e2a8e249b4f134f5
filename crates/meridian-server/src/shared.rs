//! State shared by every task of one region server.

use crate::config::ServerArgs;
use crate::lag::OriginLag;
use meridian_core::{LogBase, Node, RegionId, VersionVector};
use meridian_log::Log;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// Sending the peer a snapshot (a full state transfer), before streaming.
    Transferring,
    Connected,
    /// The peer refused us, or we refused it; the reason is kept.
    Refused(String),
    Down(String),
}

impl LinkState {
    pub fn label(&self) -> &'static str {
        match self {
            LinkState::Connecting => "connecting",
            LinkState::Transferring => "transferring",
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
    /// When anything last came from this peer on any link, in milliseconds
    /// since the server started (0: nothing yet). A peer silent for longer
    /// than `--log-retention-secs` is *left behind* (see [`crate::snapshot`]).
    pub last_heard_ms: AtomicU64,
    /// Why this region last refused the peer's snapshot, so that a refusal
    /// the peer retries every few seconds is logged once.
    pub last_refusal: Mutex<String>,
}

impl PeerStatus {
    /// A status for a peer nothing is known of yet.
    pub fn new(name: String, id: RegionId, addr: String) -> PeerStatus {
        PeerStatus {
            name,
            id,
            addr,
            out: Mutex::new(OutLink {
                state: LinkState::Connecting,
                ops_behind: 0,
                ops_sent: 0,
                ops_relayed: 0,
                batches_sent: 0,
                connects: 0,
                acked: VersionVector::default(),
                snapshots_sent: 0,
            }),
            inbound_connections: Default::default(),
            ops_received: Default::default(),
            clock_ahead_holds: Default::default(),
            last_heard_ms: Default::default(),
            last_refusal: Default::default(),
        }
    }
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
    /// What the peer has acknowledged on this link (its `Welcome`, then its
    /// `Ack`s): only synced ops, so the log may be truncated behind it.
    pub acked: VersionVector,
    /// Full state transfers sent to the peer (see [`crate::snapshot`]).
    pub snapshots_sent: u64,
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

/// Snapshots and full state transfers (see [`crate::snapshot`]).
#[derive(Default)]
pub struct Snapshots {
    pub state: Mutex<SnapshotState>,
    /// Held while a snapshot file is made (from encoding it to truncating
    /// the log behind it) and while a peer's snapshot is installed: one at
    /// a time, so the newest file always holds the newest state and base.
    /// Taken before the state lock, never while holding it.
    pub file: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// A peer's snapshot is being received or installed here (one at a
    /// time; the log is not truncated meanwhile).
    pub receiving: AtomicBool,
    /// Snapshots sent to peers, installed here, refused here, and offers
    /// of ours that peers refused.
    pub transfers_sent: AtomicU64,
    pub transfers_received: AtomicU64,
    pub transfers_refused: AtomicU64,
    pub offers_refused: AtomicU64,
}

/// The newest snapshot file and what the log keeps behind it.
#[derive(Clone, Debug, Default)]
pub struct SnapshotState {
    /// What this region applied but no longer holds in its log.
    pub base: LogBase,
    /// The log position the newest snapshot file covers (0: none).
    pub lsn: u64,
    /// Size of the newest snapshot file.
    pub file_bytes: u64,
    /// Snapshot files written since start (installs included).
    pub written: u64,
    /// How long the last snapshot held the state lock, in microseconds.
    pub last_pause_us: u64,
    /// How long writing the last snapshot file took, in microseconds.
    pub last_write_us: u64,
    /// Log records deleted behind snapshots since start.
    pub records_truncated: u64,
    /// The log's size on disk after the last snapshot (and truncation):
    /// the next is due `--snapshot-log-mb` later.
    pub log_bytes_after: u64,
    /// Why the log is not truncated behind the newest snapshot (empty if
    /// it is).
    pub held: String,
    /// Snapshots the log may still be truncated behind, oldest first: (the
    /// log position each covers, its version vector). The newest file
    /// covers them all; the log is cut behind the newest one every peer
    /// has acknowledged (or left behind), checked once a second, since a
    /// snapshot taken under steady writes covers ops no peer has
    /// acknowledged yet when it is written.
    pub points: std::collections::VecDeque<(u64, meridian_core::VersionVector)>,
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
    pub snapshots: Snapshots,
}

impl Shared {
    /// The peer with region id `id`.
    pub fn peer(&self, id: RegionId) -> Option<&PeerStatus> {
        self.peers.iter().find(|p| p.id == id)
    }

    /// Milliseconds since the server started.
    pub fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Records that something arrived from `peer`.
    pub fn heard(&self, peer: &PeerStatus) {
        peer.last_heard_ms
            .fetch_max(self.uptime_ms().max(1), Ordering::Relaxed);
    }

    /// How long nothing has arrived from `peer`, in milliseconds (since
    /// start if nothing ever did).
    pub fn silent_ms(&self, peer: &PeerStatus) -> u64 {
        self.uptime_ms()
            .saturating_sub(peer.last_heard_ms.load(Ordering::Relaxed))
    }
}
