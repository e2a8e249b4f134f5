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
use crate::list::ElemId;
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

/// The data type of a key's content. A key normally holds one; it holds
/// several only when regions wrote different types to it concurrently, and
/// then [`crate::key::KeyState::kind_at`] picks the one readers see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Kind {
    String,
    Hash,
    Set,
    ZSet,
    List,
}

impl Kind {
    /// The name `TYPE` replies with.
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Hash => "hash",
            Kind::Set => "set",
            Kind::ZSet => "zset",
            Kind::List => "list",
        }
    }

    /// Every kind, in a fixed order.
    pub const ALL: [Kind; 5] = [Kind::String, Kind::Hash, Kind::Set, Kind::ZSet, Kind::List];
}

/// The counter totals a remover had seen on one field of a hash or sorted
/// set (see [`crate::counter`]): the increments it removes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldCounts {
    pub kind: Kind,
    pub field: Bytes,
    pub counts: Vec<Contrib>,
}

/// One change to one field of a hash, member of a set or member of a sorted
/// set. Each field is a register with a counter, as a string key is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldOp {
    pub field: Bytes,
    pub action: FieldAction,
}

/// What a [`FieldOp`] does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FieldAction {
    /// HSET (the value), SADD (empty), ZADD (the score as text): replaces the
    /// values and the counter increments the origin had seen.
    Set {
        value: Bytes,
        counts: Option<Vec<Contrib>>,
    },
    /// HDEL, SREM, ZREM: removes what the origin had seen of the field.
    Del { counts: Option<Vec<Contrib>> },
    /// HINCRBY (`float` None), HINCRBYFLOAT and ZINCRBY (`int` 0).
    Incr { int: i64, float: Option<f64> },
}

/// A change to a list (see [`crate::list`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ListOp {
    /// Inserts `values` as a chain right after element `after` (`None`: the
    /// head). The i-th value gets the id `(op hlc, origin, i)`.
    Insert {
        after: Option<ElemId>,
        values: Vec<Bytes>,
    },
    /// Removes elements by id (LPOP, RPOP, LREM, LTRIM).
    Remove { ids: Vec<ElemId> },
    /// Replaces one element's value (LSET); last writer wins.
    Set { id: ElemId, value: Bytes },
}

/// What an op does to its key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OpBody {
    /// Writes a string value, replacing the whole key as the origin had seen
    /// it: every value of every type covered by `deps`, and the counter
    /// increments it had seen (`counts`, the per-region totals of the key's
    /// counter at the origin, `None` if it had none; `fields`, the same for
    /// counter fields of hashes and sorted sets). Sets the key's expiry to
    /// `expire_at_ms`, or clears the expiry the origin had seen if `None`.
    Set {
        value: Bytes,
        expire_at_ms: Option<u64>,
        counts: Option<Vec<Contrib>>,
        fields: Vec<FieldCounts>,
    },
    /// Removes what the origin had seen of the key, of every type, and its
    /// expiry (observed-remove).
    Del {
        counts: Option<Vec<Contrib>>,
        fields: Vec<FieldCounts>,
    },
    /// Adds to the key's counter (INCR family).
    IncrInt { by: i64 },
    /// Adds a float to the key's counter (INCRBYFLOAT).
    IncrFloat { by: f64 },
    /// Changes fields of the key's hash, set or sorted set.
    Fields { kind: Kind, ops: Vec<FieldOp> },
    /// Sets the key's expiry (EXPIRE family: `Some(deadline)`) or makes it
    /// persistent (PERSIST: `None`), replacing the expiry the origin had seen.
    Expire { at_ms: Option<u64> },
    /// Changes the key's list.
    List(ListOp),
    /// Replaces the string values covered by `context` (a causal context
    /// from MERIDIAN.SIBLINGS) that the origin had seen (covered by `deps`
    /// too) with `value`, plus the values in `fold` (the oldest siblings
    /// past [`crate::string::SIBLINGS_MAX`]).
    Resolve {
        value: Bytes,
        context: VersionVector,
        fold: Vec<Dot>,
    },
    /// The key's deadline `at_ms` had passed at the origin: removes the
    /// expiry the origin had seen, every value written before the deadline
    /// (by HLC, in every region: see [`crate::expiry`]), and the counter
    /// increments of counters that were hidden at the origin (`counts`,
    /// `fields`). Then applies `then`, the write that found the key expired,
    /// if any (an op made by the expiry sweep has none).
    Expired {
        at_ms: u64,
        counts: Option<Vec<Contrib>>,
        fields: Vec<FieldCounts>,
        then: Option<Box<OpBody>>,
    },
}

impl OpBody {
    /// The kind of content this op adds, if it adds any.
    pub fn adds(&self) -> Option<Kind> {
        match self {
            OpBody::Set { .. } | OpBody::IncrInt { .. } | OpBody::IncrFloat { .. } => {
                Some(Kind::String)
            }
            OpBody::Resolve { .. } => Some(Kind::String),
            OpBody::Fields { kind, ops } => ops
                .iter()
                .any(|o| !matches!(o.action, FieldAction::Del { .. }))
                .then_some(*kind),
            OpBody::List(ListOp::Insert { .. }) => Some(Kind::List),
            OpBody::Expired { then, .. } => then.as_ref().and_then(|t| t.adds()),
            _ => None,
        }
    }

    /// Checks what the type system cannot: kinds that fit the op, no nested
    /// expiry.
    fn validate(&self) -> Result<(), CodecError> {
        match self {
            OpBody::Fields { kind, ops } => {
                if !matches!(kind, Kind::Hash | Kind::Set | Kind::ZSet) {
                    return Err(CodecError::Invalid("field op on a kind without fields"));
                }
                if ops.is_empty() {
                    return Err(CodecError::Invalid("field op without fields"));
                }
                Ok(())
            }
            OpBody::Set { fields, .. } | OpBody::Del { fields, .. } => check_field_counts(fields),
            OpBody::Expired { fields, then, .. } => {
                check_field_counts(fields)?;
                match then.as_deref() {
                    Some(OpBody::Expired { .. }) => Err(CodecError::Invalid("nested expiry")),
                    Some(t) => t.validate(),
                    None => Ok(()),
                }
            }
            OpBody::Resolve { context, fold, .. } => {
                if context.len() > REGIONS_MAX
                    || fold.len() > crate::string::SIBLINGS_MAX * REGIONS_MAX
                {
                    return Err(CodecError::Invalid("resolve context too long"));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

fn check_field_counts(fields: &[FieldCounts]) -> Result<(), CodecError> {
    if fields
        .iter()
        .any(|f| !matches!(f.kind, Kind::Hash | Kind::ZSet) || f.counts.len() > REGIONS_MAX)
    {
        return Err(CodecError::Invalid("field counts"));
    }
    Ok(())
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
        // An op's own region entry is always the op before it; a record that
        // says otherwise would not replace its own region's earlier values.
        if rest.deps.get(dot.region) != dot.seq - 1 {
            return Err(CodecError::Invalid(
                "deps disagree with the op's sequence number",
            ));
        }
        rest.body.validate()?;
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
                fields: vec![FieldCounts {
                    kind: Kind::Hash,
                    field: Bytes::from_static(b"f"),
                    counts: vec![Contrib::default(); 2],
                }],
            },
        };
        let enc = op.encode();
        assert_eq!(peek_dot(&enc).unwrap(), op.dot);
        assert_eq!(peek_hlc(&enc).unwrap(), op.hlc);
        assert_eq!(Op::decode(&enc).unwrap(), op);
    }

    #[test]
    fn every_body_round_trips() {
        let id = ElemId {
            hlc: Hlc::new(5, 1),
            region: RegionId(1),
            idx: 2,
        };
        let bodies = vec![
            OpBody::Fields {
                kind: Kind::ZSet,
                ops: vec![
                    FieldOp {
                        field: Bytes::from_static(b"m"),
                        action: FieldAction::Set {
                            value: Bytes::from_static(b"1.5"),
                            counts: None,
                        },
                    },
                    FieldOp {
                        field: Bytes::from_static(b"n"),
                        action: FieldAction::Incr {
                            int: 0,
                            float: Some(0.25),
                        },
                    },
                ],
            },
            OpBody::Expire { at_ms: Some(9) },
            OpBody::Expire { at_ms: None },
            OpBody::List(ListOp::Insert {
                after: Some(id),
                values: vec![Bytes::from_static(b"a")],
            }),
            OpBody::List(ListOp::Remove { ids: vec![id] }),
            OpBody::List(ListOp::Set {
                id,
                value: Bytes::new(),
            }),
            OpBody::Resolve {
                value: Bytes::from_static(b"v"),
                context: VersionVector::from_vec(vec![1, 2]),
                fold: vec![Dot::new(RegionId(0), 1)],
            },
            OpBody::Expired {
                at_ms: 7,
                counts: None,
                fields: vec![],
                then: Some(Box::new(OpBody::IncrInt { by: 3 })),
            },
        ];
        for body in bodies {
            let op = Op {
                dot: Dot::new(RegionId(0), 3),
                hlc: Hlc::new(10, 0),
                deps: VersionVector::from_vec(vec![2, 0]),
                key: Bytes::from_static(b"k"),
                body,
            };
            assert_eq!(Op::decode(&op.encode()).unwrap(), op);
        }
    }

    #[test]
    fn rejects_ops_the_types_cannot_apply() {
        let mut op = Op {
            dot: Dot::new(RegionId(0), 1),
            hlc: Hlc::new(10, 0),
            deps: VersionVector::from_vec(vec![0]),
            key: Bytes::from_static(b"k"),
            body: OpBody::Fields {
                kind: Kind::List,
                ops: vec![FieldOp {
                    field: Bytes::new(),
                    action: FieldAction::Del { counts: None },
                }],
            },
        };
        assert!(Op::decode(&op.encode()).is_err());
        op.body = OpBody::Expired {
            at_ms: 1,
            counts: None,
            fields: vec![],
            then: Some(Box::new(OpBody::Expired {
                at_ms: 1,
                counts: None,
                fields: vec![],
                then: None,
            })),
        };
        assert!(Op::decode(&op.encode()).is_err());
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
