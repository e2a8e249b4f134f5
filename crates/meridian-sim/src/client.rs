//! Client writes, the log appends every change goes through, and the
//! durability that replies and acks wait for.

use crate::config::{Broken, Fsync};
use crate::disk::{EVERYSEC_MS, FSYNC_MS_MAX, FSYNC_MS_MIN, WRITEBACK_MS};
use crate::error::Violation;
use crate::events::Event;
use crate::link::{next_tick_ms, Conn, ACK_CHECK_INTERVAL_MS, RELAY_SCAN_INTERVAL_MS};
use crate::region::Made;
use crate::world::World;
use meridian_core::op::FieldAction;
use meridian_core::{Kind, Op, OpBody};

/// Most keys one sweep expires, as the server's `cmd::expire::SWEEP_KEYS_MAX`.
pub const SWEEP_KEYS_MAX: usize = 200;

/// How often a region sweeps, as the server's `cmd::expire::SWEEP_INTERVAL`.
pub const SWEEP_INTERVAL_MS: u64 = meridian_core::timing::SWEEP_INTERVAL_MS;

impl World {
    /// A client of region `r` sends a pipeline: every write is applied and
    /// appended, and the reply waits until the last record is written.
    pub(crate) fn on_write(&mut self, r: usize) -> Result<(), Violation> {
        if self.rs[r].up {
            self.sweep(r)?;
            self.stats.pipelines += 1;
            let len = self.workload.pipeline_len();
            let mut dots = Vec::with_capacity(len);
            for _ in 0..len {
                if self
                    .cfg
                    .writes_limit
                    .is_some_and(|l| self.stats.writes >= l)
                {
                    break;
                }
                dots.push(self.write_one(r)?);
            }
            let lsn = self.rs[r].disk.last_lsn();
            self.rs[r].replies.push((lsn, dots));
            if self.broken(Broken::ReplyBeforeDurable) {
                self.reply_all(r);
            }
            self.after_append(r);
        }
        self.schedule_write(r);
        Ok(())
    }

    /// The expiry sweep of region `r` (`Node::expire_due`, as the server's
    /// `cmd::expire::sweep`): expiry ops for the keys whose deadline passed
    /// and that it owns, or that no one swept within the grace, and
    /// tombstones every region has seen collected. The server sweeps every
    /// `SWEEP_INTERVAL_MS`; here a region sweeps before a client pipeline
    /// once that long has passed since its last sweep, so only during
    /// write phases. Sweeps stop with the clients' writes limit, so that a
    /// shrunk run keeps its history up to the limit as it was.
    fn sweep(&mut self, r: usize) -> Result<(), Violation> {
        if self.now_ms < self.rs[r].next_sweep_ms
            || self
                .cfg
                .writes_limit
                .is_some_and(|l| self.stats.writes >= l)
        {
            return Ok(());
        }
        self.rs[r].next_sweep_ms = self.now_ms + SWEEP_INTERVAL_MS;
        let clock = self.rs[r].clock_ms(self.now_ms);
        for op in self.rs[r].node.expire_due(clock, SWEEP_KEYS_MAX) {
            self.stats.swept += 1;
            self.record(r, op, false)?;
        }
        Ok(())
    }

    /// Makes one client write at region `r` and appends its op.
    fn write_one(&mut self, r: usize) -> Result<meridian_core::Dot, Violation> {
        let clock = self.rs[r].clock_ms(self.now_ms);
        let (key, write) = self.workload.next_write(&self.rs[r].node, clock);
        let op = self.rs[r].node.write(clock, key, write);
        self.record(r, op, true)
    }

    /// Records an op region `r` made (a client's write, or an expiry op of
    /// its sweep) in the history and appends it to its log.
    fn record(
        &mut self,
        r: usize,
        mut op: Op,
        client: bool,
    ) -> Result<meridian_core::Dot, Violation> {
        if self.rs[r].seen.as_slice() != op.deps.as_slice() {
            return Err(Violation::Causality(format!(
                "{} wrote {:?} with deps {:?}, but its log holds {:?}",
                self.name(r),
                op.dot,
                op.deps,
                self.rs[r].seen
            )));
        }
        let set_remove = matches!(
            &op.body,
            OpBody::Fields { kind: Kind::Set, ops }
                if ops.iter().any(|f| matches!(f.action, FieldAction::Del { .. }))
        );
        if client
            && ((self.broken(Broken::DelRemovesUnseen) && matches!(op.body, OpBody::Del { .. }))
                || (self.broken(Broken::SremRemovesUnseen) && set_remove))
        {
            for i in (0..self.n()).filter(|&i| i != r) {
                let id = crate::link::region(i);
                op.deps.set(id, op.deps.get(id) + 1);
            }
        }
        self.check_reuse(&op)?;
        self.max_hlc_ms = self.max_hlc_ms.max(op.hlc.physical_ms());
        if client {
            self.stats.writes += 1;
        }
        let made = Made {
            op: op.clone(),
            past: self.rs[r].seen.clone(),
            acked_ms: None,
        };
        assert_eq!(
            op.dot.seq as usize,
            self.made[r].len() + 1,
            "seq gap at origin"
        );
        self.made[r].push(made);
        let line = self.history.tracing().then(|| {
            format!(
                "{} writes {}:{} {:?} {:?} at hlc {:?}",
                self.name(r),
                self.name(r),
                op.dot.seq,
                String::from_utf8_lossy(&op.key),
                canonical_body(&op.body),
                op.hlc
            )
        });
        self.history.note(&[op.dot.seq, op.hlc.0], line);
        let dot = op.dot;
        self.append(r, op);
        Ok(dot)
    }

    /// After a power loss, a region may hand out again a sequence number
    /// that peers already hold for another op: report it at once, naming
    /// what diverges.
    fn check_reuse(&mut self, op: &Op) -> Result<(), Violation> {
        let Some(ghost) = self.ghosts.remove(&op.dot) else {
            return Ok(());
        };
        let holders: Vec<&str> = (0..self.n())
            .filter(|&p| self.rs[p].seen[op.dot.region.index()] >= op.dot.seq)
            .map(|p| self.name(p))
            .collect();
        if holders.is_empty() {
            return Ok(());
        }
        Err(Violation::SeqReuse(format!(
            "{} lost {}:{} ({:?} {:?}) in a power loss after shipping it, and now \
             writes {}:{} again as {:?} {:?}; {} hold the first and will treat the \
             second as a duplicate (fsync {})",
            self.name(op.dot.region.index()),
            self.name(op.dot.region.index()),
            op.dot.seq,
            String::from_utf8_lossy(&ghost.op.key),
            ghost.op.body,
            self.name(op.dot.region.index()),
            op.dot.seq,
            String::from_utf8_lossy(&op.key),
            op.body,
            holders.join(", "),
            self.cfg.fsync,
        )))
    }

    /// Appends an op region `r` applied (its own or a peer's) to its log.
    pub(crate) fn append(&mut self, r: usize, op: Op) {
        let origin = op.dot.region.index();
        let region = &mut self.rs[r];
        region.seen[origin] = op.dot.seq;
        region.disk.append(op, self.cfg.fsync, self.now_ms);
        self.schedule_sync(r);
    }

    /// Schedules the next write (`always`) or fsync of region `r`'s log if
    /// records wait for one and none is scheduled.
    fn schedule_sync(&mut self, r: usize) {
        let region = &mut self.rs[r];
        if !region.disk.needs_sync() || region.disk.sync_scheduled {
            return;
        }
        region.disk.sync_scheduled = true;
        let after = match self.cfg.fsync {
            Fsync::Always => self.disk_rng.range(FSYNC_MS_MIN, FSYNC_MS_MAX),
            Fsync::EverySec => EVERYSEC_MS,
            Fsync::No => WRITEBACK_MS,
        };
        let life = region.life;
        self.queue
            .push(self.now_ms + after, Event::Sync { region: r, life });
    }

    /// Region `r`'s log grew (or became durable further): reply to clients,
    /// ship, relay, and let acceptors acknowledge.
    pub(crate) fn after_append(&mut self, r: usize) {
        let written = self.rs[r].disk.written_lsn();
        let ready = self.rs[r]
            .replies
            .partition_point(|(lsn, _)| *lsn <= written);
        if ready > 0 {
            let done: Vec<_> = self.rs[r].replies.drain(..ready).collect();
            for (_, dots) in done {
                self.acknowledge(&dots);
            }
        }
        for p in (0..self.n()).filter(|&p| p != r) {
            let id = self.link_id(r, p);
            self.pump(id);
            self.start_relay_ticks(id);
            let back = self.link_id(p, r);
            self.start_ack_tick(back);
        }
    }

    /// Replies to every waiting pipeline of `r` (a broken variant).
    fn reply_all(&mut self, r: usize) {
        let done: Vec<_> = self.rs[r].replies.drain(..).collect();
        for (_, dots) in done {
            self.acknowledge(&dots);
        }
    }

    fn acknowledge(&mut self, dots: &[meridian_core::Dot]) {
        for d in dots {
            let made = &mut self.made[d.region.index()][d.seq as usize - 1];
            if made.acked_ms.is_none() {
                made.acked_ms = Some(self.now_ms);
                self.stats.writes_acked += 1;
            }
        }
    }

    /// A scheduled write (`always`) or fsync is done.
    pub(crate) fn on_sync(&mut self, r: usize, life: u64) -> Result<(), Violation> {
        if self.rs[r].life != life || !self.rs[r].up {
            return Ok(());
        }
        self.rs[r].disk.sync(self.cfg.fsync);
        self.promote_snapshot(r);
        self.after_append(r);
        self.resume_syncing(r)?;
        // Records appended during the write or fsync wait for the next.
        self.schedule_sync(r);
        Ok(())
    }

    /// Starts the relay timer of link `id` if it is up and idle: the server
    /// scans every `RELAY_SCAN_INTERVAL_MS` from the connection's start.
    pub(crate) fn start_relay_ticks(&mut self, id: usize) {
        let now = self.now_ms;
        let l = self.link(id);
        if l.conn != Conn::Up || l.relay_tick || l.transfer.is_some() {
            return;
        }
        l.relay_tick = true;
        let (epoch, at) = (l.epoch, next_tick_ms(l.up_ms, now, RELAY_SCAN_INTERVAL_MS));
        self.queue.push(at, Event::RelayTick { link: id, epoch });
    }

    /// Starts the ack timer of the acceptor side of link `id` (its region's
    /// version vector moved).
    pub(crate) fn start_ack_tick(&mut self, id: usize) {
        let now = self.now_ms;
        let l = self.link(id);
        let Some(inbox) = l.inbox.as_mut() else {
            return;
        };
        if inbox.tick || !inbox.alive {
            return;
        }
        inbox.tick = true;
        let at = next_tick_ms(inbox.accepted_ms, now, ACK_CHECK_INTERVAL_MS);
        let epoch = inbox.epoch;
        self.queue.push(at, Event::AckTick { link: id, epoch });
    }
}

/// An op body for the trace, with the counter totals of fields (which the
/// core lists in its hash maps' order, different in every process) sorted,
/// so that a seed's trace is the same in every run.
fn canonical_body(body: &OpBody) -> OpBody {
    let mut body = body.clone();
    let sort = |fields: &mut Vec<meridian_core::op::FieldCounts>| {
        fields.sort_by(|a, b| (a.kind, &a.field).cmp(&(b.kind, &b.field)));
    };
    match &mut body {
        OpBody::Set { fields, .. } | OpBody::Del { fields, .. } => sort(fields),
        OpBody::Expired { fields, then, .. } => {
            sort(fields);
            if let Some(t) = then {
                **t = canonical_body(t);
            }
        }
        _ => {}
    }
    body
}
