//! One client connection: read requests, run each pipeline under one hold of
//! the state lock, wait until its writes are durable, then reply.

use crate::cmd::{self, Ctx};
use crate::shared::{now_ms, Counters, Shared};
use bytes::BytesMut;
use meridian_resp::{encode, parse_request_bytes, Protocol, Reply};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Most client connections at once (Redis's default `maxclients`). Each holds
/// buffers; past this, new connections get an error and are closed.
pub const CLIENTS_MAX: u64 = 10_000;

/// Largest unparsed input one client may have buffered, in bytes: one
/// maximal value with room for its command. A client sending more without
/// completing a request is closed (Redis's `client-query-buffer-limit`).
pub const QUERY_BUFFER_BYTES_MAX: usize = meridian_core::op::VALUE_BYTES_MAX + 1024 * 1024;

/// Most requests run under one hold of the state lock, so that one deeply
/// pipelining client cannot starve the others.
pub const PIPELINE_REQUESTS_MAX: usize = 1024;

const READ_CHUNK_BYTES: usize = 16 * 1024;

/// Per-connection state.
pub struct ConnState {
    pub id: u64,
    pub name: Option<String>,
    pub proto: Protocol,
    pub addr: SocketAddr,
    pub closing: bool,
}

/// Accepts client connections forever.
pub async fn serve(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("client accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        Counters::bump(&shared.counters.connections_received);
        let shared = shared.clone();
        tokio::spawn(async move {
            let c = &shared.counters;
            if c.connected_clients.fetch_add(1, Ordering::Relaxed) >= CLIENTS_MAX {
                Counters::bump(&c.rejected_connections);
                let mut s = stream;
                let _ = s.write_all(b"-ERR max number of clients reached\r\n").await;
            } else if let Err(e) = handle(&shared, stream, addr).await {
                tracing::debug!(%addr, "client connection ended: {e}");
            }
            c.connected_clients.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

async fn handle(
    shared: &Arc<Shared>,
    mut stream: TcpStream,
    addr: SocketAddr,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut conn = ConnState {
        id: Counters::bump(&shared.counters.next_client_id),
        name: None,
        proto: Protocol::Resp2,
        addr,
        closing: false,
    };
    let mut inbuf = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut out = BytesMut::with_capacity(READ_CHUNK_BYTES);
    let mut requests = Vec::new();
    loop {
        inbuf.reserve(READ_CHUNK_BYTES);
        if stream.read_buf(&mut inbuf).await? == 0 {
            return Ok(());
        }
        loop {
            let mut fatal = None;
            while requests.len() < PIPELINE_REQUESTS_MAX {
                match parse_request_bytes(&mut inbuf) {
                    Ok(Some(req)) => requests.push(req),
                    Ok(None) => break,
                    Err(e) => {
                        fatal = Some(e);
                        break;
                    }
                }
            }
            let mut fatal = fatal.map(|e| e.to_string());
            if fatal.is_none() && requests.is_empty() && inbuf.len() > QUERY_BUFFER_BYTES_MAX {
                fatal = Some(format!(
                    "ERR Protocol error: query buffer over {QUERY_BUFFER_BYTES_MAX} bytes"
                ));
            }
            let more = requests.len() == PIPELINE_REQUESTS_MAX;
            let (lsn, wait) = run_pipeline(shared, &mut conn, &mut requests, &mut out);
            if lsn > 0 {
                if shared.log.durable_lsn() < lsn {
                    // Group commit, as Redis's event loop does: let the other
                    // ready connections run their pipelines first, so that one
                    // write(2) of the log covers all of them.
                    tokio::task::yield_now().await;
                }
                if let Err(e) = shared.log.wait_durable(lsn).await {
                    // Replies already encoded cannot be taken back; report
                    // the failure on the connection and close it.
                    out.clear();
                    let msg = format!("MISCONF Meridian cannot persist writes: {e}");
                    encode(&Reply::error(msg), conn.proto, &mut out);
                    conn.closing = true;
                }
            }
            if let Some(wait) = wait {
                // MERIDIAN.WAITFOR, MERIDIAN.SNAPSHOT: answer what came
                // before, wait, answer it, then run the rest of the pipeline.
                if !out.is_empty() {
                    stream.write_all(&out).await?;
                    out.clear();
                }
                let reply = match wait {
                    cmd::Wait::Applied { vv, timeout } => {
                        Reply::integer(wait_for(shared, &vv, timeout).await as i64)
                    }
                    cmd::Wait::Snapshot => match crate::snapshot::take(shared).await {
                        Ok(taken) => Reply::simple(taken.status()),
                        Err(e) => Reply::error(
                            format!("ERR snapshot failed: {e:#}").replace(['\r', '\n'], " "),
                        ),
                    },
                };
                encode(&reply, conn.proto, &mut out);
                if fatal.is_none() && !requests.is_empty() {
                    continue;
                }
            }
            if let Some(e) = fatal {
                Counters::bump(&shared.counters.protocol_errors);
                let msg = if e.starts_with("ERR ") {
                    e
                } else {
                    format!("ERR {e}")
                };
                encode(&Reply::error(msg), conn.proto, &mut out);
                conn.closing = true;
            }
            if !out.is_empty() {
                stream.write_all(&out).await?;
                out.clear();
            }
            if conn.closing {
                return Ok(());
            }
            if !more && requests.is_empty() {
                break;
            }
        }
    }
}

/// Waits until this region has applied everything in `vv`, or `timeout`
/// passes; true if it got there.
async fn wait_for(
    shared: &Shared,
    vv: &meridian_core::VersionVector,
    timeout: std::time::Duration,
) -> bool {
    let mut changes = shared.log.subscribe();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if shared.node.lock().vv().dominates(vv) {
            return true;
        }
        // Every applied op is logged, so the log's durable position moves
        // whenever the version vector does.
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return shared.node.lock().vv().dominates(vv),
        }
    }
}

/// Runs the requests under one hold of the state lock, up to the end or to
/// a request that must wait (returned, with the requests after it left in
/// `requests`); returns the highest log position written (0 if none).
fn run_pipeline(
    shared: &Shared,
    conn: &mut ConnState,
    requests: &mut Vec<meridian_resp::Request>,
    out: &mut BytesMut,
) -> (u64, Option<cmd::Wait>) {
    if requests.is_empty() {
        return (0, None);
    }
    let mut node = shared.node.lock();
    let mut ctx = Ctx {
        shared,
        node: &mut node,
        conn,
        now_ms: now_ms(),
        lsn: 0,
        record: Vec::new(),
        wait: None,
    };
    let mut done = 0;
    for req in requests.iter() {
        done += 1;
        if req.args.is_empty() {
            continue;
        }
        shared.counters.commands.fetch_add(1, Ordering::Relaxed);
        let reply = cmd::dispatch(&mut ctx, &req.args);
        if ctx.wait.is_some() {
            break;
        }
        encode(&reply, ctx.conn.proto, out);
        if ctx.conn.closing {
            break;
        }
    }
    requests.drain(..done);
    if ctx.conn.closing {
        requests.clear();
    }
    (ctx.lsn, ctx.wait)
}
