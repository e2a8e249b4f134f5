//! Incoming replication links: authenticate the dialling region, tell it
//! where to resume, apply its ops in causal order, log them, and acknowledge
//! once they are durable.

use super::auth::{self, Side, Transcript};
use super::framed::{self, FrameReader, FrameWriter};
use super::{HANDSHAKE_TIMEOUT, HEARTBEAT_INTERVAL, LINK_SILENCE_MAX};
use crate::shared::{now_us, PeerStatus, Shared};
use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use meridian_core::protocol::{Msg, PROTOCOL_VERSION};
use meridian_core::{Op, ReceiveError};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
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
const ACK_CHECK_INTERVAL: Duration = Duration::from_millis(20);

/// How long to wait before retrying an op whose clock is too far ahead.
const CLOCK_AHEAD_RETRY: Duration = Duration::from_millis(100);

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

async fn connection(shared: &Shared, stream: TcpStream, addr: SocketAddr) -> anyhow::Result<()> {
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
        other => return Err(Refusal(format!("expected Hello, got {other:?}"))),
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
        other => return Err(Refusal(format!("expected Auth, got {other:?}"))),
    }
    let vv = shared.node.lock().vv().clone();
    wr.send(&Msg::Welcome { vv }).await?;
    Ok(peer)
}

async fn receive_ops(
    shared: &Shared,
    peer: &PeerStatus,
    rd: &mut FrameReader,
    wr: &mut FrameWriter,
) -> anyhow::Result<()> {
    let mut heartbeat = tokio::time::interval(HEARTBEAT_INTERVAL);
    let mut ack_check = tokio::time::interval(ACK_CHECK_INTERVAL);
    let mut last_heard = Instant::now();
    let mut acked = meridian_core::VersionVector::default();
    loop {
        tokio::select! {
            msg = rd.read() => {
                last_heard = Instant::now();
                match msg? {
                    Msg::Batch { records } => {
                        let ops = decode_batch(&records)?;
                        apply_batch(shared, peer, ops).await?;
                        acked = ack(shared, wr).await?;
                    }
                    Msg::Heartbeat => {}
                    other => bail!("unexpected message on link: {other:?}"),
                }
            }
            _ = ack_check.tick() => {
                // Ops of this peer held for their causes may have been
                // released by another link's batch (the peer waits for an Ack
                // to reopen its window), and the peer decides what to relay
                // from what we acknowledged: tell it whenever we have more.
                if *shared.node.lock().vv() != acked {
                    acked = ack(shared, wr).await?;
                }
            }
            _ = heartbeat.tick() => {
                if last_heard.elapsed() > LINK_SILENCE_MAX {
                    bail!("no word from peer for {:?}", LINK_SILENCE_MAX);
                }
                wr.send(&Msg::Heartbeat).await?;
            }
        }
    }
}

/// Acknowledges everything applied here once it is durable; returns what
/// it acknowledged.
async fn ack(
    shared: &Shared,
    wr: &mut FrameWriter,
) -> anyhow::Result<meridian_core::VersionVector> {
    let (vv, lsn) = {
        let node = shared.node.lock();
        (node.vv().clone(), shared.log.last_lsn())
    };
    shared.log.wait_durable(lsn).await.context("log")?;
    wr.send(&Msg::Ack { vv: vv.clone() }).await?;
    Ok(vv)
}

fn decode_batch(records: &[Bytes]) -> anyhow::Result<Vec<Op>> {
    records
        .iter()
        .map(|r| Op::decode(r).map_err(|e| anyhow!("bad op from peer: {e}")))
        .collect()
}

/// Applies ops in chunks, holding back (and retrying) an op whose clock is
/// too far ahead.
async fn apply_batch(shared: &Shared, peer: &PeerStatus, ops: Vec<Op>) -> anyhow::Result<()> {
    let mut ops = ops.into_iter().peekable();
    let mut record = Vec::new();
    while ops.peek().is_some() {
        let mut held = None;
        {
            let mut node = shared.node.lock();
            let mut lag = shared.lag.lock();
            for _ in 0..APPLY_CHUNK_OPS {
                let Some(op) = ops.next() else { break };
                let now = now_us();
                match node.receive(now / 1000, op.clone()) {
                    Ok(received) => {
                        for applied in received.applied {
                            record.clear();
                            applied.encode_into(&mut record);
                            shared.log.append(&record).unwrap_or_else(|e| {
                                // The op is applied in memory; carrying on
                                // without it in the log would diverge.
                                panic!("log append failed, stopping: {e}")
                            });
                            let lag_us = now.saturating_sub(applied.hlc.physical_ms() * 1000);
                            if let Some(l) = lag.get_mut(applied.dot.region.index()) {
                                l.record(lag_us);
                            }
                            peer.ops_received.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(ReceiveError::ClockAhead(e)) => {
                        peer.clock_ahead_holds.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(peer = %peer.name, "holding op: {e}");
                        held = Some(op);
                        break;
                    }
                    Err(e) => bail!("{e}"),
                }
            }
        }
        if let Some(op) = held {
            tokio::time::sleep(CLOCK_AHEAD_RETRY).await;
            let rest: Vec<Op> = std::iter::once(op).chain(ops).collect();
            ops = rest.into_iter().peekable();
        } else {
            tokio::task::yield_now().await;
        }
    }
    Ok(())
}
