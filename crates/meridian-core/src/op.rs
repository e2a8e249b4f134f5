//! Operations: the unit of replication and of the durable log.
//!
//! A region turns every accepted write into one [`Op`], applies it locally,
//! logs it, and ships it to every other region, which applies the same op.
//! Ops are *operation-based CRDT* updates: applying the same set of ops in any
//! causal order gives the same state. Each op carries its causal context
//! (`deps`, the origin's version vector when it was made), which is what lets
//! a last-write-wins register know which values the writer had seen and lets a
//! receiver hold an op until its causes have arrived.
//!
//! # Encoding
//!
//! `[FORMAT u8][origin u16 LE][seq u64 LE][hlc u64 LE][postcard(rest)]`. The
//! fixed header lets a replication link filter records by [`Dot`] and age
//! without decoding them.

use crate::counter::Contrib;
use crate::hlc::Hlc;
use crate::region::{RegionId, REGIONS_MAX};
use crate::vv::{Dot, VersionVector};
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Version of the record encoding; a record of another version is refused, so
/// a mixed-version cluster fails loudly instead of misreading data.
pub const FORMAT_VERSION: u8 = 1;

/// Longest key, in bytes. Keys travel in every op and every conflict-log
/// entry; 64 KiB is far above any sane key and keeps a hostile client from
/// making every replicated record huge.
pub const KEY_BYTES_MAX: usize = 64 * 1024;

/// Largest string value, in bytes. Every write is shipped to every region as
/// one record in one frame, so a huge value stalls every link behind it; 32 MiB
/// is generous for a cache or session store (Redis allows 512 MiB).
pub const VALUE_BYTES_MAX: usize = 32 * 1024 * 1024;

/// Largest encoded op: a maximal value plus key and metadata.
pub const OP_BYTES_MAX: usize = VALUE_BYTES_MAX + KEY_BYTES_MAX + 64 * 1024;

const HEADER_BYTES: usize = 1 + 2 + 8 + 8;

/// One replicated write to one key.
#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    /// Origin region and its sequence number.
    pub dot: Dot,
    /// When it was made, on the origin's hybrid logical clock.
    pub hlc: Hlc,
    /// The origin's version vector just before this op: everything it had seen.
    pub deps: VersionVector,
    pub key: Bytes,
    pub body: OpBody,
}

/// What an op does to its key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OpBody {
    /// Writes a string value. It replaces every value the origin had seen
    /// (covered by `deps`) and resets the counter increments it had seen
    /// (`counts`, the per-region totals at the origin; `None` if the key had
    /// no counter there).
    Set {
        value: Bytes,
        expire_at_ms: Option<u64>,
        counts: Option<Vec<Contrib>>,
    },
    /// Removes what the origin had seen of the key (observed-remove).
    Del { counts: Option<Vec<Contrib>> },
    /// Adds to the key's counter (INCR family).
    IncrInt { by: i64 },
    /// Adds a float to the key's counter (INCRBYFLOAT).
    IncrFloat { by: f64 },
}

#[derive(Serialize, Deserialize)]
struct Rest<'a> {
    deps: VersionVector,
    #[serde(borrow)]
    key: &'a [u8],
    body: OpBody,
}

#[derive(Serialize)]
struct RestRef<'a> {
    deps: &'a VersionVector,
    key: &'a [u8],
    body: &'a OpBody,
}

/// Why a record could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("record too short")]
    Short,
    #[error("record format {0} is not supported (this build reads {FORMAT_VERSION})")]
    Version(u8),
    #[error("record body: {0}")]
    Body(String),
    #[error("record invalid: {0}")]
    Invalid(&'static str),
}

impl Op {
    /// Appends the encoding of this op to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&self.dot.region.0.to_le_bytes());
        out.extend_from_slice(&self.dot.seq.to_le_bytes());
        out.extend_from_slice(&self.hlc.0.to_le_bytes());
        let rest = RestRef {
            deps: &self.deps,
            key: &self.key,
            body: &self.body,
        };
        // Serializing plain data into a Vec cannot fail.
        let encoded = postcard::to_extend(&rest, std::mem::take(out));
        *out = encoded.unwrap_or_else(|e| panic!("op encoding failed: {e}"));
    }

    /// The encoding of this op.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.key.len());
        self.encode_into(&mut out);
        out
    }

    /// Decodes and validates a record.
    pub fn decode(record: &[u8]) -> Result<Op, CodecError> {
        let dot = peek_dot(record)?;
        let rest: Rest<'_> = postcard::from_bytes(&record[HEADER_BYTES..])
            .map_err(|e| CodecError::Body(e.to_string()))?;
        if rest.key.len() > KEY_BYTES_MAX {
            return Err(CodecError::Invalid("key too long"));
        }
        if rest.deps.len() > REGIONS_MAX {
            return Err(CodecError::Invalid("version vector too long"));
        }
        if dot.seq == 0 {
            return Err(CodecError::Invalid("sequence number 0"));
        }
        Ok(Op {
            dot,
            hlc: peek_hlc(record)?,
            deps: rest.deps,
            key: Bytes::copy_from_slice(rest.key),
            body: rest.body,
        })
    }
}

/// Reads the dot of an encoded op without decoding the rest.
pub fn peek_dot(record: &[u8]) -> Result<Dot, CodecError> {
    if record.len() < HEADER_BYTES {
        return Err(CodecError::Short);
    }
    if record[0] != FORMAT_VERSION {
        return Err(CodecError::Version(record[0]));
    }
    let region = u16::from_le_bytes([record[1], record[2]]);
    let mut seq = [0u8; 8];
    seq.copy_from_slice(&record[3..11]);
    Ok(Dot::new(RegionId(region), u64::from_le_bytes(seq)))
}

/// Reads the hybrid logical clock of an encoded op without decoding the rest.
pub fn peek_hlc(record: &[u8]) -> Result<Hlc, CodecError> {
    peek_dot(record)?;
    let mut hlc = [0u8; 8];
    hlc.copy_from_slice(&record[11..19]);
    Ok(Hlc(u64::from_le_bytes(hlc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let op = Op {
            dot: Dot::new(RegionId(2), 77),
            hlc: Hlc::new(1_700_000_000_000, 3),
            deps: VersionVector::from_vec(vec![1, 2, 76]),
            key: Bytes::from_static(b"user:1"),
            body: OpBody::Set {
                value: Bytes::from_static(b"\r\nbinary\0"),
                expire_at_ms: Some(5),
                counts: Some(vec![Contrib::default(); 3]),
            },
        };
        let enc = op.encode();
        assert_eq!(peek_dot(&enc).unwrap(), op.dot);
        assert_eq!(peek_hlc(&enc).unwrap(), op.hlc);
        assert_eq!(Op::decode(&enc).unwrap(), op);
    }

    #[test]
    fn rejects_garbage() {
        assert_eq!(Op::decode(b"x"), Err(CodecError::Short));
        assert!(matches!(Op::decode(&[9; 20]), Err(CodecError::Version(9))));
        let mut bad = vec![FORMAT_VERSION, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
        bad.extend_from_slice(&[0xff; 4]);
        assert!(Op::decode(&bad).is_err());
    }
}
