//! Property: whatever order, duplication and interleaving ops are delivered
//! in, every replica ends with identical state, and that state matches a
//! reference model of each type (counters sum every increment; a register
//! holds the write with the greatest clock).

use bytes::Bytes;
use meridian_core::{Node, Op, OpBody, Regions, Write};
use proptest::prelude::*;
use std::collections::HashMap;

const REGIONS: [&str; 3] = ["ap-southeast", "eu-west", "us-east"];
const KEYS: usize = 4;

#[derive(Clone, Debug)]
enum Step {
    /// Region `r` writes `w` to key `k` at time advanced by `dt`.
    Write { r: usize, k: usize, w: W, dt: u8 },
    /// Region `to` receives the `nth` op (mod count) made so far by `from`.
    Deliver { from: usize, to: usize, nth: usize },
}

#[derive(Clone, Debug)]
enum W {
    Set(u8),
    Del,
    Incr(i8),
    IncrFloat(i8),
}

fn step() -> impl Strategy<Value = Step> {
    let w = prop_oneof![
        3 => any::<u8>().prop_map(W::Set),
        1 => Just(W::Del),
        3 => any::<i8>().prop_map(W::Incr),
        1 => any::<i8>().prop_map(W::IncrFloat),
    ];
    prop_oneof![
        (0..3usize, 0..KEYS, w, any::<u8>()).prop_map(|(r, k, w, dt)| Step::Write { r, k, w, dt }),
        (0..3usize, 0..3usize, any::<usize>()).prop_map(|(from, to, nth)| Step::Deliver {
            from,
            to,
            nth
        }),
    ]
}

fn key(k: usize) -> Bytes {
    Bytes::from(format!("k{k}"))
}

struct World {
    nodes: Vec<Node>,
    made: Vec<Vec<Op>>,
    now: u64,
}

impl World {
    fn new() -> World {
        let regions = Regions::new(REGIONS).unwrap();
        let nodes = regions
            .ids()
            .map(|id| Node::new(regions.clone(), id))
            .collect();
        World {
            nodes,
            made: vec![Vec::new(); 3],
            now: 1_700_000_000_000,
        }
    }

    fn run(&mut self, steps: &[Step]) {
        for s in steps {
            match s {
                Step::Write { r, k, w, dt } => {
                    self.now += *dt as u64 % 4;
                    let node = &mut self.nodes[*r];
                    let write = match w {
                        W::Set(v) => Write::Set {
                            value: Bytes::from(format!("v{v}")),
                            expire_at_ms: None,
                        },
                        W::Del if node.exists(&key(*k), self.now) => Write::Del,
                        W::Del => continue,
                        W::Incr(by) => Write::IncrBy(*by as i64),
                        W::IncrFloat(by) => Write::IncrByFloat(*by as f64 / 4.0),
                    };
                    let op = node.write(self.now, key(*k), write);
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

    /// Delivers everything to everyone, in an order given by `order`, twice.
    fn flood(&mut self, order: &[usize]) {
        for round in 0..2 {
            for to in 0..3 {
                let mut all: Vec<Op> = (0..3)
                    .filter(|f| *f != to)
                    .flat_map(|f| self.made[f].clone())
                    .collect();
                // A permutation driven by the generated order, reversed on the
                // second round so duplicates arrive in another order.
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
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge_to_the_reference(steps in prop::collection::vec(step(), 1..80),
                                           order in prop::collection::vec(any::<usize>(), 0..40)) {
        let mut w = World::new();
        w.run(&steps);
        w.flood(&order);
        let digest = w.nodes[0].digest();
        for n in &w.nodes {
            prop_assert_eq!(n.pending(), 0);
            prop_assert_eq!(n.vv(), w.nodes[0].vv());
            prop_assert_eq!(n.digest(), digest.clone());
        }
        // Reference model per key.
        let all: Vec<&Op> = w.made.iter().flatten().collect();
        for k in 0..KEYS {
            let ops: Vec<&&Op> = all.iter().filter(|o| o.key == key(k)).collect();
            let value = w.nodes[0].get(&key(k), w.now);
            if !ops.is_empty() && ops.iter().all(|o| matches!(o.body, OpBody::IncrInt { .. })) {
                let sum: i64 = ops.iter().map(|o| match o.body { OpBody::IncrInt { by } => by, _ => 0 }).sum();
                prop_assert_eq!(value.clone(), Some(Bytes::from(sum.to_string())));
            }
            if !ops.is_empty() && ops.iter().all(|o| matches!(o.body, OpBody::Set { .. })) {
                let last = ops.iter().max_by_key(|o| (o.hlc, o.dot.region)).unwrap();
                if let OpBody::Set { value: v, .. } = &last.body {
                    prop_assert_eq!(value.clone(), Some(v.clone()));
                }
            }
        }
    }
}

/// SET concurrent with INCR: the SET's value plus the increments it had not seen.
#[test]
fn set_concurrent_with_incr_keeps_unseen_increments() {
    let mut w = World::new();
    let k = key(0);
    let a = w.nodes[0].write(w.now, k.clone(), Write::IncrBy(5));
    for n in 1..3 {
        w.nodes[n].receive(w.now, a.clone()).unwrap();
    }
    // eu-west sets 100 having seen +5; us-east concurrently adds 7.
    let set = w.nodes[1].write(
        w.now + 1,
        k.clone(),
        Write::Set {
            value: Bytes::from("100"),
            expire_at_ms: None,
        },
    );
    let inc = w.nodes[2].write(w.now + 1, k.clone(), Write::IncrBy(7));
    w.made[0].push(a);
    w.made[1].push(set);
    w.made[2].push(inc);
    w.flood(&[]);
    for n in &w.nodes {
        assert_eq!(n.get(&k, w.now).unwrap(), "107");
    }
}

/// DEL concurrent with SET: the unseen SET survives, in every order.
#[test]
fn del_concurrent_with_set_keeps_unseen_value() {
    let mut w = World::new();
    let k = key(0);
    let first = w.nodes[0].write(
        w.now,
        k.clone(),
        Write::Set {
            value: Bytes::from("old"),
            expire_at_ms: None,
        },
    );
    w.nodes[1].receive(w.now, first.clone()).unwrap();
    let del = w.nodes[1].write(w.now + 5, k.clone(), Write::Del);
    // A SET with an older clock, concurrent with the DEL.
    let set = w.nodes[2].write(
        w.now + 1,
        k.clone(),
        Write::Set {
            value: Bytes::from("new"),
            expire_at_ms: None,
        },
    );
    w.made[0].push(first);
    w.made[1].push(del);
    w.made[2].push(set);
    w.flood(&[3, 1, 2]);
    let mut seen = HashMap::new();
    for n in &w.nodes {
        seen.insert(n.digest(), n.get(&k, w.now));
    }
    assert_eq!(seen.len(), 1);
    assert_eq!(seen.into_values().next().unwrap(), Some(Bytes::from("new")));
}
