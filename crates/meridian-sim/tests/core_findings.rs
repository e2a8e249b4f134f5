//! Behaviours of meridian-core found while building the simulator. Each test
//! states what the core should do; an ignored test is a core bug reported to
//! the core's owners and not fixed here (this crate does not edit the core).

use bytes::Bytes;
use meridian_core::{Node, Regions, Write};

fn pair() -> (Node, Node) {
    let regions = Regions::new(["eu-west", "us-east"]).unwrap();
    let eu = Node::new(regions.clone(), regions.id("eu-west").unwrap());
    let us = Node::new(regions.clone(), regions.id("us-east").unwrap());
    (eu, us)
}

/// `Received::duplicate` is documented as "It was already applied or already
/// held", but `Node::receive` sets it only for applied ops: a second copy of
/// an op waiting in the causal buffer returns `duplicate: false` and is not
/// counted in `NodeStats::duplicates`. (Also: when the buffer is full, such a
/// copy gets `BufferFull` although holding it would need no room.)
#[test]
fn a_copy_of_a_held_op_is_a_duplicate() {
    let (mut eu, mut us) = pair();
    let _first = eu.write(1_000, Bytes::from("k"), Write::IncrBy(1));
    let second = eu.write(1_001, Bytes::from("k"), Write::IncrBy(1));
    let held = us.receive(1_050, second.clone()).unwrap();
    assert!(held.applied.is_empty() && !held.duplicate);
    assert_eq!(us.pending(), 1);
    let again = us.receive(1_060, second).unwrap();
    assert!(
        again.duplicate,
        "an op already held must be reported as a duplicate"
    );
    assert_eq!(us.stats().duplicates, 1);
}

/// Holding an op costs no Ack: `Node::receive` applies held ops only when a
/// later op (maybe from another region) releases them, so the version vector
/// of a receiver can grow for region A while it handles region B's batch.
/// The shell must then acknowledge on A's link too, or A's sender, whose
/// window (`link::IN_FLIGHT_BATCHES_MAX`) is full of batches the receiver
/// held, waits for an Ack that never comes. This test pins the core side of
/// that: the release shows up in `Received::applied` of the *other* op.
#[test]
fn released_ops_are_reported_by_the_op_that_released_them() {
    let regions = Regions::new(["ap-southeast", "eu-west", "us-east"]).unwrap();
    let id = |n: &str| regions.id(n).unwrap();
    let mut ap = Node::new(regions.clone(), id("ap-southeast"));
    let mut eu = Node::new(regions.clone(), id("eu-west"));
    let mut us = Node::new(regions.clone(), id("us-east"));
    let from_eu = eu.write(1_000, Bytes::from("k"), Write::IncrBy(1));
    ap.receive(1_010, from_eu.clone()).unwrap();
    let from_ap = ap.write(1_020, Bytes::from("k"), Write::IncrBy(2));
    // ap's op reaches us-east first and waits for eu's.
    assert!(us
        .receive(1_030, from_ap.clone())
        .unwrap()
        .applied
        .is_empty());
    let released = us.receive(1_040, from_eu).unwrap();
    let dots: Vec<_> = released.applied.iter().map(|op| op.dot).collect();
    assert_eq!(dots, [from_eu_dot(&eu), from_ap.dot]);
    assert_eq!(us.get(b"k", 1_050).unwrap(), "3");
}

fn from_eu_dot(eu: &Node) -> meridian_core::Dot {
    meridian_core::Dot::new(eu.me(), 1)
}

/// Found by the simulator (seeds 36, 91, 93, 177, 208 and 255 of
/// `meridian sim --seeds 300` once clients resolved sibling keys with a
/// context read through another region): a MERIDIAN.RESOLVE whose context
/// covers a value its own region has not received yet removed that value
/// in the regions that had it when the resolve arrived, and not in the
/// others, which received the value after the resolve and kept it: the
/// regions diverged for good. A resolve, like every remove, must replace
/// only what its region had seen; a value it had not seen is concurrent
/// with it and stays as a sibling everywhere.
#[test]
fn a_resolve_replaces_only_values_its_region_had_seen() {
    let regions = Regions::new(["ap-southeast", "eu-west", "us-east"]).unwrap();
    let id = |n: &str| regions.id(n).unwrap();
    let mut ap = Node::new(regions.clone(), id("ap-southeast"));
    let mut eu = Node::new(regions.clone(), id("eu-west"));
    let mut us = Node::new(regions.clone(), id("us-east"));
    let key = Bytes::from("doc");
    let draft = eu.write(1_000, key.clone(), set("draft"));
    ap.receive(1_010, draft.clone()).unwrap();
    // A client reads MERIDIAN.SIBLINGS through ap (context eu=1) and
    // resolves through us, which has not received eu's draft yet.
    let mut context = meridian_core::VersionVector::new(3);
    context.set(id("eu-west"), 1);
    let resolve = us.write(
        1_020,
        key.clone(),
        Write::Resolve {
            context,
            value: Bytes::from("merged"),
        },
    );
    // ap and eu get the resolve after the draft; us gets the draft last.
    ap.receive(1_030, resolve.clone()).unwrap();
    eu.receive(1_030, resolve).unwrap();
    us.receive(1_040, draft).unwrap();
    let siblings = |n: &Node| -> Vec<Bytes> {
        let v = n.view(b"doc", 1_050).unwrap();
        v.state
            .string()
            .siblings(v.cutoff)
            .into_iter()
            .map(|e| e.value.clone())
            .collect()
    };
    assert_eq!(siblings(&us), ["merged", "draft"]);
    assert_eq!(siblings(&ap), siblings(&us));
    assert_eq!(siblings(&eu), siblings(&us));
    assert_eq!(ap.digest(), us.digest());
    assert_eq!(eu.digest(), us.digest());
}

/// The sweep that found the resolve bug above, kept as a named seed.
#[test]
fn seed_91_resolve_with_a_context_read_elsewhere_converges() {
    let cfg = meridian_sim::SimConfig::default();
    if let Err(f) = meridian_sim::run_seed(91, &cfg) {
        panic!("{f}");
    }
}

fn set(v: &'static str) -> Write {
    Write::Set {
        value: Bytes::from(v),
        expire_at_ms: None,
    }
}

/// Found by the simulator once regions ran the expiry sweep
/// (`Node::expire_due`, as the server does ten times a second): most seeds
/// of `meridian sim --seeds 300` ended with equal reads everywhere and
/// different digests. The sweep drops a key reduced to its expiry floor
/// (a tombstone) once every region has seen the expiry, and each region
/// learns that at its own time; the digest leaves such tombstones out for
/// that reason. But when the key is written again, a region that had
/// dropped the tombstone holds the new value alone while the others hold
/// it with the old floor, and the digests differ for good although the
/// floor can no longer change anything (every op below it has arrived).
#[test]
fn a_key_written_again_after_its_tombstone_was_collected_has_one_digest() {
    let regions = Regions::new(["ap-southeast", "eu-west", "us-east"]).unwrap();
    let id = |n: &str| regions.id(n).unwrap();
    let mut ap = Node::new(regions.clone(), id("ap-southeast"));
    let mut eu = Node::new(regions.clone(), id("eu-west"));
    let mut us = Node::new(regions.clone(), id("us-east"));
    let key = Bytes::from("session");
    let mut ops = vec![
        ap.write(1_000, key.clone(), set("s1")),
        ap.write(1_001, key.clone(), Write::Expire { at_ms: Some(1_100) }),
    ];
    // ap owns the deadline and sweeps the key once it has passed.
    ops.extend(ap.expire_due(1_200, 10));
    assert_eq!(ops.len(), 3);
    for op in &ops {
        eu.receive(1_210, op.clone()).unwrap();
        us.receive(1_210, op.clone()).unwrap();
    }
    // eu and us write elsewhere after seeing the expiry: ap learns that
    // every region has seen it and collects the tombstone.
    let from_eu = eu.write(1_220, Bytes::from("other"), set("x"));
    let from_us = us.write(1_220, Bytes::from("other"), set("y"));
    for op in [&from_eu, &from_us] {
        ap.receive(1_230, op.clone()).unwrap();
    }
    eu.receive(1_230, from_us.clone()).unwrap();
    us.receive(1_230, from_eu.clone()).unwrap();
    ap.expire_due(1_240, 10);
    assert_eq!(ap.stats().tombstones_collected, 1);
    assert_eq!(ap.digest(), eu.digest());
    // The key is written again.
    let again = eu.write(1_300, key.clone(), set("s2"));
    ap.receive(1_310, again.clone()).unwrap();
    us.receive(1_310, again).unwrap();
    for n in [&ap, &eu, &us] {
        assert_eq!(n.get(b"session", 1_320).unwrap(), "s2");
    }
    assert_eq!(ap.digest(), eu.digest());
    assert_eq!(us.digest(), eu.digest());
}

/// Found by the simulator (seed 1345 of a 20,000-seed sweep, once regions
/// ran the expiry sweep): an expiry op that reaches a region where the key
/// has no state (a concurrent DEL removed it, or the region had collected
/// its tombstone) was ignored there, as a DEL is. But an expiry op also
/// raises the key's floor, which drops every value written before the
/// deadline whenever it arrives: without it, a value written concurrently
/// before the deadline survives in that region and nowhere else.
#[test]
fn an_expiry_op_raises_the_floor_where_the_key_has_no_state() {
    let regions = Regions::new(["ap-southeast", "eu-west", "us-east"]).unwrap();
    let id = |n: &str| regions.id(n).unwrap();
    let mut ap = Node::new(regions.clone(), id("ap-southeast"));
    let mut eu = Node::new(regions.clone(), id("eu-west"));
    let mut us = Node::new(regions.clone(), id("us-east"));
    let key = Bytes::from("cart");
    let sadd = |m: &'static str| Write::Fields {
        kind: meridian_core::Kind::Set,
        writes: vec![(Bytes::from(m), meridian_core::FieldWrite::Set(Bytes::new()))],
    };
    let first = [
        ap.write(1_000, key.clone(), sadd("a")),
        ap.write(1_001, key.clone(), Write::Expire { at_ms: Some(1_100) }),
    ];
    for op in &first {
        eu.receive(1_010, op.clone()).unwrap();
        us.receive(1_010, op.clone()).unwrap();
    }
    // Concurrently: us deletes the key (it has no state left), eu adds a
    // member before the deadline, and ap, which owns the deadline, sweeps
    // the key once it has passed.
    let del = us.write(1_050, key.clone(), Write::Del);
    let late = eu.write(1_050, key.clone(), sadd("b"));
    let expiry = ap.expire_due(1_200, 10);
    assert_eq!(expiry.len(), 1);
    assert!(us.keys().get(b"cart").is_none());
    for op in expiry.iter().chain([&del, &late]) {
        for n in [&mut ap, &mut eu, &mut us] {
            if n.me() != op.dot.region {
                n.receive(1_210, op.clone()).unwrap();
            }
        }
    }
    // "b" was written before the deadline: it expired with the key.
    for n in [&ap, &eu, &us] {
        assert!(!n.exists(b"cart", 1_300), "{:?}", n.me());
    }
    assert_eq!(ap.digest(), us.digest());
    assert_eq!(eu.digest(), us.digest());
}

/// The sweep that found the expiry bug above, kept as a named seed.
#[test]
fn seed_1345_an_expiry_op_after_a_collected_tombstone_keeps_its_floor() {
    let cfg = meridian_sim::SimConfig::default();
    if let Err(f) = meridian_sim::run_seed(1345, &cfg) {
        panic!("{f}");
    }
}
