//! Deterministic simulation of a whole multi-region Meridian world, in one
//! thread, from one seed.
//!
//! ```
//! use meridian_sim::{run_seed, SimConfig};
//!
//! let cfg = SimConfig { duration_ms: 300, ..SimConfig::default() };
//! let report = run_seed(7, &cfg).unwrap();
//! // Same seed, same run, bit for bit.
//! assert_eq!(run_seed(7, &cfg).unwrap(), report);
//! println!("{report}");
//! ```
//!
//! # The model
//!
//! **Regions.** Each region is a [`meridian_core::Node`], the same sans-IO
//! state machine the server runs, plus its log: every op it applied, its own
//! and others', in order, as the server logs them.
//!
//! **Time.** Simulated milliseconds, starting at [`START_MS`] (a real-looking
//! Unix time, so hybrid logical clocks look real). Every region reads the
//! same clock; clock skew is a later addition.
//!
//! **Events.** One priority queue holds everything that will happen: client
//! writes, message deliveries and fault changes, ordered by (time, insertion
//! counter). Processing an event may schedule more. Nothing else runs, so a
//! run is a pure function of its seed and config.
//!
//! **Randomness.** Every choice comes from [`SimRng`], seeded from the run's
//! seed, in three independent streams (workload, network, faults), so that
//! turning one knob leaves the other choices of a seed as they were.
//!
//! **Replication.** Each directed link `a -> b` is one connection, modelled
//! as the server does it: `a` dials with `Hello`, `b` answers `Welcome{vv}`
//! with its version vector when the `Hello` arrives, `a` feeds that to a
//! [`meridian_core::link::Outbound`] and streams batches of its *own* ops
//! read from its log; `b` applies them (holding ops whose causes have not
//! arrived) and returns `Ack{vv}` over the same connection. The sender keeps
//! at most `IN_FLIGHT_BATCHES_MAX` batches unacknowledged. When ops that `b`
//! held are released by another link's batch, `b` also acknowledges them on
//! their own link; without that the sender's window can fill with held
//! batches and stop forever (the first bug this simulator found).
//!
//! **Network faults.** Each message takes the link's one-way delay (from the
//! project's measured matrix, half the RTT, or a configured value) plus
//! jitter; with `reorder_prob` it is held back further, so later messages
//! overtake it; with `dup_prob` a batch or ack arrives twice. Messages are
//! never silently lost on a healthy link. Instead links are cut: a whole
//! region isolated, one direction of one link cut, or a link flapping (see
//! [`faults`]). Messages sent while a link is cut, or in flight when it is
//! cut, are lost; the sender does not notice until the link heals, then
//! reconnects and, from the receiver's `Welcome`, resends everything not
//! acknowledged.
//!
//! **Workload.** Clients in every region write to a small key set (see
//! [`workload`]): counter keys, register keys and mixed keys.
//!
//! # Checks
//!
//! Clients write for `duration_ms`; every fault heals by then; the run goes
//! on until no event is left (quiescence). Then [`World::check`] requires:
//!
//! 1. every region applied every write (version vector = writes made) and
//!    holds nothing pending;
//! 2. every region has the same digest (on failure: the first key whose
//!    value differs, with each region's value);
//! 3. keys that only got INCRBY read the sum of every increment made;
//!    keys that only got SET read the SET with the greatest (HLC, region);
//! 4. each region's log, replayed into a fresh node as at a restart, is in
//!    causal order and rebuilds the same state.
//!
//! Invariants are also asserted while running: a node's version vector only
//! grows, by exactly the ops it reports applied.
//!
//! # Replaying a failure
//!
//! A failure is a [`SimFailure`] naming the seed and a line of Rust that
//! replays it, e.g. `meridian_sim::run_seed(1234, &SimConfig::default())`.
//! The same seed and config on the same commit give the same run, event for
//! event; step through it with [`World::new`] and [`World::step`].

mod check;
mod config;
mod error;
mod events;
pub mod faults;
mod link;
mod rng;
mod rtt;
pub mod workload;
mod world;

pub use check::SimReport;
pub use config::{
    SimConfig, DEFAULT_REGIONS, DELAY_MS_MAX, DURATION_MS_MAX, KEYS_MAX, KEYS_MIN, WRITES_MAX,
    WRITES_PER_SEC_MAX,
};
pub use error::{SimFailure, Violation};
pub use link::{BATCH_OPS_MAX, FIRST_LSN};
pub use rng::{SimRng, Stream};
pub use rtt::Latencies;
pub use world::{World, EVENTS_MAX, QUIESCE_MS_MAX, START_MS};

/// Runs the world of `seed` under `cfg` to quiescence and checks it.
///
/// Returns what happened, or the first broken rule with the seed and a
/// replay hint. Equal arguments give equal results on the same commit.
pub fn run_seed(seed: u64, cfg: &SimConfig) -> Result<SimReport, SimFailure> {
    let mut world = World::new(seed, cfg)?;
    world.run()?;
    world.check()
}
