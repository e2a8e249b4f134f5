//! A delaying TCP proxy for one directed inter-region link.
//!
//! [`LinkProxy::start`] listens on `listen`; every accepted connection is
//! paired with a fresh connection to `target`, and bytes flow both ways,
//! each delivered `one_way_delay` after the proxy read it (so a request /
//! response pair sees one round trip of `2 * one_way_delay`). Order is
//! preserved; EOF is forwarded after the same delay; an error on either
//! side closes both. [`LinkProxy::cut`] emulates a partition.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub use crate::link::{
    LinkConfig, LinkState, LinkStats, ACCEPT_RETRY_MS, CONNECT_TIMEOUT_MS, DELAY_MS_MAX,
    QUEUE_BYTES_MAX, READ_BUF_BYTES, WRITE_COALESCE_BYTES_MAX,
};
use crate::pipe::{pump, DirCounters};
use crate::WanError;

struct Table {
    cut: bool,
    shut: bool,
    next_id: u64,
    tasks: HashMap<u64, JoinHandle<()>>,
}

struct Shared {
    target: SocketAddr,
    delay_nanos: AtomicU64,
    to_target: DirCounters,
    to_client: DirCounters,
    accepted: AtomicU64,
    refused: AtomicU64,
    table: Mutex<Table>,
}

impl Shared {
    /// Marks the link cut (and optionally shut) and takes every
    /// connection task; the caller aborts them outside the lock.
    fn take_all(&self, shut: bool) -> Vec<JoinHandle<()>> {
        let mut t = self.table.lock();
        t.cut = true;
        t.shut |= shut;
        t.tasks.drain().map(|(_, h)| h).collect()
    }
}

/// Removes a connection from the table when its task ends or is aborted.
struct ConnGuard {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.shared.table.lock().tasks.remove(&self.id);
    }
}

/// A running delaying proxy for one directed link. Dropping it stops
/// accepting and aborts all connections (see [`LinkProxy::shutdown`] to
/// wait for that to finish).
pub struct LinkProxy {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
}

fn delay_nanos(d: Duration) -> Result<u64, WanError> {
    if d > Duration::from_millis(DELAY_MS_MAX) {
        return Err(WanError::Config(format!(
            "one-way delay {d:?} exceeds DELAY_MS_MAX ({DELAY_MS_MAX} ms)"
        )));
    }
    // Bounded by DELAY_MS_MAX, so this fits in u64.
    Ok(d.as_nanos() as u64)
}

impl LinkProxy {
    /// Binds `listen` (usually `127.0.0.1:0`) and starts forwarding every
    /// accepted connection to `target` with `cfg.one_way_delay` each way.
    /// Must be called inside a Tokio runtime. Fails if the delay exceeds
    /// [`DELAY_MS_MAX`] or the bind fails; `target` is only dialled when a
    /// client connects.
    pub async fn start(
        listen: SocketAddr,
        target: SocketAddr,
        cfg: LinkConfig,
    ) -> Result<LinkProxy, WanError> {
        let nanos = delay_nanos(cfg.one_way_delay)?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| WanError::Bind {
                addr: listen,
                source,
            })?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            target,
            delay_nanos: AtomicU64::new(nanos),
            to_target: DirCounters::default(),
            to_client: DirCounters::default(),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            table: Mutex::new(Table {
                cut: false,
                shut: false,
                next_id: 0,
                tasks: HashMap::new(),
            }),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(LinkProxy {
            shared,
            local_addr,
            accept: Some(accept),
        })
    }

    /// The address clients dial.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address connections are forwarded to.
    pub fn target(&self) -> SocketAddr {
        self.shared.target
    }

    /// The current one-way delay.
    pub fn delay(&self) -> Duration {
        Duration::from_nanos(self.shared.delay_nanos.load(Ordering::Relaxed))
    }

    /// Changes the one-way delay for bytes read after this call (bytes
    /// already queued keep their deadline; order is still preserved).
    /// Fails if `d` exceeds [`DELAY_MS_MAX`].
    pub fn set_delay(&self, d: Duration) -> Result<(), WanError> {
        let nanos = delay_nanos(d)?;
        self.shared.delay_nanos.store(nanos, Ordering::Relaxed);
        Ok(())
    }

    /// Partitions the link: aborts every current connection (both sockets
    /// closed, queued bytes discarded) and closes new connections right
    /// after accept until [`LinkProxy::heal`]. Idempotent.
    pub fn cut(&self) {
        for h in self.shared.take_all(false) {
            h.abort();
        }
    }

    /// Ends a partition: new connections are forwarded again. Connections
    /// dropped by [`LinkProxy::cut`] are not restored. Idempotent.
    pub fn heal(&self) {
        self.shared.table.lock().cut = false;
    }

    /// Whether the link is cut.
    pub fn is_cut(&self) -> bool {
        self.shared.table.lock().cut
    }

    /// [`LinkState::Cut`] or [`LinkState::Up`].
    pub fn state(&self) -> LinkState {
        if self.is_cut() {
            LinkState::Cut
        } else {
            LinkState::Up
        }
    }

    /// A snapshot of the link's counters.
    pub fn stats(&self) -> LinkStats {
        let s = &self.shared;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        LinkStats {
            bytes_to_target: load(&s.to_target.forwarded),
            bytes_to_client: load(&s.to_client.forwarded),
            connections_accepted: load(&s.accepted),
            connections_refused: load(&s.refused),
            connections_current: s.table.lock().tasks.len() as u64,
            in_flight_to_target: load(&s.to_target.in_flight),
            in_flight_to_client: load(&s.to_client.in_flight),
            peak_in_flight_bytes: load(&s.to_target.peak).max(load(&s.to_client.peak)),
        }
    }

    /// Stops accepting and drops all connections, and waits until the
    /// listening socket and every connection are closed and all tasks
    /// have ended. Afterwards, connecting to [`LinkProxy::local_addr`] is
    /// refused.
    pub async fn shutdown(mut self) {
        let conns = self.stop();
        if let Some(accept) = self.accept.take() {
            // The error is the expected "cancelled".
            let _ = accept.await;
        }
        for h in conns {
            let _ = h.await;
        }
    }

    /// Aborts the accept task and every connection task; returns the
    /// connection handles so `shutdown` can await them.
    fn stop(&mut self) -> Vec<JoinHandle<()>> {
        if let Some(accept) = &self.accept {
            accept.abort();
        }
        let conns = self.shared.take_all(true);
        for h in &conns {
            h.abort();
        }
        conns
    }
}

impl Drop for LinkProxy {
    /// Same as [`LinkProxy::shutdown`] without waiting: sockets close as
    /// soon as the runtime processes the aborts.
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for LinkProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkProxy")
            .field("local_addr", &self.local_addr)
            .field("target", &self.shared.target)
            .field("delay", &self.delay())
            .field("state", &self.state())
            .finish()
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let (sock, peer) = match listener.accept().await {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "link proxy accept failed");
                tokio::time::sleep(Duration::from_millis(ACCEPT_RETRY_MS)).await;
                continue;
            }
        };
        shared.accepted.fetch_add(1, Ordering::Relaxed);
        // Check-and-register under the lock so a concurrent cut either sees
        // this connection or this connection sees the cut.
        let mut table = shared.table.lock();
        if table.cut || table.shut {
            drop(table);
            shared.refused.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, "link cut: closing new connection");
            drop(sock);
            continue;
        }
        let id = table.next_id;
        table.next_id += 1;
        let guard = ConnGuard {
            shared: shared.clone(),
            id,
        };
        // The task cannot remove itself before this insert: its guard
        // needs the lock we hold.
        let handle = tokio::spawn(run_conn(sock, guard));
        table.tasks.insert(id, handle);
    }
}

async fn run_conn(client: TcpStream, guard: ConnGuard) {
    let shared = &guard.shared;
    let connect = TcpStream::connect(shared.target);
    let upstream =
        match tokio::time::timeout(Duration::from_millis(CONNECT_TIMEOUT_MS), connect).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(target = %shared.target, error = %e, "link proxy: connect failed");
                return;
            }
            Err(_) => {
                tracing::debug!(target = %shared.target, "link proxy: connect timed out");
                return;
            }
        };
    // Nagle would hold back small writes and distort the emulated latency.
    for s in [&client, &upstream] {
        if let Err(e) = s.set_nodelay(true) {
            tracing::debug!(error = %e, "link proxy: set_nodelay failed");
        }
    }
    let (client_rd, client_wr) = client.into_split();
    let (up_rd, up_wr) = upstream.into_split();
    let res = tokio::try_join!(
        pump(client_rd, up_wr, &shared.delay_nanos, &shared.to_target),
        pump(up_rd, client_wr, &shared.delay_nanos, &shared.to_client),
    );
    if let Err(e) = res {
        tracing::debug!(error = %e, "link proxy: connection closed on error");
    }
}
