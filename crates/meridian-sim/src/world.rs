//! The simulated world: every region, the links between them, the clients,
//! and the event loop with its rounds.

use crate::config::{Broken, FaultKind, SimConfig};
use crate::error::{SimFailure, Violation};
use crate::events::{Event, EventQueue, LinkId, Msg};
use crate::faults;
use crate::history::History;
use crate::link::{Conn, Link};
use crate::net::Net;
use crate::region::{Made, Region};
use crate::rng::{SimRng, Stream};
use crate::rtt::Latencies;
use crate::stats::Stats;
use crate::workload::Workload;
use meridian_core::{Dot, Node, RegionId, Regions};
use std::collections::BTreeMap;

/// Simulated wall-clock time at the start of every run, in ms since the Unix
/// epoch (November 2023), so HLC timestamps look like real ones.
pub const START_MS: u64 = 1_700_000_000_000;

/// Most events one run may process. A run that exceeds it is a livelock
/// (ops resent forever, acks that never settle) and is reported as a failure
/// instead of hanging; the default run uses well under 1% of it.
pub const EVENTS_MAX: u64 = 20_000_000;

/// Where a round stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Clients write and faults strike until `end_ms`.
    Writing {
        end_ms: u64,
    },
    /// Everything healed at `heal_ms`; the world must settle by `deadline_ms`.
    Settling {
        heal_ms: u64,
        deadline_ms: u64,
    },
    Done,
}

/// A whole simulated cluster in one thread.
pub struct World {
    pub(crate) seed: u64,
    pub(crate) cfg: SimConfig,
    pub(crate) regions: Regions,
    pub(crate) now_ms: u64,
    pub(crate) queue: EventQueue,
    pub(crate) rs: Vec<Region>,
    /// Indexed by `link_id(from, to)`; `None` on the diagonal.
    pub(crate) links: Vec<Option<Link>>,
    pub(crate) net: Net<Msg>,
    /// Deliveries scheduled and not yet processed (parked ones excluded).
    pub(crate) in_network: usize,
    pub(crate) workload: Workload,
    fault_rng: SimRng,
    pub(crate) disk_rng: SimRng,
    /// Per origin, every write made there that survives, by seq - 1.
    pub(crate) made: Vec<Vec<Made>>,
    /// Writes their origin lost in a power loss; peers may hold them.
    pub(crate) ghosts: BTreeMap<Dot, Made>,
    /// Welcomes and Acks of acceptors waiting for their log to be synced
    /// (see `repl::on_auth`, `repl::ack_inbox`), in the order made.
    pub(crate) sync_waits: Vec<SyncWait>,
    pub(crate) stats: Stats,
    pub(crate) history: History,
    pub(crate) round: u32,
    pub(crate) phase: Phase,
    /// Greatest HLC physical time any write carried.
    pub(crate) max_hlc_ms: u64,
    /// With `Broken::DropOneOp`: the (receiver, op) dropped forever.
    pub(crate) dropped: Option<(usize, Dot)>,
    /// How long a region keeps records for a silent peer
    /// ([`SimConfig::retention_ms`]).
    pub(crate) retention_ms: u64,
    /// The current round has a long-down episode: its liveness bound
    /// allows for state transfers.
    pub(crate) long_down_round: bool,
    /// How long after the heal of the current round its settling started
    /// counting ([`World::settle_from_ms`]): receivers' clocks catching up
    /// with the most future HLC, or messages slowed by a spike arriving.
    pub(crate) settle_wait_ms: u64,
    /// The largest clock error (either sign) any region had in the current
    /// round, in ms.
    pub(crate) clock_error_max_ms: u64,
}

impl World {
    /// Builds the world of `seed`: regions, links dialling, and the first
    /// round planned. Fails on a bad configuration.
    pub fn new(seed: u64, cfg: &SimConfig) -> Result<World, SimFailure> {
        World::with_trace(seed, cfg, false)
    }

    /// As [`World::new`], keeping the history as text if `trace`.
    pub fn with_trace(seed: u64, cfg: &SimConfig, trace: bool) -> Result<World, SimFailure> {
        let regions = cfg.validate().map_err(|e| SimFailure {
            seed,
            at_ms: 0,
            violation: Box::new(Violation::BadConfig(e)),
            replay: cfg.replay_command(seed),
            history: 0,
        })?;
        let n = regions.len();
        let mut fault_rng = SimRng::stream(seed, Stream::Faults);
        let rs = (0..n)
            .map(|i| {
                let ntp = if cfg.faults.has(FaultKind::Skew) || cfg.faults.has(FaultKind::Jump) {
                    faults::ntp_offset(&mut fault_rng)
                } else {
                    0
                };
                Region::new(&regions, i, ntp, START_MS)
            })
            .collect();
        let delay = one_way_delays(&regions, cfg);
        let mut world = World {
            seed,
            cfg: cfg.clone(),
            now_ms: START_MS,
            queue: EventQueue::default(),
            rs,
            links: (0..n * n)
                .map(|i| (i / n != i % n).then(|| Link::new(i / n, i % n, n)))
                .collect(),
            net: Net::new(
                n,
                SimRng::stream(seed, Stream::Network),
                cfg.jitter_ms,
                |a, b| delay[a * n + b],
            ),
            in_network: 0,
            workload: Workload::new(
                SimRng::stream(seed, Stream::Workload),
                cfg.keys,
                cfg.writes_per_sec_per_region,
                cfg.pipeline_max,
            ),
            fault_rng,
            disk_rng: SimRng::stream(seed, Stream::Disk),
            made: vec![Vec::new(); n],
            ghosts: BTreeMap::new(),
            sync_waits: Vec::new(),
            stats: Stats::default(),
            history: History::new(trace),
            round: 0,
            phase: Phase::Done,
            max_hlc_ms: 0,
            dropped: None,
            retention_ms: cfg.retention_ms(),
            long_down_round: false,
            settle_wait_ms: 0,
            clock_error_max_ms: 0,
            regions,
        };
        for id in 0..world.links.len() {
            if world.links[id].is_some() {
                world.queue.push(START_MS, Event::Dial { link: id });
            }
        }
        for r in 0..n {
            world.queue.push(
                START_MS + crate::snap::MAINTAIN_INTERVAL_MS,
                Event::Maintain { region: r, life: 0 },
            );
        }
        world.begin_round();
        Ok(world)
    }

    pub(crate) fn n(&self) -> usize {
        self.rs.len()
    }

    pub(crate) fn link_id(&self, from: usize, to: usize) -> LinkId {
        from * self.n() + to
    }

    pub(crate) fn link(&mut self, id: LinkId) -> &mut Link {
        self.links[id]
            .as_mut()
            .expect("no link from a region to itself")
    }

    pub(crate) fn link_ref(&self, id: LinkId) -> &Link {
        self.links[id]
            .as_ref()
            .expect("no link from a region to itself")
    }

    /// Ids of every link, in order.
    pub(crate) fn link_ids(&self) -> impl Iterator<Item = LinkId> + '_ {
        (0..self.links.len()).filter(|&i| self.links[i].is_some())
    }

    pub(crate) fn name(&self, r: usize) -> &str {
        &self.regions.names()[r]
    }

    pub(crate) fn broken(&self, b: Broken) -> bool {
        self.cfg.broken == Some(b)
    }

    /// The region set of the cluster.
    pub fn regions(&self) -> &Regions {
        &self.regions
    }

    /// The node of region `id` (its state before a crash while it is down).
    pub fn node(&self, id: RegionId) -> &Node {
        &self.rs[id.index()].node
    }

    /// Current simulated time, ms since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// The history hash so far (see [`crate::history`]).
    pub fn history_hash(&self) -> u64 {
        self.history.hash()
    }

    /// The history as text, if the world was made with a trace.
    pub fn trace(&self) -> Option<&[String]> {
        self.history.lines()
    }

    /// True once the last round has settled and passed its checks.
    pub fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    pub(crate) fn failure(&self, violation: Violation) -> SimFailure {
        SimFailure {
            seed: self.seed,
            at_ms: self.now_ms - START_MS,
            violation: Box::new(violation),
            replay: self.cfg.replay_command(self.seed),
            history: self.history.hash(),
        }
    }

    /// Processes the next event. Returns `Ok(false)` once the last round
    /// has settled and passed every check, an error as soon as a rule is
    /// broken.
    pub fn step(&mut self) -> Result<bool, SimFailure> {
        if self.phase == Phase::Done {
            return Ok(false);
        }
        let Some((at_ms, event)) = self.queue.pop() else {
            let v = self.liveness("nothing left to happen".into());
            return Err(self.failure(v));
        };
        assert!(
            at_ms >= self.now_ms,
            "event at {at_ms} before now {}",
            self.now_ms
        );
        self.now_ms = at_ms;
        self.stats.events += 1;
        if self.stats.events > EVENTS_MAX {
            let why = format!("{} events, {} queued", self.stats.events, self.queue.len());
            return Err(self.failure(Violation::Livelock(why)));
        }
        let line = self.history.tracing().then(|| self.describe(&event));
        self.history.event(at_ms, &event, line);
        self.handle(event).map_err(|v| self.failure(v))?;
        self.start_fsyncs();
        if matches!(self.phase, Phase::Settling { .. }) && self.settled() {
            self.quiescent_point().map_err(|v| self.failure(v))?;
        }
        Ok(self.phase != Phase::Done)
    }

    /// Runs every round to its quiescent point and checks it.
    pub fn run(&mut self) -> Result<(), SimFailure> {
        while self.step()? {}
        Ok(())
    }

    fn handle(&mut self, event: Event) -> Result<(), Violation> {
        match event {
            Event::Write { region } => self.on_write(region),
            Event::Deliver { link, epoch, msg } => self.on_deliver(link, epoch, msg),
            Event::Dial { link } => {
                self.on_dial(link);
                Ok(())
            }
            Event::Closed { link, epoch } => {
                self.on_closed(link, epoch);
                Ok(())
            }
            Event::HandshakeTimeout { link, epoch } => {
                self.on_handshake_timeout(link, epoch);
                Ok(())
            }
            Event::Silence {
                link,
                epoch,
                since_ms,
            } => {
                self.on_silence(link, epoch, since_ms);
                Ok(())
            }
            Event::AckTick { link, epoch } => self.on_ack_tick(link, epoch),
            Event::RelayTick { link, epoch } => {
                self.on_relay_tick(link, epoch);
                Ok(())
            }
            Event::Retry { link, epoch } => self.on_retry(link, epoch),
            Event::Sync { region, life } => self.on_sync(region, life),
            Event::Maintain { region, life } => {
                self.on_maintain(region, life);
                Ok(())
            }
            Event::Fault(step) => self.on_fault(step.action),
            Event::Heal => self.on_heal(),
            Event::Deadline { round } => match self.phase {
                Phase::Settling { deadline_ms, .. } if round == self.round => {
                    let bound = deadline_ms - self.heal_ms();
                    Err(self.liveness(format!("bound {bound} ms")))
                }
                _ => Ok(()),
            },
        }
    }

    fn heal_ms(&self) -> u64 {
        match self.phase {
            Phase::Settling { heal_ms, .. } => heal_ms,
            _ => self.now_ms,
        }
    }

    /// Starts round `self.round`: plans its faults and schedules its writes.
    fn begin_round(&mut self) {
        let len_ms = self.cfg.round_ms();
        let start_ms = self.now_ms;
        let n = self.n();
        let plan = faults::plan(
            &mut self.fault_rng,
            self.cfg.faults,
            n,
            start_ms,
            len_ms,
            self.retention_ms,
        );
        let end_ms = plan.end_ms;
        self.phase = Phase::Writing { end_ms };
        self.settle_wait_ms = 0;
        self.clock_error_max_ms = self
            .rs
            .iter()
            .map(|r| r.offset_ms.unsigned_abs())
            .max()
            .unwrap_or(0);
        self.long_down_round = plan.episodes.contains(&FaultKind::LongDown);
        for k in plan.episodes {
            if !matches!(k, FaultKind::Crash | FaultKind::PowerLoss) {
                self.stats.faults.add(k, 1);
            }
        }
        for step in plan.steps {
            self.queue.push(step.at_ms, Event::Fault(step));
        }
        for r in 0..self.n() {
            self.rs[r].next_write_us = start_ms * 1000;
            self.schedule_write(r);
        }
        self.queue.push(end_ms, Event::Heal);
    }

    /// Schedules region `r`'s next pipeline if it falls in the write phase.
    pub(crate) fn schedule_write(&mut self, r: usize) {
        let Phase::Writing { end_ms } = self.phase else {
            return;
        };
        if self
            .cfg
            .writes_limit
            .is_some_and(|limit| self.stats.writes >= limit)
        {
            return;
        }
        let gap = self.workload.next_gap_us();
        let region = &mut self.rs[r];
        region.next_write_us = region.next_write_us.saturating_add(gap);
        let at_ms = region.next_write_us / 1000;
        if at_ms < end_ms {
            self.queue
                .push(at_ms.max(self.now_ms), Event::Write { region: r });
        }
    }

    /// The write phase ends: every fault heals and the round settles.
    fn on_heal(&mut self) -> Result<(), Violation> {
        for p in self.net.heal_all() {
            self.redeliver(p);
        }
        for r in 0..self.n() {
            let region = &mut self.rs[r];
            region.offset_ms = region.ntp_offset_ms;
            region.held_down = false;
            if !region.up {
                self.restart(r)?;
            }
        }
        let heal_ms = self.settle_from_ms();
        self.settle_wait_ms = heal_ms - self.now_ms;
        let bound = self.liveness_bound_ms();
        let stat = match self.long_down_round {
            true => &mut self.stats.long_bound_ms,
            false => &mut self.stats.liveness_bound_ms,
        };
        *stat = (*stat).max(bound);
        let deadline_ms = heal_ms + bound;
        self.phase = Phase::Settling {
            heal_ms,
            deadline_ms,
        };
        self.queue
            .push(deadline_ms, Event::Deadline { round: self.round });
        Ok(())
    }

    /// A quiescent point: check everything, then start the next round or
    /// finish.
    fn quiescent_point(&mut self) -> Result<(), Violation> {
        let settled_in = self.now_ms.saturating_sub(self.heal_ms());
        let stat = match self.long_down_round {
            true => &mut self.stats.long_settle_ms_max,
            false => &mut self.stats.settle_ms_max,
        };
        *stat = (*stat).max(settled_in);
        let line = self
            .history
            .tracing()
            .then(|| format!("round {} settled in {settled_in} ms: checks", self.round));
        self.history.note(&[self.round as u64, settled_in], line);
        let longest = self.rs.iter().map(|r| r.disk.len() as u64).max();
        self.stats.log_records_max = self.stats.log_records_max.max(longest.unwrap_or(0));
        self.check_quiescent()?;
        self.round += 1;
        if self.round == self.cfg.rounds {
            self.check_replay()?;
            self.phase = Phase::Done;
        } else {
            self.begin_round();
        }
        Ok(())
    }

    /// True when the round has settled: every region up and holding every
    /// surviving write, nothing pending or in flight, every link connected
    /// with nothing unacknowledged.
    pub(crate) fn settled(&self) -> bool {
        if self.in_network > 0 || self.net.parked() > 0 {
            return false;
        }
        let expected: Vec<u64> = self.made.iter().map(|m| m.len() as u64).collect();
        let regions_ok = self.rs.iter().all(|r| {
            r.up && r.node.pending() == 0
                && r.node.vv().as_slice() == expected.as_slice()
                && r.disk.written_lsn() == r.disk.last_lsn()
                && r.replies.is_empty()
        });
        regions_ok
            && self.link_ids().all(|id| {
                let l = self.link_ref(id);
                l.conn == Conn::Up
                    && l.live
                    && l.out.in_flight() == 0
                    && l.inbox.as_ref().is_some_and(|i| i.is_idle() && !i.accepted)
                    && l.stale.is_empty()
                    && l.transfer.is_none()
            })
    }

    /// When the settle phase starts counting: the heal, or later if some
    /// op's clock is so far ahead that receivers hold it until their clocks
    /// catch up, or if messages slowed by a delay spike are still on their
    /// way.
    pub(crate) fn settle_from_ms(&self) -> u64 {
        let clock_ms = self
            .max_hlc_ms
            .saturating_sub(meridian_core::hlc::CLOCK_AHEAD_MS_MAX)
            + faults::NTP_SKEW_MS_MAX;
        self.now_ms.max(clock_ms).max(self.net.spiked_until_ms())
    }

    /// The liveness bound of the current round: see
    /// `base_liveness_bound_ms`, plus, in a round with a long-down
    /// episode, time for state transfers: offer, accept, the snapshot and
    /// the ack after its install (four one-way delays, the sender's wait
    /// for its log to be synced, the bytes at the transfer bandwidth, the
    /// largest snapshot any region last wrote doubled for what the state
    /// may have grown since), and a peer refused meanwhile (its offer came
    /// while another was installing, or lacked what that install brought)
    /// redialling after its longest backoff and handshaking again (four
    /// delays): twice, as a second transfer may follow the first.
    pub fn liveness_bound_ms(&self) -> u64 {
        let base = base_liveness_bound_ms(&self.cfg, self.net.max_base_ms());
        if !self.long_down_round {
            return base;
        }
        use crate::link::RECONNECT_DELAY_MAX_MS;
        let delay = self.net.max_base_ms() + self.cfg.jitter_ms + self.cfg.reorder_delay_ms_max;
        let bytes = self
            .rs
            .iter()
            .filter_map(|r| r.disk.pending.as_ref().or(r.disk.snapshot.as_ref()))
            .map(|s| s.bytes.len() as u64)
            .max()
            .unwrap_or(0);
        let transfer = 4 * delay
            + 2 * crate::disk::FSYNC_MS_MAX
            + crate::snap::transfer_ms(2 * bytes)
            + RECONNECT_DELAY_MAX_MS
            + 4 * delay;
        base + 2 * transfer
    }

    /// A liveness violation describing what is still missing.
    fn liveness(&self, why: String) -> Violation {
        let mut parts = vec![why];
        let expected: Vec<u64> = self.made.iter().map(|m| m.len() as u64).collect();
        parts.push(format!("writes {expected:?}"));
        for (r, region) in self.rs.iter().enumerate() {
            if !region.up
                || region.node.vv().as_slice() != expected.as_slice()
                || region.node.pending() > 0
            {
                parts.push(format!(
                    "{} up={} vv={:?} pending={}",
                    self.name(r),
                    region.up,
                    region.node.vv(),
                    region.node.pending()
                ));
            }
        }
        for id in self.link_ids() {
            let l = self.link_ref(id);
            let inbox_idle = l.inbox.as_ref().is_some_and(|i| i.is_idle());
            if l.conn != Conn::Up || !l.live || l.out.in_flight() > 0 || !inbox_idle {
                parts.push(format!(
                    "link {}->{} conn={:?} live={} in_flight={} inbox={}",
                    self.name(l.from),
                    self.name(l.to),
                    l.conn,
                    l.live,
                    l.out.in_flight(),
                    match &l.inbox {
                        None => "none".to_string(),
                        Some(i) => format!("{:?} queued={}", i.state, i.queue.len()),
                    }
                ));
            }
        }
        parts.push(format!(
            "in network {}, parked {}",
            self.in_network,
            self.net.parked()
        ));
        Violation::Liveness {
            round: self.round,
            bound_ms: match self.phase {
                Phase::Settling {
                    heal_ms,
                    deadline_ms,
                } => deadline_ms - heal_ms,
                _ => 0,
            },
            detail: parts.join("; "),
        }
    }

    /// A one-line description of an event, for traces.
    fn describe(&self, event: &Event) -> String {
        let link = |id: LinkId| {
            let l = self.link_ref(id);
            format!("{}->{}", self.name(l.from), self.name(l.to))
        };
        match event {
            Event::Write { region } => format!("write {}", self.name(*region)),
            Event::Deliver {
                link: id,
                epoch,
                msg,
            } => {
                let what = match msg {
                    Msg::Batch(ops) => {
                        let dots: Vec<String> = ops
                            .iter()
                            .map(|o| format!("{}:{}", self.name(o.dot.region.index()), o.dot.seq))
                            .collect();
                        format!("Batch[{}]", dots.join(" "))
                    }
                    Msg::Welcome(vv) => format!("Welcome{vv:?}"),
                    Msg::Ack(vv) => format!("Ack{vv:?}"),
                    Msg::Offer(vv) => format!("SnapshotOffer{vv:?}"),
                    Msg::Snapshot(s) => {
                        format!("Snapshot of {} bytes holding {:?}", s.bytes.len(), s.seen)
                    }
                    other => format!("{other:?}"),
                };
                format!("deliver {} #{epoch} {what}", link(*id))
            }
            Event::Dial { link: id } => format!("dial {}", link(*id)),
            Event::Closed { link: id, epoch } => format!("closed {} #{epoch}", link(*id)),
            Event::HandshakeTimeout { link: id, epoch } => {
                format!("handshake timeout {} #{epoch}", link(*id))
            }
            Event::Silence {
                link: id, epoch, ..
            } => format!("silence check {} #{epoch}", link(*id)),
            Event::AckTick { link: id, epoch } => format!("ack tick {} #{epoch}", link(*id)),
            Event::RelayTick { link: id, epoch } => format!("relay tick {} #{epoch}", link(*id)),
            Event::Retry { link: id, epoch } => format!("retry held op {} #{epoch}", link(*id)),
            Event::Sync { region, .. } => format!("sync {}", self.name(*region)),
            Event::Maintain { region, .. } => format!("maintain {}", self.name(*region)),
            Event::Fault(step) => format!("fault {:?}", step.action),
            Event::Heal => format!("heal: round {} settles", self.round),
            Event::Deadline { round } => format!("liveness deadline of round {round}"),
        }
    }
}

/// An acceptor's `Welcome` or `Ack` of `vv` on connection `epoch` of
/// `link`, waiting for its log to be synced up to `lsn`.
pub(crate) struct SyncWait {
    pub link: LinkId,
    pub epoch: u64,
    pub lsn: u64,
    pub vv: meridian_core::VersionVector,
    pub welcome: bool,
}

/// Extra time in the liveness bound, in ms, for what the formula leaves
/// out: a retried handshake's own jitter, and an ack tick of a batch that
/// arrived just after the previous one.
pub const LIVENESS_SLACK_MS: u64 = 200;

/// The liveness bound of a round without state transfers, with
/// `max_one_way_ms` the slowest one-way delay of the world: see
/// docs/testing.md. After healing, a dialer may learn of a dead connection
/// only at its next heartbeat, then sleep its longest backoff, its
/// handshake (two round trips) may have been timed out just before the
/// heal and be redone, and its first batch and the ack take one more round
/// trip; an op held for its clock is retried every `CLOCK_AHEAD_RETRY_MS`;
/// acks may wait one ack tick; the Welcome and the ack may each wait for
/// the log to be synced (the fsync under way and the next: two fsyncs
/// each).
pub(crate) fn base_liveness_bound_ms(cfg: &SimConfig, max_one_way_ms: u64) -> u64 {
    use crate::link::{
        ACK_CHECK_INTERVAL_MS, CLOCK_AHEAD_RETRY_MS, HEARTBEAT_INTERVAL_MS, RECONNECT_DELAY_MAX_MS,
    };
    let reorder = if cfg.faults.has(FaultKind::Reorder) {
        cfg.reorder_delay_ms_max
    } else {
        0
    };
    let delay = max_one_way_ms + cfg.jitter_ms + reorder;
    HEARTBEAT_INTERVAL_MS
        + RECONNECT_DELAY_MAX_MS
        + 6 * delay
        + CLOCK_AHEAD_RETRY_MS
        + 2 * ACK_CHECK_INTERVAL_MS
        + 4 * crate::disk::FSYNC_MS_MAX
        + LIVENESS_SLACK_MS
}

/// One-way delays per ordered pair, index `a * n + b`.
fn one_way_delays(regions: &Regions, cfg: &SimConfig) -> Vec<u64> {
    let n = regions.len();
    let matrix = Latencies::builtin();
    let mut out = vec![0; n * n];
    for a in 0..n {
        for b in (0..n).filter(|&b| b != a) {
            out[a * n + b] = cfg.base_latency_ms.unwrap_or_else(|| {
                let (x, y) = (regions.names()[a].as_str(), regions.names()[b].as_str());
                // validate() checked that the matrix has every pair.
                matrix.one_way_ms(x, y).expect("validated pair")
            });
        }
    }
    out
}
