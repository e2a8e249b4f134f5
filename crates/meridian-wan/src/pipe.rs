//! One direction of a proxied connection: read, timestamp, delay, write.
//!
//! Contract: every chunk is stamped `deadline = read_time + delay` when
//! `read` returns (delay sampled at that moment) and written no earlier
//! than its deadline, in read order. Chunks whose deadlines have passed by
//! the time the writer wakes are coalesced into one write. At most
//! [`QUEUE_BYTES_MAX`] bytes are read-but-unwritten at once; beyond that
//! the reader stops reading, so the sender sees TCP backpressure. EOF is
//! forwarded (as a write-side shutdown) after the same delay. Waiting
//! uses [`crate::timer`] (sub-millisecond) rather than Tokio's 1 ms wheel.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, Semaphore};

use crate::timer::sleep_until;

use crate::link::{QUEUE_BYTES_MAX, READ_BUF_BYTES, WRITE_COALESCE_BYTES_MAX};

/// Counters one direction of a link shares across its connections.
#[derive(Debug, Default)]
pub(crate) struct DirCounters {
    /// Bytes written to the far side.
    pub forwarded: AtomicU64,
    /// Bytes read but not yet written, summed over connections.
    pub in_flight: AtomicU64,
    /// Largest in-flight amount seen in any single connection.
    pub peak: AtomicU64,
}

enum Item {
    Data(Instant, Bytes),
    Eof(Instant),
}

/// Copies `rd` to `wr` with the delay in `delay_nanos` (read per chunk).
/// Returns when EOF has been forwarded, or on the first I/O error.
pub(crate) async fn pump<R, W>(
    mut rd: R,
    mut wr: W,
    delay_nanos: &AtomicU64,
    counters: &DirCounters,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    // Permits are bytes of queue space; the reader takes a full read
    // buffer's worth before each read and returns what it did not use.
    let window = Semaphore::new(QUEUE_BYTES_MAX);
    let in_flight = AtomicU64::new(0);
    let _settle = Settle {
        local: &in_flight,
        total: &counters.in_flight,
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<Item>();

    let reader = async {
        let mut buf = BytesMut::new();
        loop {
            let permit = window
                .acquire_many(READ_BUF_BYTES as u32)
                .await
                .map_err(|_| io::Error::other("queue window closed"))?;
            buf.reserve(READ_BUF_BYTES);
            let n = rd.read_buf(&mut (&mut buf).limit(READ_BUF_BYTES)).await?;
            let deadline =
                Instant::now() + Duration::from_nanos(delay_nanos.load(Ordering::Relaxed));
            permit.forget();
            window.add_permits(READ_BUF_BYTES - n);
            if n == 0 {
                // The writer only hangs up on error, which try_join reports.
                let _ = tx.send(Item::Eof(deadline));
                return Ok::<(), io::Error>(());
            }
            let now_in_flight = in_flight.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
            counters.in_flight.fetch_add(n as u64, Ordering::Relaxed);
            counters.peak.fetch_max(now_in_flight, Ordering::Relaxed);
            if tx.send(Item::Data(deadline, buf.split().freeze())).is_err() {
                return Ok(());
            }
        }
    };

    let writer = async {
        let mut pending: Option<Item> = None;
        let mut parts: Vec<Bytes> = Vec::new();
        let mut joined = BytesMut::new();
        loop {
            let item = match pending.take() {
                Some(item) => item,
                None => match rx.recv().await {
                    Some(item) => item,
                    None => return Ok::<(), io::Error>(()),
                },
            };
            let (deadline, first) = match item {
                Item::Data(deadline, bytes) => (deadline, bytes),
                Item::Eof(deadline) => {
                    sleep_until(deadline).await;
                    wr.shutdown().await?;
                    return Ok(());
                }
            };
            sleep_until(deadline).await;
            let now = Instant::now();
            let mut total = first.len();
            parts.push(first);
            while total < WRITE_COALESCE_BYTES_MAX {
                match rx.try_recv() {
                    Ok(Item::Data(d, bytes)) if d <= now => {
                        total += bytes.len();
                        parts.push(bytes);
                    }
                    Ok(other) => {
                        pending = Some(other);
                        break;
                    }
                    Err(_) => break,
                }
            }
            if parts.len() == 1 {
                wr.write_all(&parts[0]).await?;
            } else {
                joined.clear();
                for p in &parts {
                    joined.extend_from_slice(p);
                }
                wr.write_all(&joined).await?;
            }
            parts.clear();
            in_flight.fetch_sub(total as u64, Ordering::Relaxed);
            counters
                .in_flight
                .fetch_sub(total as u64, Ordering::Relaxed);
            counters
                .forwarded
                .fetch_add(total as u64, Ordering::Relaxed);
            window.add_permits(total);
        }
    };

    tokio::try_join!(reader, writer).map(|_| ())
}

/// On drop (normal end or abort), removes this pipe's unwritten bytes from
/// the link-wide in-flight total, so aborted connections leave no residue.
struct Settle<'a> {
    local: &'a AtomicU64,
    total: &'a AtomicU64,
}

impl Drop for Settle<'_> {
    fn drop(&mut self) {
        let left = self.local.swap(0, Ordering::Relaxed);
        self.total.fetch_sub(left, Ordering::Relaxed);
    }
}
