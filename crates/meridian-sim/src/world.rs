//! The simulated world: every region's node, the links between them, the
//! clients, and the event loop that drives them.

use crate::config::SimConfig;
use crate::error::{SimFailure, Violation};
use crate::events::{Event, EventQueue, LinkId, Msg};
use crate::faults;
use crate::link::region;
use crate::link::{Conn, Link, FIRST_LSN};
use crate::rng::{SimRng, Stream};
use crate::rtt::Latencies;
use crate::workload::Workload;
use meridian_core::{Dot, Node, Op, RegionId, Regions, VersionVector};

/// Simulated wall-clock time at the start of every run, in ms since the Unix
/// epoch (November 2023), so HLC timestamps look like real ones.
pub const START_MS: u64 = 1_700_000_000_000;

/// Most events one run may process. A run that exceeds it is a livelock
/// (ops resent forever, acks that never settle) and is reported as a failure
/// instead of hanging the test; the default run uses about 1% of it.
pub const EVENTS_MAX: u64 = 5_000_000;

/// Longest the world may take to settle after the write phase, in simulated
/// ms: catching up after the last heal needs a few round trips, so an hour
/// means a message loop, not slowness.
pub const QUIESCE_MS_MAX: u64 = 3_600_000;

/// Counters of what happened in a run.
#[derive(Clone, Debug, Default)]
pub(crate) struct Stats {
    pub events: u64,
    pub writes: u64,
    pub deliveries: u64,
    pub duplicates_delivered: u64,
    pub messages_sent: u64,
    pub messages_duplicated: u64,
    pub messages_dropped: u64,
    pub link_cuts: u64,
    pub pending_max: usize,
}

/// A whole simulated cluster in one thread.
pub struct World {
    pub(crate) seed: u64,
    pub(crate) cfg: SimConfig,
    pub(crate) regions: Regions,
    pub(crate) now_ms: u64,
    end_ms: u64,
    queue: EventQueue,
    pub(crate) nodes: Vec<Node>,
    /// Per region, every op applied there in order (its own and others'),
    /// as the server logs them; LSN = index + `FIRST_LSN`.
    pub(crate) logs: Vec<Vec<Op>>,
    /// Indexed by `link_id(from, to)`; `None` on the diagonal.
    links: Vec<Option<Link>>,
    workload: Workload,
    net: SimRng,
    /// Every write made anywhere, for the reference checks.
    pub(crate) made: Vec<Op>,
    pub(crate) stats: Stats,
    pub(crate) episodes: u64,
    /// With `skip_one_delivery`: the (receiver, op) dropped forever.
    lost: Option<(usize, Dot)>,
}

impl World {
    /// Builds the world of `seed`: nodes, links dialling, the fault plan and
    /// every region's first write scheduled. Fails on a bad configuration.
    pub fn new(seed: u64, cfg: &SimConfig) -> Result<World, SimFailure> {
        let regions = cfg.validate().map_err(|e| SimFailure {
            seed,
            at_ms: 0,
            violation: Box::new(Violation::BadConfig(e)),
            replay: cfg.replay_hint(seed),
        })?;
        let n = regions.len();
        let mut world = World {
            seed,
            cfg: cfg.clone(),
            nodes: regions
                .ids()
                .map(|id| Node::new(regions.clone(), id))
                .collect(),
            links: Self::make_links(&regions, cfg),
            regions,
            now_ms: START_MS,
            end_ms: START_MS + cfg.duration_ms,
            queue: EventQueue::default(),
            logs: vec![Vec::new(); n],
            workload: Workload::new(
                SimRng::stream(seed, Stream::Workload),
                cfg.keys,
                n,
                cfg.writes_per_sec_per_region,
            ),
            net: SimRng::stream(seed, Stream::Network),
            made: Vec::new(),
            stats: Stats::default(),
            episodes: 0,
            lost: None,
        };
        for id in 0..world.links.len() {
            if world.links[id].is_some() {
                world.send(id, Msg::Hello);
            }
        }
        if cfg.partitions {
            let mut rng = SimRng::stream(seed, Stream::Faults);
            let (episodes, steps) = faults::plan(&mut rng, n, cfg.duration_ms);
            world.episodes = episodes;
            for s in steps {
                let link = world.link_id(s.from, s.to);
                let event = if s.cut {
                    Event::Cut { link }
                } else {
                    Event::Heal { link }
                };
                world.queue.push(START_MS + s.at_ms, event);
            }
        }
        for r in 0..n {
            world.schedule_write(r);
        }
        Ok(world)
    }

    fn make_links(regions: &Regions, cfg: &SimConfig) -> Vec<Option<Link>> {
        let n = regions.len();
        let matrix = Latencies::builtin();
        let delay = |a: usize, b: usize| {
            cfg.base_latency_ms.unwrap_or_else(|| {
                let (a, b) = (regions.names()[a].as_str(), regions.names()[b].as_str());
                // validate() checked that the matrix has every pair.
                matrix.one_way_ms(a, b).expect("validated pair")
            })
        };
        let mut links = Vec::with_capacity(n * n);
        for from in 0..n {
            for to in 0..n {
                links.push(
                    (from != to).then(|| Link::new(from, to, delay(from, to), delay(to, from), n)),
                );
            }
        }
        links
    }

    fn link_id(&self, from: usize, to: usize) -> LinkId {
        from * self.nodes.len() + to
    }

    fn link(&mut self, id: LinkId) -> &mut Link {
        self.links[id]
            .as_mut()
            .expect("no link from a region to itself")
    }

    /// The region set of the cluster.
    pub fn regions(&self) -> &Regions {
        &self.regions
    }

    /// The node of region `id`.
    pub fn node(&self, id: RegionId) -> &Node {
        &self.nodes[id.index()]
    }

    /// Current simulated time, ms since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Processes the next event. Returns `Ok(false)` once nothing is left to
    /// happen (quiescence), an error as soon as a rule is broken.
    pub fn step(&mut self) -> Result<bool, SimFailure> {
        let Some((at_ms, event)) = self.queue.pop() else {
            return Ok(false);
        };
        assert!(
            at_ms >= self.now_ms,
            "event at {at_ms} before now {}",
            self.now_ms
        );
        self.now_ms = at_ms;
        self.stats.events += 1;
        if self.stats.events > EVENTS_MAX || at_ms > self.end_ms + QUIESCE_MS_MAX {
            let why = format!(
                "{} events, {} ms past the write phase, {} still queued",
                self.stats.events,
                at_ms.saturating_sub(self.end_ms),
                self.queue.len()
            );
            return Err(self.failure(Violation::NotQuiescent(why)));
        }
        match event {
            Event::Write { region } => self.on_write(region),
            Event::Deliver { link, epoch, msg } => self.on_deliver(link, epoch, msg)?,
            Event::Cut { link } => self.on_cut(link),
            Event::Heal { link } => self.on_heal(link),
        }
        Ok(true)
    }

    /// Runs the write phase and then until quiescence: every fault healed,
    /// every message delivered or lost, nothing left to resend.
    pub fn run(&mut self) -> Result<(), SimFailure> {
        while self.step()? {}
        Ok(())
    }

    /// True if no event is left.
    pub fn is_quiescent(&self) -> bool {
        self.queue.is_empty()
    }

    pub(crate) fn failure(&self, violation: Violation) -> SimFailure {
        SimFailure {
            seed: self.seed,
            at_ms: self.now_ms - START_MS,
            violation: Box::new(violation),
            replay: self.cfg.replay_hint(self.seed),
        }
    }

    fn schedule_write(&mut self, r: usize) {
        let at_ms = START_MS + self.workload.next_write_ms(r);
        if at_ms < self.end_ms {
            self.queue.push(at_ms, Event::Write { region: r });
        }
    }

    fn on_write(&mut self, r: usize) {
        let (key, write) = self.workload.next_write(&self.nodes[r], self.now_ms);
        let op = self.nodes[r].write(self.now_ms, key, write);
        self.logs[r].push(op.clone());
        self.made.push(op);
        self.stats.writes += 1;
        for p in (0..self.nodes.len()).filter(|&p| p != r) {
            self.pump(self.link_id(r, p));
        }
        self.schedule_write(r);
    }

    fn on_cut(&mut self, id: LinkId) {
        if self.link(id).cut() {
            self.stats.link_cuts += 1;
        }
    }

    fn on_heal(&mut self, id: LinkId) {
        if self.link(id).heal() {
            self.send(id, Msg::Hello);
        }
    }

    fn on_deliver(&mut self, id: LinkId, epoch: u64, msg: Msg) -> Result<(), SimFailure> {
        let now_ms = self.now_ms;
        let link = self.link(id);
        if !link.carries(epoch) {
            self.stats.messages_dropped += 1;
            return Ok(());
        }
        let (from, to) = (link.from, link.to);
        match msg {
            Msg::Hello => {
                link.accepted = Some(epoch);
                let vv = self.nodes[to].vv().clone();
                self.send(id, Msg::Welcome(vv));
            }
            Msg::Welcome(vv) => {
                assert_eq!(link.conn, Conn::Dialing, "second Welcome on one connection");
                link.out.on_welcome(vv, FIRST_LSN);
                link.conn = Conn::Up;
                self.pump(id);
            }
            Msg::Batch(ops) => {
                let before = self.nodes[to].vv().clone();
                for op in ops {
                    self.deliver_op(to, op, now_ms)?;
                }
                self.send(id, Msg::Ack(self.nodes[to].vv().clone()));
                self.ack_released(to, from, &before);
            }
            Msg::Ack(vv) => {
                // The network may reorder an Ack ahead of the Welcome of its
                // connection; TCP would not, so the sender drops it.
                if link.conn == Conn::Dialing {
                    self.stats.messages_dropped += 1;
                    return Ok(());
                }
                link.out.on_ack(vv);
                self.pump(id);
            }
        }
        Ok(())
    }

    /// Acknowledges, on the links of other senders, their ops that region
    /// `to` held for missing causes and has now applied (its version vector
    /// grew for them since `before`).
    ///
    /// Without this, a sender whose ops were held fills its window of
    /// unacknowledged batches, stops sending, and waits forever for an Ack
    /// that only a new batch from it would trigger: a deadlock found by the
    /// first version of this simulator. The server must do the same.
    fn ack_released(&mut self, to: usize, batch_from: usize, before: &VersionVector) {
        if self.cfg.ack_batches_only {
            return;
        }
        let vv = self.nodes[to].vv().clone();
        for o in 0..self.nodes.len() {
            if o == to || o == batch_from || vv.get(region(o)) == before.get(region(o)) {
                continue;
            }
            let id = self.link_id(o, to);
            let link = self.link(id);
            // Only on a connection the receiver has accepted (a cut link
            // loses the Ack in `send`; the next Welcome carries the vv).
            if link.accepted == Some(link.epoch) {
                self.send(id, Msg::Ack(vv.clone()));
            }
        }
    }

    /// Hands one op to region `to`'s node and logs what it applied.
    fn deliver_op(&mut self, to: usize, op: Op, now_ms: u64) -> Result<(), SimFailure> {
        if self.cfg.skip_one_delivery {
            let lost = *self.lost.get_or_insert((to, op.dot));
            if lost == (to, op.dot) {
                return Ok(());
            }
        }
        self.stats.deliveries += 1;
        let dot = op.dot;
        let node = &mut self.nodes[to];
        let vv_before = node.vv().clone();
        match node.receive(now_ms, op) {
            Ok(received) => {
                if received.duplicate {
                    self.stats.duplicates_delivered += 1;
                }
                // Always-on invariant: a node only moves forward, by exactly
                // the ops it reports applied.
                assert!(node.vv().dominates(&vv_before), "version vector went back");
                assert_eq!(
                    node.vv().ahead_of(&vv_before),
                    received.applied.len() as u64,
                    "applied ops do not match the version vector"
                );
                self.stats.pending_max = self.stats.pending_max.max(node.pending());
                self.logs[to].extend(received.applied);
                Ok(())
            }
            Err(e) => Err(self.failure(Violation::Receive {
                region: self.regions.names()[to].clone(),
                dot: format!("{}:{}", self.regions.names()[dot.region.index()], dot.seq),
                error: e.to_string(),
            })),
        }
    }

    /// Sends every op of the link's sender that the peer lacks, in batches,
    /// while the window of unacknowledged batches has room.
    fn pump(&mut self, id: LinkId) {
        let link = self.links[id]
            .as_mut()
            .expect("no link from a region to itself");
        let log = &self.logs[link.from];
        let batches: Vec<Vec<Op>> = std::iter::from_fn(|| link.next_batch(log)).collect();
        for batch in batches {
            self.send(id, Msg::Batch(batch));
        }
    }

    /// Puts `msg` on the wire of link `id`: lost at once if the link is cut,
    /// else delivered after the link's delay, jitter and maybe a reordering
    /// delay, and maybe twice.
    fn send(&mut self, id: LinkId, msg: Msg) {
        self.stats.messages_sent += 1;
        let link = self.links[id]
            .as_ref()
            .expect("no link from a region to itself");
        if link.is_cut() {
            self.stats.messages_dropped += 1;
            return;
        }
        let epoch = link.epoch;
        let base_ms = if msg.forward() {
            link.forward_ms
        } else {
            link.back_ms
        };
        let copies = if msg.may_duplicate() && self.net.chance(self.cfg.dup_prob) {
            self.stats.messages_duplicated += 1;
            2
        } else {
            1
        };
        for _ in 1..copies {
            let at_ms = self.now_ms + self.delay_ms(base_ms);
            let event = Event::Deliver {
                link: id,
                epoch,
                msg: msg.clone(),
            };
            self.queue.push(at_ms, event);
        }
        let at_ms = self.now_ms + self.delay_ms(base_ms);
        self.queue.push(
            at_ms,
            Event::Deliver {
                link: id,
                epoch,
                msg,
            },
        );
    }

    fn delay_ms(&mut self, base_ms: u64) -> u64 {
        let mut d = base_ms + self.net.range(0, self.cfg.jitter_ms);
        if self.cfg.reorder_delay_ms_max > 0 && self.net.chance(self.cfg.reorder_prob) {
            d += self.net.range(1, self.cfg.reorder_delay_ms_max);
        }
        d
    }
}
