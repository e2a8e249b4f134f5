//! Property tests for every data type: three replicas make random writes and
//! receive each other's ops in random orders, with duplicates; once every op
//! has reached every replica they must hold byte-identical state, and that
//! state must match a reference model computed from the history of ops
//! alone (their dots, clocks and causal contexts), independently of the
//! core's data structures:
//!
//! - set: a member is in the set iff some add of it was observed by no
//!   remove (SREM of it, or DEL of the key);
//! - hash and sorted set: a field's value is the last-write-wins winner
//!   among the writes no later write, remove or DEL had seen, plus every
//!   increment none of them had seen;
//! - list: the order of an RGA built from the inserts (children of an
//!   element ordered by id, greatest first), without the removed elements;
//! - expiry: the deadline is "never" if some PERSIST survives, else the
//!   latest surviving deadline, where a deadline survives unless a later
//!   expiry write, SET or DEL had seen it;
//! - any mix of types on one key: every replica agrees on its type.

mod common;

use bytes::Bytes;
use common::{body, reference_list};
use meridian_core::key::KeyState;
use meridian_core::list::ElemId;
use meridian_core::op::{FieldAction, Kind};
use meridian_core::zset::score_text;
use meridian_core::{FieldWrite, Node, Op, OpBody, Regions, Write};
use proptest::prelude::*;
use std::collections::BTreeSet;

const REGIONS: [&str; 3] = ["ap-southeast", "eu-west", "us-east"];
const KEYS: usize = 2;
const FIELDS: usize = 3;
const START_MS: u64 = 1_700_000_000_000;

fn key(k: usize) -> Bytes {
    Bytes::from(format!("k{k}"))
}

fn field(f: usize) -> Bytes {
    Bytes::from(format!("f{f}"))
}

/// What a region does in one step; turned into a `Write` against the
/// region's current view, as the command layer would.
#[derive(Clone, Debug)]
enum Intent {
    SAdd(usize),
    SRem(usize),
    HSet(usize, u8),
    HDel(usize),
    HIncr(usize, i8),
    ZAdd(usize, i8),
    ZIncr(usize, i8),
    ZRem(usize),
    LPush(u8, u8),
    RPush(u8),
    Pop { left: bool, n: u8 },
    LInsert { nth: u8, v: u8 },
    LSet { nth: u8, v: u8 },
    Del,
    Expire(u16),
    Persist,
    SetEx(u8, Option<u16>),
}

#[derive(Clone, Debug)]
enum Step {
    Write {
        r: usize,
        k: usize,
        i: Intent,
        dt: u8,
    },
    Deliver {
        from: usize,
        to: usize,
        nth: usize,
    },
}

fn steps(intent: BoxedStrategy<Intent>) -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        3 => (0..3usize, 0..KEYS, intent, any::<u8>())
            .prop_map(|(r, k, i, dt)| Step::Write { r, k, i, dt }),
        2 => (0..3usize, 0..3usize, any::<usize>())
            .prop_map(|(from, to, nth)| Step::Deliver { from, to, nth }),
    ];
    prop::collection::vec(step, 1..70)
}

struct World {
    nodes: Vec<Node>,
    made: Vec<Vec<Op>>,
    now: u64,
}

impl World {
    fn new() -> World {
        let regions = Regions::new(REGIONS).unwrap();
        World {
            nodes: regions
                .ids()
                .map(|id| Node::new(regions.clone(), id))
                .collect(),
            made: vec![Vec::new(); 3],
            now: START_MS,
        }
    }

    fn run(&mut self, steps: &[Step], time_step_ms: u64) {
        for s in steps {
            match s {
                Step::Write { r, k, i, dt } => {
                    self.now += *dt as u64 % 4 * time_step_ms;
                    let Some(w) = plan(&self.nodes[*r], &key(*k), i, self.now) else {
                        continue;
                    };
                    let op = self.nodes[*r].write(self.now, key(*k), w);
                    self.made[*r].push(op);
                }
                Step::Deliver { from, to, nth } => {
                    if from == to || self.made[*from].is_empty() {
                        continue;
                    }
                    let op = self.made[*from][nth % self.made[*from].len()].clone();
                    self.nodes[*to].receive(self.now, op).unwrap();
                }
            }
        }
    }

    /// Delivers everything to everyone, permuted by `order`, twice.
    fn flood(&mut self, order: &[usize]) {
        for round in 0..2 {
            for to in 0..3 {
                let mut all: Vec<Op> = (0..3)
                    .filter(|f| *f != to)
                    .flat_map(|f| self.made[f].clone())
                    .collect();
                for (i, o) in order.iter().enumerate() {
                    let n = all.len();
                    if n > 1 {
                        all.swap(i % n, o % n);
                    }
                }
                if round == 1 {
                    all.reverse();
                }
                for op in all {
                    self.nodes[to].receive(self.now, op).unwrap();
                }
            }
        }
    }

    fn ops(&self, k: usize) -> Vec<&Op> {
        self.made
            .iter()
            .flatten()
            .filter(|o| o.key == key(k))
            .collect()
    }

    fn check_converged(&self) -> Result<(), TestCaseError> {
        let d = self.nodes[0].digest();
        for n in &self.nodes {
            prop_assert_eq!(n.pending(), 0);
            prop_assert_eq!(n.vv(), self.nodes[0].vv());
            prop_assert_eq!(n.digest(), d.clone());
        }
        for k in 0..KEYS {
            let kinds: Vec<Option<Kind>> = self
                .nodes
                .iter()
                .map(|n| n.view(&key(k), self.now).map(|v| v.kind))
                .collect();
            prop_assert!(kinds.iter().all(|x| *x == kinds[0]), "{kinds:?}");
        }
        Ok(())
    }
}

/// The visible list elements of `key` at `node`, with ids.
fn list_view(node: &Node, key: &[u8], now: u64) -> Vec<(ElemId, Bytes)> {
    node.view(key, now)
        .and_then(|v| v.list().map(|l| (l, v.cutoff)))
        .map(|(l, c)| l.visible_at(c).map(|e| (e.id, e.value.clone())).collect())
        .unwrap_or_default()
}

/// Turns an intent into a write against `node`'s view (`None`: the command
/// would not write, e.g. a type mismatch or nothing to pop).
fn plan(node: &Node, k: &Bytes, i: &Intent, now: u64) -> Option<Write> {
    let kind = node.view(k, now).map(|v| v.kind);
    let fits = |want: Kind| kind.is_none() || kind == Some(want);
    let fields = |kind: Kind, f: usize, w: FieldWrite| Write::Fields {
        kind,
        writes: vec![(field(f), w)],
    };
    Some(match i {
        Intent::SAdd(m) if fits(Kind::Set) => fields(Kind::Set, *m, FieldWrite::Set(Bytes::new())),
        Intent::SRem(m) if kind == Some(Kind::Set) => fields(Kind::Set, *m, FieldWrite::Del),
        Intent::HSet(f, v) if fits(Kind::Hash) => {
            fields(Kind::Hash, *f, FieldWrite::Set(Bytes::from(v.to_string())))
        }
        Intent::HDel(f) if kind == Some(Kind::Hash) => fields(Kind::Hash, *f, FieldWrite::Del),
        Intent::HIncr(f, by) if fits(Kind::Hash) => {
            fields(Kind::Hash, *f, FieldWrite::IncrBy(*by as i64))
        }
        Intent::ZAdd(m, s) if fits(Kind::ZSet) => {
            fields(Kind::ZSet, *m, FieldWrite::Set(score_text(*s as f64)))
        }
        Intent::ZIncr(m, by) if fits(Kind::ZSet) => {
            fields(Kind::ZSet, *m, FieldWrite::IncrByFloat(*by as f64))
        }
        Intent::ZRem(m) if kind == Some(Kind::ZSet) => fields(Kind::ZSet, *m, FieldWrite::Del),
        Intent::LPush(a, b) if fits(Kind::List) => Write::ListInsert {
            after: None,
            values: vec![Bytes::from(format!("{b}")), Bytes::from(format!("{a}"))],
        },
        Intent::RPush(v) if fits(Kind::List) => Write::ListInsert {
            after: list_view(node, k, now).last().map(|(id, _)| *id),
            values: vec![Bytes::from(v.to_string())],
        },
        Intent::Pop { left, n } if kind == Some(Kind::List) => {
            let v = list_view(node, k, now);
            let n = (*n as usize % 3) + 1;
            let ids: Vec<ElemId> = if *left {
                v.iter().take(n).map(|(id, _)| *id).collect()
            } else {
                v.iter().rev().take(n).map(|(id, _)| *id).collect()
            };
            Write::ListRemove { ids }
        }
        Intent::LInsert { nth, v } if kind == Some(Kind::List) => {
            let l = list_view(node, k, now);
            Write::ListInsert {
                after: Some(l[*nth as usize % l.len()].0),
                values: vec![Bytes::from(format!("i{v}"))],
            }
        }
        Intent::LSet { nth, v } if kind == Some(Kind::List) => {
            let l = list_view(node, k, now);
            Write::ListSet {
                id: l[*nth as usize % l.len()].0,
                value: Bytes::from(format!("s{v}")),
            }
        }
        Intent::Del if kind.is_some() => Write::Del,
        Intent::Expire(ms) if kind.is_some() => Write::Expire {
            at_ms: Some(now + 1 + *ms as u64),
        },
        Intent::Persist if kind.is_some() => Write::Expire { at_ms: None },
        Intent::SetEx(v, ms) => Write::Set {
            value: Bytes::from(v.to_string()),
            expire_at_ms: ms.map(|ms| now + 1 + ms as u64),
        },
        _ => return None,
    })
}

fn field_actions<'a>(op: &'a Op, kind: Kind, f: &[u8]) -> Vec<&'a FieldAction> {
    match body(op) {
        OpBody::Fields { kind: k, ops } if *k == kind => ops
            .iter()
            .filter(|o| o.field == f)
            .map(|o| &o.action)
            .collect(),
        _ => Vec::new(),
    }
}

/// True if `remover` removes, for field `f` of `kind`, what it had seen.
fn removes_field(remover: &Op, kind: Kind, f: &[u8]) -> bool {
    matches!(body(remover), OpBody::Del { .. } | OpBody::Set { .. })
        || field_actions(remover, kind, f)
            .iter()
            .any(|a| matches!(a, FieldAction::Set { .. } | FieldAction::Del { .. }))
}

/// The reference value of a field: (surviving LWW winner, sum of surviving
/// increments, any survivor).
fn reference_field(ops: &[&Op], kind: Kind, f: &[u8]) -> Option<(Option<Bytes>, f64)> {
    let removed = |w: &Op| {
        ops.iter()
            .any(|o| o.dot != w.dot && removes_field(o, kind, f) && o.deps.covers(w.dot))
    };
    let mut winner: Option<(&Op, Bytes)> = None;
    let mut sum = 0.0;
    let mut any = false;
    for w in ops {
        for a in field_actions(w, kind, f) {
            if removed(w) {
                continue;
            }
            match a {
                FieldAction::Set { value, .. } => {
                    any = true;
                    if winner
                        .as_ref()
                        .is_none_or(|(b, _)| (b.hlc, b.dot.region) < (w.hlc, w.dot.region))
                    {
                        winner = Some((w, value.clone()));
                    }
                }
                FieldAction::Incr { int, float } => {
                    any = true;
                    sum += *int as f64 + float.unwrap_or(0.0);
                }
                FieldAction::Del { .. } => {}
            }
        }
    }
    any.then(|| (winner.map(|(_, v)| v), sum))
}

fn intents_sets() -> BoxedStrategy<Intent> {
    prop_oneof![
        4 => (0..FIELDS).prop_map(Intent::SAdd),
        3 => (0..FIELDS).prop_map(Intent::SRem),
        1 => Just(Intent::Del),
    ]
    .boxed()
}

fn intents_hashes() -> BoxedStrategy<Intent> {
    prop_oneof![
        3 => (0..FIELDS, any::<u8>()).prop_map(|(f, v)| Intent::HSet(f, v)),
        2 => (0..FIELDS).prop_map(Intent::HDel),
        3 => (0..FIELDS, any::<i8>()).prop_map(|(f, b)| Intent::HIncr(f, b)),
        1 => Just(Intent::Del),
    ]
    .boxed()
}

fn intents_zsets() -> BoxedStrategy<Intent> {
    prop_oneof![
        3 => (0..FIELDS, any::<i8>()).prop_map(|(f, s)| Intent::ZAdd(f, s)),
        3 => (0..FIELDS, any::<i8>()).prop_map(|(f, b)| Intent::ZIncr(f, b)),
        2 => (0..FIELDS).prop_map(Intent::ZRem),
        1 => Just(Intent::Del),
    ]
    .boxed()
}

fn intents_lists() -> BoxedStrategy<Intent> {
    prop_oneof![
        3 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Intent::LPush(a, b)),
        3 => any::<u8>().prop_map(Intent::RPush),
        2 => (any::<bool>(), any::<u8>()).prop_map(|(left, n)| Intent::Pop { left, n }),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(nth, v)| Intent::LInsert { nth, v }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(nth, v)| Intent::LSet { nth, v }),
        1 => Just(Intent::Del),
    ]
    .boxed()
}

fn intents_expiry() -> BoxedStrategy<Intent> {
    prop_oneof![
        3 => (any::<u8>(), prop::option::of(0..400u16)).prop_map(|(v, t)| Intent::SetEx(v, t)),
        3 => (0..400u16).prop_map(Intent::Expire),
        2 => Just(Intent::Persist),
        1 => (0..FIELDS, any::<u8>()).prop_map(|(f, v)| Intent::HSet(f, v)),
        1 => Just(Intent::Del),
    ]
    .boxed()
}

fn intents_mixed() -> BoxedStrategy<Intent> {
    prop_oneof![
        Just(Intent::SAdd(0)),
        Just(Intent::HSet(0, 1)),
        Just(Intent::ZAdd(0, 1)),
        any::<u8>().prop_map(Intent::RPush),
        Just(Intent::SetEx(7, None)),
        Just(Intent::Del),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn sets_are_add_wins(steps in steps(intents_sets()),
                         order in prop::collection::vec(any::<usize>(), 0..40)) {
        let mut w = World::new();
        w.run(&steps, 1);
        w.flood(&order);
        w.check_converged()?;
        for k in 0..KEYS {
            let ops = w.ops(k);
            let want: BTreeSet<Bytes> = (0..FIELDS)
                .map(field)
                .filter(|f| reference_field(&ops, Kind::Set, f).is_some())
                .collect();
            for n in &w.nodes {
                let got: BTreeSet<Bytes> = n
                    .view(&key(k), w.now)
                    .and_then(|v| v.set().map(|s| s.iter_at(v.cutoff).map(|(m, _)| m.clone()).collect()))
                    .unwrap_or_default();
                prop_assert_eq!(&got, &want);
            }
        }
    }

    #[test]
    fn hashes_merge_per_field(steps in steps(intents_hashes()),
                              order in prop::collection::vec(any::<usize>(), 0..40)) {
        let mut w = World::new();
        w.run(&steps, 1);
        w.flood(&order);
        w.check_converged()?;
        for k in 0..KEYS {
            let ops = w.ops(k);
            for f in (0..FIELDS).map(field) {
                let want = reference_field(&ops, Kind::Hash, &f).map(|(base, sum)| {
                    let b: i64 = base.map_or(0, |b| std::str::from_utf8(&b).unwrap().parse().unwrap());
                    (b + sum as i64).to_string()
                });
                for n in &w.nodes {
                    let got = n
                        .view(&key(k), w.now)
                        .and_then(|v| v.hash().and_then(|h| h.read_at(&f, v.cutoff)))
                        .map(|b| String::from_utf8(b.to_vec()).unwrap());
                    prop_assert_eq!(&got, &want, "field {:?}", f);
                }
            }
        }
    }

    #[test]
    fn zsets_merge_per_member(steps in steps(intents_zsets()),
                              order in prop::collection::vec(any::<usize>(), 0..40)) {
        let mut w = World::new();
        w.run(&steps, 1);
        w.flood(&order);
        w.check_converged()?;
        for k in 0..KEYS {
            let ops = w.ops(k);
            let mut want: Vec<(i64, Bytes)> = (0..FIELDS)
                .map(field)
                .filter_map(|m| {
                    reference_field(&ops, Kind::ZSet, &m).map(|(base, sum)| {
                        let b: f64 = base.map_or(0.0, |b| std::str::from_utf8(&b).unwrap().parse().unwrap());
                        ((b + sum) as i64, m)
                    })
                })
                .collect();
            want.sort();
            for n in &w.nodes {
                let got: Vec<(i64, Bytes)> = n
                    .view(&key(k), w.now)
                    .and_then(|v| v.zset().map(|z| {
                        prop_assert!(z.index_consistent());
                        Ok(z.index().iter().map(|(s, m)| (s.0 as i64, m.clone())).collect())
                    }))
                    .transpose()?
                    .unwrap_or_default();
                prop_assert_eq!(&got, &want);
            }
        }
    }

    #[test]
    fn lists_agree_on_one_order(steps in steps(intents_lists()),
                                order in prop::collection::vec(any::<usize>(), 0..40)) {
        let mut w = World::new();
        w.run(&steps, 1);
        w.flood(&order);
        w.check_converged()?;
        for k in 0..KEYS {
            let want = reference_list(&w.ops(k));
            for n in &w.nodes {
                let got: Vec<Bytes> = list_view(n, &key(k), w.now).into_iter().map(|(_, v)| v).collect();
                prop_assert_eq!(&got, &want);
            }
        }
    }

    #[test]
    fn expiry_keeps_the_longest_ttl_and_persist_wins(steps in steps(intents_expiry()),
                                                     order in prop::collection::vec(any::<usize>(), 0..40)) {
        let mut w = World::new();
        // Time moves fast enough for deadlines to pass mid-run.
        w.run(&steps, 37);
        w.flood(&order);
        w.check_converged()?;
        for k in 0..KEYS {
            let want = reference_deadline(&w.ops(k));
            for n in &w.nodes {
                let got = n.keys().get(&key(k)).and_then(KeyState::deadline);
                prop_assert_eq!(got, want);
            }
        }
    }

    #[test]
    fn type_clashes_resolve_the_same_everywhere(steps in steps(intents_mixed()),
                                                order in prop::collection::vec(any::<usize>(), 0..40)) {
        let mut w = World::new();
        w.run(&steps, 1);
        w.flood(&order);
        w.check_converged()?;
    }
}

/// The deadline the history leaves (see the module doc).
fn reference_deadline(ops: &[&Op]) -> Option<u64> {
    let clears = |o: &Op| {
        matches!(
            o.body,
            OpBody::Set { .. }
                | OpBody::Del { .. }
                | OpBody::Expire { .. }
                | OpBody::Expired { .. }
        )
    };
    let sets = |o: &Op| -> Option<Option<u64>> {
        match body(o) {
            OpBody::Expire { at_ms } => Some(*at_ms),
            OpBody::Set {
                expire_at_ms: Some(at),
                ..
            } => Some(Some(*at)),
            _ => None,
        }
    };
    let mut best: Option<u64> = None;
    let mut any = false;
    for w in ops {
        let Some(at) = sets(w) else { continue };
        if ops
            .iter()
            .any(|o| o.dot != w.dot && clears(o) && o.deps.covers(w.dot))
        {
            continue;
        }
        any = true;
        match at {
            None => return None,
            Some(at) => best = best.max(Some(at)),
        }
    }
    if any {
        best
    } else {
        None
    }
}
