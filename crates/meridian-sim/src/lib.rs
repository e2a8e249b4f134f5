//! Deterministic simulation of a whole multi-region Meridian world, in one
//! thread, from one seed.
//!
//! ```
//! use meridian_sim::{run_seed, SimConfig};
//!
//! let cfg = SimConfig { duration_ms: 400, ..SimConfig::small() };
//! let report = run_seed(7, &cfg).unwrap();
//! // Same seed, same run, event for event.
//! assert_eq!(run_seed(7, &cfg).unwrap(), report);
//! println!("{report}");
//! ```
//!
//! docs/testing.md explains the model, the faults and the checkers for
//! users; this is the map of the code.
//!
//! - [`world`]: the event loop and its rounds (write phase with faults,
//!   heal, settle to a quiescent point where every checker runs);
//! - `client`: client pipelines, log appends, replies after durability;
//! - `repl`: replication exactly as the server runs it — a dialer per
//!   directed link with handshake, backoff, streaming of its own ops and
//!   relaying of others' (`meridian_core::link::Outbound`), an acceptor
//!   task per connection that applies, holds ops whose clock is too far
//!   ahead, and acknowledges after batches and whenever its version vector
//!   moved;
//! - `crash`: faults applied, crash and restart from the snapshot and log;
//! - [`snap`]: snapshots, log truncation and the full state transfer;
//! - [`net`], [`disk`], [`faults`], [`workload`]: the models;
//! - `check` and `reference`: the checkers; `reference` also states what
//!   every key must read from the history alone, and `read` what a client
//!   of a region reads (the observation both compare);
//! - [`history`]: the hash (and optional text) of everything that happened;
//! - [`shrink`] and [`cli`]: `meridian sim`.
//!
//! Every random choice comes from [`SimRng`] streams of the seed; nothing
//! reads a clock or iterates a hash map, so a run is a pure function of its
//! seed and config on one commit.

mod check;
pub mod cli;
mod client;
mod config;
mod crash;
pub mod disk;
mod error;
mod events;
pub mod faults;
pub mod history;
mod link;
pub mod net;
mod read;
mod reference;
mod region;
mod repl;
mod rng;
mod rtt;
pub mod shrink;
pub mod snap;
mod stats;
pub mod workload;
mod world;

pub use check::SimReport;
pub use cli::{cli_main, SimArgs};
pub use config::{
    Broken, FaultKind, Faults, Fsync, SimConfig, DELAY_MS_MAX, DURATION_MS_MAX, KEYS_MAX, KEYS_MIN,
    PIPELINE_MAX, ROUNDS_MAX, SMALL_REGIONS, WRITES_MAX, WRITES_PER_SEC_MAX,
};
pub use error::{SimFailure, Violation};
pub use link::{
    ACK_CHECK_INTERVAL_MS, CLOCK_AHEAD_RETRY_MS, HANDSHAKE_TIMEOUT_MS, LINK_SILENCE_MAX_MS,
    RECONNECT_DELAY_MAX_MS, RECONNECT_DELAY_MIN_MS, RELAY_SCAN_INTERVAL_MS, SCAN_RECORDS_MAX,
};
pub use rng::{SimRng, Stream};
pub use rtt::Latencies;
pub use stats::{FaultCounts, Stats};
pub use world::{World, EVENTS_MAX, LIVENESS_SLACK_MS, START_MS};

/// Runs the world of `seed` under `cfg` through every round and checks it.
///
/// Returns what happened, or the first broken rule with the seed and the
/// command that replays it. Equal arguments give equal results on the same
/// commit.
pub fn run_seed(seed: u64, cfg: &SimConfig) -> Result<SimReport, SimFailure> {
    let mut world = World::new(seed, cfg)?;
    world.run()?;
    world.report()
}
