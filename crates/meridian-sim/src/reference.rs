//! The reference model: what a reader must see of every key, computed from
//! the history of writes alone, independently of the core's data structures.
//!
//! It uses the causal past the simulator recorded for each write (what the
//! writing region's log held), not the `deps` the core put in the op, and
//! states each type's semantics directly (docs/semantics.md). "w was seen
//! by r" below means w is in r's causal past.
//!
//! - **Registers.** A string, a hash field, a set member and a sorted-set
//!   member are each a register of values plus a counter. A value survives
//!   unless a remover saw it: any SET or DEL of the key; for a field or
//!   member, an HSET, HDEL, SADD, SREM, ZADD or ZREM of that same field;
//!   for a string, a RESOLVE that saw it and whose context covers it or
//!   that folded it (a resolve's region folds the oldest of the values it
//!   keeps past `SIBLINGS_MAX`, computed here from its causal past). A
//!   reader sees the surviving value with the greatest (HLC, region), plus
//!   every increment no remover saw (INCRBY, HINCRBY, ZINCRBY: counters are
//!   exact, none lost, none counted twice); a non-numeric value hides
//!   increments. A sibling reader sees every surviving value, greatest
//!   first.
//! - **Sets** are add-wins: a member is in iff some SADD of it was seen by
//!   no SREM, SPOP or DEL. **Hashes** and **sorted sets** likewise per field,
//!   and a member's score is its surviving ZADD score plus every unseen
//!   increment, members in (score, member) order.
//! - **Lists**: the elements of the inserts (LPUSH, RPUSH, LINSERT) in the
//!   order of an RGA built as a tree (an element goes right after its
//!   anchor; elements after one anchor by id, greatest first), without
//!   those an LPOP, RPOP, LREM or LTRIM named or a SET or DEL saw; each
//!   element's value is its insert's or LSET's, by (HLC, region).
//! - **Expiry.** A deadline (EXPIRE, SET PX) or a "never" (PERSIST)
//!   survives unless a later EXPIRE, PERSIST, SET, DEL or expiry op saw it;
//!   the key's deadline is none if a PERSIST survives, else the latest
//!   surviving one. Once it has passed, or below every expiry op's deadline
//!   (the floor), what was written earlier (by HLC) is hidden; a counter
//!   counts as written at its newest increment, a list element at its
//!   insert. An expiry op also removes the increments it saw of a counter
//!   that was hidden where it was made.
//! - **Type clash.** Of the types with visible content, readers see the one
//!   whose newest visible write has the greatest (HLC, region).
//!
//! Integer results and sets, lists, sibling lists and sorted-set scores
//! (quarters, exact in binary) must match exactly. Float increments of
//! strings and hash fields are summed here in history order while the core
//! sums per-region running totals, so those are compared with a relative
//! tolerance.

use crate::region::Made;
use bytes::Bytes;
use meridian_core::list::ElemId;
use meridian_core::num::{format_f64, parse_f64, parse_i64};
use meridian_core::op::{FieldAction, ListOp};
use meridian_core::string::SIBLINGS_MAX;
use meridian_core::{Dot, Hlc, Kind, OpBody, RegionId};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Relative tolerance of float comparisons (see the module docs).
pub const FLOAT_TOLERANCE: f64 = 1e-9;

/// What one value must read.
#[derive(Clone, Debug, PartialEq)]
pub enum Expected {
    /// Exactly this (or nothing).
    Exact(Option<Bytes>),
    /// A number within the tolerance.
    Float(f64),
}

impl Expected {
    /// True if a reader getting `got` agrees.
    pub fn matches(&self, got: Option<&[u8]>) -> bool {
        match self {
            Expected::Exact(want) => want.as_deref() == got,
            Expected::Float(want) => got.and_then(parse_f64).is_some_and(|g| close(g, *want)),
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Exact(Some(v)) => write!(f, "{:?}", String::from_utf8_lossy(v)),
            Expected::Exact(None) => f.write_str("(nil)"),
            Expected::Float(v) => write!(f, "about {v}"),
        }
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= FLOAT_TOLERANCE * b.abs().max(1.0)
}

/// What a client reads of one key in one region (see `read.rs`): its type
/// and the content of that type, and its deadline.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Read {
    /// TYPE (`None`: the key does not exist).
    pub kind: Option<Kind>,
    /// The key's deadline (PEXPIRETIME, also of a key with nothing visible).
    pub deadline: Option<u64>,
    /// GET, if a string.
    pub string: Option<Bytes>,
    /// MERIDIAN.SIBLINGS, if a string: every value kept, greatest
    /// (HLC, region) first.
    pub siblings: Vec<(Dot, Bytes)>,
    /// HGETALL, by field.
    pub hash: Vec<(Bytes, Bytes)>,
    /// SMEMBERS, sorted.
    pub set: Vec<Bytes>,
    /// ZRANGE 0 -1 WITHSCORES.
    pub zset: Vec<(f64, Bytes)>,
    /// LRANGE 0 -1.
    pub list: Vec<Bytes>,
}

/// What every region must read of one key.
#[derive(Clone, Debug, PartialEq)]
pub struct Want {
    pub kind: Option<Kind>,
    pub deadline: Option<u64>,
    pub string: Expected,
    pub siblings: Vec<(Dot, Bytes)>,
    pub hash: Vec<(Bytes, Expected)>,
    pub set: Vec<Bytes>,
    pub zset: Vec<(f64, Bytes)>,
    pub list: Vec<Bytes>,
}

/// Which part of a key disagreed with the reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// The type readers see.
    Kind,
    /// The deadline.
    Deadline,
    /// The content of the type.
    Content,
}

impl Want {
    /// Checks what a region read.
    pub fn check(&self, got: &Read) -> Result<(), Mismatch> {
        if got.kind != self.kind {
            return Err(Mismatch::Kind);
        }
        if got.deadline != self.deadline {
            return Err(Mismatch::Deadline);
        }
        let ok = match self.kind {
            None => true,
            Some(Kind::String) => {
                self.string.matches(got.string.as_deref()) && got.siblings == self.siblings
            }
            Some(Kind::Hash) => {
                got.hash.len() == self.hash.len()
                    && got
                        .hash
                        .iter()
                        .zip(&self.hash)
                        .all(|((gf, gv), (wf, wv))| gf == wf && wv.matches(Some(gv)))
            }
            Some(Kind::Set) => got.set == self.set,
            Some(Kind::ZSet) => {
                got.zset.len() == self.zset.len()
                    && got
                        .zset
                        .iter()
                        .zip(&self.zset)
                        .all(|((gs, gm), (ws, wm))| gm == wm && close(*gs, *ws))
            }
            Some(Kind::List) => got.list == self.list,
        };
        if ok {
            Ok(())
        } else {
            Err(Mismatch::Content)
        }
    }
}

fn show(b: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(b))
}

fn show_dot(d: &Dot) -> String {
    format!("r{}:{}", d.region.0, d.seq)
}

impl fmt::Display for Want {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let content = match self.kind {
            None => "(none)".to_string(),
            Some(Kind::String) => {
                let sib: Vec<String> = self
                    .siblings
                    .iter()
                    .map(|(d, v)| format!("{}={}", show_dot(d), show(v)))
                    .collect();
                format!("{} siblings [{}]", self.string, sib.join(" "))
            }
            Some(Kind::Hash) => {
                let v: Vec<String> = self
                    .hash
                    .iter()
                    .map(|(k, v)| format!("{}: {v}", show(k)))
                    .collect();
                format!("hash {{{}}}", v.join(", "))
            }
            Some(Kind::Set) => {
                let v: Vec<String> = self.set.iter().map(|m| show(m)).collect();
                format!("set {{{}}}", v.join(", "))
            }
            Some(Kind::ZSet) => {
                let v: Vec<String> = self
                    .zset
                    .iter()
                    .map(|(s, m)| format!("{} {s}", show(m)))
                    .collect();
                format!("zset [{}]", v.join(", "))
            }
            Some(Kind::List) => {
                let v: Vec<String> = self.list.iter().map(|m| show(m)).collect();
                format!("list [{}]", v.join(", "))
            }
        };
        write!(f, "{content}, deadline {:?}", self.deadline)
    }
}

impl fmt::Display for Read {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let content = match self.kind {
            None => "(none)".to_string(),
            Some(Kind::String) => {
                let sib: Vec<String> = self
                    .siblings
                    .iter()
                    .map(|(d, v)| format!("{}={}", show_dot(d), show(v)))
                    .collect();
                let s = self.string.as_deref().map_or("(nil)".into(), show);
                format!("{s} siblings [{}]", sib.join(" "))
            }
            Some(Kind::Hash) => {
                let v: Vec<String> = self
                    .hash
                    .iter()
                    .map(|(k, v)| format!("{}: {}", show(k), show(v)))
                    .collect();
                format!("hash {{{}}}", v.join(", "))
            }
            Some(Kind::Set) => {
                let v: Vec<String> = self.set.iter().map(|m| show(m)).collect();
                format!("set {{{}}}", v.join(", "))
            }
            Some(Kind::ZSet) => {
                let v: Vec<String> = self
                    .zset
                    .iter()
                    .map(|(s, m)| format!("{} {s}", show(m)))
                    .collect();
                format!("zset [{}]", v.join(", "))
            }
            Some(Kind::List) => {
                let v: Vec<String> = self.list.iter().map(|m| show(m)).collect();
                format!("list [{}]", v.join(", "))
            }
        };
        write!(f, "{content}, deadline {:?}", self.deadline)
    }
}

/// The write an op carries: an expiry op (`OpBody::Expired`) wraps the
/// write that found the key expired.
fn inner(body: &OpBody) -> &OpBody {
    match body {
        OpBody::Expired { then: Some(t), .. } => t,
        b => b,
    }
}

/// A SET or DEL: removes everything of the key it saw.
fn removes_key(m: &Made) -> bool {
    matches!(inner(&m.op.body), OpBody::Set { .. } | OpBody::Del { .. })
}

/// What an op does to field `f` of a hash, set or sorted set.
fn field_actions<'m>(m: &'m Made, kind: Kind, f: &[u8]) -> Vec<&'m FieldAction> {
    match inner(&m.op.body) {
        OpBody::Fields { kind: k, ops } if *k == kind => ops
            .iter()
            .filter(|o| o.field == f)
            .map(|o| &o.action)
            .collect(),
        _ => Vec::new(),
    }
}

fn rank(m: &Made) -> (Hlc, RegionId) {
    (m.op.hlc, m.op.dot.region)
}

/// Per origin, the highest sequence number some op of a set had seen: a
/// write was seen by one of them iff it is covered.
#[derive(Clone, Debug, Default)]
struct SeenBy(Vec<u64>);

impl SeenBy {
    fn add(&mut self, m: &Made) {
        if self.0.len() < m.past.len() {
            self.0.resize(m.past.len(), 0);
        }
        for (s, p) in self.0.iter_mut().zip(&m.past) {
            *s = (*s).max(*p);
        }
    }

    fn covers(&self, d: Dot) -> bool {
        d.seq <= self.0.get(d.region.index()).copied().unwrap_or(0)
    }
}

/// Which register of a key.
#[derive(Clone, Copy)]
enum Scope<'a> {
    /// The string value and its counter.
    Str,
    /// A field of a hash, or a member of a set or sorted set.
    Field(Kind, &'a [u8]),
}

/// A register as a reader sees it.
struct Register<'a> {
    /// Visible values, greatest (HLC, region) first.
    values: Vec<(&'a Made, &'a Bytes)>,
    /// Visible increments: sums and counts.
    int: i64,
    float: f64,
    n: u64,
    nf: u64,
    /// The newest increment ever made, by (HLC, region).
    counter_last: Option<(Hlc, RegionId)>,
}

impl Register<'_> {
    fn has_content(&self) -> bool {
        !self.values.is_empty() || self.n > 0
    }

    /// The newest visible write, by (HLC, region).
    fn newest(&self) -> Option<(Hlc, RegionId)> {
        let v = self.values.first().map(|(m, _)| rank(m));
        let c = if self.n > 0 { self.counter_last } else { None };
        v.max(c)
    }

    fn winner(&self) -> Option<&Bytes> {
        self.values.first().map(|(_, v)| *v)
    }

    /// The value as GET and HGET read it.
    fn read(&self) -> Expected {
        let base = self.winner();
        if self.n == 0 {
            return Expected::Exact(base.cloned());
        }
        if self.nf == 0 {
            let b = match base {
                None => Some(0),
                Some(b) => parse_i64(b),
            };
            if let Some(b) = b {
                return Expected::Exact(Some(Bytes::from(b.wrapping_add(self.int).to_string())));
            }
        }
        let b = match base {
            None => Some(0.0),
            Some(b) => parse_f64(b),
        };
        match b {
            Some(b) if self.nf == 0 => {
                Expected::Exact(Some(Bytes::from(format_f64(b + self.int as f64))))
            }
            Some(b) => Expected::Float(b + self.int as f64 + self.float),
            // A non-numeric value wins over concurrent increments.
            None => Expected::Exact(base.cloned()),
        }
    }

    /// The value as a score: the winner as a number (0 if none or not a
    /// number) plus the visible increments.
    fn score(&self) -> Option<f64> {
        if !self.has_content() {
            return None;
        }
        let b = self.winner().and_then(|w| parse_f64(w)).unwrap_or(0.0);
        let s = b + self.int as f64 + self.float;
        Some(if s == 0.0 { 0.0 } else { s })
    }
}

/// A RESOLVE, with what it replaces besides what its context covers.
struct Resolved<'a> {
    op: &'a Made,
    context: &'a meridian_core::VersionVector,
    fold: Vec<Dot>,
}

/// One list element, as the history made it.
struct Elem {
    parent: Option<ElemId>,
    dot: Dot,
    value: Bytes,
    /// (HLC, region) of the write of `value` (the insert or an LSET).
    value_rank: (Hlc, RegionId),
}

/// The history of one key, analysed.
struct Model<'a> {
    ops: &'a [&'a Made],
    /// Values written before this are hidden.
    cutoff: Hlc,
    deadline: Option<u64>,
    /// The SETs and DELs of the key.
    key_removers: SeenBy,
    /// The expiry ops, with the floor each had seen (ms).
    expired: Vec<(&'a Made, u64, u64)>,
}

impl<'a> Model<'a> {
    fn new(ops: &'a [&'a Made], now_ms: u64) -> Model<'a> {
        let expired: Vec<(&Made, u64)> = ops
            .iter()
            .filter_map(|m| match &m.op.body {
                OpBody::Expired { at_ms, .. } => Some((*m, *at_ms)),
                _ => None,
            })
            .collect();
        let expired: Vec<(&Made, u64, u64)> = expired
            .iter()
            .map(|(x, at)| {
                let floor = expired
                    .iter()
                    .filter(|(y, _)| x.saw(y.op.dot))
                    .map(|(_, a)| *a)
                    .max()
                    .unwrap_or(0);
                (*x, *at, floor)
            })
            .collect();
        let floor = expired.iter().map(|(_, at, _)| *at).max().unwrap_or(0);
        let mut clears = SeenBy::default();
        let mut key_removers = SeenBy::default();
        for m in ops {
            if matches!(m.op.body, OpBody::Expired { .. })
                || matches!(
                    inner(&m.op.body),
                    OpBody::Set { .. } | OpBody::Del { .. } | OpBody::Expire { .. }
                )
            {
                clears.add(m);
            }
            if removes_key(m) {
                key_removers.add(m);
            }
        }
        let mut persist = false;
        let mut latest: Option<u64> = None;
        for m in ops {
            let at = match inner(&m.op.body) {
                OpBody::Expire { at_ms } => *at_ms,
                OpBody::Set {
                    expire_at_ms: Some(at),
                    ..
                } => Some(*at),
                _ => continue,
            };
            if clears.covers(m.op.dot) {
                continue;
            }
            match at {
                None => persist = true,
                Some(at) => latest = latest.max(Some(at)),
            }
        }
        let deadline = if persist { None } else { latest };
        let passed = deadline.filter(|d| *d <= now_ms).unwrap_or(0);
        Model {
            ops,
            cutoff: Hlc::new(floor.max(passed), 0),
            deadline,
            key_removers,
            expired,
        }
    }

    /// The register of `scope` as a reader sees it.
    fn register(&self, scope: Scope<'_>) -> Register<'a> {
        let mut removers = self.key_removers.clone();
        let mut values: Vec<(&'a Made, &'a Bytes)> = Vec::new();
        let mut resolves: Vec<&'a Made> = Vec::new();
        let mut incrs: Vec<(&'a Made, i64, Option<f64>)> = Vec::new();
        for &m in self.ops {
            match scope {
                Scope::Str => match inner(&m.op.body) {
                    OpBody::Set { value, .. } => values.push((m, value)),
                    OpBody::Resolve { value, .. } => {
                        values.push((m, value));
                        resolves.push(m);
                    }
                    OpBody::IncrInt { by } => incrs.push((m, *by, None)),
                    OpBody::IncrFloat { by } => incrs.push((m, 0, Some(*by))),
                    _ => {}
                },
                Scope::Field(kind, f) => {
                    for a in field_actions(m, kind, f) {
                        match a {
                            FieldAction::Set { value, .. } => {
                                values.push((m, value));
                                removers.add(m);
                            }
                            FieldAction::Del { .. } => removers.add(m),
                            FieldAction::Incr { int, float } => incrs.push((m, *int, *float)),
                        }
                    }
                }
            }
        }
        let folds = self.folds(&values, &resolves);
        let removed_by_resolve = |w: &Made| {
            folds.iter().any(|r| {
                r.op.saw(w.op.dot) && (r.context.covers(w.op.dot) || r.fold.contains(&w.op.dot))
            })
        };
        let mut visible: Vec<(&'a Made, &'a Bytes)> = values
            .iter()
            .filter(|(w, _)| w.op.hlc >= self.cutoff)
            .filter(|(w, _)| !removers.covers(w.op.dot) && !removed_by_resolve(w))
            .copied()
            .collect();
        visible.sort_by_key(|v| std::cmp::Reverse(rank(v.0)));
        let counter_last = incrs.iter().map(|(i, _, _)| rank(i)).max();
        let mut reg = Register {
            values: visible,
            int: 0,
            float: 0.0,
            n: 0,
            nf: 0,
            counter_last,
        };
        if counter_last.is_none_or(|(l, _)| l < self.cutoff) {
            return reg;
        }
        // An expiry op removes the increments it saw of a counter that was
        // hidden where it was made (last incremented before its cutoff).
        let mut incr_removers = removers;
        for &(x, at, floor) in &self.expired {
            let last = incrs
                .iter()
                .filter(|(i, _, _)| x.saw(i.op.dot))
                .map(|(i, _, _)| i.op.hlc)
                .max();
            if last.is_some_and(|l| l < Hlc::new(at.max(floor), 0)) {
                incr_removers.add(x);
            }
        }
        for (i, int, float) in &incrs {
            if incr_removers.covers(i.op.dot) {
                continue;
            }
            reg.int = reg.int.wrapping_add(*int);
            reg.n += 1;
            if let Some(f) = float {
                reg.float += f;
                reg.nf += 1;
            }
        }
        reg
    }

    /// Each RESOLVE with its context (a causal context read with
    /// MERIDIAN.SIBLINGS) and the values its region folded into it: of the
    /// values its region kept and the context does not cover, those past
    /// the `SIBLINGS_MAX - 1` newest. What a region kept is computed from
    /// the writing region's causal past; resolves are taken in HLC order,
    /// which puts every resolve after those it saw.
    fn folds(&self, values: &[(&'a Made, &'a Bytes)], resolves: &[&'a Made]) -> Vec<Resolved<'a>> {
        let mut out: Vec<Resolved<'a>> = Vec::new();
        let mut order: Vec<&'a Made> = resolves.to_vec();
        order.sort_by_key(|m| rank(m));
        for o in order {
            let OpBody::Resolve { context, .. } = inner(&o.op.body) else {
                continue;
            };
            let mut seen_removers = SeenBy::default();
            for m in self.ops {
                if removes_key(m) && o.saw(m.op.dot) {
                    seen_removers.add(m);
                }
            }
            let floor = self
                .expired
                .iter()
                .filter(|(y, _, _)| o.saw(y.op.dot))
                .map(|(_, at, _)| *at)
                .max()
                .unwrap_or(0);
            let mut kept: Vec<(Hlc, RegionId, Dot)> = values
                .iter()
                .map(|(w, _)| *w)
                .filter(|w| o.saw(w.op.dot) && !seen_removers.covers(w.op.dot))
                .filter(|w| w.op.hlc >= Hlc::new(floor, 0))
                .filter(|w| {
                    !out.iter().any(|p| {
                        o.saw(p.op.op.dot)
                            && p.op.saw(w.op.dot)
                            && (p.context.covers(w.op.dot) || p.fold.contains(&w.op.dot))
                    })
                })
                .filter(|w| !context.covers(w.op.dot))
                .map(|w| (w.op.hlc, w.op.dot.region, w.op.dot))
                .collect();
            kept.sort_by(|a, b| b.cmp(a));
            let fold = kept
                .iter()
                .skip(SIBLINGS_MAX - 1)
                .map(|(_, _, d)| *d)
                .collect();
            out.push(Resolved {
                op: o,
                context,
                fold,
            });
        }
        out
    }

    /// Every field of `kind` the history names, in byte order.
    fn fields(&self, kind: Kind) -> BTreeSet<&'a Bytes> {
        let mut out = BTreeSet::new();
        for m in self.ops {
            if let OpBody::Fields { kind: k, ops } = inner(&m.op.body) {
                if *k == kind {
                    out.extend(ops.iter().map(|o| &o.field));
                }
            }
        }
        out
    }

    /// The visible fields of `kind` with their registers.
    fn container(&self, kind: Kind) -> Vec<(&'a Bytes, Register<'a>)> {
        self.fields(kind)
            .into_iter()
            .map(|f| (f, self.register(Scope::Field(kind, f))))
            .filter(|(_, r)| r.has_content())
            .collect()
    }

    /// The visible list, in order, and its newest write.
    fn list(&self) -> (Vec<Bytes>, Option<(Hlc, RegionId)>) {
        let mut elems: BTreeMap<ElemId, Elem> = BTreeMap::new();
        let mut removed: BTreeSet<ElemId> = BTreeSet::new();
        for m in self.ops {
            if let OpBody::List(ListOp::Insert { after, values }) = inner(&m.op.body) {
                let mut parent = *after;
                for (i, v) in values.iter().enumerate() {
                    let id = ElemId {
                        hlc: m.op.hlc,
                        region: m.op.dot.region,
                        idx: i as u32,
                    };
                    elems.insert(
                        id,
                        Elem {
                            parent,
                            dot: m.op.dot,
                            value: v.clone(),
                            value_rank: rank(m),
                        },
                    );
                    parent = Some(id);
                }
            }
        }
        if elems.is_empty() {
            return (Vec::new(), None);
        }
        for m in self.ops {
            match inner(&m.op.body) {
                OpBody::List(ListOp::Remove { ids }) => removed.extend(ids.iter().copied()),
                OpBody::List(ListOp::Set { id, value }) => {
                    if let Some(e) = elems.get_mut(id) {
                        if e.value_rank < rank(m) {
                            e.value = value.clone();
                            e.value_rank = rank(m);
                        }
                    }
                }
                _ => {}
            }
        }
        let visible = |id: &ElemId, e: &Elem| {
            !removed.contains(id) && !self.key_removers.covers(e.dot) && id.hlc >= self.cutoff
        };
        let newest = elems
            .iter()
            .filter(|(id, e)| visible(id, e))
            .map(|(id, e)| (id.hlc.max(e.value_rank.0), id.region))
            .max();
        let mut children: BTreeMap<Option<ElemId>, Vec<ElemId>> = BTreeMap::new();
        for (id, e) in &elems {
            children.entry(e.parent).or_default().push(*id);
        }
        // Depth first, children greatest first: a stack holding them in
        // reverse, so the greatest pops first.
        let mut out = Vec::new();
        let mut stack: Vec<ElemId> = children.get(&None).cloned().unwrap_or_default();
        stack.sort();
        while let Some(id) = stack.pop() {
            if let Some(e) = elems.get(&id) {
                if visible(&id, e) {
                    out.push(e.value.clone());
                }
            }
            if let Some(kids) = children.get(&Some(id)) {
                let mut kids = kids.clone();
                kids.sort();
                stack.extend(kids);
            }
        }
        (out, newest)
    }
}

/// What every region must read of one key after every write in `history`
/// (all writes to it, in any order), at `now_ms`.
pub fn expected(history: &[&Made], now_ms: u64) -> Want {
    let m = Model::new(history, now_ms);
    let string = m.register(Scope::Str);
    let hash = m.container(Kind::Hash);
    let set = m.container(Kind::Set);
    let zset = m.container(Kind::ZSet);
    let (list, list_newest) = m.list();
    let newest = |rs: &[(&Bytes, Register<'_>)]| rs.iter().filter_map(|(_, r)| r.newest()).max();
    let candidates = [
        (
            Kind::String,
            string.has_content().then(|| string.newest()).flatten(),
        ),
        (Kind::Hash, newest(&hash)),
        (Kind::Set, newest(&set)),
        (Kind::ZSet, newest(&zset)),
        (Kind::List, list_newest),
    ];
    // The newest visible write decides; of equals, the later kind in
    // `Kind::ALL` order (as a maximum over that order picks).
    let mut kind: Option<(Kind, (Hlc, RegionId))> = None;
    for (k, n) in candidates {
        if let Some(n) = n {
            if kind.is_none_or(|(_, b)| n >= b) {
                kind = Some((k, n));
            }
        }
    }
    let kind = kind.map(|(k, _)| k);
    let mut want = Want {
        kind,
        deadline: m.deadline,
        string: Expected::Exact(None),
        siblings: Vec::new(),
        hash: Vec::new(),
        set: Vec::new(),
        zset: Vec::new(),
        list: Vec::new(),
    };
    match kind {
        Some(Kind::String) => {
            want.string = string.read();
            want.siblings = string
                .values
                .iter()
                .map(|(w, v)| (w.op.dot, (*v).clone()))
                .collect();
        }
        Some(Kind::Hash) => {
            want.hash = hash.iter().map(|(f, r)| ((*f).clone(), r.read())).collect();
        }
        Some(Kind::Set) => want.set = set.iter().map(|(f, _)| (*f).clone()).collect(),
        Some(Kind::ZSet) => {
            let mut z: Vec<(f64, Bytes)> = zset
                .iter()
                .filter_map(|(f, r)| r.score().map(|s| (s, (*f).clone())))
                .collect();
            z.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
            want.zset = z;
        }
        Some(Kind::List) => want.list = list,
        None => {}
    }
    want
}

#[cfg(test)]
mod tests {
    use super::*;
    use meridian_core::{FieldWrite, Node, RegionId, Regions, VersionVector, Write};

    /// Two nodes, and the history of what they made (with each write's
    /// causal past, as the simulator records it).
    struct Pair {
        nodes: Vec<Node>,
        made: Vec<Made>,
    }

    impl Pair {
        fn new() -> Pair {
            let regions = Regions::new(["eu-west", "us-east"]).unwrap();
            Pair {
                nodes: (0..2)
                    .map(|i| Node::new(regions.clone(), RegionId(i)))
                    .collect(),
                made: Vec::new(),
            }
        }

        fn write(&mut self, r: usize, now: u64, write: Write) {
            let past = self.nodes[r].vv().as_slice().to_vec();
            let op = self.nodes[r].write(now, Bytes::from_static(b"k"), write);
            self.made.push(Made {
                op,
                past,
                acked_ms: None,
            });
        }

        /// Every op reaches every node; both must read what the reference
        /// says.
        fn sync_and_check(&mut self, now: u64) -> Want {
            for m in &self.made {
                for (r, n) in self.nodes.iter_mut().enumerate() {
                    if m.op.dot.region.index() != r {
                        n.receive(now, m.op.clone()).unwrap();
                    }
                }
            }
            let history: Vec<&Made> = self.made.iter().collect();
            let want = expected(&history, now);
            for n in &self.nodes {
                let got = crate::read::read(n, b"k", now);
                assert_eq!(want.check(&got), Ok(()), "want {want}, got {got}");
            }
            want
        }
    }

    /// A region resolving with an empty context keeps every value: past
    /// `SIBLINGS_MAX` it folds the oldest, and the reference folds the
    /// same ones (the default world rarely gets there).
    #[test]
    fn resolve_folds_the_oldest_siblings() {
        let mut p = Pair::new();
        p.write(1, 1_000, set("us"));
        for i in 0..20 {
            let write = Write::Resolve {
                context: VersionVector::new(2),
                value: Bytes::from(format!("v{i}")),
            };
            p.write(0, 1_001 + i, write);
        }
        let want = p.sync_and_check(2_000);
        assert_eq!(want.siblings.len(), SIBLINGS_MAX + 1);
        assert_eq!(want.string, Expected::Exact(Some(Bytes::from("v19"))));
    }

    /// A SET and an SADD made concurrently: the type written last wins, the
    /// other is hidden; a DEL that saw both removes both.
    #[test]
    fn a_type_clash_shows_the_newest_type() {
        let mut p = Pair::new();
        p.write(0, 1_000, set("text"));
        let sadd = Write::Fields {
            kind: Kind::Set,
            writes: vec![(Bytes::from_static(b"m"), FieldWrite::Set(Bytes::new()))],
        };
        p.write(1, 1_001, sadd);
        let want = p.sync_and_check(1_100);
        assert_eq!(want.kind, Some(Kind::Set));
        p.write(0, 1_200, Write::Del);
        assert_eq!(p.sync_and_check(1_300).kind, None);
    }

    fn set(v: &'static str) -> Write {
        Write::Set {
            value: Bytes::from_static(v.as_bytes()),
            expire_at_ms: None,
        }
    }
}
