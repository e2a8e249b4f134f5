//! Active health checks: one task per region sends `MERIDIAN.SESSION` on
//! its own connection every `PROBE_INTERVAL_MS`.
//!
//! The probe measures the round trip (on an open connection, so connection
//! set-up is not counted) and brings back the region's version vector,
//! which the decider uses to tell when a recovered region has caught up
//! and clients use to skip session waits. A failure is followed at once by
//! another probe (unless the region is already down), so that a dead
//! region reaches `FAILURES_TO_OPEN` within one round trip; a real request
//! that fails wakes the prober too.

use crate::decide::{Event, Health};
use crate::shared::Shared;
use crate::vv::Vv;
use bytes::{Buf, BytesMut};
use meridian_resp::{parse_reply, Reply};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

const PROBE: &[u8] = b"*1\r\n$16\r\nMERIDIAN.SESSION\r\n";

/// Largest probe reply accepted, in bytes (a token is at most
/// `vv::TOKEN_BYTES_MAX`).
const PROBE_REPLY_BYTES_MAX: usize = 16 * 1024;

struct Conn {
    stream: TcpStream,
    buf: BytesMut,
}

/// Probes region `i` until the task is aborted.
pub async fn run(shared: Arc<Shared>, i: usize) {
    let addr = shared.cfg.regions[i].addr.clone();
    let interval = Duration::from_millis(shared.cfg.tuning.probe_interval_ms);
    let mut conn: Option<Conn> = None;
    loop {
        let timeout = Duration::from_micros(shared.decider.lock().probe_timeout_us(i));
        let event = match tokio::time::timeout(timeout, probe(&mut conn, &addr)).await {
            Ok(Ok((rtt, vv))) => Event::ProbeOk {
                rtt_us: rtt.as_micros() as u64,
                vv,
            },
            Ok(Err(why)) => Event::ProbeFailed { why },
            Err(_) => Event::ProbeFailed {
                why: format!("probe not answered in {} ms", timeout.as_millis()),
            },
        };
        let failed = matches!(event, Event::ProbeFailed { .. });
        let stats = &shared.regions[i];
        if failed {
            conn = None;
            stats.probes_failed.fetch_add(1, Ordering::Relaxed);
        } else {
            stats.probes_ok.fetch_add(1, Ordering::Relaxed);
        }
        shared.apply(i, event);
        if failed && shared.health(i) != Health::Down {
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shared.wake[i].notified() => {}
        }
    }
}

/// One probe: connects if needed, then times `MERIDIAN.SESSION`.
async fn probe(conn: &mut Option<Conn>, addr: &str) -> Result<(Duration, Option<Vv>), String> {
    if conn.is_none() {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        *conn = Some(Conn {
            stream,
            buf: BytesMut::with_capacity(1024),
        });
    }
    let Some(c) = conn.as_mut() else {
        unreachable!("connected above");
    };
    let started = Instant::now();
    c.stream
        .write_all(PROBE)
        .await
        .map_err(|e| format!("probe write: {e}"))?;
    let reply = loop {
        match parse_reply(&c.buf) {
            Ok(Some((reply, used))) => {
                c.buf.advance(used);
                break reply;
            }
            Ok(None) if c.buf.len() > PROBE_REPLY_BYTES_MAX => {
                return Err("probe reply too large".to_string())
            }
            Ok(None) => {}
            Err(e) => return Err(format!("probe reply: {e}")),
        }
        match c.stream.read_buf(&mut c.buf).await {
            Ok(0) => return Err("connection closed by the region".to_string()),
            Ok(_) => {}
            Err(e) => return Err(format!("probe read: {e}")),
        }
    };
    let rtt = started.elapsed();
    match reply {
        Reply::Bulk(token) => Ok((rtt, Vv::parse_token(&token).ok())),
        // A region without sessions still answers: alive, point unknown.
        Reply::Error(e) if e.starts_with("ERR unknown command") => Ok((rtt, None)),
        Reply::Error(e) => Err(format!("probe refused: {e}")),
        other => Err(format!("unexpected probe reply {other:?}")),
    }
}
