//! One client connection: read a pipeline, answer what the router answers
//! itself, forward the rest in order ([`crate::forward`]), and reply in
//! the order the requests came.
//!
//! The connection's setup (AUTH, HELLO, CLIENT SETNAME, SELECT) is
//! remembered and replayed on every new upstream connection, so a client
//! that switched to RESP3 keeps getting RESP3 after a failover.

use crate::classify::{classify, Kind, Local};
use crate::session::Session;
use crate::shared::Shared;
use crate::stats;
use crate::upstream::{Answer, Upstream};
use bytes::{Bytes, BytesMut};
use meridian_resp::{encode, parse_request_bytes, Protocol, Reply, Request};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Most client connections at once (as the server's `CLIENTS_MAX`): each
/// holds buffers and an upstream connection.
pub const CLIENTS_MAX: i64 = 10_000;

/// Most requests forwarded as one batch (as the server's
/// `PIPELINE_REQUESTS_MAX`); a longer pipeline goes in several batches.
pub const PIPELINE_REQUESTS_MAX: usize = 1024;

/// Largest unparsed input buffered for one client, in bytes: one maximal
/// bulk string (`meridian_resp::BULK_BYTES_MAX`) and room for its command.
/// The region enforces its own, smaller, value limit.
pub const QUERY_BUFFER_BYTES_MAX: usize = meridian_resp::BULK_BYTES_MAX + 1024 * 1024;

const READ_CHUNK_BYTES: usize = 16 * 1024;

/// Accepts clients until the task is aborted; dropping it aborts every
/// client task.
pub async fn serve(shared: Arc<Shared>, listener: TcpListener) {
    let mut clients = JoinSet::new();
    loop {
        while clients.try_join_next().is_some() {}
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("client accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let t = &shared.totals;
        t.connections_received.fetch_add(1, Ordering::Relaxed);
        if t.clients.load(Ordering::Relaxed) >= CLIENTS_MAX {
            t.rejected_connections.fetch_add(1, Ordering::Relaxed);
            let mut s = stream;
            let _ = s.write_all(b"-ERR max number of clients reached\r\n").await;
            continue;
        }
        let shared = shared.clone();
        clients.spawn(async move {
            let mut client = Client::new(shared);
            if let Err(e) = client.run(stream).await {
                tracing::debug!(%addr, "client connection ended: {e}");
            }
        });
    }
}

/// Connection state replayed on every new upstream connection.
#[derive(Clone, Debug, Default)]
pub struct Setup {
    pub auth: Option<Vec<Bytes>>,
    pub hello: Option<Vec<Bytes>>,
    pub name: Option<Vec<Bytes>>,
    pub select: Option<Vec<Bytes>>,
}

impl Setup {
    /// The commands to replay, in order.
    pub fn commands(&self) -> impl Iterator<Item = &Vec<Bytes>> {
        [&self.auth, &self.hello, &self.name, &self.select]
            .into_iter()
            .flatten()
    }
}

/// One reply slot of a batch.
#[derive(Clone, Debug, Default)]
pub enum Slot {
    #[default]
    Empty,
    /// Bytes made by the router.
    Raw(Bytes),
    /// `INFO router`, encoded when the reply is written.
    InfoRouter,
    /// A region's reply.
    Answer(Answer),
}

/// One client connection.
pub struct Client {
    pub(crate) shared: Arc<Shared>,
    pub(crate) proto: Protocol,
    pub(crate) setup: Setup,
    pub(crate) session: Session,
    pub(crate) up: Option<Upstream>,
    /// The region this client is routed to (counted in its `clients`).
    pub(crate) region: Option<usize>,
    pub(crate) changes: watch::Receiver<u64>,
}

impl Client {
    pub fn new(shared: Arc<Shared>) -> Client {
        shared.totals.clients.fetch_add(1, Ordering::Relaxed);
        let changes = shared.changes.subscribe();
        Client {
            shared,
            proto: Protocol::Resp2,
            setup: Setup::default(),
            session: Session::new(),
            up: None,
            region: None,
            changes,
        }
    }

    async fn run(&mut self, mut stream: TcpStream) -> std::io::Result<()> {
        let _ = stream.set_nodelay(true);
        let mut inbuf = BytesMut::with_capacity(READ_CHUNK_BYTES);
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
                            fatal = Some(e.to_string());
                            break;
                        }
                    }
                }
                if fatal.is_none() && requests.is_empty() && inbuf.len() > QUERY_BUFFER_BYTES_MAX {
                    fatal = Some(format!(
                        "Protocol error: query buffer over {QUERY_BUFFER_BYTES_MAX} bytes"
                    ));
                }
                let more = requests.len() == PIPELINE_REQUESTS_MAX;
                let (mut out, mut close) = if requests.is_empty() {
                    (BytesMut::new(), false)
                } else {
                    self.batch(std::mem::take(&mut requests)).await
                };
                if let Some(e) = fatal {
                    self.shared
                        .totals
                        .protocol_errors
                        .fetch_add(1, Ordering::Relaxed);
                    let msg = if e.starts_with("ERR ") {
                        e
                    } else {
                        format!("ERR {e}")
                    };
                    encode(&Reply::error(msg), self.proto, &mut out);
                    close = true;
                }
                if !out.is_empty() {
                    stream.write_all(&out).await?;
                }
                if close {
                    return Ok(());
                }
                if !more {
                    break;
                }
            }
        }
    }

    /// Answers one pipeline; returns the reply bytes and whether to close.
    pub(crate) async fn batch(&mut self, reqs: Vec<Request>) -> (BytesMut, bool) {
        self.shared
            .totals
            .commands
            .fetch_add(reqs.len() as u64, Ordering::Relaxed);
        let kinds: Vec<Kind> = reqs.iter().map(|r| classify(&r.args)).collect();
        let mut slots = vec![Slot::Empty; reqs.len()];
        let mut forward = Vec::new();
        let mut end = reqs.len();
        let mut close = false;
        for (i, kind) in kinds.iter().enumerate() {
            match *kind {
                Kind::Local(Local::Quit) => {
                    slots[i] = Slot::Raw(Bytes::from_static(b"+OK\r\n"));
                    end = i + 1;
                    close = true;
                    break;
                }
                // Encoded in order below: a HELLO earlier in the batch
                // may change the protocol.
                Kind::Local(Local::InfoRouter) => slots[i] = Slot::InfoRouter,
                Kind::Refused(why) => {
                    let msg = format!("ERR meridian router: {why}");
                    slots[i] = Slot::Raw(self.encoded(&Reply::error(msg)));
                }
                _ => forward.push(i),
            }
        }
        if !forward.is_empty() {
            self.forward(&reqs, &kinds, forward, &mut slots).await;
        }
        let mut out = BytesMut::new();
        for i in 0..end {
            let slot = std::mem::take(&mut slots[i]);
            match slot {
                Slot::Raw(b) => out.extend_from_slice(&b),
                Slot::InfoRouter => {
                    let text = stats::info_section(&self.shared);
                    out.extend_from_slice(&self.encoded(&Reply::verbatim_text(text)));
                }
                Slot::Answer(a) => {
                    let bytes = self.after(&reqs[i].args, kinds[i], a);
                    out.extend_from_slice(&bytes);
                }
                Slot::Empty => {
                    // Every forwarded command gets a reply or an error.
                    unreachable!("no reply for request {i}");
                }
            }
        }
        (out, close)
    }

    pub(crate) fn encoded(&self, reply: &Reply) -> Bytes {
        reply.to_bytes(self.proto)
    }

    /// Learns from a region's reply (setup, protocol) and rewrites the
    /// replies the router adds to (INFO, MERIDIAN.SESSION).
    fn after(&mut self, args: &[Bytes], kind: Kind, a: Answer) -> Bytes {
        if matches!(a.reply, Reply::Error(_)) {
            return a.raw;
        }
        let name = args[0].to_ascii_lowercase();
        match (kind, name.as_slice()) {
            (Kind::Setup, b"hello") => {
                if let Some(v) = args.get(1).and_then(|v| meridian_resp::parse_i64(v)) {
                    self.proto = Protocol::from_version(v).unwrap_or(self.proto);
                }
                self.setup.hello = Some(args.to_vec());
            }
            (Kind::Setup, b"auth") => self.setup.auth = Some(args.to_vec()),
            (Kind::Setup, b"select") => self.setup.select = Some(args.to_vec()),
            (Kind::Setup, b"client") if args[1].eq_ignore_ascii_case(b"setname") => {
                self.setup.name = Some(args.to_vec());
            }
            (_, b"info") if wants_router_section(args) => {
                let text = match &a.reply {
                    Reply::Bulk(t) | Reply::Verbatim { text: t, .. } => t.clone(),
                    _ => return a.raw,
                };
                let mut all = BytesMut::from(&text[..]);
                if !all.is_empty() && !all.ends_with(b"\r\n\r\n") {
                    all.extend_from_slice(b"\r\n");
                }
                all.extend_from_slice(stats::info_section(&self.shared).as_bytes());
                return self.encoded(&Reply::verbatim_text(all.freeze()));
            }
            (_, b"meridian.session") => {
                // The session covers more than the region's own point when
                // the connection has moved between regions.
                let mut token = self.session.token().clone();
                if let Reply::Bulk(t) = &a.reply {
                    if let Ok(vv) = crate::vv::Vv::parse_token(t) {
                        token.merge(&vv);
                    }
                }
                return self.encoded(&Reply::bulk(Bytes::from(token.to_token())));
            }
            _ => {}
        }
        a.raw
    }

    /// Routes this client to `region` (dropping a connection elsewhere).
    pub(crate) fn route_to(&mut self, region: usize) {
        if self.region == Some(region) {
            return;
        }
        if let Some(old) = self.region {
            self.shared.regions[old]
                .clients
                .fetch_sub(1, Ordering::Relaxed);
        }
        self.shared.regions[region]
            .clients
            .fetch_add(1, Ordering::Relaxed);
        self.region = Some(region);
        if self.up.as_ref().is_some_and(|u| u.region != region) {
            self.up = None;
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(r) = self.region {
            self.shared.regions[r]
                .clients
                .fetch_sub(1, Ordering::Relaxed);
        }
        self.shared.totals.clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether an INFO request asks for the router's section.
fn wants_router_section(args: &[Bytes]) -> bool {
    args.len() == 1
        || args[1..].iter().any(|a| {
            ["all", "everything", "default", "router"]
                .iter()
                .any(|w| a.eq_ignore_ascii_case(w.as_bytes()))
        })
}
