//! The replication wire protocol between regions.
//!
//! Each ordered pair of regions has one TCP connection, dialled by the
//! sender. Frames are `[u32 LE length][postcard(Msg)]`.
//!
//! ```text
//! dialer (sender)                         acceptor (receiver)
//!   Hello{protocol, cluster, region, regions, nonce_d}  ->
//!                                      <-  Challenge{region, nonce_a, proof_a}
//!   Auth{proof_d}                                       ->
//!                                      <-  Welcome{vv}      (or Refused{reason})
//!   Batch{records} ...                                  ->
//!                                      <-  Ack{vv}  (after the records are durable)
//! ```
//!
//! When the sender's log no longer holds its own ops that the receiver
//! lacks (the log was truncated while the receiver was away; see
//! [`crate::snapshot`]), a full state transfer comes first:
//!
//! ```text
//!   SnapshotOffer{vv}                                   ->
//!                                      <-  SnapshotAccept   (or Refused{reason})
//!   SnapshotChunk{data} ... SnapshotDone{bytes}         ->
//!                                      <-  Ack{vv}      (installed and persisted)
//!   Batch{records} ...                                  ->
//! ```
//!
//! Proofs are HMACs of both nonces under the cluster secret, so each side
//! proves it knows the secret without sending it, and a recorded handshake
//! cannot be replayed. `Welcome.vv` is the receiver's version vector: the
//! sender resumes from there after any disconnect.

use crate::vv::VersionVector;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Version of this protocol; peers with another version are refused.
pub const PROTOCOL_VERSION: u16 = 1;

/// Largest frame, in bytes: one maximal op plus batch overhead. A larger
/// length prefix is a broken or hostile peer, and the link is closed.
pub const FRAME_BYTES_MAX: usize = crate::op::OP_BYTES_MAX + 1024 * 1024;

/// Target size of one batch of records, in bytes. Large enough to amortise a
/// frame per batch at hundreds of thousands of ops per second, small enough
/// that an Ack comes back often and a slow link is noticed quickly.
pub const BATCH_BYTES_MAX: usize = 256 * 1024;

/// Most records in one batch (see [`BATCH_BYTES_MAX`]).
pub const BATCH_RECORDS_MAX: usize = 4096;

/// Bytes in a handshake nonce.
pub const NONCE_BYTES: usize = 32;

/// Longest cluster name or refusal reason, in bytes.
pub const NAME_BYTES_MAX: usize = 256;

/// One replication message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Msg {
    Hello {
        protocol: u16,
        cluster: String,
        region: String,
        regions: Vec<String>,
        nonce: Vec<u8>,
    },
    Challenge {
        region: String,
        nonce: Vec<u8>,
        proof: Vec<u8>,
    },
    Auth {
        proof: Vec<u8>,
    },
    Welcome {
        vv: VersionVector,
    },
    Refused {
        reason: String,
    },
    /// Encoded ops (see [`crate::op`]), in the sender's log order.
    Batch {
        records: Vec<Bytes>,
    },
    /// The receiver's version vector, once everything it covers is durable.
    Ack {
        vv: VersionVector,
    },
    /// Sent on an idle link so that a dead peer is noticed.
    Heartbeat,
    /// Instead of `Batch`es: the sender's log no longer holds some of its
    /// own ops the receiver lacks (see [`crate::snapshot`]), so it offers
    /// its whole state, a snapshot covering at least `vv`.
    SnapshotOffer {
        vv: VersionVector,
    },
    /// The receiver takes the offer: its log holds every op it applied that
    /// `vv` lacks ([`crate::LogBase::admits`]). Otherwise it answers
    /// `Refused` and the sender tries again later.
    SnapshotAccept,
    /// A piece of the encoded snapshot ([`crate::Node::encode_snapshot`]),
    /// at most [`SNAPSHOT_CHUNK_BYTES`], in order.
    SnapshotChunk {
        data: Bytes,
    },
    /// The snapshot is complete: `bytes` in all. The receiver installs it
    /// ([`crate::Node::install`]), persists it, and answers `Ack` with its
    /// new version vector; then `Batch`es follow as usual.
    SnapshotDone {
        bytes: u64,
    },
}

/// Largest piece of a snapshot in one frame.
pub const SNAPSHOT_CHUNK_BYTES: usize = 1024 * 1024;

/// Largest snapshot a receiver takes, in bytes (it is held in memory while
/// it arrives and is decoded). A region whose state is larger cannot be
/// sent whole; see docs/ARCHITECTURE.md.
pub const SNAPSHOT_BYTES_MAX: u64 = 16 * 1024 * 1024 * 1024;

/// A frame that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame of {0} bytes exceeds the limit of {FRAME_BYTES_MAX}")]
    TooLarge(usize),
    #[error("malformed frame: {0}")]
    Malformed(String),
}

/// Appends the frame for `msg` to `out`.
pub fn encode_frame(msg: &Msg, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    let body = postcard::to_extend(msg, std::mem::take(out))
        .unwrap_or_else(|e| panic!("message encoding failed: {e}"));
    *out = body;
    let len = out.len() - start - 4;
    assert!(len <= FRAME_BYTES_MAX, "frame too large to send: {len}");
    out[start..start + 4].copy_from_slice(&(len as u32).to_le_bytes());
}

/// Reads one frame from the front of `buf`: `Ok(None)` if more bytes are
/// needed, else the message and the bytes it used.
pub fn decode_frame(buf: &[u8]) -> Result<Option<(Msg, usize)>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > FRAME_BYTES_MAX {
        return Err(FrameError::TooLarge(len));
    }
    if buf.len() < 4 + len {
        return Ok(None);
    }
    let msg: Msg =
        postcard::from_bytes(&buf[4..4 + len]).map_err(|e| FrameError::Malformed(e.to_string()))?;
    Ok(Some((msg, 4 + len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_split() {
        let msgs = vec![
            Msg::Hello {
                protocol: PROTOCOL_VERSION,
                cluster: "c".into(),
                region: "eu-west".into(),
                regions: vec!["eu-west".into(), "us-east".into()],
                nonce: vec![7; NONCE_BYTES],
            },
            Msg::Batch {
                records: vec![Bytes::from_static(b"abc"), Bytes::new()],
            },
            Msg::Ack {
                vv: VersionVector::from_vec(vec![3, 4]),
            },
            Msg::Heartbeat,
        ];
        let mut buf = Vec::new();
        for m in &msgs {
            encode_frame(m, &mut buf);
        }
        // Every prefix short of a whole frame asks for more bytes.
        let mut got = Vec::new();
        let mut at = 0;
        while at < buf.len() {
            let mut end = at;
            loop {
                match decode_frame(&buf[at..end]).unwrap() {
                    None => end += 1,
                    Some((m, used)) => {
                        assert_eq!(used, end - at);
                        got.push(m);
                        at = end;
                        break;
                    }
                }
            }
        }
        assert_eq!(got, msgs);
    }

    #[test]
    fn oversized_length_is_refused() {
        let buf = (u32::MAX).to_le_bytes();
        assert!(matches!(decode_frame(&buf), Err(FrameError::TooLarge(_))));
        let mut bad = 3u32.to_le_bytes().to_vec();
        bad.extend_from_slice(&[0xff, 0xff, 0xff]);
        assert!(matches!(decode_frame(&bad), Err(FrameError::Malformed(_))));
    }
}
