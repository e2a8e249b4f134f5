//! Incoming replication links: authenticate the dialling region, tell it
//! where to resume, apply its ops in causal order, log them, and acknowledge
//! once they are synced (fsynced, whatever the fsync policy; see `Pending`).

use super::auth::{self, Side, Transcript};
use super::framed::{self, FrameReader, FrameWriter};
use super::{HANDSHAKE_TIMEOUT, HEARTBEAT_INTERVAL, LINK_SILENCE_MAX, SNAPSHOT_SILENCE_MAX};
use crate::shared::{now_us, PeerStatus, Shared};
use crate::snapshot::{InstallDone, InstallError};
use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use meridian_core::protocol::{Msg, NAME_BYTES_MAX, PROTOCOL_VERSION, SNAPSHOT_BYTES_MAX};
use meridian_core::timing;
use meridian_core::{Op, Snapshot, VersionVector};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{timeout, Instant};

/// Most incoming replication connections open at once. Each region dials
/// once per peer; the headroom absorbs reconnects whose old connection has
/// not timed out yet, and the bound keeps a flood of dialers from exhausting
/// memory.
pub const REPL_CONNECTIONS_MAX: usize = 256;

/// Ops applied per hold of the state lock, so that a large batch from a peer
/// does not stall local clients for its whole length.
const APPLY_CHUNK_OPS: usize = 256;

/// How often a link checks whether ops of its peer were applied without an
/// Ack (released from the causal buffer by another link). Short, because the
/// peer's send window may be waiting on it.
const ACK_CHECK_INTERVAL: Duration = Duration::from_millis(timing::ACK_CHECK_INTERVAL_MS);

/// How long to wait before retrying an op whose clock is too far ahead.
const CLOCK_AHEAD_RETRY: Duration = Duration::from_millis(timing::CLOCK_AHEAD_RETRY_MS);

/// Accepts replication links forever.
pub async fn serve(shared: Arc<Shared>, listener: TcpListener) {
    let open = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("replication accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if open.load(Ordering::Relaxed) >= REPL_CONNECTIONS_MAX {
            tracing::warn!(%addr, "refusing replication connection: {REPL_CONNECTIONS_MAX} open");
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let shared = shared.clone();
        let open = open.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(&shared, stream, addr).await {
                tracing::debug!(%addr, "replication connection ended: {e:#}");
            }
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn connection(
    shared: &Arc<Shared>,
    stream: TcpStream,
    addr: SocketAddr,
) -> anyhow::Result<()> {
    let (mut rd, mut wr) = framed::split(stream);
    let peer = match timeout(HANDSHAKE_TIMEOUT, handshake(shared, &mut rd, &mut wr)).await {
        Err(_) => bail!("handshake timed out"),
        Ok(Err(Refusal(reason))) => {
            tracing::warn!(%addr, "refused replication link: {reason}");
            let _ = wr.send(&Msg::Refused { reason }).await;
            return Ok(());
        }
        Ok(Ok(peer)) => peer,
    };
    shared.heard(peer);
    tracing::info!(peer = %peer.name, %addr, "incoming replication link up");
    peer.inbound_connections.fetch_add(1, Ordering::Relaxed);
    let result = receive_ops(shared, peer, &mut rd, &mut wr).await;
    peer.inbound_connections.fetch_sub(1, Ordering::Relaxed);
    result
}

struct Refusal(String);

impl From<anyhow::Error> for Refusal {
    fn from(e: anyhow::Error) -> Self {
        Refusal(format!("{e:#}"))
    }
}

async fn handshake<'a>(
    shared: &'a Shared,
    rd: &mut FrameReader,
    wr: &mut FrameWriter,
) -> Result<&'a PeerStatus, Refusal> {
    let args = &shared.args;
    let (protocol, cluster, region, regions, their_nonce) = match rd.read().await? {
        Msg::Hello {
            protocol,
            cluster,
            region,
            regions,
            nonce,
        } => (protocol, cluster, region, regions, nonce),
        other => {
            return Err(Refusal(format!(
                "expected Hello, got {}",
                super::kind(&other)
            )))
        }
    };
    if protocol != PROTOCOL_VERSION {
        return Err(Refusal(format!(
            "protocol version {protocol} is not supported (this region speaks {PROTOCOL_VERSION})"
        )));
    }
    if cluster != args.cluster {
        return Err(Refusal(format!(
            "region {region} belongs to cluster {cluster:?}, this is {:?}",
            args.cluster
        )));
    }
    let (our_regions, peer_id) = {
        let node = shared.node.lock();
        (
            node.regions().names().to_vec(),
            node.regions().id(&region).ok(),
        )
    };
    if regions != our_regions {
        return Err(Refusal(format!(
            "region {region} is configured with regions {regions:?}, this region with {our_regions:?}"
        )));
    }
    let peer = peer_id
        .and_then(|id| shared.peer(id))
        .ok_or_else(|| Refusal(format!("region {region:?} is not a peer of this region")))?;
    let my_nonce = auth::nonce();
    let t = Transcript {
        cluster: &args.cluster,
        dialer: &region,
        acceptor: &args.region,
        dialer_nonce: &their_nonce,
        acceptor_nonce: &my_nonce,
    };
    wr.send(&Msg::Challenge {
        region: args.region.clone(),
        nonce: my_nonce.clone(),
        proof: auth::prove(&args.cluster_secret, Side::Acceptor, &t),
    })
    .await?;
    match rd.read().await? {
        Msg::Auth { proof } if auth::verify(&args.cluster_secret, Side::Dialer, &t, &proof) => {}
        Msg::Auth { .. } => {
            return Err(Refusal(format!(
                "region {region} failed authentication: wrong cluster secret"
            )))
        }
        Msg::Refused { reason } => {
            return Err(Refusal(format!("region {region} refused us: {reason}")))
        }
        other => {
            return Err(Refusal(format!(
                "expected Auth, got {}",
                super::kind(&other)
            )))
        }
    }
    // Like an Ack (see `Pending`), the Welcome announces only synced ops: the
    // dialer's relay scan passes every op the vector covers for good, so an
    // op we announced and then lost in a crash would never be relayed to us
    // again (its own stream would resend it, but not if its origin is gone).
    let (vv, lsn) = {
        let node = shared.node.lock();
        (node.vv().clone(), shared.log.last_lsn())
    };
    shared
        .log
        .wait_synced(lsn)
        .await
        .map_err(|e| Refusal(format!("log: {e}")))?;
    wr.send(&Msg::Welcome { vv }).await?;
    Ok(peer)
}

/// A peer's snapshot arriving (after `SnapshotAccept`).
struct Incoming<'a> {
    data: Vec<u8>,
    started: Instant,
    _receiving: Receiving<'a>,
}

/// Marks a state transfer into this region as in progress while it lives.
struct Receiving<'a>(&'a AtomicBool);

impl Drop for Receiving<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

async fn receive_ops(
    shared: &Arc<Shared>,
    peer: &PeerStatus,
    rd: &mut FrameReader,
    wr: &mut FrameWriter,
) -> anyhow::Result<()> {
    let mut heartbeat = tokio::time::interval(HEARTBEAT_INTERVAL);
    let mut ack_check = tokio::time::interval(ACK_CHECK_INTERVAL);
    let mut synced = shared.log.subscribe_synced();
    let mut last_heard = Instant::now();
    let mut acked = meridian_core::VersionVector::default();
    // The next Ack, waiting for the log to be synced (see `Pending`). The
    // task goes on reading and applying meanwhile: an fsync per batch in
    // the way would hold every later batch back by it.
    let mut pending: Option<Pending> = None;
    let mut incoming: Option<Incoming<'_>> = None;
    loop {
        tokio::select! {
            msg = rd.read() => {
                last_heard = Instant::now();
                let msg = msg?;
                shared.heard(peer);
                match msg {
                    Msg::Batch { records } if incoming.is_none() => {
                        let ops = decode_batch(records)?;
                        apply_batch(shared, peer, ops).await?;
                        if pending.is_none() {
                            pending = Some(Pending::now(shared)?);
                        }
                    }
                    Msg::Heartbeat => {}
                    Msg::SnapshotOffer { vv } if incoming.is_none() => {
                        match accept_offer(shared, &vv) {
                            Ok(receiving) => {
                                tracing::info!(peer = %peer.name, "state transfer: accepted a snapshot offer");
                                wr.send(&Msg::SnapshotAccept).await?;
                                incoming = Some(Incoming {
                                    data: Vec::new(),
                                    started: Instant::now(),
                                    _receiving: receiving,
                                });
                            }
                            Err(reason) => return refuse(shared, peer, wr, reason).await,
                        }
                    }
                    Msg::SnapshotChunk { data } => {
                        let Some(inc) = incoming.as_mut() else {
                            bail!("snapshot data without an accepted offer");
                        };
                        let total = inc.data.len() as u64 + data.len() as u64;
                        if total > SNAPSHOT_BYTES_MAX {
                            let reason = format!(
                                "the snapshot exceeds the {SNAPSHOT_BYTES_MAX} bytes a region takes"
                            );
                            return refuse(shared, peer, wr, reason).await;
                        }
                        inc.data.extend_from_slice(&data);
                    }
                    Msg::SnapshotDone { bytes } => {
                        let Some(inc) = incoming.take() else {
                            bail!("end of a snapshot without an accepted offer");
                        };
                        let Incoming { data, started, _receiving } = inc;
                        if bytes != data.len() as u64 {
                            let reason = format!(
                                "the snapshot was announced as {bytes} bytes but {} arrived",
                                data.len()
                            );
                            return refuse(shared, peer, wr, reason).await;
                        }
                        let received = data.len();
                        match install_received(shared, wr, data).await? {
                            Ok(done) => {
                                shared.snapshots.transfers_received.fetch_add(1, Ordering::Relaxed);
                                peer.last_refusal.lock().clear();
                                tracing::info!(
                                    peer = %peer.name,
                                    bytes = received,
                                    brought = done.brought,
                                    replayed = done.replayed,
                                    released = done.released,
                                    snapshot_lsn = done.lsn,
                                    snapshot_file_bytes = done.file_bytes,
                                    pause_ms = %format!("{:.1}", done.pause.as_secs_f64() * 1000.0),
                                    ms = started.elapsed().as_millis() as u64,
                                    "state transfer: installed a peer's snapshot"
                                );
                                // Acknowledged once the log is synced, as
                                // any other apply.
                                pending = Some(Pending::now(shared)?);
                            }
                            Err(reason) => return refuse(shared, peer, wr, reason).await,
                        }
                        drop(_receiving);
                        last_heard = Instant::now();
                    }
                    other => bail!("unexpected message on link: {}", super::kind(&other)),
                }
            }
            changed = synced.changed(), if pending.is_some() => {
                changed.map_err(|_| anyhow!("log closed"))?;
            }
            _ = ack_check.tick() => {
                // Ops of this peer held for their causes may have been
                // released by another link's batch (the peer waits for an Ack
                // to reopen its window), and the peer decides what to relay
                // from what we acknowledged: tell it whenever we have more.
                if pending.is_none() && *shared.node.lock().vv() != acked {
                    pending = Some(Pending::now(shared)?);
                }
            }
            _ = heartbeat.tick() => {
                // While a snapshot is on its way, the sender may be
                // encoding it under its state lock for a while.
                let limit = if incoming.is_some() { SNAPSHOT_SILENCE_MAX } else { LINK_SILENCE_MAX };
                if last_heard.elapsed() > limit {
                    bail!("no word from peer for {limit:?}");
                }
                wr.send(&Msg::Heartbeat).await?;
            }
        }
        while let Some(p) = pending.take_if(|p| shared.log.synced_lsn() >= p.lsn) {
            wr.send(&Msg::Ack { vv: p.vv.clone() }).await?;
            acked = p.vv;
            // What was applied while it waited goes in the next one.
            if *shared.node.lock().vv() != acked {
                pending = Some(Pending::now(shared)?);
            }
        }
        if pending.is_some() && shared.log.is_poisoned() {
            bail!("log poisoned: nothing more can be acknowledged");
        }
    }
}

/// Takes a snapshot offer covering `vv` if this region's log holds every
/// op it applied that `vv` lacks and no other transfer is in progress.
fn accept_offer<'a>(shared: &'a Shared, vv: &VersionVector) -> Result<Receiving<'a>, String> {
    let missing = shared.snapshots.state.lock().base.first_missing(vv);
    if let Some((origin, seq)) = missing {
        let name = shared
            .node
            .lock()
            .regions()
            .names()
            .get(origin.index())
            .cloned()
            .unwrap_or_else(|| origin.to_string());
        return Err(format!(
            "the offered snapshot lacks op {seq} of {name}, which this region holds only in \
             its state (its log was truncated past it); a region that has it must send one"
        ));
    }
    let flag = &shared.snapshots.receiving;
    if flag
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return Err("another state transfer into this region is in progress".into());
    }
    Ok(Receiving(flag))
}

/// Tells the peer why its snapshot was not taken, and ends the link (the
/// peer retries later).
async fn refuse(
    shared: &Shared,
    peer: &PeerStatus,
    wr: &mut FrameWriter,
    reason: String,
) -> anyhow::Result<()> {
    shared
        .snapshots
        .transfers_refused
        .fetch_add(1, Ordering::Relaxed);
    let again = std::mem::replace(&mut *peer.last_refusal.lock(), reason.clone()) == reason;
    if again {
        tracing::debug!(peer = %peer.name, "refused a state transfer again: {reason}");
    } else {
        tracing::warn!(peer = %peer.name, "refused a state transfer: {reason}");
    }
    let mut reason = reason;
    if reason.len() > NAME_BYTES_MAX {
        let mut cut = NAME_BYTES_MAX;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
    }
    wr.send(&Msg::Refused { reason }).await
}

/// Decodes and installs a received snapshot (see `crate::snapshot`),
/// sending heartbeats meanwhile. `Ok(Err(reason))`: refused, nothing
/// changed.
async fn install_received(
    shared: &Arc<Shared>,
    wr: &mut FrameWriter,
    data: Vec<u8>,
) -> anyhow::Result<Result<InstallDone, String>> {
    let sh = shared.clone();
    let work = async move {
        let snap = tokio::task::spawn_blocking(move || Snapshot::decode(&data))
            .await
            .context("snapshot decoding task")?;
        let snap = match snap {
            Ok(s) => s,
            Err(e) => return Ok(Err(format!("the snapshot cannot be used: {e}"))),
        };
        let file = sh.snapshots.file.clone().lock_owned().await;
        let installed = tokio::task::spawn_blocking(move || {
            let _file = file;
            crate::snapshot::install(&sh, snap)
        })
        .await
        .context("snapshot install task")?;
        match installed {
            Ok(done) => Ok(Ok(done)),
            Err(InstallError::Refused(why)) => Ok(Err(why)),
            Err(InstallError::Failed(e)) => Err(e),
        }
    };
    tokio::pin!(work);
    let mut beat = tokio::time::interval(HEARTBEAT_INTERVAL);
    loop {
        tokio::select! {
            r = &mut work => return r,
            _ = beat.tick() => wr.send(&Msg::Heartbeat).await?,
        }
    }
}

/// An Ack of everything applied here so far, sent once the log is synced up
/// to `lsn` (the last record appended when `vv` was read, so every op `vv`
/// covers is in the log up to there).
///
/// An Ack waits for the fsync, not only for the write that client replies
/// wait for under `everysec`/`no`, because what we acknowledge outlives this
/// connection and this process at the sender: its node merges the vector
/// into `peer_seen` for good (it never goes back, even after we restart),
/// and drops an expiry tombstone once every region has acknowledged it; and
/// its relay scan passes every op we acknowledged for good. Were an
/// acknowledged op lost in a power loss here, the sender could drop a
/// tombstone we still need (ops we write after the restart, concurrent with
/// the lost one, would then merge differently there than here), and would
/// never relay the op to us again (so it never comes back if its origin is
/// gone for good). Resuming is
/// safe either way: a `Welcome` with fewer of the sender's ops than we
/// acknowledged makes it rescan its log. The cost is about one fsync of ack
/// latency, which delays neither the apply here nor the sender's next
/// batch: its window is `IN_FLIGHT_BATCHES_MAX` batches.
struct Pending {
    vv: meridian_core::VersionVector,
    lsn: u64,
}

impl Pending {
    fn now(shared: &Shared) -> anyhow::Result<Pending> {
        let (vv, lsn) = {
            let node = shared.node.lock();
            (node.vv().clone(), shared.log.last_lsn())
        };
        // Writes what is appended (under `everysec`/`no` callers write
        // inline), which wakes the log's writer thread to fsync it.
        shared.log.flush().context("log")?;
        Ok(Pending { vv, lsn })
    }
}

/// Decodes a batch, keeping each op's record: it is what the log appends
/// (the same bytes the origin logged), so an op is not encoded again.
fn decode_batch(records: Vec<Bytes>) -> anyhow::Result<Vec<(Bytes, Op)>> {
    records
        .into_iter()
        .map(|r| {
            let op = Op::decode(&r).map_err(|e| anyhow!("bad op from peer: {e}"))?;
            Ok((r, op))
        })
        .collect()
}

/// Applies ops in chunks, holding back (and retrying) an op whose clock is
/// too far ahead.
async fn apply_batch(
    shared: &Shared,
    peer: &PeerStatus,
    ops: Vec<(Bytes, Op)>,
) -> anyhow::Result<()> {
    let mut ops = ops.into_iter().peekable();
    let mut record = Vec::new();
    while ops.peek().is_some() {
        let mut held = None;
        {
            let mut node = shared.node.lock();
            let mut lag = shared.lag.lock();
            for _ in 0..APPLY_CHUNK_OPS {
                let Some((raw, op)) = ops.next() else { break };
                let now = now_us();
                // Checked before `receive` takes the op, so that a held op
                // is kept without a copy of every op.
                if !node.vv().covers(op.dot) {
                    if let Err(e) = node.clock().check_remote(op.hlc, now / 1000) {
                        peer.clock_ahead_holds.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(peer = %peer.name, "holding op: {e}");
                        held = Some((raw, op));
                        break;
                    }
                }
                let dot = op.dot;
                let received = node.receive(now / 1000, op).map_err(|e| anyhow!("{e}"))?;
                for applied in received.applied {
                    let appended = if applied.dot == dot {
                        shared.log.append(&raw)
                    } else {
                        // A held op this one released: its record is gone.
                        record.clear();
                        applied.encode_into(&mut record);
                        shared.log.append(&record)
                    };
                    appended.unwrap_or_else(|e| {
                        // The op is applied in memory; carrying on without
                        // it in the log would diverge.
                        panic!("log append failed, stopping: {e}")
                    });
                    let lag_us = now.saturating_sub(applied.hlc.physical_ms() * 1000);
                    if let Some(l) = lag.get_mut(applied.dot.region.index()) {
                        l.record(lag_us);
                    }
                    peer.ops_received.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if let Some(first) = held {
            tokio::time::sleep(CLOCK_AHEAD_RETRY).await;
            let rest: Vec<(Bytes, Op)> = std::iter::once(first).chain(ops).collect();
            ops = rest.into_iter().peekable();
        } else {
            tokio::task::yield_now().await;
        }
    }
    Ok(())
}
