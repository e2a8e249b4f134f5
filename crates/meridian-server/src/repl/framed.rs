//! Reading and writing replication frames on a TCP stream.

use bytes::BytesMut;
use meridian_core::protocol::{decode_frame, encode_frame, Msg};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Bytes read from the socket at a time.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// The reading half. `read` is cancel-safe: bytes already read stay buffered.
pub struct FrameReader {
    half: OwnedReadHalf,
    buf: BytesMut,
}

/// The writing half.
pub struct FrameWriter {
    half: OwnedWriteHalf,
    buf: Vec<u8>,
}

/// Splits a stream into frame reader and writer.
pub fn split(stream: tokio::net::TcpStream) -> (FrameReader, FrameWriter) {
    let _ = stream.set_nodelay(true);
    let (r, w) = stream.into_split();
    (
        FrameReader {
            half: r,
            buf: BytesMut::with_capacity(READ_CHUNK_BYTES),
        },
        FrameWriter {
            half: w,
            buf: Vec::new(),
        },
    )
}

impl FrameReader {
    /// Reads the next message; an error on EOF, I/O failure or a bad frame.
    pub async fn read(&mut self) -> anyhow::Result<Msg> {
        loop {
            if let Some((msg, used)) = decode_frame(&self.buf)? {
                let _ = self.buf.split_to(used);
                return Ok(msg);
            }
            self.buf.reserve(READ_CHUNK_BYTES);
            let n = self.half.read_buf(&mut self.buf).await?;
            if n == 0 {
                anyhow::bail!("connection closed by peer");
            }
        }
    }
}

impl FrameWriter {
    /// Sends one message.
    pub async fn send(&mut self, msg: &Msg) -> anyhow::Result<()> {
        self.buf.clear();
        encode_frame(msg, &mut self.buf);
        self.half.write_all(&self.buf).await?;
        Ok(())
    }
}
