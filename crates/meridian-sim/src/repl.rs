//! Replication as the server runs it (crates/meridian-server/src/repl):
//! the dialer's connection, handshake, streaming and relaying; the
//! acceptor's applying, holding and acknowledging.

use crate::config::{Broken, FaultKind};
use crate::error::Violation;
use crate::events::{Event, LinkId, Msg};
use crate::link::{
    region, Conn, Inbox, InboxState, CLOCK_AHEAD_RETRY_MS, HANDSHAKE_TIMEOUT_MS,
    LINK_SILENCE_MAX_MS, RELAY_SCAN_INTERVAL_MS, SCAN_RECORDS_MAX,
};
use crate::net::Parked;
use crate::world::{Phase, SyncWait, World};
use meridian_core::link::RELAY_AFTER_MS;
use meridian_core::{Op, ReceiveError};

impl World {
    /// The dialer of `id` connects (its backoff is over, or its region
    /// just started).
    pub(crate) fn on_dial(&mut self, id: LinkId) {
        let from = self.link_ref(id).from;
        if !self.rs[from].up || self.link_ref(id).conn != Conn::Down {
            return;
        }
        let l = self.link(id);
        l.epoch += 1;
        l.live = true;
        l.conn = Conn::Dialing;
        l.transfer = None;
        let epoch = l.epoch;
        self.net.reset_order(id);
        self.send(id, Msg::Hello);
        self.queue.push(
            self.now_ms + HANDSHAKE_TIMEOUT_MS,
            Event::HandshakeTimeout { link: id, epoch },
        );
    }

    /// Connection `epoch` of `id` closes now; its dialer learns it at
    /// `notice_ms` (never, if `notice_ms` is `None`: the dialer is gone).
    pub(crate) fn close(&mut self, id: LinkId, notice_ms: Option<u64>) {
        let l = self.link(id);
        if !l.live {
            return;
        }
        l.live = false;
        l.close_inbox();
        let epoch = l.epoch;
        if let Some(at) = notice_ms {
            self.queue.push(at, Event::Closed { link: id, epoch });
        }
    }

    /// The dialer learns its connection is gone: it sleeps its backoff and
    /// dials again.
    pub(crate) fn on_closed(&mut self, id: LinkId, epoch: u64) {
        let l = self.link(id);
        if l.epoch != epoch || l.conn == Conn::Down {
            return;
        }
        l.conn = Conn::Down;
        l.live = false;
        l.relay_tick = false;
        l.transfer = None;
        let sleep = l.next_backoff_ms();
        self.queue
            .push(self.now_ms + sleep, Event::Dial { link: id });
    }

    pub(crate) fn on_handshake_timeout(&mut self, id: LinkId, epoch: u64) {
        let l = self.link_ref(id);
        if l.epoch == epoch && l.live && l.conn == Conn::Dialing {
            self.stats.handshake_timeouts += 1;
            self.close(id, Some(self.now_ms));
        }
    }

    /// Closes connection `epoch` if it has heard nothing since `since_ms`:
    /// a direction of it is still cut since then, or its acceptor is still
    /// blocked holding an op since then.
    pub(crate) fn on_silence(&mut self, id: LinkId, epoch: u64, since_ms: u64) {
        let l = self.link_ref(id);
        if l.epoch != epoch || !l.live {
            return;
        }
        let (a, b) = (l.from, l.to);
        let cut = |x, y| self.net.is_cut(x, y) && self.net.cut_since_ms(x, y) <= since_ms;
        let holding = l.inbox.as_ref().is_some_and(
            |i| matches!(i.state, InboxState::Holding { since_ms: s } if s <= since_ms),
        );
        if cut(a, b) || cut(b, a) || holding {
            self.stats.silence_closes += 1;
            self.close(id, Some(self.now_ms));
        }
    }

    /// Puts `msg` on connection `epoch` of `id`: maybe lost (the connection
    /// resets), maybe duplicated or held back.
    pub(crate) fn send(&mut self, id: LinkId, msg: Msg) {
        self.send_after(id, msg, 0);
    }

    /// As [`World::send`], for a message that takes `transfer_ms` to put
    /// on the wire (a snapshot): it arrives that much later, and so does
    /// everything sent after it on its connection.
    pub(crate) fn send_after(&mut self, id: LinkId, msg: Msg, transfer_ms: u64) {
        self.stats.messages_sent += 1;
        let l = self.link_ref(id);
        if !l.live {
            self.stats.messages_dropped += 1;
            return;
        }
        let (epoch, forward) = (l.epoch, msg.forward());
        let (a, b) = if forward {
            (l.from, l.to)
        } else {
            (l.to, l.from)
        };
        let faults = self.cfg.faults;
        let writing = matches!(self.phase, Phase::Writing { .. });
        if writing && faults.has(FaultKind::Loss) && self.net.rng().chance(self.cfg.loss_prob) {
            self.stats.faults.add(FaultKind::Loss, 1);
            let notice = self.now_ms + self.net.base_ms(a, b);
            self.close(id, Some(notice));
            return;
        }
        if msg.may_disturb()
            && faults.has(FaultKind::Dup)
            && self.net.rng().chance(self.cfg.dup_prob)
        {
            self.stats.faults.add(FaultKind::Dup, 1);
            let extra = self
                .net
                .rng()
                .range(1, self.cfg.reorder_delay_ms_max.max(1));
            let at = self.net.arrival_ms(self.now_ms, id, forward, (a, b), extra);
            self.deliver_at(at, id, epoch, msg.clone());
        }
        let mut held_ms = 0;
        if msg.may_disturb()
            && faults.has(FaultKind::Reorder)
            && self.cfg.reorder_delay_ms_max > 0
            && self.net.rng().chance(self.cfg.reorder_prob)
        {
            self.stats.faults.add(FaultKind::Reorder, 1);
            held_ms = self.net.rng().range(1, self.cfg.reorder_delay_ms_max);
        }
        let at = self
            .net
            .arrival_ms(self.now_ms + transfer_ms, id, forward, (a, b), held_ms);
        self.deliver_at(at, id, epoch, msg);
    }

    fn deliver_at(&mut self, at_ms: u64, link: LinkId, epoch: u64, msg: Msg) {
        self.in_network += 1;
        self.queue.push(at_ms, Event::Deliver { link, epoch, msg });
    }

    /// A message parked at a cut goes on after the heal.
    pub(crate) fn redeliver(&mut self, p: Parked<Msg>) {
        let l = self.link_ref(p.link);
        let (a, b) = if p.forward {
            (l.from, l.to)
        } else {
            (l.to, l.from)
        };
        let at = self
            .net
            .arrival_ms(self.now_ms, p.link, p.forward, (a, b), 0);
        self.deliver_at(at, p.link, p.epoch, p.msg);
    }

    pub(crate) fn on_deliver(&mut self, id: LinkId, epoch: u64, msg: Msg) -> Result<(), Violation> {
        self.in_network -= 1;
        let l = self.link_ref(id);
        let forward = msg.forward();
        let (a, b) = if forward {
            (l.from, l.to)
        } else {
            (l.to, l.from)
        };
        if self.net.is_cut(a, b) {
            let p = Parked {
                link: id,
                epoch,
                forward,
                msg,
            };
            self.net.park(a, b, p);
            return Ok(());
        }
        if l.epoch != epoch || !l.live {
            self.stats.messages_dropped += 1;
            return Ok(());
        }
        if !self.rs[b].up {
            // The peer's machine answers a connection attempt to a dead
            // process with a reset; anything else was closed at the crash.
            self.stats.messages_dropped += 1;
            let notice = self.now_ms + self.net.base_ms(b, a);
            self.close(id, Some(notice));
            return Ok(());
        }
        self.rs[b].heard_ms[a] = self.now_ms;
        match msg {
            Msg::Hello => self.send(id, Msg::Challenge),
            Msg::Challenge => self.send(id, Msg::Auth),
            Msg::Auth => self.on_auth(id, epoch),
            Msg::Welcome(vv) => self.on_welcome(id, vv),
            Msg::Offer(vv) => self.on_offer(id, epoch, vv),
            Msg::Accept => self.on_accept(id),
            Msg::Snapshot(snap) => self.on_snapshot(id, epoch, *snap)?,
            Msg::Batch(ops) => {
                if let Some(inbox) = self.link(id).inbox.as_mut() {
                    inbox.queue.push_back(ops);
                }
                self.run_inbox(id, epoch)?;
            }
            Msg::Ack(vv) => {
                let l = self.link(id);
                if l.conn != Conn::Up {
                    return Ok(());
                }
                let (from, to) = (l.from, l.to);
                // As the server's dialer: lets the node collect tombstones
                // every region has seen.
                let peer = self.rs[to].node.me();
                self.rs[from].node.peer_seen(peer, &vv);
                self.link(id).out.on_ack(vv.clone());
                self.transfer_acked(id, &vv);
                self.pump(id);
            }
        }
        Ok(())
    }

    /// The acceptor authenticated the dialer: it answers with its version
    /// vector once its log is synced that far (as an ack waits: a peer
    /// counts on what we announce), then starts its connection task.
    fn on_auth(&mut self, id: LinkId, epoch: u64) {
        let to = self.link_ref(id).to;
        let vv = self.rs[to].node.vv().clone();
        let lsn = self.rs[to].disk.last_lsn();
        if self.rs[to].disk.synced_lsn() >= lsn {
            self.welcome(id, epoch, vv);
        } else {
            self.sync_waits.push(SyncWait {
                link: id,
                epoch,
                lsn,
                vv,
                welcome: true,
            });
        }
    }

    /// Sends `Welcome` on connection `epoch` of `id` if it is still open,
    /// and starts the acceptor's task.
    fn welcome(&mut self, id: LinkId, epoch: u64, vv: meridian_core::VersionVector) {
        let now = self.now_ms;
        let l = self.link(id);
        if !l.live || l.epoch != epoch {
            return;
        }
        l.close_inbox();
        l.inbox = Some(Inbox::new(epoch, now));
        self.send(id, Msg::Welcome(vv));
        self.start_ack_tick(id);
    }

    /// The dialer is welcomed with the peer's version vector: it streams
    /// from its log if the log holds its own ops the peer lacks, else it
    /// offers a snapshot (see [`crate::snap`]).
    fn on_welcome(&mut self, id: LinkId, vv: meridian_core::VersionVector) {
        let now = self.now_ms;
        let skip = self.broken(Broken::ResumeSkipsOne);
        let from = self.link_ref(id).from;
        let disk = &self.rs[from].disk;
        let serves = disk.base.serves(region(from), &vv) || self.broken(Broken::ServeTruncated);
        let first = disk.first_lsn();
        let l = self.link(id);
        if l.conn != Conn::Dialing {
            return;
        }
        l.out.on_welcome(vv, first);
        l.conn = Conn::Up;
        l.up_ms = now;
        l.connects += 1;
        l.skip_next = skip && l.connects > 1;
        l.relay_tick = false;
        self.stats.connects += 1;
        if !serves {
            self.offer(id);
            return;
        }
        self.pump(id);
        self.start_relay_ticks(id);
    }

    /// Sends every synced own op the peer lacks, as `dial::stream_ops`
    /// does: read a window of the log, send the wanted ops in it, record
    /// the read, while the window of unacknowledged batches has room. Only
    /// synced ops: one the origin could lose in a power loss must never
    /// reach a peer (it would reuse its sequence number).
    pub(crate) fn pump(&mut self, id: LinkId) {
        if self.link_ref(id).conn != Conn::Up || self.pump_transfer(id) {
            return;
        }
        let ship_unsynced = self.broken(Broken::ShipUnsynced);
        let l = self.links[id].as_mut().expect("no link to self");
        let disk = &self.rs[l.from].disk;
        if l.out.next_lsn() < disk.first_lsn() && !disk.base.serves(region(l.from), l.out.peer_vv())
        {
            // The log was truncated under the link past our ops the peer
            // lacks (only a broken policy does that to a peer that is
            // heard from): end the session; the next one offers a
            // snapshot, as `dial::read_synced` does.
            self.close(id, Some(self.now_ms));
            return;
        }
        let synced = match ship_unsynced {
            true => disk.written_lsn(),
            false => disk.synced_lsn(),
        };
        // Records below the first held were dropped: every peer that is
        // not left behind had acknowledged them (see `crate::snap`).
        let first = disk.first_lsn();
        let mut batches = Vec::new();
        while l.out.can_send() && l.out.next_lsn() <= synced {
            let start = l.out.next_lsn().max(first);
            let end = synced.min(start + SCAN_RECORDS_MAX as u64 - 1);
            let mut batch: Vec<Op> = Vec::new();
            let mut max_seq = 0;
            for lsn in start..=end {
                let op = disk.record(lsn);
                if l.out.wants(op.dot) {
                    max_seq = max_seq.max(op.dot.seq);
                    batch.push(op.clone());
                }
            }
            if l.skip_next && !batch.is_empty() {
                l.skip_next = false;
                batch.remove(0);
            }
            l.out.on_sent(end, max_seq);
            if !batch.is_empty() {
                batches.push(batch);
            }
        }
        for b in batches {
            self.send(id, Msg::Batch(b));
        }
    }

    /// The dialer's periodic relay scan (`dial::relay`): other regions'
    /// synced ops the peer has not acknowledged, once older than
    /// `RELAY_AFTER_MS` by the local clock.
    pub(crate) fn on_relay_tick(&mut self, id: LinkId, epoch: u64) {
        let now = self.now_ms;
        let l = self.link_ref(id);
        if l.epoch != epoch || l.conn != Conn::Up {
            return;
        }
        let from = l.from;
        let old_enough_ms = self.rs[from].clock_ms(now).saturating_sub(RELAY_AFTER_MS);
        let l = self.links[id].as_mut().expect("no link to self");
        if l.transfer.is_some() {
            // Relays start with the stream, after the transfer.
            l.relay_tick = false;
            return;
        }
        let disk = &self.rs[from].disk;
        let synced = disk.synced_lsn();
        let first = disk.first_lsn();
        let mut batches = Vec::new();
        while l.out.relay_next_lsn() <= synced {
            let start = l.out.relay_next_lsn().max(first);
            if start > synced {
                // Everything left to scan was dropped (acknowledged by
                // every peer not left behind).
                l.out.on_relay_scanned(synced, false);
                break;
            }
            let end = synced.min(start + SCAN_RECORDS_MAX as u64 - 1);
            let mut batch = Vec::new();
            let mut last = None;
            let mut young = false;
            for lsn in start..=end {
                let op = disk.record(lsn);
                if op.hlc.physical_ms() > old_enough_ms {
                    young = true;
                    break;
                }
                if l.out.relay_wants(op.dot) {
                    batch.push(op.clone());
                }
                last = Some(lsn);
            }
            let Some(last) = last else { break };
            let relayed = !batch.is_empty();
            l.out.on_relay_scanned(last, relayed);
            if relayed {
                batches.push(batch);
            }
            if young {
                break;
            }
        }
        let more = l.out.relay_next_lsn() <= synced;
        l.relay_tick = more;
        for b in batches {
            self.stats.ops_relayed += b.len() as u64;
            self.send(id, Msg::Batch(b));
        }
        if more {
            self.queue.push(
                now + RELAY_SCAN_INTERVAL_MS,
                Event::RelayTick { link: id, epoch },
            );
        }
    }

    /// The acceptor's periodic check: acknowledge if the version vector
    /// moved since the last ack.
    pub(crate) fn on_ack_tick(&mut self, id: LinkId, epoch: u64) -> Result<(), Violation> {
        let to = self.link_ref(id).to;
        let vv_now = self.rs[to].node.vv().clone();
        let skip = self.broken(Broken::NoAckOnProgress);
        let Some(inbox) = self.link(id).inbox_mut(epoch) else {
            return Ok(());
        };
        inbox.tick = false;
        if skip || !inbox.alive || !inbox.is_idle() || inbox.acked == vv_now {
            return Ok(());
        }
        if self.ack_waiting(id, epoch) {
            return Ok(());
        }
        self.begin_ack(id, epoch);
        Ok(())
    }

    /// Retries the op an acceptor held for its clock.
    pub(crate) fn on_retry(&mut self, id: LinkId, epoch: u64) -> Result<(), Violation> {
        let Some(inbox) = self.link(id).inbox_mut(epoch) else {
            return Ok(());
        };
        if matches!(inbox.state, InboxState::Holding { .. }) {
            inbox.state = InboxState::Idle;
        }
        self.run_inbox(id, epoch)
    }

    /// Runs the acceptor task of connection `epoch` of `id` until it waits:
    /// applies batches in order, holds an op whose clock is too far ahead,
    /// and acknowledges each batch once it is synced (without waiting for
    /// that: it goes on applying, as `accept::receive_ops`).
    pub(crate) fn run_inbox(&mut self, id: LinkId, epoch: u64) -> Result<(), Violation> {
        let Some(mut inbox) = self.link(id).take_inbox(epoch) else {
            return Ok(());
        };
        let result = self.drain_inbox(id, &mut inbox);
        self.link(id).put_inbox(inbox);
        // The server's ack check ticks on: if the vv moved while the task
        // was busy, the next tick acknowledges it.
        let to = self.link_ref(id).to;
        let behind = self
            .link_ref(id)
            .inbox
            .as_ref()
            .is_some_and(|i| i.is_idle() && i.acked != *self.rs[to].node.vv());
        if behind {
            self.start_ack_tick(id);
        }
        result
    }

    fn drain_inbox(&mut self, id: LinkId, inbox: &mut Inbox) -> Result<(), Violation> {
        let to = self.link_ref(id).to;
        while inbox.state == InboxState::Idle {
            if inbox.current.is_empty() {
                if !inbox.alive {
                    return Ok(());
                }
                match inbox.queue.pop_front() {
                    Some(batch) => inbox.current = batch.into(),
                    None => return Ok(()),
                }
            }
            while let Some(op) = inbox.current.pop_front() {
                match self.receive(to, op.clone())? {
                    Ok(()) => inbox.held_since_ms = None,
                    Err(ReceiveError::ClockAhead(_)) => {
                        inbox.current.push_front(op);
                        self.hold(id, inbox);
                        return Ok(());
                    }
                    Err(ReceiveError::BufferFull(_)) => {
                        // The server closes the connection; the dialer
                        // resends later.
                        inbox.current.clear();
                        inbox.alive = false;
                        let notice = self.now_ms + self.net.base_ms(to, self.link_ref(id).from);
                        self.close(id, Some(notice));
                        return Ok(());
                    }
                    Err(e) => {
                        return Err(Violation::Receive {
                            region: self.name(to).to_string(),
                            dot: format!("{}:{}", self.name(op.dot.region.index()), op.dot.seq),
                            error: e.to_string(),
                        })
                    }
                }
            }
            self.after_append(to);
            if !inbox.alive {
                return Ok(());
            }
            // The batch is applied: acknowledge once synced (if an Ack waits
            // already, the one made when it is sent covers this batch).
            self.ack_inbox(id, inbox);
        }
        Ok(())
    }

    fn hold(&mut self, id: LinkId, inbox: &mut Inbox) {
        let now = self.now_ms;
        let first = inbox.held_since_ms.is_none();
        let since_ms = *inbox.held_since_ms.get_or_insert(now);
        inbox.state = InboxState::Holding { since_ms };
        let epoch = inbox.epoch;
        self.queue
            .push(now + CLOCK_AHEAD_RETRY_MS, Event::Retry { link: id, epoch });
        if first {
            self.stats.clock_holds += 1;
        }
        if first && inbox.alive {
            self.queue.push(
                now + LINK_SILENCE_MAX_MS,
                Event::Silence {
                    link: id,
                    epoch,
                    since_ms: now,
                },
            );
        }
    }

    /// Acknowledges on an inbox that is in hand (not in its link) what the
    /// node applied, once the log is synced (not only written) that far, as
    /// `accept::Pending`: the sender keeps what we acknowledge for good (its
    /// `peer_seen`, its relay scan), so a power loss here must not lose it.
    /// The task does not wait: the Ack waits in `sync_waits`, at most one
    /// per connection. An Ack that waited and is synced by now goes first
    /// (the server's task sends it as soon as it looks again), and covers
    /// this batch if the node applied nothing since it was made.
    fn ack_inbox(&mut self, id: LinkId, inbox: &mut Inbox) {
        let to = self.link_ref(id).to;
        let epoch = inbox.epoch;
        let waiting = self
            .sync_waits
            .iter()
            .position(|w| !w.welcome && w.link == id && w.epoch == epoch);
        if let Some(i) = waiting {
            if self.sync_waits[i].lsn > self.rs[to].disk.synced_lsn() {
                return;
            }
            let w = self.sync_waits.remove(i);
            inbox.acked = w.vv.clone();
            self.send_from_inbox(id, epoch, Msg::Ack(w.vv));
            if inbox.acked == *self.rs[to].node.vv() {
                return;
            }
        }
        let vv = self.rs[to].node.vv().clone();
        let lsn = self.rs[to].disk.last_lsn();
        if self.broken(Broken::AckBeforeDurable) || self.rs[to].disk.synced_lsn() >= lsn {
            inbox.acked = vv.clone();
            self.send_from_inbox(id, epoch, Msg::Ack(vv));
        } else {
            self.sync_waits.push(SyncWait {
                link: id,
                epoch,
                lsn,
                vv,
                welcome: false,
            });
        }
    }

    /// True if an Ack of connection `epoch` of `id` waits for the log.
    fn ack_waiting(&self, id: LinkId, epoch: u64) -> bool {
        self.sync_waits
            .iter()
            .any(|w| !w.welcome && w.link == id && w.epoch == epoch)
    }

    /// Starts an ack on the inbox in its link.
    pub(crate) fn begin_ack(&mut self, id: LinkId, epoch: u64) {
        if let Some(mut inbox) = self.link(id).take_inbox(epoch) {
            self.ack_inbox(id, &mut inbox);
            self.link(id).put_inbox(inbox);
        }
    }

    fn send_from_inbox(&mut self, id: LinkId, epoch: u64, msg: Msg) {
        let l = self.link_ref(id);
        if l.live && l.epoch == epoch {
            self.send(id, msg);
        }
    }

    /// Region `r`'s log was synced further: acceptors waiting to welcome
    /// or to ack go on. After an Ack, what the node applied while it waited
    /// is acknowledged next. A task holding an op for its clock sends
    /// nothing until its batch is done (the server's sleeps in the middle
    /// of applying it); `ack_inbox` sends its Ack then.
    pub(crate) fn resume_syncing(&mut self, r: usize) -> Result<(), Violation> {
        let synced = self.rs[r].disk.synced_lsn();
        let mut i = 0;
        while i < self.sync_waits.len() {
            let w = &self.sync_waits[i];
            let l = self.link_ref(w.link);
            let holding = l
                .inbox
                .iter()
                .chain(&l.stale)
                .any(|b| b.epoch == w.epoch && matches!(b.state, InboxState::Holding { .. }));
            if l.to != r || w.lsn > synced || holding {
                i += 1;
                continue;
            }
            let w = self.sync_waits.remove(i);
            if w.welcome {
                self.welcome(w.link, w.epoch, w.vv);
                continue;
            }
            let moved = w.vv != *self.rs[r].node.vv();
            let Some(inbox) = self.link(w.link).inbox_mut(w.epoch) else {
                continue;
            };
            inbox.acked = w.vv.clone();
            let more = inbox.alive && moved;
            self.send_from_inbox(w.link, w.epoch, Msg::Ack(w.vv));
            if more {
                // Appended at the end: this pass sees it.
                self.begin_ack(w.link, w.epoch);
            }
        }
        Ok(())
    }

    /// Hands one op to region `to`'s node; logs what it applied, checking
    /// causality independently of the core. The inner result is the core's
    /// refusal, which the caller handles as the server does.
    fn receive(&mut self, to: usize, op: Op) -> Result<Result<(), ReceiveError>, Violation> {
        if self.broken(Broken::DropOneOp) {
            let lost = *self.dropped.get_or_insert((to, op.dot));
            if lost == (to, op.dot) {
                return Ok(Ok(()));
            }
        }
        self.stats.deliveries += 1;
        let clock = self.rs[to].clock_ms(self.now_ms);
        let node = &mut self.rs[to].node;
        let vv_before = node.vv().clone();
        let received = match node.receive(clock, op) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        if received.duplicate {
            self.stats.duplicates_delivered += 1;
        }
        // Always-on invariant: a node only moves forward, by exactly the
        // ops it reports applied.
        let node = &self.rs[to].node;
        assert!(node.vv().dominates(&vv_before), "version vector went back");
        assert_eq!(
            node.vv().ahead_of(&vv_before),
            received.applied.len() as u64,
            "applied ops do not match the version vector"
        );
        self.stats.pending_max = self.stats.pending_max.max(node.pending());
        for applied in received.applied {
            self.check_causal(to, &applied)?;
            self.append(to, applied);
        }
        Ok(Ok(()))
    }
}
