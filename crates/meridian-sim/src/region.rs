//! One simulated region: the core's `Node`, its log on a simulated disk, its
//! clock, and what the simulator itself knows about it.

use crate::disk::Disk;
use meridian_core::{Dot, Node, Op, RegionId, Regions};

/// A region of the world.
pub struct Region {
    pub node: Node,
    pub disk: Disk,
    pub up: bool,
    /// Incarnation, bumped by every crash: events of an older one are void.
    pub life: u64,
    /// The region's clock minus true time, in ms.
    pub offset_ms: i64,
    /// The offset it returns to when no clock fault holds it.
    pub ntp_offset_ms: i64,
    /// Per origin, the highest sequence number this region holds (in its
    /// log, or in a snapshot it installed), kept by the simulator from the
    /// records it appends and the snapshots it installs (not from the
    /// core's version vector), for the causality checks.
    pub seen: Vec<u64>,
    /// Per peer, when a message from it last arrived here (see
    /// `World::heard_ms`): a peer silent for longer than the retention is
    /// left behind.
    pub heard_ms: Vec<u64>,
    /// Down in a long-down episode: other crash episodes' restarts leave it
    /// down.
    pub held_down: bool,
    /// When it last started (the memory check counts the age of records
    /// it held before from then).
    pub started_ms: u64,
    /// Client pipelines waiting for their log records to be written:
    /// (last LSN, dots), in LSN order.
    pub replies: Vec<(u64, Vec<Dot>)>,
    /// When this region's next pipeline is due, in µs of simulated time.
    pub next_write_us: u64,
    /// When this region's expiry sweep may run next, in simulated ms.
    pub next_sweep_ms: u64,
}

impl Region {
    pub fn new(regions: &Regions, id: usize, ntp_offset_ms: i64, start_ms: u64) -> Region {
        Region {
            node: Node::new(regions.clone(), RegionId(id as u16)),
            disk: Disk::new(regions.len()),
            up: true,
            life: 0,
            offset_ms: ntp_offset_ms,
            ntp_offset_ms,
            seen: vec![0; regions.len()],
            heard_ms: vec![start_ms; regions.len()],
            held_down: false,
            started_ms: start_ms,
            replies: Vec::new(),
            next_write_us: 0,
            next_sweep_ms: 0,
        }
    }

    /// What this region's clock reads at true time `now_ms`.
    pub fn clock_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_add_signed(self.offset_ms)
    }
}

/// A write a client made, as the reference model and the durability check
/// need it.
#[derive(Clone, Debug)]
pub struct Made {
    pub op: Op,
    /// Per origin, what the writing region's log held when it wrote:
    /// the write's true causal past, as the simulator saw it.
    pub past: Vec<u64>,
    /// When its client got the reply, if it did.
    pub acked_ms: Option<u64>,
}

impl Made {
    /// True if the op `other` is in this write's causal past.
    pub fn saw(&self, other: Dot) -> bool {
        other.seq <= self.past.get(other.region.index()).copied().unwrap_or(0)
    }
}
