//! `meridian-wan`: user-space WAN emulation for Meridian's local world.
//!
//! The local world runs every region server on loopback. This crate puts the
//! real measured inter-region latency back between them without kernel help
//! (no netem): each directed replication link goes through a [`LinkProxy`]
//! that delivers every byte `one_way_delay` after it was read.
//!
//! * [`rtt`]: the measured round-trip matrix ([`RttMatrix`]) and region
//!   metadata ([`RegionInfo`]), embedded from `data/*.csv`.
//! * [`proxy`]: one delaying TCP proxy per directed link, with cut/heal to
//!   emulate partitions.
//! * [`world`]: [`Wan`], a registry of links keyed by `(from, to)` region.
//!
//! ```no_run
//! # async fn demo(dublin_server: std::net::SocketAddr) -> Result<(), meridian_wan::WanError> {
//! use meridian_wan::{RttMatrix, Wan};
//! let rtt = RttMatrix::builtin();
//! let mut wan = Wan::new();
//! let delay = rtt.one_way_delay("eu-london", "eu-west").unwrap_or_default();
//! // London dials `addr` to reach Dublin; every byte arrives 5.65 ms later.
//! let addr = wan.add_link("eu-london", "eu-west", dublin_server, delay).await?;
//! wan.cut_region("eu-west")?; // partition Dublin
//! wan.heal_all();
//! # let _ = addr; Ok(()) }
//! ```

mod csv;
pub mod error;
mod link;
mod pipe;
pub mod proxy;
pub mod rtt;
mod timer;
pub mod world;

pub use error::WanError;
pub use proxy::{
    LinkConfig, LinkProxy, LinkState, LinkStats, ACCEPT_RETRY_MS, CONNECT_TIMEOUT_MS, DELAY_MS_MAX,
    QUEUE_BYTES_MAX, READ_BUF_BYTES, WRITE_COALESCE_BYTES_MAX,
};
pub use rtt::{builtin_regions, parse_regions, RegionInfo, RttMatrix, RTT_MS_MAX};
pub use world::{LinkInfo, Wan};
