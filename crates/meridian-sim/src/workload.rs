//! The clients: random pipelines of writes to a small key set, over every
//! data type and every kind of write the server makes
//! (`meridian-server/src/cmd`), generated as exactly the [`Write`]s the
//! server's commands turn into:
//!
//! - strings: SET (with and without an expiry, as SET EX/PX, GETSET, MSET),
//!   APPEND (a SET of the longer value, keeping the expiry), INCRBY,
//!   INCRBYFLOAT;
//! - hashes: HSET (HMSET), HDEL, HINCRBY, HINCRBYFLOAT;
//! - sets: SADD (every named member, present or not), SREM and SPOP (both
//!   remove present members);
//! - sorted sets: ZADD (plain, NX, XX, GT, LT, INCR), ZINCRBY, ZREM;
//! - lists: LPUSH, RPUSH, LPOP and RPOP (with counts), LINSERT BEFORE/AFTER,
//!   LSET, LREM, LTRIM;
//! - any key: DEL, EXPIRE/PEXPIRE, PERSIST;
//! - sibling keys: SET and MERIDIAN.RESOLVE with a causal context read by
//!   MERIDIAN.SIBLINGS (see below).
//!
//! Clients behave like real clients of the server: a write is sent only if
//! the server would accept it against the region's local state, and has the
//! effect it would have there. A type write goes only to a key that is
//! locally of that type or absent (no WRONGTYPE); DEL, EXPIRE and PERSIST
//! only to a key that exists (PERSIST whether or not it has a deadline); HDEL,
//! SREM, ZREM, pops, LSET, LREM, LTRIM and LINSERT name what the region sees;
//! HINCRBY and INCRBY only touch integers (and never overflow),
//! HINCRBYFLOAT and INCRBYFLOAT only numbers; a ZADD whose conditions fail
//! or that leaves the score unchanged writes nothing for that member.
//!
//! Keys are `k0`, `k1`, ... and come in eight classes by index, so that every
//! run has keys of each type, keys whose expected value is obvious, and keys
//! where the interesting merges (and type clashes) happen. The reference
//! model (see `reference.rs`) judges all of them.
//!
//! | `i % 8` | class | writes |
//! |---|---|---|
//! | 0 | counter | INCRBY only: every region must end with the sum |
//! | 1 | siblings | SET, MERIDIAN.RESOLVE, DEL: a multi-value register |
//! | 2 | string | SET (with expiry), APPEND, INCRBY, INCRBYFLOAT, DEL, EXPIRE, PERSIST |
//! | 3 | hash | hash writes, DEL, EXPIRE, PERSIST |
//! | 4 | set | set writes, DEL, EXPIRE, PERSIST |
//! | 5 | sorted set | sorted-set writes, DEL, EXPIRE, PERSIST |
//! | 6 | list | list writes, DEL, EXPIRE, PERSIST |
//! | 7 | mixed | any type: an absent key is created as a random type, a present one gets writes of its type or a SET replacing it |
//!
//! Type clashes are possible only on mixed keys, and rare: two regions must
//! create the same absent key as different types concurrently, or one
//! recreates a key it deleted while another still writes the old type.
//!
//! Sibling keys stand for the keys a server matches with `--siblings`. The
//! nodes are not configured with the pattern: it changes only what the
//! conflict log records, not the state, and a restarted node is rebuilt
//! without it. A RESOLVE's context is what MERIDIAN.SIBLINGS returned to
//! the client: read just now in its region, read earlier in its region (a
//! stale context), or read through another region (an application whose
//! reads and writes go through different regions).

use crate::rng::SimRng;
use bytes::Bytes;
use meridian_core::key::View;
use meridian_core::list::ElemId;
use meridian_core::num::{parse_f64, parse_i64};
use meridian_core::zset::score_text;
use meridian_core::{FieldWrite, Kind, Node, VersionVector, Write};
use std::collections::BTreeMap;

/// Largest INCRBY step, either sign: small, so sums of millions of writes
/// stay far from the overflow the server would refuse.
pub const INCR_STEP_MAX: i64 = 9;

/// Largest integer a SET writes to a mixed key, either sign (numeric values
/// let later increments apply on top of them).
pub const SET_INT_MAX: i64 = 50;

/// Longest text value, in bytes: values only need to differ, not be large.
pub const TEXT_BYTES_MAX: u64 = 4;

/// Longest value APPEND grows, in bytes: keeps values small in long runs.
pub const APPEND_BYTES_MAX: usize = 32;

/// Shortest and longest expiry a SET PX or an EXPIRE sets, in ms: some
/// expire within a round trip, some outlive the run.
pub const TTL_MS_MIN: u64 = 50;
pub const TTL_MS_MAX: u64 = 5_000;

/// Fields of a hash, members of a set and of a sorted set per key: few, so
/// that concurrent writes to one field are common. Static, so that copies
/// of ops (one per log and message) share them without reference counts.
const FIELD_NAMES: [&str; 4] = ["f0", "f1", "f2", "f3"];
const MEMBER_NAMES: [&str; 6] = ["m0", "m1", "m2", "m3", "m4", "m5"];
pub const FIELDS: u64 = FIELD_NAMES.len() as u64;
pub const MEMBERS: u64 = MEMBER_NAMES.len() as u64;

/// Largest ZADD score and ZINCRBY step, in quarters, either sign. Quarters
/// are exact in binary, so scores summed in any order are equal bit for bit
/// and the reference can check the order of members exactly.
pub const SCORE_QUARTERS_MAX: i64 = 40;

/// List values: a few letters, so that LINSERT pivots and LREM values match.
const LIST_VALUE_NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];
pub const LIST_VALUES: u64 = LIST_VALUE_NAMES.len() as u64;

/// Past this many visible elements a push becomes a pop, so lists stay
/// short (every element is kept as a tombstone once removed).
pub const LIST_LEN_SOFT_MAX: usize = 24;

/// The class of key `i` (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyClass {
    Counter,
    Siblings,
    String,
    Hash,
    Set,
    ZSet,
    List,
    Mixed,
}

impl KeyClass {
    pub fn of(i: usize) -> KeyClass {
        match i % 8 {
            0 => KeyClass::Counter,
            1 => KeyClass::Siblings,
            2 => KeyClass::String,
            3 => KeyClass::Hash,
            4 => KeyClass::Set,
            5 => KeyClass::ZSet,
            6 => KeyClass::List,
            _ => KeyClass::Mixed,
        }
    }

    /// The rule the reference checks for keys of this class, in a few words.
    pub fn rule(self) -> &'static str {
        match self {
            KeyClass::Counter => "counter: the sum of every increment",
            KeyClass::Siblings => {
                "siblings: every SET and RESOLVE no later write replaced, greatest (HLC, region) first"
            }
            KeyClass::String => {
                "string: the surviving SET with the greatest (HLC, region) plus every unseen increment"
            }
            KeyClass::Hash => "hash: per field add wins, values LWW, every unseen HINCRBY counts",
            KeyClass::Set => "set: a member is in iff some add of it was seen by no remove",
            KeyClass::ZSet => {
                "sorted set: add-wins members, score LWW plus every unseen ZINCRBY, in score order"
            }
            KeyClass::List => "list: the RGA order of the inserts no observed remove took",
            KeyClass::Mixed => "mixed types: the newest visible type wins, each part by its rules",
        }
    }
}

/// Names of the first keys, static so that the many copies of an op (one
/// per log and message) share its key without reference counts.
const KEY_NAMES: [&str; 64] = [
    "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9", "k10", "k11", "k12", "k13", "k14",
    "k15", "k16", "k17", "k18", "k19", "k20", "k21", "k22", "k23", "k24", "k25", "k26", "k27",
    "k28", "k29", "k30", "k31", "k32", "k33", "k34", "k35", "k36", "k37", "k38", "k39", "k40",
    "k41", "k42", "k43", "k44", "k45", "k46", "k47", "k48", "k49", "k50", "k51", "k52", "k53",
    "k54", "k55", "k56", "k57", "k58", "k59", "k60", "k61", "k62", "k63",
];

/// The name of key `i`.
pub fn key_name(i: usize) -> Bytes {
    match KEY_NAMES.get(i) {
        Some(k) => Bytes::from_static(k.as_bytes()),
        None => Bytes::from(format!("k{i}")),
    }
}

/// The class of a key by name.
pub fn class_of(key: &[u8]) -> Option<KeyClass> {
    let i: usize = std::str::from_utf8(key.strip_prefix(b"k")?)
        .ok()?
        .parse()
        .ok()?;
    Some(KeyClass::of(i))
}

/// Chooses writes and when they happen.
pub struct Workload {
    rng: SimRng,
    keys: Vec<Bytes>,
    pipeline_max: usize,
    /// Mean gap between two pipelines of one region, in microseconds.
    gap_us_mean: u64,
    /// The causal context each region's clients last read of each sibling
    /// key (MERIDIAN.SIBLINGS), by (key index, region index).
    contexts: BTreeMap<(usize, usize), VersionVector>,
}

/// The region's state of the key a write goes to.
struct Target<'a> {
    node: &'a Node,
    key: &'a [u8],
    i: usize,
    now_ms: u64,
    view: Option<View<'a>>,
}

impl Target<'_> {
    fn kind(&self) -> Option<Kind> {
        self.view.map(|v| v.kind)
    }

    /// The key's deadline if it is still ahead (as the server's PERSIST and
    /// APPEND see it).
    fn deadline(&self) -> Option<u64> {
        self.node
            .keys()
            .get(self.key)
            .and_then(|s| s.deadline())
            .filter(|&at| at > self.now_ms)
    }
}

impl Workload {
    /// Clients writing `writes_per_sec` ops per region on average, in
    /// pipelines of up to `pipeline_max`.
    pub fn new(rng: SimRng, keys: usize, writes_per_sec: u64, pipeline_max: usize) -> Workload {
        let per_pipeline = (1 + pipeline_max as u64).div_ceil(2).max(1);
        let gap_us_mean = match writes_per_sec {
            0 => u64::MAX / 4,
            w => 1_000_000 * per_pipeline / w,
        };
        Workload {
            rng,
            keys: (0..keys).map(key_name).collect(),
            pipeline_max,
            gap_us_mean,
            contexts: BTreeMap::new(),
        }
    }

    /// The gap before a region's next pipeline, in µs: uniform in
    /// `0..=2*mean`, so regions interleave irregularly and sometimes share
    /// a millisecond.
    pub fn next_gap_us(&mut self) -> u64 {
        self.rng.range(0, self.gap_us_mean.saturating_mul(2))
    }

    /// How many writes the next pipeline sends: one half the time.
    pub fn pipeline_len(&mut self) -> usize {
        if self.pipeline_max == 1 || self.rng.chance(0.5) {
            1
        } else {
            self.rng.range(2, self.pipeline_max as u64) as usize
        }
    }

    /// A client write in the region of `node`, whose clock reads `now_ms`.
    pub fn next_write(&mut self, node: &Node, now_ms: u64) -> (Bytes, Write) {
        let i = self.rng.index(self.keys.len());
        let key = self.keys[i].clone();
        let t = Target {
            node,
            key: &key,
            i,
            now_ms,
            view: node.view(&key, now_ms),
        };
        let write = match KeyClass::of(i) {
            KeyClass::Counter => Write::IncrBy(self.incr_step()),
            KeyClass::Siblings => self.siblings(&t),
            KeyClass::String => self.string(&t, true),
            KeyClass::Hash => self.typed(&t, Kind::Hash),
            KeyClass::Set => self.typed(&t, Kind::Set),
            KeyClass::ZSet => self.typed(&t, Kind::ZSet),
            KeyClass::List => self.typed(&t, Kind::List),
            KeyClass::Mixed => self.mixed(&t),
        };
        (key, write)
    }

    /// A write of `kind` (or DEL, EXPIRE, PERSIST) to a key that is locally
    /// of that type or absent.
    fn typed(&mut self, t: &Target<'_>, kind: Kind) -> Write {
        match t.kind() {
            Some(k) if k != kind => self.key_write(t).unwrap_or(Write::Del),
            _ => match kind {
                Kind::String => self.string(t, true),
                Kind::Hash => self.hash(t),
                Kind::Set => self.set(t),
                Kind::ZSet => self.zset(t),
                Kind::List => self.list(t),
            },
        }
    }

    /// A mixed key: an absent key becomes a random type; a present one gets
    /// a write of its type, or now and then a SET that replaces it.
    fn mixed(&mut self, t: &Target<'_>) -> Write {
        match t.kind() {
            None => {
                let kind = match self.rng.below(10) {
                    0..=3 => Kind::String,
                    4 => Kind::Hash,
                    5 => Kind::Set,
                    6 | 7 => Kind::ZSet,
                    _ => Kind::List,
                };
                self.typed(t, kind)
            }
            Some(k) if k != Kind::String && self.rng.chance(0.08) => set(self.text(), None),
            Some(k) => self.typed(t, k),
        }
    }

    /// DEL, EXPIRE or PERSIST of a key that exists (`None` if it does not).
    fn key_write(&mut self, t: &Target<'_>) -> Option<Write> {
        t.view?;
        Some(match self.rng.below(10) {
            0..=3 => Write::Del,
            4 | 5 => Write::Expire { at_ms: None },
            _ => Write::Expire {
                at_ms: Some(t.now_ms + self.rng.range(TTL_MS_MIN, TTL_MS_MAX)),
            },
        })
    }

    /// String writes: SET (with an expiry if `expiry`), APPEND, INCRBY,
    /// INCRBYFLOAT, DEL, and with `expiry` EXPIRE and PERSIST.
    fn string(&mut self, t: &Target<'_>, expiry: bool) -> Write {
        let current = t.view.and_then(|v| v.string());
        let int = current.as_ref().map_or(Some(0), |v| parse_i64(v));
        let float = current.as_ref().map_or(Some(0.0), |v| parse_f64(v));
        match self.rng.below(100) {
            0..=9 if t.view.is_some() => Write::Del,
            10..=41 => match int.and_then(|v| v.checked_add(INCR_STEP_MAX)) {
                // The server refuses an increment that would overflow.
                Some(_) => Write::IncrBy(self.incr_step()),
                None => self.set_int(),
            },
            // Tenths are inexact in binary: sums must still agree bit for bit.
            42..=51 if float.is_some() => Write::IncrByFloat(self.tenths()),
            52..=59 => set(self.text(), None),
            60..=66 if expiry => {
                let ttl = self.rng.range(TTL_MS_MIN, TTL_MS_MAX);
                set(self.text(), Some(t.now_ms + ttl))
            }
            67..=74 => self.append(t, current),
            75..=80 if expiry => self.key_write(t).unwrap_or_else(|| self.set_int()),
            _ => self.set_int(),
        }
    }

    /// APPEND as the server makes it: a SET of the longer value that keeps
    /// the key's expiry.
    fn append(&mut self, t: &Target<'_>, current: Option<Bytes>) -> Write {
        let mut value = current.map(|v| v.to_vec()).unwrap_or_default();
        if value.len() >= APPEND_BYTES_MAX {
            value.clear();
        }
        value.extend_from_slice(&self.text());
        set(Bytes::from(value), t.deadline())
    }

    /// Sibling keys: SET, MERIDIAN.RESOLVE with a context the client read,
    /// and now and then DEL.
    fn siblings(&mut self, t: &Target<'_>) -> Write {
        match self.rng.below(100) {
            0..=54 => set(self.text(), None),
            55..=94 => {
                let me = t.node.me().index();
                // MERIDIAN.SIBLINGS here and now: per region, the newest
                // value it shows.
                let mut fresh = VersionVector::new(t.node.regions().len());
                if let Some(v) = t.view.filter(|v| v.kind == Kind::String) {
                    for e in v.state.string().siblings(v.cutoff) {
                        if e.dot.seq > fresh.get(e.dot.region) {
                            fresh.set(e.dot.region, e.dot.seq);
                        }
                    }
                }
                let stale = self.contexts.get(&(t.i, me)).cloned();
                let elsewhere: Vec<VersionVector> = self
                    .contexts
                    .range((t.i, 0)..(t.i + 1, 0))
                    .filter(|((_, r), _)| *r != me)
                    .map(|(_, c)| c.clone())
                    .collect();
                let context = match (self.rng.below(4), stale) {
                    (0, Some(stale)) => stale,
                    (1, _) if !elsewhere.is_empty() => {
                        elsewhere[self.rng.index(elsewhere.len())].clone()
                    }
                    _ => fresh.clone(),
                };
                self.contexts.insert((t.i, me), fresh);
                Write::Resolve {
                    context,
                    value: self.text(),
                }
            }
            _ if t.view.is_some() => Write::Del,
            _ => set(self.text(), None),
        }
    }

    fn hash(&mut self, t: &Target<'_>) -> Write {
        let h = t.view.and_then(|v| v.hash().map(|h| (h, v.cutoff)));
        let present: Vec<Bytes> = (0..FIELDS)
            .map(|f| name("f", f))
            .filter(|f| h.is_some_and(|(h, c)| h.contains_at(f, c)))
            .collect();
        let field = name("f", self.rng.below(FIELDS));
        let current = h.and_then(|(h, c)| h.read_at(&field, c));
        let writes = match self.rng.below(100) {
            // HSET of one or two fields, HMSET, HSETNX of an absent field.
            0..=29 => {
                let n = self.rng.range(1, 2);
                self.pick(FIELDS, n, "f")
                    .into_iter()
                    .map(|f| (f, FieldWrite::Set(self.hash_value())))
                    .collect()
            }
            30..=44 if !present.is_empty() => {
                let n = self.rng.range(1, 2) as usize;
                self.some_of(&present, n)
                    .into_iter()
                    .map(|f| (f, FieldWrite::Del))
                    .collect()
            }
            45..=69 => match current.as_ref().map_or(Some(0), |v| parse_i64(v)) {
                Some(v) if v.checked_add(INCR_STEP_MAX).is_some() => {
                    vec![(field, FieldWrite::IncrBy(self.incr_step()))]
                }
                _ => vec![(field, FieldWrite::Set(self.int_value()))],
            },
            70..=81 => match current.as_ref().map_or(Some(0.0), |v| parse_f64(v)) {
                Some(_) => vec![(field, FieldWrite::IncrByFloat(self.tenths()))],
                None => vec![(field, FieldWrite::Set(self.int_value()))],
            },
            82..=89 => match self.key_write(t) {
                Some(w) => return w,
                None => vec![(field, FieldWrite::Set(self.int_value()))],
            },
            _ => vec![(field, FieldWrite::Set(self.int_value()))],
        };
        fields(Kind::Hash, writes)
    }

    fn set(&mut self, t: &Target<'_>) -> Write {
        let s = t.view.and_then(|v| v.set().map(|s| (s, v.cutoff)));
        let present: Vec<Bytes> = (0..MEMBERS)
            .map(|m| name("m", m))
            .filter(|m| s.is_some_and(|(s, c)| s.contains_at(m, c)))
            .collect();
        let (members, w) = match self.rng.below(100) {
            // SREM of present members.
            45..=69 if !present.is_empty() => {
                let n = self.rng.range(1, 2) as usize;
                (self.some_of(&present, n), FieldWrite::Del)
            }
            // SPOP [count]: random present members, removed with an SREM.
            70..=84 if !present.is_empty() => {
                let n = self.rng.range(1, 3) as usize;
                (self.some_of(&present, n), FieldWrite::Del)
            }
            85..=92 => match self.key_write(t) {
                Some(w) => return w,
                None => (self.pick(MEMBERS, 1, "m"), FieldWrite::Set(Bytes::new())),
            },
            // SADD: every named member is written, present or not.
            _ => {
                let n = self.rng.range(1, 3);
                (self.pick(MEMBERS, n, "m"), FieldWrite::Set(Bytes::new()))
            }
        };
        fields(
            Kind::Set,
            members.into_iter().map(|m| (m, w.clone())).collect(),
        )
    }

    fn zset(&mut self, t: &Target<'_>) -> Write {
        let z = t.view.and_then(|v| v.zset().map(|z| (z, v.cutoff)));
        let score_of = |m: &[u8]| z.and_then(|(z, c)| z.score_at(m, c));
        let present: Vec<Bytes> = (0..MEMBERS)
            .map(|m| name("m", m))
            .filter(|m| score_of(m).is_some())
            .collect();
        let member = name("m", self.rng.below(MEMBERS));
        let writes: Vec<(Bytes, FieldWrite)> = match self.rng.below(100) {
            // ZADD [NX|XX|GT|LT] of one or two members, as the server
            // decides per member against the local score.
            0..=47 => {
                let (nx, xx, gt, lt) = match self.rng.below(10) {
                    0 => (true, false, false, false),
                    1 => (false, true, false, false),
                    2 => (false, false, true, false),
                    3 => (false, false, false, true),
                    _ => (false, false, false, false),
                };
                let n = self.rng.range(1, 2);
                let mut writes = Vec::new();
                for m in self.pick(MEMBERS, n, "m") {
                    let new = self.quarters(SCORE_QUARTERS_MAX);
                    let cur = score_of(&m);
                    if (nx && cur.is_some()) || (xx && cur.is_none()) {
                        continue;
                    }
                    if let Some(c) = cur {
                        if (gt && new <= c) || (lt && new >= c) || new == c {
                            continue;
                        }
                    }
                    writes.push((m, FieldWrite::Set(score_text(new))));
                }
                writes
            }
            // ZADD INCR and ZINCRBY: an increment.
            48..=74 => vec![(
                member,
                FieldWrite::IncrByFloat(self.quarters(SCORE_QUARTERS_MAX / 2)),
            )],
            75..=89 if !present.is_empty() => {
                let n = self.rng.range(1, 2) as usize;
                self.some_of(&present, n)
                    .into_iter()
                    .map(|m| (m, FieldWrite::Del))
                    .collect()
            }
            90..=99 => match self.key_write(t) {
                Some(w) => return w,
                None => Vec::new(),
            },
            _ => Vec::new(),
        };
        if writes.is_empty() {
            // Nothing to write (a ZADD whose conditions all failed): the
            // client sends a ZINCRBY instead.
            let m = name("m", self.rng.below(MEMBERS));
            return fields(Kind::ZSet, vec![(m, FieldWrite::IncrByFloat(0.25))]);
        }
        fields(Kind::ZSet, writes)
    }

    fn list(&mut self, t: &Target<'_>) -> Write {
        let elems: Vec<(ElemId, Bytes)> = t
            .view
            .and_then(|v| v.list().map(|l| (l, v.cutoff)))
            .map(|(l, c)| l.visible_at(c).map(|e| (e.id, e.value.clone())).collect())
            .unwrap_or_default();
        let n = elems.len();
        let mut choice = self.rng.below(100);
        if n >= LIST_LEN_SOFT_MAX && choice < 40 {
            choice = 40;
        }
        let write = match choice {
            // LPUSH a b c inserts c, b, a at the head.
            0..=19 => Some(Write::ListInsert {
                after: None,
                values: self.list_values().into_iter().rev().collect(),
            }),
            // RPUSH: after the last element the region sees.
            20..=39 => Some(Write::ListInsert {
                after: elems.last().map(|(id, _)| *id),
                values: self.list_values(),
            }),
            // LPOP / RPOP [count].
            40..=53 if n > 0 => {
                let count = if self.rng.chance(0.5) {
                    1
                } else {
                    self.rng.range(1, 3) as usize
                };
                let ids: Vec<ElemId> = if self.rng.chance(0.5) {
                    elems.iter().take(count).map(|(id, _)| *id).collect()
                } else {
                    elems.iter().rev().take(count).map(|(id, _)| *id).collect()
                };
                Some(Write::ListRemove { ids })
            }
            // LINSERT BEFORE|AFTER pivot: no write if the pivot is absent.
            54..=61 if n > 0 => {
                let pivot = self.list_value();
                elems.iter().position(|(_, v)| *v == pivot).map(|p| {
                    let after = if self.rng.chance(0.5) {
                        Some(elems[p].0)
                    } else {
                        p.checked_sub(1).map(|q| elems[q].0)
                    };
                    Write::ListInsert {
                        after,
                        values: vec![self.list_value()],
                    }
                })
            }
            // LSET index (either end).
            62..=69 if n > 0 => {
                let p = self.rng.index(n);
                Some(Write::ListSet {
                    id: elems[p].0,
                    value: self.list_value(),
                })
            }
            // LREM count value: 0 all, n > 0 the first n, n < 0 the last -n.
            70..=77 if n > 0 => {
                let value = self.list_value();
                let count = self.rng.range_i64(-2, 2);
                let matching = elems.iter().filter(|(_, v)| *v == value).map(|(id, _)| *id);
                let ids: Vec<ElemId> = match count {
                    0 => matching.collect(),
                    c if c > 0 => matching.take(c as usize).collect(),
                    c => {
                        let mut v: Vec<ElemId> =
                            matching.rev().take(c.unsigned_abs() as usize).collect();
                        v.reverse();
                        v
                    }
                };
                (!ids.is_empty()).then_some(Write::ListRemove { ids })
            }
            // LTRIM start stop: removes what is outside the range.
            78..=83 if n > 0 => {
                let len = n as i64;
                let start = self.rng.range_i64(-len, len - 1);
                let stop = self.rng.range_i64(-len, len - 1);
                let keep = span(n, start, stop);
                let ids: Vec<ElemId> = elems
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !keep.is_some_and(|(s, e)| (s..=e).contains(i)))
                    .map(|(_, (id, _))| *id)
                    .collect();
                (!ids.is_empty()).then_some(Write::ListRemove { ids })
            }
            84..=91 => self.key_write(t),
            _ => None,
        };
        write.unwrap_or_else(|| Write::ListInsert {
            after: elems.last().map(|(id, _)| *id),
            values: vec![self.list_value()],
        })
    }

    /// `n` distinct names `prefix0..prefix{of-1}`, sorted (as the server
    /// dedups fields and members).
    fn pick(&mut self, of: u64, n: u64, prefix: &str) -> Vec<Bytes> {
        let mut v: Vec<Bytes> = (0..n).map(|_| name(prefix, self.rng.below(of))).collect();
        v.sort();
        v.dedup();
        v
    }

    /// Up to `n` distinct items of `from`, sorted.
    fn some_of(&mut self, from: &[Bytes], n: usize) -> Vec<Bytes> {
        let mut v: Vec<Bytes> = (0..n)
            .map(|_| from[self.rng.index(from.len())].clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    fn incr_step(&mut self) -> i64 {
        self.rng.range_i64(-INCR_STEP_MAX, INCR_STEP_MAX)
    }

    fn tenths(&mut self) -> f64 {
        self.rng.range_i64(-99, 99) as f64 / 10.0
    }

    fn quarters(&mut self, max: i64) -> f64 {
        self.rng.range_i64(-max, max) as f64 / 4.0
    }

    fn int_value(&mut self) -> Bytes {
        Bytes::from(self.rng.range_i64(-SET_INT_MAX, SET_INT_MAX).to_string())
    }

    fn hash_value(&mut self) -> Bytes {
        if self.rng.chance(0.5) {
            self.int_value()
        } else {
            self.text()
        }
    }

    fn set_int(&mut self) -> Write {
        set(self.int_value(), None)
    }

    fn list_value(&mut self) -> Bytes {
        Bytes::from_static(LIST_VALUE_NAMES[self.rng.index(LIST_VALUE_NAMES.len())].as_bytes())
    }

    fn list_values(&mut self) -> Vec<Bytes> {
        let n = self.rng.range(1, 3);
        (0..n).map(|_| self.list_value()).collect()
    }

    fn text(&mut self) -> Bytes {
        let len = self.rng.range(1, TEXT_BYTES_MAX);
        let text: Vec<u8> = (0..len).map(|_| b'a' + self.rng.below(26) as u8).collect();
        Bytes::from(text)
    }
}

/// Redis's index normalisation for a range (as the server's LTRIM): (first,
/// last) inclusive, or `None` if empty.
fn span(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    let norm = |i: i64| if i < 0 { (len + i).max(0) } else { i };
    let (s, e) = (norm(start), norm(stop).min(len - 1));
    (s <= e && s < len).then_some((s as usize, e as usize))
}

/// Field `i` of a hash (`prefix` "f") or member `i` of a set or sorted set
/// ("m").
fn name(prefix: &str, i: u64) -> Bytes {
    let names: &[&'static str] = if prefix == "f" {
        &FIELD_NAMES
    } else {
        &MEMBER_NAMES
    };
    Bytes::from_static(names[i as usize % names.len()].as_bytes())
}

fn set(value: Bytes, expire_at_ms: Option<u64>) -> Write {
    Write::Set {
        value,
        expire_at_ms,
    }
}

fn fields(kind: Kind, writes: Vec<(Bytes, FieldWrite)>) -> Write {
    Write::Fields { kind, writes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_by_name() {
        assert_eq!(class_of(b"k8"), Some(KeyClass::Counter));
        assert_eq!(class_of(b"k9"), Some(KeyClass::Siblings));
        assert_eq!(class_of(b"k11"), Some(KeyClass::Hash));
        assert_eq!(class_of(b"k15"), Some(KeyClass::Mixed));
        assert_eq!(class_of(b"x"), None);
    }

    #[test]
    fn key_names() {
        assert_eq!(key_name(5), "k5");
        assert_eq!(key_name(63), "k63");
        assert_eq!(key_name(64), "k64");
        assert_eq!(class_of(&key_name(99)), Some(KeyClass::Hash));
    }

    #[test]
    fn ltrim_spans_as_redis() {
        assert_eq!(span(5, 0, -1), Some((0, 4)));
        assert_eq!(span(5, 1, 2), Some((1, 2)));
        assert_eq!(span(5, 3, 1), None);
        assert_eq!(span(5, -2, 10), Some((3, 4)));
    }
}
