//! The outgoing link to one peer: connect, authenticate, then stream this
//! region's own ops from the log, resuming where the peer left off.
//!
//! The link reads the log, never the live state, so a slow or dead peer
//! never blocks local writes, and what it has not received waits on disk
//! (the log keeps only a bounded tail in memory).
//!
//! It ships only *synced* records (fsynced: `Log::synced_lsn`), never
//! records that are merely written, whatever the fsync policy. A record
//! written but not synced is lost in a power loss; had a peer received it,
//! the restarted region would hand out its sequence number again for a
//! different op, which the peer would take for a duplicate, and the regions
//! would diverge for good. The log fsyncs written records at once (one fsync
//! per group, back to back), so this costs about one fsync of lag.

use super::auth::{self, Side, Transcript};
use super::framed::{self, FrameReader, FrameWriter};
use super::{
    HANDSHAKE_TIMEOUT, HEARTBEAT_INTERVAL, LINK_SILENCE_MAX, RECONNECT_DELAY_MAX,
    RECONNECT_DELAY_MIN, SNAPSHOT_SILENCE_MAX,
};
use crate::shared::{LinkState, PeerStatus, Shared};
use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use meridian_core::link::Outbound;
use meridian_core::link::RELAY_AFTER_MS;
use meridian_core::op::{peek_dot, peek_hlc};
use meridian_core::protocol::{
    Msg, BATCH_BYTES_MAX, BATCH_RECORDS_MAX, PROTOCOL_VERSION, SNAPSHOT_BYTES_MAX,
    SNAPSHOT_CHUNK_BYTES,
};
use meridian_core::{RegionId, VersionVector};
use meridian_log::LogError;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

/// Runs the link to peer number `index` forever, reconnecting with backoff.
pub async fn run(shared: Arc<Shared>, index: usize) {
    let peer = &shared.peers[index];
    let regions = shared.node.lock().regions().len();
    let me = shared.node.lock().me();
    let mut link = Outbound::new(me, peer.id, regions, shared.log.first_lsn());
    let mut delay = RECONNECT_DELAY_MIN;
    let mut connects_seen = 0;
    // The last refusal logged, so that one is logged once per change of
    // reason, not at every retry (the state is `Connecting` meanwhile).
    let mut last_refusal = String::new();
    loop {
        set_state(peer, LinkState::Connecting);
        match session(&shared, peer, &mut link).await {
            Ok(()) => {}
            Err(e) => {
                let msg = format!("{e:#}");
                let refused =
                    msg.contains("refused by peer") || msg.contains("failed authentication");
                if refused {
                    if msg != last_refusal {
                        tracing::warn!(peer = %peer.name, "replication link refused: {msg}");
                        last_refusal.clone_from(&msg);
                    }
                    set_state(peer, LinkState::Refused(msg));
                } else {
                    tracing::debug!(peer = %peer.name, "replication link down: {msg}");
                    set_state(peer, LinkState::Down(msg));
                }
            }
        }
        // While the link is down our backlog for the peer still grows, and
        // INFO must show it.
        let my_vv = shared.node.lock().vv().clone();
        peer.out.lock().ops_behind = link.ops_behind(&my_vv);
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(RECONNECT_DELAY_MAX);
        if peer.out.lock().connects > connects_seen {
            // The last session got to streaming: start backoff anew.
            connects_seen = peer.out.lock().connects;
            delay = RECONNECT_DELAY_MIN;
            last_refusal.clear();
        }
    }
}

fn set_state(peer: &PeerStatus, state: LinkState) {
    peer.out.lock().state = state;
}

async fn session(
    shared: &Arc<Shared>,
    peer: &PeerStatus,
    link: &mut Outbound,
) -> anyhow::Result<()> {
    let stream = timeout(HANDSHAKE_TIMEOUT, TcpStream::connect(&peer.addr))
        .await
        .map_err(|_| anyhow!("connect to {} timed out", peer.addr))?
        .with_context(|| format!("connect to {}", peer.addr))?;
    let (mut rd, mut wr) = framed::split(stream);
    let vv = handshake(shared, peer, &mut rd, &mut wr).await?;
    shared.heard(peer);
    let me = shared.node.lock().me();
    let mut resume = link.on_welcome(vv.clone(), shared.log.first_lsn());
    peer.out.lock().acked = link.peer_vv().clone();
    if !shared.snapshots.state.lock().base.serves(me, &vv) {
        tracing::info!(
            peer = %peer.name,
            "the log no longer holds ops of ours the peer lacks: offering it a snapshot \
             (full state transfer)"
        );
        set_state(peer, LinkState::Transferring);
        transfer(shared, peer, link, &mut rd, &mut wr).await?;
        resume = link.next_lsn();
    }
    {
        // Only now: a session refused before it streams keeps backing off.
        let mut out = peer.out.lock();
        out.state = LinkState::Connected;
        out.connects += 1;
    }
    tracing::info!(peer = %peer.name, resume_lsn = resume, "replication link up");
    stream_ops(shared, peer, me, link, &mut rd, &mut wr).await
}

/// The peer acknowledged `vv` (durably).
fn on_ack(shared: &Shared, peer: &PeerStatus, link: &mut Outbound, vv: VersionVector) {
    let my_vv = {
        let mut node = shared.node.lock();
        // Lets the node drop tombstones every region has seen.
        node.peer_seen(peer.id, &vv);
        node.vv().clone()
    };
    link.on_ack(vv);
    let mut out = peer.out.lock();
    out.ops_behind = link.ops_behind(&my_vv);
    out.acked = link.peer_vv().clone();
}

/// Reads the next message, within `limit`.
async fn read_within(
    shared: &Shared,
    peer: &PeerStatus,
    rd: &mut FrameReader,
    limit: std::time::Duration,
    what: &str,
) -> anyhow::Result<Msg> {
    let msg = timeout(limit, rd.read())
        .await
        .map_err(|_| anyhow!("no word from peer for {limit:?} while waiting for {what}"))??;
    shared.heard(peer);
    Ok(msg)
}

/// The peer refused our snapshot offer (or the snapshot): counted, and
/// the session ends with the reason.
fn offer_refused(shared: &Shared, reason: &str) -> anyhow::Error {
    shared
        .snapshots
        .offers_refused
        .fetch_add(1, Ordering::Relaxed);
    anyhow!("refused by peer: state transfer: {reason}")
}

/// The full state transfer (see `crate::snapshot`): offers the peer a
/// snapshot, and once it accepts, encodes this region's state, sends it,
/// and waits until the peer has installed it. Afterwards the link streams
/// from the snapshot's log position on.
async fn transfer(
    shared: &Arc<Shared>,
    peer: &PeerStatus,
    link: &mut Outbound,
    rd: &mut FrameReader,
    wr: &mut FrameWriter,
) -> anyhow::Result<()> {
    let offer = shared.node.lock().vv().clone();
    wr.send(&Msg::SnapshotOffer { vv: offer }).await?;
    loop {
        match read_within(
            shared,
            peer,
            rd,
            LINK_SILENCE_MAX,
            "the snapshot offer's answer",
        )
        .await?
        {
            Msg::SnapshotAccept => break,
            Msg::Heartbeat => {}
            Msg::Ack { vv } => on_ack(shared, peer, link, vv),
            Msg::Refused { reason } => return Err(offer_refused(shared, &reason)),
            other => bail!("unexpected message on link: {}", super::kind(&other)),
        }
    }
    // Encoding holds the state lock; keep the link alive meanwhile.
    let sh = shared.clone();
    let mut encode = tokio::task::spawn_blocking(move || crate::snapshot::encode(&sh, false));
    let mut beat = tokio::time::interval(HEARTBEAT_INTERVAL);
    let (data, lsn, snap_vv, pause) = loop {
        tokio::select! {
            r = &mut encode => break r.context("snapshot encoding task")?,
            _ = beat.tick() => wr.send(&Msg::Heartbeat).await?,
        }
    };
    // Only synced ops leave this region (see the module doc): the state
    // holds ops whose records may not be fsynced yet.
    shared
        .log
        .wait_synced(lsn)
        .await
        .context("wait for the log to be synced")?;
    let total = data.len() as u64;
    if total > SNAPSHOT_BYTES_MAX {
        bail!(
            "this region's snapshot is {total} bytes, over the {SNAPSHOT_BYTES_MAX} a peer takes: \
             no full state transfer is possible"
        );
    }
    tracing::info!(
        peer = %peer.name,
        lsn,
        bytes = total,
        pause_ms = %format!("{:.1}", pause.as_secs_f64() * 1000.0),
        "state transfer: sending a snapshot"
    );
    let sending = Instant::now();
    let data = Bytes::from(data);
    let mut at = 0;
    while at < data.len() {
        let end = (at + SNAPSHOT_CHUNK_BYTES).min(data.len());
        wr.send(&Msg::SnapshotChunk {
            data: data.slice(at..end),
        })
        .await?;
        at = end;
    }
    drop(data);
    wr.send(&Msg::SnapshotDone { bytes: total }).await?;
    // The peer installs it and persists it under its state lock, then
    // acknowledges a vector covering it.
    let acked = loop {
        match read_within(
            shared,
            peer,
            rd,
            SNAPSHOT_SILENCE_MAX,
            "the snapshot to be installed",
        )
        .await?
        {
            Msg::Ack { vv } => {
                let done = vv.dominates(&snap_vv);
                on_ack(shared, peer, link, vv.clone());
                if done {
                    break vv;
                }
            }
            Msg::Heartbeat => {}
            Msg::Refused { reason } => return Err(offer_refused(shared, &reason)),
            other => bail!("unexpected message on link: {}", super::kind(&other)),
        }
    };
    // The peer holds every op up to `lsn`: stream (and relay) after it.
    link.on_welcome(acked, lsn + 1);
    {
        let mut out = peer.out.lock();
        out.acked = link.peer_vv().clone();
        out.snapshots_sent += 1;
    }
    shared
        .snapshots
        .transfers_sent
        .fetch_add(1, Ordering::Relaxed);
    tracing::info!(
        peer = %peer.name,
        lsn,
        bytes = total,
        ms = sending.elapsed().as_millis() as u64,
        "state transfer: the peer installed our snapshot"
    );
    Ok(())
}

/// Reads synced records from `from`. If the log was truncated below it
/// meanwhile (by a snapshot), the link moves up to the first retained
/// record when the log still holds every op of ours the peer lacks (it
/// acknowledged what was dropped; `None`: read again), and otherwise
/// ends the session, so that the next one offers a snapshot.
fn read_synced(
    shared: &Shared,
    peer: &PeerStatus,
    me: RegionId,
    link: &mut Outbound,
    from: u64,
) -> anyhow::Result<Option<Vec<(u64, Bytes)>>> {
    match shared
        .log
        .read_synced_from(from, BATCH_RECORDS_MAX, BATCH_BYTES_MAX)
    {
        Ok(records) => Ok(Some(records)),
        Err(LogError::Truncated { .. }) => {
            if !shared
                .snapshots
                .state
                .lock()
                .base
                .serves(me, link.peer_vv())
            {
                bail!(
                    "the log was truncated past ops of ours {} lacks; reconnecting to send it a snapshot",
                    peer.name
                );
            }
            let first = shared.log.first_lsn();
            tracing::debug!(peer = %peer.name, from, first, "log truncated under the link; moving up");
            link.skip_to(first);
            Ok(None)
        }
        Err(e) => Err(e).context("read log"),
    }
}

async fn handshake(
    shared: &Shared,
    peer: &PeerStatus,
    rd: &mut FrameReader,
    wr: &mut FrameWriter,
) -> anyhow::Result<meridian_core::VersionVector> {
    let args = &shared.args;
    let regions: Vec<String> = shared.node.lock().regions().names().to_vec();
    let my_nonce = auth::nonce();
    wr.send(&Msg::Hello {
        protocol: PROTOCOL_VERSION,
        cluster: args.cluster.clone(),
        region: args.region.clone(),
        regions,
        nonce: my_nonce.clone(),
    })
    .await?;
    let reply = timeout(HANDSHAKE_TIMEOUT, rd.read())
        .await
        .map_err(|_| anyhow!("handshake timed out"))??;
    let (their_region, their_nonce, proof) = match reply {
        Msg::Challenge {
            region,
            nonce,
            proof,
        } => (region, nonce, proof),
        Msg::Refused { reason } => bail!("refused by peer: {reason}"),
        other => bail!("unexpected handshake message {}", super::kind(&other)),
    };
    if their_region != peer.name {
        bail!(
            "refused by us: dialled {} but {their_region} answered",
            peer.name
        );
    }
    let t = Transcript {
        cluster: &args.cluster,
        dialer: &args.region,
        acceptor: &peer.name,
        dialer_nonce: &my_nonce,
        acceptor_nonce: &their_nonce,
    };
    if !auth::verify(&args.cluster_secret, Side::Acceptor, &t, &proof) {
        bail!(
            "peer {} failed authentication: wrong cluster secret",
            peer.name
        );
    }
    wr.send(&Msg::Auth {
        proof: auth::prove(&args.cluster_secret, Side::Dialer, &t),
    })
    .await?;
    match timeout(HANDSHAKE_TIMEOUT, rd.read())
        .await
        .map_err(|_| anyhow!("handshake timed out"))??
    {
        Msg::Welcome { vv } => Ok(vv),
        Msg::Refused { reason } => bail!("refused by peer: {reason}"),
        other => bail!("unexpected handshake message {}", super::kind(&other)),
    }
}

/// How often a link looks for ops to relay. Relaying waits
/// `RELAY_AFTER_MS` anyway; scanning more often would only cost reads.
const RELAY_SCAN_INTERVAL: std::time::Duration =
    std::time::Duration::from_millis(meridian_core::timing::RELAY_SCAN_INTERVAL_MS);

/// Relays other regions' ops that the peer still lacks and that are older
/// than [`RELAY_AFTER_MS`] (see `meridian_core::link`).
async fn relay(
    shared: &Shared,
    peer: &PeerStatus,
    me: RegionId,
    link: &mut Outbound,
    wr: &mut FrameWriter,
) -> anyhow::Result<()> {
    let old_enough_ms = crate::shared::now_ms().saturating_sub(RELAY_AFTER_MS);
    // Synced records only, as for our own ops. Another region's op is safe
    // to relay unsynced (its origin keeps it, and losing our copy loses
    // nothing a peer relies on), but an op is relayed only once it is
    // RELAY_AFTER_MS old, long after its fsync, so one watermark for
    // everything a link ships costs nothing.
    while link.relay_next_lsn() <= shared.log.synced_lsn() {
        let Some(records) = read_synced(shared, peer, me, link, link.relay_next_lsn())? else {
            continue;
        };
        let mut last_lsn = None;
        let mut batch = Vec::new();
        let mut young = false;
        for (lsn, rec) in records {
            if peek_hlc(&rec).context("log record")?.physical_ms() > old_enough_ms {
                young = true;
                break;
            }
            let dot = peek_dot(&rec).context("log record")?;
            if link.relay_wants(dot) {
                batch.push(rec);
            }
            last_lsn = Some(lsn);
        }
        let Some(last_lsn) = last_lsn else { break };
        let relayed = !batch.is_empty();
        if relayed {
            let n = batch.len() as u64;
            wr.send(&Msg::Batch { records: batch }).await?;
            peer.out.lock().ops_relayed += n;
        }
        link.on_relay_scanned(last_lsn, relayed);
        if young {
            break;
        }
    }
    Ok(())
}

async fn stream_ops(
    shared: &Shared,
    peer: &PeerStatus,
    me: RegionId,
    link: &mut Outbound,
    rd: &mut FrameReader,
    wr: &mut FrameWriter,
) -> anyhow::Result<()> {
    let mut synced = shared.log.subscribe_synced();
    let mut heartbeat = tokio::time::interval(RELAY_SCAN_INTERVAL.min(HEARTBEAT_INTERVAL));
    let mut last_heard = Instant::now();
    let mut last_sent = Instant::now();
    let mut last_relay_scan = Instant::now();
    loop {
        // Send everything synced that the window allows (see the module
        // docs: never a record a power loss could take back).
        while link.can_send() && link.next_lsn() <= shared.log.synced_lsn() {
            let from = link.next_lsn();
            let Some(records) = read_synced(shared, peer, me, link, from)? else {
                continue;
            };
            let Some(&(last_lsn, _)) = records.last() else {
                break;
            };
            let mut max_seq = 0;
            let mut batch = Vec::new();
            for (_, rec) in records {
                let dot = peek_dot(&rec).context("log record")?;
                if link.wants(dot) {
                    max_seq = max_seq.max(dot.seq);
                    batch.push(rec);
                }
            }
            if !batch.is_empty() {
                let n = batch.len() as u64;
                wr.send(&Msg::Batch { records: batch }).await?;
                last_sent = Instant::now();
                let mut out = peer.out.lock();
                out.ops_sent += n;
                out.batches_sent += 1;
            }
            link.on_sent(last_lsn, max_seq);
        }
        if last_relay_scan.elapsed() >= RELAY_SCAN_INTERVAL {
            relay(shared, peer, me, link, wr).await?;
            last_relay_scan = Instant::now();
        }
        let caught_up = link.next_lsn() > shared.log.synced_lsn();
        tokio::select! {
            msg = rd.read() => {
                last_heard = Instant::now();
                let msg = msg?;
                shared.heard(peer);
                match msg {
                    Msg::Ack { vv } => on_ack(shared, peer, link, vv),
                    Msg::Heartbeat => {}
                    Msg::Refused { reason } => bail!("refused by peer: {reason}"),
                    other => bail!("unexpected message on link: {}", super::kind(&other)),
                }
            }
            changed = synced.changed(), if caught_up && link.can_send() => {
                changed.map_err(|_| anyhow!("log closed"))?;
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > LINK_SILENCE_MAX {
                    bail!("no word from peer for {:?}", LINK_SILENCE_MAX);
                }
                if last_sent.elapsed() >= HEARTBEAT_INTERVAL {
                    wr.send(&Msg::Heartbeat).await?;
                    last_sent = Instant::now();
                }
                let my_vv = shared.node.lock().vv().clone();
                peer.out.lock().ops_behind = link.ops_behind(&my_vv);
            }
        }
    }
}
