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
