//! Collecting tombstones by causal stability (see `meridian_core::list` and
//! the stability rule in `meridian_core::node`) changes nothing any region
//! shows, now or after any later op.
//!
//! Three regions make random list writes (pushes at both ends, inserts
//! after random elements, pops, removes of random elements, LSET, DEL,
//! expiry), receive each other's ops in random order with duplicates, tell
//! each other what they have applied (reports of a peer's real version
//! vector at some past moment, late, twice or out of order), and collect
//! tombstones at random moments with random small budgets. Each region has
//! a shadow that applies exactly the same ops in the same order and never
//! collects: after every step, every region must show what its shadow
//! shows, and have its digest. Once every op has reached every region, all
//! must show the same lists (the reference RGA when no expiry is involved),
//! and after a last round of reports and collection no tombstone may be
//! left.

mod common;

use bytes::Bytes;
use common::reference_list;
use meridian_core::key::KeyState;
use meridian_core::list::{ElemId, List};
use meridian_core::op::Kind;
use meridian_core::{Node, Op, Regions, VersionVector, Write};
use proptest::prelude::*;

const REGIONS: [&str; 3] = ["ap-southeast", "eu-west", "us-east"];
/// One key: every op on it interacts with every other.
const KEYS: usize = 1;
const START_MS: u64 = 1_700_000_000_000;

fn key(k: usize) -> Bytes {
    Bytes::from(format!("q{k}"))
}

#[derive(Clone, Debug)]
enum Intent {
    LPush(u8, bool),
    RPush(u8),
    LInsert { nth: u8, v: u8 },
    Pop { left: bool, n: u8 },
    LRem { nth: u8 },
    LSet { nth: u8, v: u8 },
    Del,
    Expire(u8),
}

#[derive(Clone, Debug)]
enum Step {
    Write {
        r: usize,
        k: usize,
        i: Intent,
        dt: u8,
    },
    /// Region `to` receives the `nth` op (mod count) made by `from`.
    Deliver { from: usize, to: usize, nth: usize },
    /// Region `to` receives the next `n` ops of `from` it has not applied.
    Sync { from: usize, to: usize, n: u8 },
    /// Region `to` learns that `from` had applied what the `nth`-from-last
    /// (of the last four) vector `from` has had says.
    Report { from: usize, to: usize, nth: u8 },
    /// Region `r` collects with a budget of `work` list elements.
    Collect { r: usize, work: u8 },
    /// Region `r` runs its expiry sweep (which collects too).
    Sweep { r: usize },
}

fn intents(expiry: bool) -> BoxedStrategy<Intent> {
    let e = if expiry { 1 } else { 0 };
    prop_oneof![
        3 => (any::<u8>(), any::<bool>()).prop_map(|(v, two)| Intent::LPush(v, two)),
        3 => any::<u8>().prop_map(Intent::RPush),
        3 => (any::<u8>(), any::<u8>()).prop_map(|(nth, v)| Intent::LInsert { nth, v }),
        3 => (any::<bool>(), any::<u8>()).prop_map(|(left, n)| Intent::Pop { left, n }),
        2 => any::<u8>().prop_map(|nth| Intent::LRem { nth }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(nth, v)| Intent::LSet { nth, v }),
        1 => Just(Intent::Del),
        e => any::<u8>().prop_map(Intent::Expire),
    ]
    .boxed()
}

fn steps(expiry: bool) -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        4 => (0..3usize, 0..KEYS, intents(expiry), any::<u8>())
            .prop_map(|(r, k, i, dt)| Step::Write { r, k, i, dt }),
        2 => (0..3usize, 0..3usize, any::<usize>())
            .prop_map(|(from, to, nth)| Step::Deliver { from, to, nth }),
        3 => (0..3usize, 0..3usize, any::<u8>())
            .prop_map(|(from, to, n)| Step::Sync { from, to, n }),
        3 => (0..3usize, 0..3usize, any::<u8>())
            .prop_map(|(from, to, nth)| Step::Report { from, to, nth }),
        3 => (0..3usize, any::<u8>()).prop_map(|(r, work)| Step::Collect { r, work }),
        1 => (0..3usize).prop_map(|r| Step::Sweep { r }),
    ];
    prop::collection::vec(step, 1..150)
}

struct World {
    nodes: Vec<Node>,
    /// Per region, the same ops in the same order, never collected.
    shadows: Vec<Node>,
    made: Vec<Vec<Op>>,
    /// Per region, every version vector it has had.
    vvs: Vec<Vec<VersionVector>>,
    now: u64,
}

impl World {
    fn new() -> World {
        let regions = Regions::new(REGIONS).unwrap();
        let nodes: Vec<Node> = regions
            .ids()
            .map(|id| Node::new(regions.clone(), id))
            .collect();
        let shadows = regions
            .ids()
            .map(|id| Node::new(regions.clone(), id))
            .collect();
        World {
            vvs: nodes.iter().map(|n| vec![n.vv().clone()]).collect(),
            nodes,
            shadows,
            made: vec![Vec::new(); 3],
            now: START_MS,
        }
    }

    /// Region `r` made `op` (applied there already).
    fn made_here(&mut self, r: usize, op: Op) {
        self.shadows[r].replay(&op);
        self.made[r].push(op);
        self.vvs[r].push(self.nodes[r].vv().clone());
    }

    fn receive(&mut self, to: usize, op: Op) {
        let got = self.nodes[to].receive(self.now, op).unwrap();
        for op in &got.applied {
            self.shadows[to].replay(op);
        }
        if !got.applied.is_empty() {
            self.vvs[to].push(self.nodes[to].vv().clone());
        }
    }

    fn sweep(&mut self, r: usize) {
        for op in self.nodes[r].expire_due(self.now, 16) {
            self.made_here(r, op);
        }
    }

    fn run(&mut self, steps: &[Step]) -> Result<(), TestCaseError> {
        for s in steps {
            match s {
                Step::Write { r, k, i, dt } => {
                    self.now += *dt as u64 % 4 * 10;
                    let Some(w) = plan(&self.nodes[*r], &key(*k), i, self.now) else {
                        continue;
                    };
                    let op = self.nodes[*r].write(self.now, key(*k), w);
                    self.made_here(*r, op);
                }
                Step::Deliver { from, to, nth } => {
                    if from == to || self.made[*from].is_empty() {
                        continue;
                    }
                    let op = self.made[*from][nth % self.made[*from].len()].clone();
                    self.receive(*to, op);
                }
                Step::Sync { from, to, n } => {
                    if from == to {
                        continue;
                    }
                    let have = self.nodes[*to].vv().as_slice()[*from] as usize;
                    let next: Vec<Op> = self.made[*from]
                        .iter()
                        .skip(have)
                        .take(*n as usize % 4 + 1)
                        .cloned()
                        .collect();
                    for op in next {
                        self.receive(*to, op);
                    }
                }
                Step::Report { from, to, nth } => {
                    let vvs = &self.vvs[*from];
                    let back = *nth as usize % vvs.len().min(4);
                    let v = vvs[vvs.len() - 1 - back].clone();
                    self.nodes[*to].peer_seen(meridian_core::RegionId(*from as u16), &v);
                }
                Step::Collect { r, work } => {
                    self.nodes[*r].collect_tombstones(4, *work as usize % 16 + 1);
                }
                Step::Sweep { r } => self.sweep(*r),
            }
            self.check_shadows()?;
        }
        Ok(())
    }

    /// Every op to every region, in an order permuted by `order`, twice.
    fn flood(&mut self, order: &[usize]) -> Result<(), TestCaseError> {
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
                    self.receive(to, op);
                    self.check_shadows()?;
                }
            }
        }
        Ok(())
    }

    /// Each region shows what its shadow shows, and has its digest.
    fn check_shadows(&self) -> Result<(), TestCaseError> {
        for (n, s) in self.nodes.iter().zip(&self.shadows) {
            prop_assert_eq!(n.vv(), s.vv());
            for k in 0..KEYS {
                prop_assert_eq!(
                    list_view(n, &key(k), self.now),
                    list_view(s, &key(k), self.now)
                );
                prop_assert_eq!(
                    n.view(&key(k), self.now).map(|v| v.kind),
                    s.view(&key(k), self.now).map(|v| v.kind)
                );
            }
            prop_assert_eq!(n.digest(), s.digest());
        }
        Ok(())
    }
}

/// The list of `key` at `node` as a reader sees it, with ids.
fn list_view(node: &Node, key: &[u8], now: u64) -> Vec<(ElemId, Bytes)> {
    node.view(key, now)
        .and_then(|v| v.list().map(|l| (l, v.cutoff)))
        .map(|(l, c)| l.visible_at(c).map(|e| (e.id, e.value.clone())).collect())
        .unwrap_or_default()
}

fn list_of<'a>(node: &'a Node, key: &[u8]) -> Option<&'a List> {
    match node.keys().get(key)? {
        KeyState::Rich(r) => r.list.as_deref(),
        KeyState::Str(_) => None,
    }
}

/// Turns an intent into a write against `node`'s view, as the list
/// commands do (`None`: the command would not write).
fn plan(node: &Node, k: &Bytes, i: &Intent, now: u64) -> Option<Write> {
    let kind = node.view(k, now).map(|v| v.kind);
    if kind.is_some_and(|k| k != Kind::List) {
        return None;
    }
    let l = list_view(node, k, now);
    let pick = |nth: u8| l.get(nth as usize % l.len().max(1)).map(|(id, _)| *id);
    Some(match i {
        Intent::LPush(v, two) => Write::ListInsert {
            after: None,
            values: if *two {
                vec![Bytes::from(format!("{v}b")), Bytes::from(format!("{v}a"))]
            } else {
                vec![Bytes::from(v.to_string())]
            },
        },
        Intent::RPush(v) => Write::ListInsert {
            after: l.last().map(|(id, _)| *id),
            values: vec![Bytes::from(format!("r{v}"))],
        },
        Intent::LInsert { nth, v } => Write::ListInsert {
            after: Some(pick(*nth)?),
            values: vec![Bytes::from(format!("i{v}"))],
        },
        Intent::Pop { left, n } => {
            let n = *n as usize % 3 + 1;
            let ids: Vec<ElemId> = if *left {
                l.iter().take(n).map(|(id, _)| *id).collect()
            } else {
                l.iter().rev().take(n).map(|(id, _)| *id).collect()
            };
            if ids.is_empty() {
                return None;
            }
            Write::ListRemove { ids }
        }
        Intent::LRem { nth } => Write::ListRemove {
            ids: vec![pick(*nth)?],
        },
        Intent::LSet { nth, v } => Write::ListSet {
            id: pick(*nth)?,
            value: Bytes::from(format!("s{v}")),
        },
        Intent::Del if kind.is_some() => Write::Del,
        Intent::Expire(ms) if kind.is_some() => Write::Expire {
            at_ms: Some(now + 1 + *ms as u64),
        },
        _ => return None,
    })
}

fn check(steps: &[Step], order: &[usize], expiry: bool) -> Result<(), TestCaseError> {
    let mut w = World::new();
    w.run(steps)?;
    w.flood(order)?;
    // Every region up to date: the same lists everywhere.
    let d = w.nodes[0].digest();
    for n in &w.nodes {
        prop_assert_eq!(n.pending(), 0);
        prop_assert_eq!(n.vv(), w.nodes[0].vv());
        prop_assert_eq!(n.digest(), d.clone());
    }
    for k in 0..KEYS {
        let first = list_view(&w.nodes[0], &key(k), w.now);
        for n in &w.nodes {
            prop_assert_eq!(&list_view(n, &key(k), w.now), &first);
        }
        if !expiry {
            let ops: Vec<&Op> = w
                .made
                .iter()
                .flatten()
                .filter(|o| o.key == key(k))
                .collect();
            let got: Vec<Bytes> = first.into_iter().map(|(_, v)| v).collect();
            prop_assert_eq!(got, reference_list(&ops));
        }
    }
    // Everyone tells everyone: every tombstone is stable everywhere, and
    // all that may go goes.
    for from in 0..3 {
        for to in 0..3 {
            let v = w.nodes[from].vv().clone();
            w.nodes[to].peer_seen(meridian_core::RegionId(from as u16), &v);
        }
    }
    for r in 0..3 {
        w.nodes[r].collect_tombstones(usize::MAX, usize::MAX);
    }
    w.check_shadows()?;
    for n in &w.nodes {
        prop_assert_eq!(n.digest(), d.clone());
        // Everything is stable everywhere: no tombstone is left.
        for k in 0..KEYS {
            if let Some(l) = list_of(n, &key(k)) {
                prop_assert_eq!(l.tombstones(), 0);
            }
        }
        prop_assert!(n.keys().iter().all(|(_, s)| !s.is_floor_only()));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn collection_changes_nothing_anyone_sees(steps in steps(false),
                                              order in prop::collection::vec(any::<usize>(), 0..40)) {
        check(&steps, &order, false)?;
    }

    #[test]
    fn collection_changes_nothing_anyone_sees_with_expiry(steps in steps(true),
                                                          order in prop::collection::vec(any::<usize>(), 0..40)) {
        check(&steps, &order, true)?;
    }
}

/// The hole of a stability test that only asks whether every region has
/// applied the removal: us-east inserts after `x` before it sees eu-west's
/// pop of `x`, then applies the pop and says so, while its insert is still
/// on its way to eu-west. Had eu-west dropped `x` then, the insert would
/// find no anchor there and go to the head: `after-x a` there, `a x
/// after-x` everywhere else. eu-west must keep `x` until the insert
/// arrives (and then until every region has it).
#[test]
fn a_tombstone_waits_for_inserts_made_before_its_removal_was_seen() {
    let mut w = World::new();
    let k = key(0);
    let push = |v: &str| Write::ListInsert {
        after: None,
        values: vec![Bytes::from(v.to_string())],
    };
    let x = w.nodes[1].write(w.now, k.clone(), push("x"));
    w.made_here(1, x.clone());
    w.now += 1;
    let a = w.nodes[1].write(w.now, k.clone(), push("a"));
    w.made_here(1, a.clone());
    for to in [0, 2] {
        w.receive(to, x.clone());
        w.receive(to, a.clone());
    }
    let x_id = list_view(&w.nodes[1], &k, w.now)[1].0;
    // us-east inserts after x, not having seen the pop.
    w.now += 5;
    let ins = w.nodes[2].write(
        w.now,
        k.clone(),
        Write::ListInsert {
            after: Some(x_id),
            values: vec![Bytes::from("after-x")],
        },
    );
    w.made_here(2, ins.clone());
    let pop = w.nodes[1].write(w.now, k.clone(), Write::ListRemove { ids: vec![x_id] });
    w.made_here(1, pop.clone());
    w.receive(0, pop.clone());
    w.receive(2, pop.clone());
    // Both others report having applied the pop; us-east's report counts
    // its insert, which eu-west has not received.
    let report = |w: &mut World| {
        for from in 0..3 {
            for to in (0..3).filter(|t| *t != from) {
                let v = w.nodes[from].vv().clone();
                w.nodes[to].peer_seen(meridian_core::RegionId(from as u16), &v);
            }
        }
    };
    report(&mut w);
    assert!(!w.nodes[1].is_stable(pop.dot));
    w.nodes[1].collect_tombstones(usize::MAX, usize::MAX);
    assert_eq!(w.nodes[1].stats().list_tombstones_collected, 0);
    w.receive(1, ins.clone());
    w.receive(0, ins.clone());
    // Now it is stable (the report was held until the insert arrived), but
    // `after-x`, right after it, is not known everywhere yet (an insert
    // after `a` still to come could be smaller).
    assert!(w.nodes[1].is_stable(pop.dot));
    w.nodes[1].collect_tombstones(usize::MAX, usize::MAX);
    assert_eq!(w.nodes[1].stats().list_tombstones_collected, 0);
    w.check_shadows().unwrap();
    let want: Vec<Bytes> = ["a", "after-x"].into_iter().map(Bytes::from).collect();
    for n in &w.nodes {
        let got: Vec<Bytes> = list_view(n, &k, w.now)
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        assert_eq!(got, want);
    }
    // Once `after-x` is popped too and that is stable, both go.
    let after_x = list_view(&w.nodes[1], &k, w.now)[1].0;
    let pop2 = w.nodes[1].write(w.now, k.clone(), Write::ListRemove { ids: vec![after_x] });
    w.made_here(1, pop2.clone());
    w.receive(0, pop2.clone());
    w.receive(2, pop2);
    report(&mut w);
    for r in 0..3 {
        w.nodes[r].collect_tombstones(usize::MAX, usize::MAX);
        assert_eq!(w.nodes[r].stats().list_tombstones_collected, 2);
        assert_eq!(list_of(&w.nodes[r], &k).unwrap().elems().len(), 1);
    }
    w.check_shadows().unwrap();
}

/// The RGA case of the `meridian_core::list` module doc, through the node:
/// ap-southeast holds `a x w` with `x` popped by us-east and `w` inserted
/// after `x` by eu-west concurrently with the pop. The pop is stable at
/// ap-southeast, but us-east has not seen `w`, and inserts `n` after `a`
/// with `x < n < w`. Had ap-southeast dropped `x`, it would place `n` after
/// `w`, everyone else before it.
#[test]
fn a_tombstone_waits_for_the_element_after_it_to_be_known_everywhere() {
    let mut w = World::new();
    let k = key(0);
    let t = w.now;
    let insert = |after: Option<ElemId>, v: &str| Write::ListInsert {
        after,
        values: vec![Bytes::from(v.to_string())],
    };
    let a = w.nodes[0].write(t, k.clone(), insert(None, "a"));
    w.made_here(0, a.clone());
    let a_id = list_view(&w.nodes[0], &k, t)[0].0;
    let x = w.nodes[0].write(t + 1, k.clone(), insert(Some(a_id), "x"));
    w.made_here(0, x.clone());
    let x_id = list_view(&w.nodes[0], &k, t)[1].0;
    for to in [1, 2] {
        w.receive(to, a.clone());
        w.receive(to, x.clone());
    }
    // eu-west inserts `w` after `x` (at t + 20); only ap-southeast gets it.
    let wop = w.nodes[1].write(t + 20, k.clone(), insert(Some(x_id), "w"));
    w.made_here(1, wop.clone());
    w.receive(0, wop.clone());
    // us-east pops `x`, not having seen `w`; everyone gets the pop.
    w.now = t + 5;
    let pop = w.nodes[2].write(t + 5, k.clone(), Write::ListRemove { ids: vec![x_id] });
    w.made_here(2, pop.clone());
    w.receive(0, pop.clone());
    w.receive(1, pop.clone());
    for from in [1, 2] {
        let v = w.nodes[from].vv().clone();
        w.nodes[0].peer_seen(meridian_core::RegionId(from as u16), &v);
    }
    assert!(w.nodes[0].is_stable(pop.dot) && w.nodes[0].is_stable(x.dot));
    assert!(!w.nodes[0].is_stable(wop.dot));
    w.nodes[0].collect_tombstones(usize::MAX, usize::MAX);
    assert_eq!(w.nodes[0].stats().list_tombstones_collected, 0);
    // us-east inserts `n` after `a`, between `x` and `w` by clock.
    let n = w.nodes[2].write(t + 10, k.clone(), insert(Some(a_id), "n"));
    w.made_here(2, n.clone());
    w.receive(0, n.clone());
    w.receive(1, n);
    w.receive(2, wop);
    w.check_shadows().unwrap();
    let want: Vec<Bytes> = ["a", "n", "w"].into_iter().map(Bytes::from).collect();
    for node in &w.nodes {
        let got: Vec<Bytes> = list_view(node, &k, w.now)
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        assert_eq!(got, want);
    }
    // Once every region has `w` and says so, `x` goes.
    for from in 0..3 {
        for to in (0..3).filter(|t| *t != from) {
            let v = w.nodes[from].vv().clone();
            w.nodes[to].peer_seen(meridian_core::RegionId(from as u16), &v);
        }
    }
    for r in 0..3 {
        w.nodes[r].collect_tombstones(usize::MAX, usize::MAX);
        assert_eq!(w.nodes[r].stats().list_tombstones_collected, 1);
    }
    w.check_shadows().unwrap();
}

/// A queue used for long keeps only its live elements and the tombstones
/// not yet stable, so it never reaches `LIST_ELEMS_MAX`: LPUSH and RPOP
/// (every element a child of the head), and RPUSH and LPOP (each element a
/// child of the one before: the popped head always has a live successor).
#[test]
fn a_queue_in_use_stays_small() {
    for lpush in [true, false] {
        queue(lpush);
    }
}

fn queue(lpush: bool) {
    let mut w = World::new();
    let k = key(0);
    for i in 0..2_000u64 {
        w.now += 1;
        let r = (i % 3) as usize;
        let view = list_view(&w.nodes[r], &k, w.now);
        let push = w.nodes[r].write(
            w.now,
            k.clone(),
            Write::ListInsert {
                after: if lpush {
                    None
                } else {
                    view.last().map(|(id, _)| *id)
                },
                values: vec![Bytes::from(i.to_string())],
            },
        );
        w.made_here(r, push.clone());
        for to in (0..3).filter(|t| *t != r) {
            w.receive(to, push.clone());
        }
        if i >= 10 {
            let view = list_view(&w.nodes[r], &k, w.now);
            let oldest = if lpush { view.last() } else { view.first() };
            let pop = w.nodes[r].write(
                w.now,
                k.clone(),
                Write::ListRemove {
                    ids: oldest.map(|(id, _)| *id).into_iter().collect(),
                },
            );
            w.made_here(r, pop.clone());
            for to in (0..3).filter(|t| *t != r) {
                w.receive(to, pop.clone());
            }
        }
        // Acknowledgements, a few ops late.
        for from in 0..3 {
            let vvs = &w.vvs[from];
            let v = vvs[vvs.len().saturating_sub(3)].clone();
            for to in (0..3).filter(|t| *t != from) {
                w.nodes[to].peer_seen(meridian_core::RegionId(from as u16), &v);
            }
        }
        for r in 0..3 {
            w.sweep(r);
        }
    }
    w.check_shadows().unwrap();
    for n in &w.nodes {
        let l = list_of(n, &k).unwrap();
        assert_eq!(l.live(), 10);
        assert!(l.elems().len() < 20, "{} elements kept", l.elems().len());
        assert!(n.stats().list_tombstones_collected > 1_900);
    }
}

/// The same hole for expiry tombstones: eu-west writes `b` twice before
/// ap-southeast's deadline, without having seen it; ap-southeast's expiry
/// op reaches eu-west, which drops `b` (written before the floor) and says
/// it has applied the expiry, while its writes are still on their way to
/// ap-southeast. Had ap-southeast dropped the key's floor then, `b` would
/// come back there when the writes arrive, and nowhere else.
#[test]
fn an_expiry_tombstone_waits_for_writes_made_before_the_expiry_was_seen() {
    let mut w = World::new();
    let k = Bytes::from("session");
    let t0 = w.now;
    let set = |v: &str, ex: Option<u64>| Write::Set {
        value: Bytes::from(v.to_string()),
        expire_at_ms: ex,
    };
    let a = w.nodes[0].write(t0, k.clone(), set("a", Some(t0 + 100)));
    w.made_here(0, a.clone());
    let b1 = w.nodes[1].write(t0 + 1, k.clone(), set("b", None));
    w.made_here(1, b1.clone());
    let b2 = w.nodes[1].write(t0 + 2, k.clone(), set("b", None));
    w.made_here(1, b2.clone());
    w.now = t0 + 200;
    w.sweep(0);
    let expired = w.made[0]
        .last()
        .cloned()
        .expect("the sweep expired the key");
    for to in [1, 2] {
        w.receive(to, a.clone());
        w.receive(to, expired.clone());
    }
    let report = |w: &mut World| {
        for from in 0..3 {
            for to in (0..3).filter(|t| *t != from) {
                let v = w.nodes[from].vv().clone();
                w.nodes[to].peer_seen(meridian_core::RegionId(from as u16), &v);
            }
        }
    };
    report(&mut w);
    for n in &w.nodes {
        assert_eq!(n.get(&k, w.now), None);
    }
    assert!(!w.nodes[0].is_stable(expired.dot));
    w.sweep(0);
    assert_eq!(w.nodes[0].stats().tombstones_collected, 0);
    // One of the two writes arrives: still not stable.
    w.receive(0, b1.clone());
    assert!(!w.nodes[0].is_stable(expired.dot));
    w.sweep(0);
    assert_eq!(w.nodes[0].stats().tombstones_collected, 0);
    w.receive(0, b2.clone());
    assert!(w.nodes[0].is_stable(expired.dot));
    w.sweep(0);
    assert_eq!(w.nodes[0].stats().tombstones_collected, 1);
    w.receive(2, b1);
    w.receive(2, b2);
    w.check_shadows().unwrap();
    for n in &w.nodes {
        assert_eq!(n.get(&k, w.now), None);
        assert_eq!(n.digest(), w.nodes[0].digest());
    }
}
