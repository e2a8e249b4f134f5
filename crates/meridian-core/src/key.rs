//! The state of one key: its content of each type, its expiry, and the rule
//! that picks what readers see.
//!
//! Almost every key is a plain string without expiry; it is kept as
//! [`KeyState::Str`], a bare register, so that SET, GET and INCR touch
//! nothing else. Anything more (another type, an expiry, a floor) moves the
//! key to [`KeyState::Rich`], which holds one part per type.
//!
//! A key holds content of two types only if regions wrote them concurrently
//! (a region writing another type than the one it sees gets WRONGTYPE). The
//! rule, the same everywhere: **the type whose newest visible write has the
//! greatest (HLC, region) is the key's type**; the others are hidden, not
//! deleted. A DEL removes what its origin had seen of every type, so a
//! hidden type comes back only if it was written concurrently with the DEL,
//! as any concurrent write survives a DEL. Every region records the clash in
//! its conflict log when it first applies both.

use crate::conflict::{ConflictLog, Reason, Side};
use crate::counter::Contrib;
use crate::expiry::Expiry;
use crate::fields::{Fields, OpCtx};
use crate::glob::glob_match;
use crate::hlc::Hlc;
use crate::list::{Collected, List};
use crate::op::{FieldAction, FieldCounts, Kind, ListOp, Op, OpBody};
use crate::region::RegionId;
use crate::string::{Entry, StringState};
use crate::vv::{Dot, VersionVector};
use crate::zset::ZSet;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// Where conflicts found while applying go.
pub struct Recorder<'a> {
    pub log: &'a mut ConflictLog,
    /// Glob patterns of keys whose concurrent string values are siblings,
    /// not conflicts.
    pub siblings: &'a [Bytes],
}

impl Recorder<'_> {
    fn is_sibling(&self, key: &[u8]) -> bool {
        self.siblings.iter().any(|p| glob_match(p, key))
    }

    /// Records the last-write-wins outcome between the newest entry of
    /// `entries` (just written) and the best of the others.
    fn lww(&mut self, kind: Kind, key: &[u8], field: Option<&[u8]>, entries: &[Entry]) {
        let Some((new, others)) = entries.split_last() else {
            return;
        };
        let Some(prev) = others.iter().max_by_key(|e| e.rank()) else {
            return;
        };
        let (w, l) = if new.rank() > prev.rank() {
            (new, prev)
        } else {
            (prev, new)
        };
        let side = |e: &Entry| Side::new(kind, &e.value, e.dot.region, e.hlc);
        self.log.record(
            key,
            field,
            side(w),
            side(l),
            Reason::lww(w.rank(), l.rank()),
        );
    }
}

/// The parts of a key beyond a plain string.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Rich {
    pub string: StringState,
    pub hash: Option<Box<Fields>>,
    pub set: Option<Box<Fields>>,
    pub zset: Option<Box<ZSet>>,
    pub list: Option<Box<List>>,
    pub expiry: Expiry,
}

/// The replicated state of one key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum KeyState {
    /// A string (register and counter) without expiry: the common case.
    Str(StringState),
    Rich(Box<Rich>),
}

impl Default for KeyState {
    fn default() -> KeyState {
        KeyState::Str(StringState::default())
    }
}

/// A key as a reader sees it at one moment.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub state: &'a KeyState,
    /// Values written before this are hidden (expiry).
    pub cutoff: Hlc,
    /// The type readers see.
    pub kind: Kind,
}

impl<'a> View<'a> {
    /// The string value (if the key is a string).
    pub fn string(&self) -> Option<Bytes> {
        (self.kind == Kind::String)
            .then(|| self.state.string().read_at(self.cutoff))
            .flatten()
    }
    /// The hash (if the key is one).
    pub fn hash(&self) -> Option<&'a Fields> {
        (self.kind == Kind::Hash).then(|| self.state.part_fields(Kind::Hash))?
    }
    /// The set (if the key is one).
    pub fn set(&self) -> Option<&'a Fields> {
        (self.kind == Kind::Set).then(|| self.state.part_fields(Kind::Set))?
    }
    /// The sorted set (if the key is one).
    pub fn zset(&self) -> Option<&'a ZSet> {
        match (self.kind, self.state) {
            (Kind::ZSet, KeyState::Rich(r)) => r.zset.as_deref(),
            _ => None,
        }
    }
    /// The list (if the key is one).
    pub fn list(&self) -> Option<&'a List> {
        match (self.kind, self.state) {
            (Kind::List, KeyState::Rich(r)) => r.list.as_deref(),
            _ => None,
        }
    }
}

impl KeyState {
    /// The string part.
    pub fn string(&self) -> &StringState {
        match self {
            KeyState::Str(s) => s,
            KeyState::Rich(r) => &r.string,
        }
    }

    /// The last-write-wins winner of the string part (kept for callers that
    /// read keys as strings).
    pub fn winner(&self) -> Option<&Entry> {
        self.string().winner()
    }

    /// The counter of the string part.
    pub fn counter(&self) -> Option<&crate::counter::Counter> {
        self.string().counter()
    }

    /// The key's deadline (see [`crate::expiry`]), if it has one.
    pub fn expire_at_ms(&self) -> Option<u64> {
        self.deadline()
    }

    /// The expiry, if the key has any.
    pub fn expiry(&self) -> Option<&Expiry> {
        match self {
            KeyState::Str(_) => None,
            KeyState::Rich(r) => Some(&r.expiry),
        }
    }

    /// Borrowed parts, for the readers.
    pub fn parts(&self) -> Parts<'_> {
        match self {
            KeyState::Str(s) => Parts::Str(s),
            KeyState::Rich(r) => Parts::Rich(r),
        }
    }

    fn part_fields(&self, kind: Kind) -> Option<&Fields> {
        self.parts().fields(kind)
    }

    /// The key's deadline, if it has one.
    pub fn deadline(&self) -> Option<u64> {
        self.expiry().and_then(|e| e.deadline())
    }

    /// The deadline if it has passed at `now_ms`.
    pub fn passed(&self, now_ms: u64) -> Option<u64> {
        self.expiry().and_then(|e| e.passed(now_ms))
    }

    /// Values written before the returned clock are hidden at `now_ms`.
    pub fn cutoff(&self, now_ms: u64) -> Hlc {
        match self {
            KeyState::Str(_) => Hlc(0),
            KeyState::Rich(r) => r.expiry.cutoff(now_ms),
        }
    }

    /// True if the part of `kind` has content at `cutoff`.
    pub fn has_kind_at(&self, kind: Kind, cutoff: Hlc) -> bool {
        self.parts().has_kind_at(kind, cutoff)
    }

    /// The type a reader sees at `cutoff` (see the module doc for clashes).
    pub fn kind_at(&self, cutoff: Hlc) -> Option<Kind> {
        self.parts().kind_at(cutoff)
    }

    /// The key as a reader sees it at `now_ms`, if it holds anything.
    pub fn view(&self, now_ms: u64) -> Option<View<'_>> {
        let cutoff = self.cutoff(now_ms);
        let kind = self.kind_at(cutoff)?;
        Some(View {
            state: self,
            cutoff,
            kind,
        })
    }

    /// A short description of the content of `kind`, for the conflict log.
    pub fn describe(&self, kind: Kind) -> Vec<u8> {
        self.parts().describe(kind)
    }

    /// Rebuilds what snapshots leave out (counts and indexes derived from
    /// the content), after decoding one.
    pub fn restored(&mut self) {
        if let KeyState::Rich(r) = self {
            for f in [r.hash.as_deref_mut(), r.set.as_deref_mut()]
                .into_iter()
                .flatten()
            {
                f.restored();
            }
            if let Some(z) = r.zset.as_deref_mut() {
                z.restored();
            }
            if let Some(l) = r.list.as_deref_mut() {
                l.restored();
            }
        }
    }

    /// True if the key holds anything a reader can see, ignoring expiry.
    pub fn has_content(&self) -> bool {
        match self {
            KeyState::Str(s) => s.has_content(),
            KeyState::Rich(_) => Kind::ALL.iter().any(|k| self.has_kind_at(*k, Hlc(0))),
        }
    }

    /// True if the state can be dropped without changing any future merge.
    pub fn is_removable(&self) -> bool {
        match self {
            KeyState::Str(s) => s.is_removable(),
            KeyState::Rich(r) => r.string.is_removable() && r.has_no_parts() && r.expiry.is_empty(),
        }
    }

    /// True if all the key keeps is an expiry floor: no content, no
    /// deadline. Such a tombstone is kept until every region has seen the
    /// expiry, and is not part of the digest.
    pub fn is_floor_only(&self) -> bool {
        match self {
            KeyState::Str(_) => false,
            KeyState::Rich(r) => {
                r.string.is_removable()
                    && r.has_no_parts()
                    && r.expiry.deadlines().is_empty()
                    && r.expiry.floor_ms() > 0
            }
        }
    }

    /// The counter totals of every counter in the key, for a write that
    /// removes the key's content: (the string's, the fields').
    pub fn all_counts(&self) -> (Option<Vec<Contrib>>, Vec<FieldCounts>) {
        let mut fields = Vec::new();
        if let KeyState::Rich(r) = self {
            if let Some(h) = &r.hash {
                h.counts(Kind::Hash, &mut fields);
            }
            if let Some(z) = &r.zset {
                z.fields().counts(Kind::ZSet, &mut fields);
            }
        }
        (self.string().counts(), fields)
    }

    /// The counter totals of counters hidden at `cutoff`, for an expiry.
    pub fn hidden_counts(&self, cutoff: Hlc) -> (Option<Vec<Contrib>>, Vec<FieldCounts>) {
        let mut fields = Vec::new();
        if let KeyState::Rich(r) = self {
            if let Some(h) = &r.hash {
                h.hidden_counts(Kind::Hash, cutoff, &mut fields);
            }
            if let Some(z) = &r.zset {
                z.fields().hidden_counts(Kind::ZSet, cutoff, &mut fields);
            }
        }
        (self.string().hidden_counts(cutoff), fields)
    }

    /// The counter totals of one field of a hash or sorted set.
    pub fn field_counts(&self, kind: Kind, field: &[u8]) -> Option<Vec<Contrib>> {
        self.part_fields(kind).and_then(|f| f.field_counts(field))
    }

    /// Applies one op (in causal order; the keyspace ensures it).
    pub fn apply(&mut self, op: &Op, regions: usize, rec: &mut Recorder<'_>) {
        if let KeyState::Str(s) = self {
            // The hot path: string writes to a string without expiry.
            match &op.body {
                OpBody::Set {
                    value,
                    expire_at_ms: None,
                    counts,
                    ..
                } => {
                    let a = s.apply_set(op.dot, op.hlc, &op.deps, value.clone(), counts.as_deref());
                    if a.conflict && !rec.is_sibling(&op.key) {
                        rec.lww(Kind::String, &op.key, None, s.entries());
                    }
                    return;
                }
                OpBody::IncrInt { by } => {
                    s.apply_incr(op.dot.region, regions, op.hlc, *by, None);
                    return;
                }
                OpBody::IncrFloat { by } => {
                    s.apply_incr(op.dot.region, regions, op.hlc, 0, Some(*by));
                    return;
                }
                OpBody::Del { counts, .. } => {
                    s.remove_covered(&op.deps, counts.as_deref());
                    return;
                }
                _ => {}
            }
            let s = std::mem::take(s);
            *self = KeyState::Rich(Box::new(Rich {
                string: s,
                ..Rich::default()
            }));
        }
        let KeyState::Rich(r) = self else {
            unreachable!("promoted above")
        };
        let before = r.adds_clash(&op.body);
        r.apply_body(op, &op.body, regions, rec);
        if let Some((kind, before)) = before {
            r.record_clash(op, kind, &before, rec);
        }
        self.demote();
    }

    /// True if all the key keeps is what regions drop at different times
    /// (an expiry floor, see [`KeyState::is_floor_only`], and list
    /// tombstones, see [`crate::list`]) and nothing a reader or a later op
    /// can tell from no state at all. Such keys are not part of the digest.
    pub fn is_collectable(&self) -> bool {
        match self {
            KeyState::Str(s) => s.is_removable(),
            KeyState::Rich(r) => {
                r.is_bare() && r.string.is_removable() && r.expiry.deadlines().is_empty()
            }
        }
    }

    /// Back to the plain form once a rich key keeps only a string (no other
    /// part, no expiry), after an op or a collection emptied the rest.
    fn demote(&mut self) {
        if let KeyState::Rich(r) = self {
            if r.has_no_parts() && r.expiry.is_empty() {
                *self = KeyState::Str(std::mem::take(&mut r.string));
            }
        }
    }

    /// Collects list tombstones (see [`List::collect`]), then drops what
    /// keeps nothing: an emptied list part, and the rich form if only a
    /// string is left (as applying an op does).
    pub fn collect_list(
        &mut self,
        cursor: usize,
        max: usize,
        stable: &impl Fn(Dot) -> bool,
    ) -> Collected {
        let KeyState::Rich(r) = self else {
            return Collected::default();
        };
        let Some(l) = r.list.as_mut() else {
            return Collected::default();
        };
        let done = l.collect(cursor, max, stable);
        r.prune();
        self.demote();
        done
    }

    /// Number of list tombstones the key keeps.
    pub fn list_tombstones(&self) -> usize {
        match self {
            KeyState::Rich(r) => r.list.as_ref().map_or(0, |l| l.tombstones()),
            KeyState::Str(_) => 0,
        }
    }

    /// Feeds a canonical encoding to `out` (for digests). A list holding
    /// only tombstones is encoded as no list (and a key left with only a
    /// string that way as a plain string), as it is once they are
    /// collected.
    pub fn canonical(&self, out: &mut Vec<u8>) {
        match self {
            KeyState::Str(s) => {
                out.push(0);
                s.canonical(out);
            }
            // A key whose expiry keeps only a floor encodes as a plain
            // string too (see `Expiry::canonical`).
            KeyState::Rich(r) if r.is_bare() && r.expiry.deadlines().is_empty() => {
                out.push(0);
                r.string.canonical(out);
            }
            KeyState::Rich(r) => {
                out.push(1);
                r.string.canonical(out);
                for part in [&r.hash, &r.set] {
                    match part {
                        Some(f) => {
                            out.push(1);
                            f.canonical(out);
                        }
                        None => out.push(0),
                    }
                }
                match &r.zset {
                    Some(z) => {
                        out.push(1);
                        z.fields().canonical(out);
                    }
                    None => out.push(0),
                }
                match r.live_list() {
                    Some(l) => {
                        out.push(1);
                        l.canonical(out);
                    }
                    None => out.push(0),
                }
                r.expiry.canonical(out);
            }
        }
    }
}

impl Rich {
    fn as_state(&self) -> Parts<'_> {
        Parts::Rich(self)
    }

    /// The list part if it holds an element not removed.
    fn live_list(&self) -> Option<&List> {
        self.list.as_deref().filter(|l| l.live() > 0)
    }

    /// True if no part but the string and the expiry holds anything once
    /// list tombstones are collected.
    /// No hash, set, sorted-set or list part at all (tombstones included).
    fn has_no_parts(&self) -> bool {
        self.hash.is_none() && self.set.is_none() && self.zset.is_none() && self.list.is_none()
    }

    fn is_bare(&self) -> bool {
        self.hash.is_none()
            && self.set.is_none()
            && self.zset.is_none()
            && self.live_list().is_none()
    }

    /// If `body` adds a kind, that kind and the kinds present before it.
    fn adds_clash(&self, body: &OpBody) -> Option<(Kind, Vec<Kind>)> {
        let kind = body.adds()?;
        let before = self.as_state().kinds_present();
        (!before.is_empty() && !before.contains(&kind)).then_some((kind, before))
    }

    /// Records a type clash if the op left two kinds where there was one.
    fn record_clash(&self, op: &Op, kind: Kind, before: &[Kind], rec: &mut Recorder<'_>) {
        let st = self.as_state();
        if !st.has_kind_at(kind, Hlc(0)) {
            return;
        }
        let Some(other) = before
            .iter()
            .copied()
            .filter(|k| st.has_kind_at(*k, Hlc(0)))
            .max_by_key(|k| st.newest(*k, Hlc(0)))
        else {
            return;
        };
        let winner = st.kind_at(Hlc(0)).unwrap_or(kind);
        let loser = if winner == kind { other } else { kind };
        let side = |k: Kind| {
            let (hlc, region) = st.newest(k, Hlc(0)).unwrap_or_default();
            Side::new(k, &st.describe(k), region, hlc)
        };
        rec.log
            .record(&op.key, None, side(winner), side(loser), Reason::TypeClash);
    }

    fn fields_mut(&mut self, kind: Kind) -> &mut Fields {
        let part = match kind {
            Kind::Hash => &mut self.hash,
            Kind::Set => &mut self.set,
            _ => unreachable!("zset and list have their own parts"),
        };
        part.get_or_insert_with(Default::default)
    }

    /// Removes what a remover with causal context `deps` had seen from every
    /// part but the string (whose writer handles it).
    fn remove_covered_parts(&mut self, dot: Dot, deps: &VersionVector, fields: &[FieldCounts]) {
        if let Some(h) = &mut self.hash {
            h.remove_covered(Kind::Hash, deps, fields);
        }
        if let Some(s) = &mut self.set {
            s.remove_covered(Kind::Set, deps, fields);
        }
        if let Some(z) = &mut self.zset {
            z.remove_covered(deps, fields);
        }
        if let Some(l) = &mut self.list {
            l.remove_covered(deps, dot);
        }
    }

    /// Drops everything written before the floor, and the counter totals
    /// given.
    fn expire_parts(&mut self, counts: Option<&[Contrib]>, fields: &[FieldCounts]) {
        let floor = self.expiry.floor();
        self.string.drop_below(floor);
        if let Some(c) = counts {
            self.string.remove_counts(c);
        }
        if let Some(h) = &mut self.hash {
            h.expire(Kind::Hash, floor, fields);
        }
        if let Some(s) = &mut self.set {
            s.expire(Kind::Set, floor, fields);
        }
        if let Some(z) = &mut self.zset {
            z.expire(floor, fields);
        }
        if let Some(l) = &mut self.list {
            // A floor always has the op that set it; were it missing, the
            // elements would be removed for good, never collected.
            let never = Dot::new(RegionId(u16::MAX), u64::MAX);
            l.expire(floor, self.expiry.floor_dot().unwrap_or(never));
        }
    }

    fn apply_body(&mut self, op: &Op, body: &OpBody, regions: usize, rec: &mut Recorder<'_>) {
        let deps = &op.deps;
        match body {
            OpBody::Set {
                value,
                expire_at_ms,
                counts,
                fields,
            } => {
                self.remove_covered_parts(op.dot, deps, fields);
                self.expiry
                    .apply(op.dot, op.hlc, deps, expire_at_ms.map(Some));
                let a =
                    self.string
                        .apply_set(op.dot, op.hlc, deps, value.clone(), counts.as_deref());
                if a.conflict && !rec.is_sibling(&op.key) {
                    rec.lww(Kind::String, &op.key, None, self.string.entries());
                }
            }
            OpBody::Del { counts, fields } => {
                self.string.remove_covered(deps, counts.as_deref());
                self.remove_covered_parts(op.dot, deps, fields);
                self.expiry.remove_covered(deps);
            }
            OpBody::IncrInt { by } => {
                self.string
                    .apply_incr(op.dot.region, regions, op.hlc, *by, None);
            }
            OpBody::IncrFloat { by } => {
                self.string
                    .apply_incr(op.dot.region, regions, op.hlc, 0, Some(*by));
            }
            OpBody::Fields { kind, ops } => {
                let cx = OpCtx {
                    dot: op.dot,
                    hlc: op.hlc,
                    deps,
                    regions,
                };
                for f in ops {
                    let entries = if *kind == Kind::ZSet {
                        let z = self.zset.get_or_insert_with(Default::default);
                        z.apply(f, cx)
                            .conflict
                            .then(|| z.fields().get(&f.field).map(|s| s.entries().to_vec()))
                    } else {
                        let part = self.fields_mut(*kind);
                        part.apply(f, cx)
                            .conflict
                            .then(|| part.get(&f.field).map(|s| s.entries().to_vec()))
                    };
                    // Set members have empty values: concurrent SADDs of one
                    // member lose nothing.
                    if let (Some(Some(entries)), true, FieldAction::Set { .. }) =
                        (entries, *kind != Kind::Set, &f.action)
                    {
                        rec.lww(*kind, &op.key, Some(&f.field), &entries);
                    }
                }
            }
            OpBody::Expire { at_ms } => {
                self.expiry.apply(op.dot, op.hlc, deps, Some(*at_ms));
            }
            OpBody::List(l) => self.apply_list(op, l, rec),
            OpBody::Resolve {
                value,
                context,
                fold,
            } => {
                for e in self.string.entries() {
                    if fold.contains(&e.dot) {
                        rec.log.record(
                            &op.key,
                            None,
                            Side::new(Kind::String, value, op.dot.region, op.hlc),
                            Side::new(Kind::String, &e.value, e.dot.region, e.hlc),
                            Reason::SiblingFold,
                        );
                    }
                }
                self.string
                    .apply_resolve(op.dot, op.hlc, context, deps, fold, value.clone());
            }
            OpBody::Expired {
                at_ms,
                counts,
                fields,
                then,
            } => {
                self.expiry.remove_covered(deps);
                self.expiry.raise_floor(*at_ms, op.dot);
                self.expire_parts(counts.as_deref(), fields);
                if let Some(then) = then {
                    self.apply_body(op, then, regions, rec);
                }
            }
        }
        // A write concurrent with an expiry may arrive after it, carrying
        // values older than the floor: they are gone as if they had arrived
        // first.
        if op.hlc < self.expiry.floor() {
            self.expire_parts(None, &[]);
        }
        self.prune();
    }

    fn apply_list(&mut self, op: &Op, l: &ListOp, rec: &mut Recorder<'_>) {
        let list = self.list.get_or_insert_with(Default::default);
        match l {
            ListOp::Insert { after, values } => list.insert(*after, values, op.dot, op.hlc),
            ListOp::Remove { ids } => list.remove(ids, op.dot),
            ListOp::Set { id, value } => {
                if let Some(o) = list.set(*id, value, op.dot, op.hlc, &op.deps) {
                    let side = |(v, d, h): &(Bytes, crate::vv::Dot, Hlc)| {
                        Side::new(Kind::List, v, d.region, *h)
                    };
                    rec.log.record(
                        &op.key,
                        None,
                        side(&o.winner),
                        side(&o.loser),
                        Reason::lww(
                            (o.winner.2, o.winner.1.region),
                            (o.loser.2, o.loser.1.region),
                        ),
                    );
                }
            }
        }
    }

    /// Drops parts that keep nothing.
    fn prune(&mut self) {
        if self.hash.as_ref().is_some_and(|f| f.is_empty()) {
            self.hash = None;
        }
        if self.set.as_ref().is_some_and(|f| f.is_empty()) {
            self.set = None;
        }
        if self.zset.as_ref().is_some_and(|z| z.fields().is_empty()) {
            self.zset = None;
        }
        if self.list.as_ref().is_some_and(|l| l.elems().is_empty()) {
            self.list = None;
        }
    }
}

/// A key's parts, borrowed: what every reader works on.
#[derive(Clone, Copy)]
pub enum Parts<'a> {
    Str(&'a StringState),
    Rich(&'a Rich),
}

impl<'a> Parts<'a> {
    fn string(self) -> &'a StringState {
        match self {
            Parts::Str(s) => s,
            Parts::Rich(r) => &r.string,
        }
    }

    fn list(self) -> Option<&'a List> {
        match self {
            Parts::Str(_) => None,
            Parts::Rich(r) => r.list.as_deref(),
        }
    }

    /// The fields of the hash, set or sorted set part.
    pub fn fields(self, kind: Kind) -> Option<&'a Fields> {
        let Parts::Rich(r) = self else {
            return None;
        };
        match kind {
            Kind::Hash => r.hash.as_deref(),
            Kind::Set => r.set.as_deref(),
            Kind::ZSet => r.zset.as_deref().map(|z| z.fields()),
            _ => None,
        }
    }

    /// True if the part of `kind` has content at `cutoff`.
    pub fn has_kind_at(self, kind: Kind, cutoff: Hlc) -> bool {
        match kind {
            Kind::String => self.string().has_content_at(cutoff),
            Kind::List => self.list().is_some_and(|l| l.len_at(cutoff) > 0),
            k => self.fields(k).is_some_and(|f| f.len_at(cutoff) > 0),
        }
    }

    /// The newest write of `kind` visible at `cutoff`, by (HLC, region).
    fn newest(self, kind: Kind, cutoff: Hlc) -> Option<(Hlc, RegionId)> {
        match kind {
            Kind::String => self.string().newest(cutoff),
            Kind::List => self.list().and_then(|l| l.newest(cutoff)),
            k => self.fields(k).and_then(|f| f.newest(cutoff)),
        }
    }

    /// The type a reader sees at `cutoff`.
    fn kind_at(self, cutoff: Hlc) -> Option<Kind> {
        if let Parts::Str(s) = self {
            return s.has_content_at(cutoff).then_some(Kind::String);
        }
        let present: Vec<Kind> = Kind::ALL
            .into_iter()
            .filter(|k| self.has_kind_at(*k, cutoff))
            .collect();
        match present.as_slice() {
            [] => None,
            [one] => Some(*one),
            many => many.iter().copied().max_by_key(|k| self.newest(*k, cutoff)),
        }
    }

    /// Kinds with content, ignoring expiry.
    fn kinds_present(self) -> Vec<Kind> {
        Kind::ALL
            .into_iter()
            .filter(|k| self.has_kind_at(*k, Hlc(0)))
            .collect()
    }

    fn describe(self, kind: Kind) -> Vec<u8> {
        match kind {
            Kind::String => self.string().read().map(|b| b.to_vec()).unwrap_or_default(),
            Kind::List => {
                let n = self.list().map_or(0, |l| l.live());
                format!("list of {n} elements").into_bytes()
            }
            k => {
                let n = self.fields(k).map_or(0, |f| f.live());
                let what = if k == Kind::Hash { "fields" } else { "members" };
                format!("{} of {n} {what}", k.name()).into_bytes()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain string key must stay as small as the register alone: the
    /// keyspace holds one per key (see docs/benchmarks.md, memory per key).
    #[test]
    fn a_string_key_is_no_bigger_than_its_register() {
        assert_eq!(
            std::mem::size_of::<KeyState>(),
            std::mem::size_of::<StringState>()
        );
    }
}
