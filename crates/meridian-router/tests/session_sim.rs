//! Sessions across failover, simulated: read-your-writes and monotonic
//! reads hold in strict mode whatever the replication delays, crashes and
//! region changes.
//!
//! The model world has three regions. Each write gets a global stamp (so
//! last-write-wins by stamp respects causality, as the hybrid clock does)
//! and the writing region's version vector as its dependencies. Ops travel
//! to other regions only once their origin has shipped them (a killed
//! region's unshipped ops are stuck until it comes back), may be relayed by
//! any live region that holds them, and are applied in causal order. Other
//! clients write too, so a region's probed point goes stale.
//!
//! One client uses the router's [`Session`] exactly as `forward.rs` does:
//! after each batch it merges the region's point; before a read it asks
//! [`Session::gate`], and on `Wait` the region gets what it can (all it
//! can receive now) before the verdict. Every read is checked against the
//! client's own history.

use meridian_router::session::{Gate, Policy, Session, Verdict};
use meridian_router::vv::Vv;
use proptest::prelude::*;
use std::collections::BTreeMap;

const REGIONS: usize = 3;
const KEYS: u8 = 3;

#[derive(Clone, Debug)]
enum Action {
    /// The client writes key `k` (at its current region).
    Write(u8),
    /// The client reads key `k`.
    Read(u8),
    /// Another client writes at region `r`.
    Other(usize, u8),
    /// Region `r` hands its own ops to the network.
    Ship(usize),
    /// Region `r` receives one op from origin `o`, if it can.
    Deliver(usize, usize),
    /// The router probes region `r` (records its point).
    Probe(usize),
    /// Region `r` crashes (it keeps its state on disk).
    Kill(usize),
    /// Region `r` comes back.
    Revive(usize),
    /// The router moves the client to region `r` (failback, better RTT).
    Move(usize),
}

fn action() -> impl Strategy<Value = Action> {
    let r = 0..REGIONS;
    let k = 0..KEYS;
    prop_oneof![
        3 => k.clone().prop_map(Action::Write),
        4 => k.clone().prop_map(Action::Read),
        2 => (r.clone(), k).prop_map(|(r, k)| Action::Other(r, k)),
        3 => r.clone().prop_map(Action::Ship),
        6 => (r.clone(), r.clone()).prop_map(|(a, b)| Action::Deliver(a, b)),
        2 => r.clone().prop_map(Action::Probe),
        1 => r.clone().prop_map(Action::Kill),
        1 => r.clone().prop_map(Action::Revive),
        1 => r.prop_map(Action::Move),
    ]
}

#[derive(Clone, Debug)]
struct Op {
    key: u8,
    stamp: u64,
    deps: Vec<u64>,
}

#[derive(Clone, Debug, Default)]
struct Region {
    vv: Vec<u64>,
    /// key -> stamp of the winning write.
    store: BTreeMap<u8, u64>,
    alive: bool,
    /// Own ops handed to the network.
    shipped: u64,
    probed: Option<Vv>,
}

struct World {
    regions: Vec<Region>,
    /// Ops by origin, seq - 1 as index.
    log: Vec<Vec<Op>>,
    stamp: u64,
}

fn name(r: usize) -> String {
    format!("r{r}")
}

fn to_vv(v: &[u64]) -> Vv {
    let mut vv = Vv::new();
    for (r, s) in v.iter().enumerate() {
        vv.set(&name(r), *s);
    }
    vv
}

impl World {
    fn new() -> World {
        World {
            regions: (0..REGIONS)
                .map(|_| Region {
                    vv: vec![0; REGIONS],
                    alive: true,
                    ..Region::default()
                })
                .collect(),
            log: vec![Vec::new(); REGIONS],
            stamp: 0,
        }
    }

    fn write(&mut self, r: usize, key: u8) -> u64 {
        self.stamp += 1;
        let reg = &mut self.regions[r];
        let op = Op {
            key,
            stamp: self.stamp,
            deps: reg.vv.clone(),
        };
        reg.vv[r] += 1;
        let e = reg.store.entry(key).or_insert(0);
        *e = (*e).max(op.stamp);
        self.log[r].push(op);
        self.stamp
    }

    /// Delivers the next op of `origin` to `dest` if some live region (or
    /// the network) holds it and its causes are there. True if it did.
    fn deliver(&mut self, dest: usize, origin: usize) -> bool {
        if dest == origin || !self.regions[dest].alive {
            return false;
        }
        let seq = self.regions[dest].vv[origin] + 1;
        let Some(op) = self.log[origin].get(seq as usize - 1).cloned() else {
            return false;
        };
        let available = self.regions[origin].shipped >= seq
            || self
                .regions
                .iter()
                .enumerate()
                .any(|(i, h)| i != origin && h.alive && h.vv[origin] >= seq);
        let d = &mut self.regions[dest];
        let causes = (0..REGIONS).all(|o| o == origin || d.vv[o] >= op.deps[o]);
        if !available || !causes {
            return false;
        }
        d.vv[origin] = seq;
        let e = d.store.entry(op.key).or_insert(0);
        *e = (*e).max(op.stamp);
        true
    }

    /// Everything `dest` can receive now (a session wait's best case).
    fn catch_up(&mut self, dest: usize) {
        while (0..REGIONS).any(|o| self.deliver(dest, o)) {}
    }
}

/// The client and what it has seen.
struct Client {
    at: usize,
    session: Session,
    written: BTreeMap<u8, u64>,
    read: BTreeMap<u8, u64>,
}

struct Tally {
    reads: u64,
    refused: u64,
    stale: u64,
    violations: Vec<String>,
}

fn run(actions: &[Action], policy: Policy) -> Tally {
    run_with(actions, policy, false)
}

/// `no_gate`: pretend every region covers the session (a broken router).
fn run_with(actions: &[Action], policy: Policy, no_gate: bool) -> Tally {
    let mut w = World::new();
    let mut c = Client {
        at: 0,
        session: Session::new(),
        written: BTreeMap::new(),
        read: BTreeMap::new(),
    };
    let mut t = Tally {
        reads: 0,
        refused: 0,
        stale: 0,
        violations: Vec::new(),
    };
    for a in actions {
        // Failover: the router moves the client off a dead region.
        if !w.regions[c.at].alive {
            match (0..REGIONS).find(|&r| w.regions[r].alive) {
                Some(r) => c.at = r,
                None => continue,
            }
        }
        match *a {
            Action::Write(k) => {
                let r = c.at;
                let stamp = w.write(r, k);
                c.written.insert(k, stamp);
                c.session.observed(r, &to_vv(&w.regions[r].vv));
            }
            Action::Read(k) => read(&mut w, &mut c, &mut t, k, policy, no_gate),
            Action::Other(r, k) if w.regions[r].alive => {
                w.write(r, k);
            }
            Action::Ship(r) if w.regions[r].alive => {
                w.regions[r].shipped = w.log[r].len() as u64;
            }
            Action::Deliver(d, o) => {
                w.deliver(d, o);
            }
            Action::Probe(r) if w.regions[r].alive => {
                w.regions[r].probed = Some(to_vv(&w.regions[r].vv));
            }
            Action::Kill(r) => w.regions[r].alive = false,
            Action::Revive(r) => w.regions[r].alive = true,
            Action::Move(r) if w.regions[r].alive => c.at = r,
            _ => {}
        }
    }
    t
}

fn read(w: &mut World, c: &mut Client, t: &mut Tally, k: u8, policy: Policy, no_gate: bool) {
    let r = c.at;
    let probed = w.regions[r].probed.clone();
    let mut stale = false;
    let gate = c.session.gate(r, probed.as_ref());
    if let (Gate::Wait(token), false) = (gate, no_gate) {
        w.catch_up(r);
        if to_vv(&w.regions[r].vv).dominates(&token) {
            c.session.caught_up(r);
        } else {
            match policy.on_timeout() {
                Verdict::Refuse => {
                    t.refused += 1;
                    return;
                }
                Verdict::ServeStale => {
                    t.stale += 1;
                    stale = true;
                }
            }
        }
    }
    t.reads += 1;
    let got = w.regions[r].store.get(&k).copied().unwrap_or(0);
    let wrote = c.written.get(&k).copied().unwrap_or(0);
    let saw = c.read.get(&k).copied().unwrap_or(0);
    if !stale && got < wrote {
        t.violations.push(format!(
            "read-your-writes: key {k} at r{r} gave {got}, wrote {wrote}"
        ));
    }
    if !stale && got < saw {
        t.violations.push(format!(
            "monotonic reads: key {k} at r{r} gave {got}, saw {saw}"
        ));
    }
    c.read.insert(k, got.max(saw));
    c.session.observed(r, &to_vv(&w.regions[r].vv));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn strict_sessions_never_go_back_in_time(
        actions in proptest::collection::vec(action(), 1..200)
    ) {
        let t = run(&actions, Policy::Strict);
        prop_assert!(t.violations.is_empty(), "{:?}", t.violations);
        prop_assert_eq!(t.stale, 0);
    }

    /// In available mode a read may be stale, and every stale read is
    /// counted: no unannounced violation.
    #[test]
    fn available_sessions_count_every_stale_read(
        actions in proptest::collection::vec(action(), 1..200)
    ) {
        let t = run(&actions, Policy::Available);
        prop_assert!(t.violations.is_empty(), "{:?}", t.violations);
        prop_assert_eq!(t.refused, 0);
    }
}

/// The story of the issue, by hand: write in London, London burns before
/// shipping, Dublin must not serve the old value.
#[test]
fn a_write_lost_with_its_region_is_never_read_as_older_data() {
    use Action::*;
    let story = [
        Write(0),
        Ship(0),
        Deliver(1, 0),
        Read(0),
        Write(0), // not shipped
        Kill(0),
        Read(0), // on r1: must be refused
    ];
    let strict = run(&story, Policy::Strict);
    assert!(strict.violations.is_empty());
    assert_eq!((strict.reads, strict.refused), (1, 1));
    let available = run(&story, Policy::Available);
    assert_eq!((available.reads, available.stale), (2, 1));
    // London comes back and ships: the read is served, fresh.
    let mut healed = story.to_vec();
    healed.extend([Revive(0), Ship(0), Move(1), Read(0)]);
    let t = run(&healed, Policy::Strict);
    assert!(t.violations.is_empty());
    assert_eq!((t.reads, t.refused), (2, 1));
}

/// The checker itself works: a router that skipped the session gate
/// would be caught reading older data after the failover.
#[test]
fn the_checker_catches_a_router_without_sessions() {
    use Action::*;
    let story = [Write(0), Kill(0), Read(0)];
    let t = run_with(&story, Policy::Strict, true);
    assert_eq!(t.violations.len(), 1, "{:?}", t.violations);
    assert!(t.violations[0].starts_with("read-your-writes"));
}
