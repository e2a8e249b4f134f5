//! Snapshots and the full state transfer (see `meridian_core::snapshot`).
//!
//! Three regions write every type (strings, counters, sets, hashes, sorted
//! sets, lists, expiry, DEL), receive each other's ops in random order with
//! duplicates, report what they applied, collect tombstones, snapshot and
//! truncate their logs, restart from snapshot plus log, and install each
//! other's snapshots. Checked after each step:
//!
//! - a restart from the newest own snapshot plus the log after it gives the
//!   same digest and version vector as before;
//! - an install succeeds exactly when [`LogBase::admits`] says so; when it
//!   fails nothing changes; when it succeeds the region holds the union of
//!   both histories: its digest is that of a fresh region that received
//!   exactly those ops;
//! - at the end, once every op has reached every region, all digests agree.

use bytes::Bytes;
use meridian_core::causal::deliverable;
use meridian_core::op::Kind;
use meridian_core::{
    FieldWrite, LogBase, Node, Op, RegionId, Regions, Snapshot, VersionVector, Write,
};
use proptest::prelude::*;

const REGIONS: [&str; 3] = ["ap-southeast", "eu-west", "us-east"];
const START_MS: u64 = 1_700_000_000_000;

#[derive(Clone, Debug)]
enum Intent {
    Set(u8),
    Incr(i8),
    SAdd(u8),
    SRem(u8),
    HSet(u8, u8),
    ZAdd(u8, i8),
    LPush(u8),
    LPop,
    Del,
    Expire(u8),
}

#[derive(Clone, Debug)]
enum Step {
    Write {
        r: usize,
        k: u8,
        i: Intent,
        dt: u8,
    },
    /// Region `to` receives the next `n` ops of `from` it lacks.
    Sync {
        from: usize,
        to: usize,
        n: u8,
    },
    /// Region `to` receives the `nth` op made by `from` (maybe again).
    Deliver {
        from: usize,
        to: usize,
        nth: usize,
    },
    /// Region `to` learns `from`'s current version vector (an ack).
    Report {
        from: usize,
        to: usize,
    },
    /// Region `r` runs its sweep, which also collects tombstones.
    Sweep {
        r: usize,
    },
    /// Region `r` writes a snapshot and truncates its log up to it.
    Truncate {
        r: usize,
    },
    /// Region `r` restarts from its snapshot and log.
    Restart {
        r: usize,
    },
    /// Region `to` installs a snapshot of `from`.
    Install {
        from: usize,
        to: usize,
    },
}

fn intent() -> impl Strategy<Value = Intent> {
    prop_oneof![
        any::<u8>().prop_map(Intent::Set),
        any::<i8>().prop_map(Intent::Incr),
        any::<u8>().prop_map(Intent::SAdd),
        any::<u8>().prop_map(Intent::SRem),
        (any::<u8>(), any::<u8>()).prop_map(|(f, v)| Intent::HSet(f, v)),
        (any::<u8>(), any::<i8>()).prop_map(|(m, s)| Intent::ZAdd(m, s)),
        any::<u8>().prop_map(Intent::LPush),
        Just(Intent::LPop),
        Just(Intent::Del),
        any::<u8>().prop_map(Intent::Expire),
    ]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        6 => (0..3usize, any::<u8>(), intent(), any::<u8>())
            .prop_map(|(r, k, i, dt)| Step::Write { r, k, i, dt }),
        3 => (0..3usize, 0..3usize, any::<u8>()).prop_map(|(from, to, n)| Step::Sync { from, to, n }),
        1 => (0..3usize, 0..3usize, any::<usize>())
            .prop_map(|(from, to, nth)| Step::Deliver { from, to, nth }),
        2 => (0..3usize, 0..3usize).prop_map(|(from, to)| Step::Report { from, to }),
        1 => (0..3usize).prop_map(|r| Step::Sweep { r }),
        1 => (0..3usize).prop_map(|r| Step::Truncate { r }),
        1 => (0..3usize).prop_map(|r| Step::Restart { r }),
        1 => (0..3usize, 0..3usize).prop_map(|(from, to)| Step::Install { from, to }),
    ];
    prop::collection::vec(step, 1..120)
}

/// One region as a server keeps it: the node, its log (ops in apply
/// order, the first `dropped` of them truncated), its newest snapshot and
/// the log position it covers.
struct Region {
    node: Node,
    log: Vec<Op>,
    dropped: usize,
    base: LogBase,
    snapshot: Option<(Vec<u8>, usize)>,
}

struct World {
    regions: Regions,
    rs: Vec<Region>,
    made: Vec<Vec<Op>>,
    now: u64,
    installs: usize,
    refused: usize,
}

fn key(k: u8, kind: Kind) -> Bytes {
    let t = match kind {
        Kind::String => "s",
        Kind::Set => "set",
        Kind::Hash => "h",
        Kind::ZSet => "z",
        Kind::List => "l",
    };
    Bytes::from(format!("{t}{}", k % 2))
}

/// The write an intent makes against `node`'s view (`None`: the command
/// would not write, or would get WRONGTYPE).
fn plan(node: &Node, k: u8, i: &Intent, now: u64) -> Option<(Bytes, Write)> {
    let kind = match i {
        Intent::Set(_) | Intent::Incr(_) => Kind::String,
        Intent::SAdd(_) | Intent::SRem(_) => Kind::Set,
        Intent::HSet(..) => Kind::Hash,
        Intent::ZAdd(..) => Kind::ZSet,
        Intent::LPush(_) | Intent::LPop => Kind::List,
        Intent::Del | Intent::Expire(_) => [Kind::String, Kind::Set, Kind::List][k as usize % 3],
    };
    let key = key(k, kind);
    let seen = node.view(&key, now).map(|v| v.kind);
    if seen.is_some_and(|s| s != kind) {
        return None;
    }
    let field = |kind, f: u8, w| Write::Fields {
        kind,
        writes: vec![(Bytes::from(format!("f{}", f % 4)), w)],
    };
    let w = match i {
        Intent::Set(v) => Write::Set {
            value: Bytes::from(format!("v{v}")),
            expire_at_ms: None,
        },
        Intent::Incr(by) => {
            if node.get(&key, now).is_some_and(|v| {
                std::str::from_utf8(&v)
                    .ok()
                    .and_then(|s| s.parse::<i64>().ok())
                    .is_none()
            }) {
                return None;
            }
            Write::IncrBy(*by as i64)
        }
        Intent::SAdd(m) => field(Kind::Set, *m, FieldWrite::Set(Bytes::new())),
        Intent::SRem(m) => field(Kind::Set, *m, FieldWrite::Del),
        Intent::HSet(f, v) => field(Kind::Hash, *f, FieldWrite::Set(Bytes::from(format!("{v}")))),
        Intent::ZAdd(m, s) => field(Kind::ZSet, *m, FieldWrite::Set(Bytes::from(format!("{s}")))),
        Intent::LPush(v) => Write::ListInsert {
            after: None,
            values: vec![Bytes::from(format!("e{v}"))],
        },
        Intent::LPop => {
            let view = node.view(&key, now)?;
            let first = view.list()?.visible_at(view.cutoff).next()?;
            Write::ListRemove {
                ids: vec![first.id],
            }
        }
        Intent::Del => {
            seen?;
            Write::Del
        }
        Intent::Expire(ms) => {
            seen?;
            Write::Expire {
                at_ms: Some(now + 1 + *ms as u64 % 50),
            }
        }
    };
    Some((key, w))
}

fn snapshot_of(node: &Node) -> Vec<u8> {
    let mut out = Vec::new();
    node.encode_snapshot(&mut out);
    out
}

impl World {
    fn new() -> World {
        let regions = Regions::new(REGIONS).unwrap();
        let rs = regions
            .ids()
            .map(|id| Region {
                node: Node::new(regions.clone(), id),
                log: Vec::new(),
                dropped: 0,
                base: LogBase::new(3),
                snapshot: None,
            })
            .collect();
        World {
            regions,
            rs,
            made: vec![Vec::new(); 3],
            now: START_MS,
            installs: 0,
            refused: 0,
        }
    }

    fn receive(&mut self, to: usize, op: Op) {
        let got = self.rs[to].node.receive(self.now, op).unwrap();
        self.rs[to].log.extend(got.applied);
    }

    /// A fresh region `r` that received exactly the ops `vv` covers.
    fn fresh_with(&self, r: usize, vv: &VersionVector) -> Node {
        let mut n = Node::new(self.regions.clone(), RegionId(r as u16));
        loop {
            let mut progress = false;
            for o in 0..3 {
                let have = n.vv().as_slice()[o] as usize;
                let want = vv.as_slice()[o] as usize;
                if have >= want {
                    continue;
                }
                let op = &self.made[o][have];
                if deliverable(op, n.vv()) {
                    n.replay(op);
                    progress = true;
                }
            }
            if !progress {
                break;
            }
        }
        assert_eq!(n.vv(), vv, "the history is causally closed");
        n
    }

    fn run(&mut self, steps: &[Step]) -> Result<(), TestCaseError> {
        for s in steps {
            match s {
                Step::Write { r, k, i, dt } => {
                    self.now += *dt as u64 % 8;
                    let Some((key, w)) = plan(&self.rs[*r].node, *k, i, self.now) else {
                        continue;
                    };
                    let op = self.rs[*r].node.write(self.now, key, w);
                    self.rs[*r].log.push(op.clone());
                    self.made[*r].push(op);
                }
                Step::Sync { from, to, n } => {
                    if from == to {
                        continue;
                    }
                    let have = self.rs[*to].node.vv().as_slice()[*from] as usize;
                    let next: Vec<Op> = self.made[*from]
                        .iter()
                        .skip(have)
                        .take(*n as usize % 5 + 1)
                        .cloned()
                        .collect();
                    for op in next {
                        self.receive(*to, op);
                    }
                }
                Step::Deliver { from, to, nth } => {
                    if from == to || self.made[*from].is_empty() {
                        continue;
                    }
                    let op = self.made[*from][nth % self.made[*from].len()].clone();
                    self.receive(*to, op);
                }
                Step::Report { from, to } => {
                    let vv = self.rs[*from].node.vv().clone();
                    self.rs[*to].node.peer_seen(RegionId(*from as u16), &vv);
                }
                Step::Sweep { r } => {
                    let ops = self.rs[*r].node.expire_due(self.now, 16);
                    self.rs[*r].log.extend(ops.iter().cloned());
                    self.made[*r].extend(ops);
                }
                Step::Truncate { r } => {
                    let reg = &mut self.rs[*r];
                    reg.snapshot = Some((snapshot_of(&reg.node), reg.log.len()));
                    reg.dropped = reg.log.len();
                    reg.base.truncated(reg.node.vv());
                }
                Step::Restart { r } => {
                    let reg = &mut self.rs[*r];
                    let mut node = match &reg.snapshot {
                        Some((bytes, _)) => Node::from_snapshot(
                            self.regions.clone(),
                            RegionId(*r as u16),
                            Snapshot::decode(bytes).unwrap(),
                        )
                        .unwrap(),
                        None => Node::new(self.regions.clone(), RegionId(*r as u16)),
                    };
                    let from = reg.snapshot.as_ref().map_or(0, |(_, at)| *at);
                    for op in &reg.log[from..] {
                        node.replay(op);
                    }
                    prop_assert_eq!(node.vv(), reg.node.vv());
                    prop_assert_eq!(node.digest(), reg.node.digest());
                    prop_assert_eq!(node.keys().live_keys(), reg.node.keys().live_keys());
                    prop_assert_eq!(node.keys().volatile_keys(), reg.node.keys().volatile_keys());
                    reg.node = node;
                }
                Step::Install { from, to } => {
                    if from == to {
                        continue;
                    }
                    self.install(*from, *to)?;
                }
            }
        }
        Ok(())
    }

    fn install(&mut self, from: usize, to: usize) -> Result<(), TestCaseError> {
        let bytes = snapshot_of(&self.rs[from].node);
        let snap = Snapshot::decode(&bytes).unwrap();
        let snap_vv = snap.vv.clone();
        let reg = &mut self.rs[to];
        let before_vv = reg.node.vv().clone();
        let before_digest = reg.node.digest();
        let admits = reg.base.admits(&snap_vv);
        let log: Vec<Op> = reg.log[reg.dropped..].to_vec();
        match reg.node.install(snap, log) {
            Ok(done) => {
                prop_assert!(admits, "installed a snapshot the base refuses");
                self.installs += 1;
                let mut union = before_vv.clone();
                union.merge(&snap_vv);
                // The union, and any held op the union released.
                let now_vv = reg.node.vv().clone();
                prop_assert!(now_vv.dominates(&union));
                for op in &done.released {
                    prop_assert!(!union.covers(op.dot));
                }
                reg.base.installed(&before_vv, &snap_vv);
                reg.log.extend(done.released);
                // The log no longer reflects the state: snapshot at once.
                reg.snapshot = Some((snapshot_of(&reg.node), reg.log.len()));
                let digest = reg.node.digest();
                let fresh = self.fresh_with(to, &now_vv);
                prop_assert_eq!(digest, fresh.digest());
            }
            Err(e) => {
                prop_assert!(!admits, "refused an admissible snapshot: {}", e);
                self.refused += 1;
                prop_assert_eq!(reg.node.vv(), &before_vv);
                prop_assert_eq!(reg.node.digest(), before_digest);
            }
        }
        Ok(())
    }

    /// Delivers everything everywhere, by the logs still held or, for a
    /// region that no log can serve, by installing the snapshot of the
    /// region that has seen everything.
    fn settle(&mut self) -> Result<(), TestCaseError> {
        for _ in 0..20 {
            for from in 0..3 {
                for to in 0..3 {
                    if from != to {
                        let next: Vec<Op> = self.made[from].clone();
                        for op in next {
                            self.receive(to, op);
                        }
                    }
                }
            }
        }
        let first = self.rs[0].node.digest();
        for r in &self.rs[1..] {
            prop_assert_eq!(r.node.vv(), self.rs[0].node.vv());
            prop_assert_eq!(r.node.digest(), first.clone());
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn snapshots_restart_and_install_the_union(steps in steps()) {
        let mut w = World::new();
        w.run(&steps)?;
        w.settle()?;
    }
}

#[test]
fn install_refuses_what_would_lose_an_op_and_changes_nothing() {
    let mut w = World::new();
    // Region 0 writes, truncates its log behind a snapshot; region 1 never
    // heard of those ops, so its snapshot lacks them.
    w.run(&[
        Step::Write {
            r: 0,
            k: 0,
            i: Intent::SAdd(1),
            dt: 1,
        },
        Step::Write {
            r: 1,
            k: 0,
            i: Intent::SAdd(2),
            dt: 1,
        },
        Step::Truncate { r: 0 },
    ])
    .unwrap();
    w.install(1, 0).unwrap();
    assert_eq!((w.installs, w.refused), (0, 1));
    // Once region 1 has the op, its snapshot is admitted: the union.
    w.run(&[Step::Sync {
        from: 0,
        to: 1,
        n: 4,
    }])
    .unwrap();
    w.run(&[Step::Write {
        r: 1,
        k: 0,
        i: Intent::SAdd(3),
        dt: 1,
    }])
    .unwrap();
    w.install(1, 0).unwrap();
    assert_eq!((w.installs, w.refused), (1, 1));
    let set = w.rs[0]
        .node
        .view(b"set0", w.now)
        .unwrap()
        .set()
        .unwrap()
        .live();
    assert_eq!(set, 3);
}

#[test]
fn install_keeps_own_unshipped_ops() {
    let mut w = World::new();
    w.run(&[
        Step::Write {
            r: 0,
            k: 0,
            i: Intent::LPush(1),
            dt: 1,
        },
        Step::Sync {
            from: 0,
            to: 1,
            n: 4,
        },
        Step::Write {
            r: 1,
            k: 0,
            i: Intent::LPush(2),
            dt: 1,
        },
        // Region 0 writes more that region 1 never gets.
        Step::Write {
            r: 0,
            k: 0,
            i: Intent::LPush(3),
            dt: 1,
        },
        Step::Write {
            r: 0,
            k: 0,
            i: Intent::Incr(5),
            dt: 1,
        },
    ])
    .unwrap();
    w.install(1, 0).unwrap();
    assert_eq!(w.installs, 1);
    let view = w.rs[0].node.view(b"l0", w.now).unwrap();
    let list: Vec<Bytes> = view
        .list()
        .unwrap()
        .visible_at(view.cutoff)
        .map(|e| e.value.clone())
        .collect();
    assert_eq!(
        list,
        vec![Bytes::from("e3"), Bytes::from("e2"), Bytes::from("e1")]
    );
    assert_eq!(w.rs[0].node.get(b"s0", w.now), Some(Bytes::from("5")));
}

#[test]
fn install_releases_ops_held_for_their_causes() {
    let mut w = World::new();
    w.run(&[
        Step::Write {
            r: 2,
            k: 0,
            i: Intent::Set(0),
            dt: 0,
        },
        Step::Sync {
            from: 2,
            to: 1,
            n: 0,
        },
        Step::Write {
            r: 1,
            k: 0,
            i: Intent::SAdd(0),
            dt: 0,
        },
        // Region 0 gets region 1's op before its cause (region 2's op).
        Step::Sync {
            from: 1,
            to: 0,
            n: 0,
        },
    ])
    .unwrap();
    assert_eq!(w.rs[0].node.pending(), 1);
    w.install(2, 0).unwrap();
    assert_eq!(w.rs[0].node.pending(), 0);
    assert_eq!(w.rs[0].node.vv().as_slice(), &[0, 1, 1]);
}
