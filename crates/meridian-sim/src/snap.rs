//! Snapshots, log truncation and the full state transfer, as the server
//! runs them (the policy of `meridian_core::snapshot`):
//!
//! - **Snapshots.** Every [`MAINTAIN_INTERVAL_MS`] a region looks at its
//!   log: once [`SNAPSHOT_RECORDS`] records came since its newest snapshot,
//!   or any did and that snapshot is [`SNAPSHOT_INTERVAL_MS`] old, it
//!   encodes its node (`Node::encode_snapshot`) with the LSN of its last
//!   record. The snapshot becomes durable, atomically, once the log is
//!   synced up to that LSN (the server renames the file into place then):
//!   a restart never finds a snapshot covering records its log lost, and a
//!   crash before keeps the previous one. Writing it is modelled as taking
//!   no time.
//! - **Truncation.** A region drops the records a durable snapshot
//!   covers (LSN `<= s`, version vector `vv_s`) once every peer has
//!   acknowledged `vv_s` (its `Welcome` and `Ack`s, as its link keeps
//!   them) or is *left behind*: nothing heard from it, on any connection,
//!   for longer than the retention ([`crate::SimConfig::retention_ms`]; a
//!   connection that is up and whose direction from the peer is not cut
//!   counts as heard, as the server's heartbeats would be). It checks after
//!   each snapshot and at each maintenance pass, against every snapshot
//!   written since the last truncation, newest first (not only the newest:
//!   a snapshot covers ops applied a moment before, which no peer has
//!   acknowledged yet, so with peers lagging more than a snapshot interval
//!   (a slow path, a clock held back) the newest one never would be, and
//!   the log would grow for as long as the lag lasts), and records
//!   `LogBase::truncated(vv_s)` with the snapshot. Nothing is dropped while
//!   a snapshot offer this region accepted is on its way (the base must not
//!   grow under it).
//! - **Restart** from the newest durable snapshot (`Node::from_snapshot`)
//!   plus the records after its LSN, skipping what it covers.
//! - **Serving.** On `Welcome{vv}` a link streams from the log as before if
//!   `LogBase::serves` (resume positions below the first record held move
//!   up to it; a link that finds its log truncated under it past its own
//!   ops the peer lacks ends the session, so that the next one offers a
//!   snapshot). Otherwise it sends `Offer{its vv}`; the peer accepts if
//!   `LogBase::admits` it and no other transfer is under way into it, else
//!   closes the connection (a refusal; the dialer redials after its
//!   backoff). On `Accept` the sender encodes its node, waits until its log
//!   is synced up to the snapshot's LSN (nothing unsynced leaves a region),
//!   and sends it: one message, delayed by its size at
//!   [`SNAPSHOT_BYTES_PER_MS`] on top of the link's latency.
//! - **Install.** The receiver installs it (`Node::install`) with every
//!   record its log holds, logs the ops the new state released, records
//!   `LogBase::installed`, syncs its log and writes its own snapshot at
//!   once (its log no longer reflects its state), all as one step under its
//!   state lock, and only then acknowledges with its new version vector.
//!   If the install fails (`SnapshotError::Missing`) it refuses and keeps
//!   its state. The sender, on the `Ack` covering its snapshot, streams
//!   from the record after the snapshot's LSN.
//!
//! The simulator's own bookkeeping follows the transfer: a snapshot
//! carries its sender's `Region::seen` along (checked against the
//! snapshot's version vector), the receiver's becomes the union, the union
//! is checked to be causally closed against the history, and the node's
//! version vector after the install must be exactly that union plus the
//! released ops (an install that loses an op is a durability failure).

use crate::config::Broken;
use crate::disk::{Stored, FIRST_LSN};
use crate::error::Violation;
use crate::events::{Event, LinkId, Msg, SnapshotMsg};
use crate::link::{region, Conn, InboxState, Transfer};
use crate::world::World;
use bytes::Bytes;
use meridian_core::causal::deliverable;
use meridian_core::{Installed, Node, Snapshot, SnapshotError, VersionVector};

/// Log retention when the config does not set it, in simulated ms: longer
/// than any fault but a long-down keeps a peer silent (a round's write
/// phase and the settle after it), so that only long-downs leave peers
/// behind (see [`crate::SimConfig::retention_ms`], which raises it for
/// longer rounds).
pub const LOG_RETENTION_MS: u64 = 15_000;

/// Shortest retention a config may set, in ms.
pub const LOG_RETENTION_MS_MIN: u64 = 1_000;

/// Records after which a region writes a snapshot. The default world
/// appends about 230 records a second to each log, so this and the
/// interval below make a snapshot about every two seconds; small enough
/// that every seed truncates, several times per round.
pub const SNAPSHOT_RECORDS: u64 = 500;

/// Age of the newest snapshot after which any new record makes a region
/// write another, in ms.
pub const SNAPSHOT_INTERVAL_MS: u64 = 2_000;

/// How often a region decides on snapshots and truncation, in ms.
pub const MAINTAIN_INTERVAL_MS: u64 = 1_000;

/// Bandwidth of a state transfer, in bytes per ms (10 Mbit/s): a
/// deliberately slow cross-region transfer, so that losses and crashes can
/// strike one under way.
pub const SNAPSHOT_BYTES_PER_MS: u64 = 1_250;

/// Time to send `bytes` of snapshot at [`SNAPSHOT_BYTES_PER_MS`], in ms.
pub fn transfer_ms(bytes: u64) -> u64 {
    bytes.div_ceil(SNAPSHOT_BYTES_PER_MS)
}

/// Decodes a snapshot with its keys sorted. The core encodes keys in its
/// hash map's order, which differs between processes, and restores them
/// in the order given, which decides the order of its tombstone queues;
/// sorted, a seed replays the same in every process.
fn decode(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
    let mut snap = Snapshot::decode(bytes)?;
    snap.keys.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(snap)
}

impl World {
    /// Region `r`'s maintenance pass: a snapshot if one is due, then a
    /// truncation if allowed.
    pub(crate) fn on_maintain(&mut self, r: usize, life: u64) {
        let region = &self.rs[r];
        if region.life != life || !region.up {
            return;
        }
        let disk = &region.disk;
        if disk.pending.is_none() {
            let (lsn, at_ms) = disk
                .snapshot
                .as_ref()
                .map_or((FIRST_LSN - 1, region.started_ms), |s| (s.lsn, s.at_ms));
            let since = disk.last_lsn() - lsn;
            if since >= SNAPSHOT_RECORDS
                || (since > 0 && self.now_ms >= at_ms + SNAPSHOT_INTERVAL_MS)
            {
                self.write_snapshot(r);
            }
        }
        self.maybe_truncate(r);
        self.queue.push(
            self.now_ms + MAINTAIN_INTERVAL_MS,
            Event::Maintain { region: r, life },
        );
    }

    /// Region `r`'s node as a snapshot of its whole log.
    fn encode(&self, r: usize) -> Stored {
        let region = &self.rs[r];
        let mut out = Vec::new();
        region.node.encode_snapshot(&mut out);
        assert_eq!(
            region.node.vv().as_slice(),
            region.seen.as_slice(),
            "a region's node holds what the simulator counts"
        );
        Stored {
            bytes: Bytes::from(out),
            lsn: region.disk.last_lsn(),
            vv: region.node.vv().clone(),
            seen: region.seen.clone(),
            at_ms: self.now_ms,
        }
    }

    /// Writes a snapshot of region `r`: durable at once if its log is
    /// synced that far, else when it is.
    fn write_snapshot(&mut self, r: usize) {
        let stored = self.encode(r);
        self.rs[r].disk.pending = Some(stored);
        self.promote_snapshot(r);
    }

    /// Region `r`'s log was synced further: a snapshot waiting for it
    /// becomes durable, and the log behind it may be dropped.
    pub(crate) fn promote_snapshot(&mut self, r: usize) {
        let disk = &mut self.rs[r].disk;
        let synced = disk.synced_lsn();
        let Some(stored) = disk.pending.take_if(|p| p.lsn <= synced) else {
            return;
        };
        disk.points.push_back((stored.lsn, stored.vv.clone()));
        disk.snapshot = Some(stored);
        self.stats.snapshots_written += 1;
        let line = self.history.tracing().then(|| {
            format!(
                "{} snapshot through record {} durable",
                self.name(r),
                self.rs[r].disk.snapshot.as_ref().map_or(0, |s| s.lsn)
            )
        });
        self.history.note(&[r as u64], line);
        self.maybe_truncate(r);
    }

    /// When region `r` last heard from peer `j`: now, if a connection
    /// between them is up and nothing holds up what `j` sends (the server's
    /// heartbeats arrive); else when a message from `j` last arrived.
    pub(crate) fn heard_ms(&self, r: usize, j: usize) -> u64 {
        if self.rs[j].up && !self.net.is_cut(j, r) {
            let reading = |id: LinkId| {
                let l = self.link_ref(id);
                l.live
                    && l.conn == Conn::Up
                    && l.inbox
                        .as_ref()
                        .is_some_and(|i| i.alive && !matches!(i.state, InboxState::Holding { .. }))
            };
            if reading(self.link_id(j, r)) || reading(self.link_id(r, j)) {
                return self.now_ms;
            }
        }
        self.rs[r].heard_ms[j]
    }

    /// Drops region `r`'s log through the newest durable snapshot point
    /// whose version vector every peer has acknowledged, ignoring peers
    /// left behind.
    fn maybe_truncate(&mut self, r: usize) {
        let disk = &self.rs[r].disk;
        let Some((newest, _)) = disk.points.back() else {
            return;
        };
        if self.receiving(r) {
            // The base must not grow under an accepted offer, or the
            // snapshot on its way could no longer be installed.
            return;
        }
        let point = if self.broken(Broken::TruncateUnacked) {
            Some(disk.points.len() - 1)
        } else {
            let retention = match self.broken(Broken::NeverLeaveBehind) {
                true => u64::MAX,
                false => self.retention_ms,
            };
            let waiting_for: Vec<&VersionVector> = (0..self.n())
                .filter(|&j| j != r)
                .filter(|&j| self.now_ms.saturating_sub(self.heard_ms(r, j)) <= retention)
                .map(|j| self.link_ref(self.link_id(r, j)).out.peer_vv())
                .collect();
            disk.points
                .iter()
                .rposition(|(_, vv)| waiting_for.iter().all(|acked| acked.dominates(vv)))
        };
        let Some(i) = point else {
            return;
        };
        debug_assert!(disk.points[i].0 <= *newest);
        let (lsn, vv) = disk.points[i].clone();
        let disk = &mut self.rs[r].disk;
        let dropped = disk.truncate_through(lsn);
        disk.base.truncated(&vv);
        self.stats.records_truncated += dropped;
        let line = self
            .history
            .tracing()
            .then(|| format!("{} drops {dropped} log records through {lsn}", self.name(r)));
        self.history.note(&[r as u64, lsn], line);
    }

    /// True if region `r` accepted a snapshot offer on a connection that
    /// is still open and waits for the snapshot.
    pub(crate) fn receiving(&self, r: usize) -> bool {
        (0..self.n()).filter(|&p| p != r).any(|p| {
            let l = self.link_ref(self.link_id(p, r));
            l.live
                && l.inbox
                    .as_ref()
                    .is_some_and(|i| i.alive && i.accepted && i.epoch == l.epoch)
        })
    }

    /// The dialer of `id` was welcomed with `vv` and its log does not hold
    /// its own ops the peer lacks: it offers a snapshot instead.
    pub(crate) fn offer(&mut self, id: LinkId) {
        let from = self.link_ref(id).from;
        let vv = self.rs[from].node.vv().clone();
        self.link(id).transfer = Some(Transfer::Offered);
        self.stats.snapshot_offers += 1;
        self.send(id, Msg::Offer(vv));
    }

    /// The acceptor of connection `epoch` of `id` gets an offer: it
    /// accepts if it can install a snapshot covering `vv` and no other
    /// transfer into its region is under way, else refuses (closes).
    pub(crate) fn on_offer(&mut self, id: LinkId, epoch: u64, vv: VersionVector) {
        let (from, to) = (self.link_ref(id).from, self.link_ref(id).to);
        let installing = self.receiving(to);
        let admits = self.rs[to].disk.base.admits(&vv);
        let Some(inbox) = self.link(id).inbox_mut(epoch) else {
            return;
        };
        if !inbox.alive {
            return;
        }
        if admits && !installing {
            inbox.accepted = true;
            self.send(id, Msg::Accept);
        } else {
            self.refuse(id, from, to);
        }
    }

    /// The acceptor refuses a transfer: it closes the connection, and the
    /// dialer learns it one trip later.
    fn refuse(&mut self, id: LinkId, from: usize, to: usize) {
        self.stats.snapshot_refusals += 1;
        let notice = self.now_ms + self.net.base_ms(to, from);
        self.close(id, Some(notice));
    }

    /// The dialer's offer was accepted: it encodes its node now and sends
    /// it once its log is synced that far.
    pub(crate) fn on_accept(&mut self, id: LinkId) {
        let l = self.link_ref(id);
        if l.conn != Conn::Up || !matches!(l.transfer, Some(Transfer::Offered)) {
            return;
        }
        let stored = self.encode(l.from);
        self.link(id).transfer = Some(Transfer::Syncing {
            bytes: stored.bytes,
            vv: stored.vv,
            seen: stored.seen,
            lsn: stored.lsn,
        });
        self.pump(id);
    }

    /// Sends the snapshot of `id`'s transfer if the log is synced up to
    /// it. Returns false if the link streams batches (no transfer).
    pub(crate) fn pump_transfer(&mut self, id: LinkId) -> bool {
        let l = self.link_ref(id);
        let synced = self.rs[l.from].disk.synced_lsn();
        match &l.transfer {
            None => false,
            Some(Transfer::Syncing { lsn, .. }) if *lsn <= synced => {
                let Some(Transfer::Syncing {
                    bytes,
                    vv,
                    seen,
                    lsn,
                }) = self.link(id).transfer.take()
                else {
                    unreachable!("matched above");
                };
                self.link(id).transfer = Some(Transfer::Sent { vv, lsn });
                let len = bytes.len() as u64;
                self.stats.snapshots_sent += 1;
                self.stats.snapshot_bytes_sent += len;
                self.stats.snapshot_bytes_max = self.stats.snapshot_bytes_max.max(len);
                let msg = Msg::Snapshot(Box::new(SnapshotMsg { bytes, seen }));
                self.send_after(id, msg, transfer_ms(len));
                true
            }
            Some(_) => true,
        }
    }

    /// The dialer got an `Ack` of `vv` during a transfer: if it covers the
    /// snapshot, the peer installed it, and streaming starts after it.
    pub(crate) fn transfer_acked(&mut self, id: LinkId, vv: &VersionVector) {
        let l = self.link_ref(id);
        let Some(Transfer::Sent { vv: snap_vv, lsn }) = &l.transfer else {
            return;
        };
        if !vv.dominates(snap_vv) {
            return;
        }
        let first = self.rs[l.from].disk.first_lsn();
        let resume = (lsn + 1).max(first);
        let l = self.link(id);
        l.transfer = None;
        l.out.on_welcome(vv.clone(), resume);
        self.pump(id);
        self.start_relay_ticks(id);
    }

    /// The acceptor of connection `epoch` of `id` receives the snapshot it
    /// accepted: it installs it and acknowledges, or refuses.
    pub(crate) fn on_snapshot(
        &mut self,
        id: LinkId,
        epoch: u64,
        snap: SnapshotMsg,
    ) -> Result<(), Violation> {
        let (from, to) = (self.link_ref(id).from, self.link_ref(id).to);
        let Some(inbox) = self.link(id).inbox_mut(epoch) else {
            return Ok(());
        };
        if !inbox.alive {
            return Ok(());
        }
        assert!(inbox.accepted, "a snapshot that was not accepted");
        inbox.accepted = false;
        if self.install(from, to, &snap)? {
            self.begin_ack(id, epoch);
        } else {
            self.refuse(id, from, to);
        }
        Ok(())
    }

    /// Region `to` installs `snap`, sent by `from`. Returns false if it
    /// cannot (an op it applied is neither in the snapshot nor in its log):
    /// then nothing changed.
    fn install(&mut self, from: usize, to: usize, snap: &SnapshotMsg) -> Result<bool, Violation> {
        let snapshot = decode(&snap.bytes).map_err(|e| Violation::Receive {
            region: self.name(to).to_string(),
            dot: format!("snapshot of {}", self.name(from)),
            error: e.to_string(),
        })?;
        if snapshot.vv.as_slice() != snap.seen.as_slice() {
            return Err(Violation::Causality(format!(
                "{}'s snapshot says {:?}, but it held {:?}",
                self.name(from),
                snapshot.vv,
                snap.seen
            )));
        }
        let snap_vv = snapshot.vv.clone();
        let target = &mut self.rs[to];
        if target.node.vv().dominates(&snap_vv) {
            // Nothing to bring (another transfer or the streams did): the
            // acknowledgement tells the sender to stream.
            return Ok(true);
        }
        let before = target.node.vv().clone();
        let result = if self.cfg.broken == Some(Broken::InstallWithoutReplay) {
            Node::from_snapshot(self.regions.clone(), target.node.me(), snapshot).map(|node| {
                target.node = node;
                Installed::default()
            })
        } else {
            let log: Vec<_> = target.disk.records().cloned().collect();
            target.node.install(snapshot, log)
        };
        let installed = match result {
            Ok(i) => i,
            Err(SnapshotError::Missing { .. }) => {
                let node = &self.rs[to].node;
                assert_eq!(node.vv(), &before, "a failed install changed the state");
                return Ok(false);
            }
            Err(e) => {
                return Err(Violation::Receive {
                    region: self.name(to).to_string(),
                    dot: format!("snapshot of {}", self.name(from)),
                    error: e.to_string(),
                })
            }
        };
        self.stats.snapshot_installs += 1;
        self.stats.ops_brought += installed.brought;
        self.stats.ops_reapplied += installed.replayed;
        let line = self.history.tracing().then(|| {
            format!(
                "{} installs {}'s snapshot {:?}: {} ops brought, {} of its own re-applied, \
                 {} released",
                self.name(to),
                self.name(from),
                snap_vv,
                installed.brought,
                installed.replayed,
                installed.released.len()
            )
        });
        self.history
            .note(&[to as u64, installed.brought, installed.replayed], line);
        // What the region holds now, as the simulator counts it: the union.
        let union: Vec<u64> = self.rs[to]
            .seen
            .iter()
            .zip(&snap.seen)
            .map(|(a, b)| *a.max(b))
            .collect();
        self.check_closed(to, &union)?;
        self.rs[to].seen = union;
        for op in installed.released {
            self.check_causal(to, &op)?;
            self.append(to, op);
        }
        let held = &self.rs[to];
        if held.node.vv().as_slice() != held.seen.as_slice() {
            let now = held.node.vv();
            let lost: Vec<String> = held
                .seen
                .iter()
                .enumerate()
                .filter(|&(i, &s)| now.get(region(i)) < s)
                .map(|(i, &s)| format!("{}:{}..={s}", self.name(i), now.get(region(i)) + 1))
                .collect();
            return Err(Violation::Durability(format!(
                "{} installed {}'s snapshot and holds {:?}, but it held {:?} and the \
                 snapshot {:?}: lost {}",
                self.name(to),
                self.name(from),
                now,
                before,
                snap_vv,
                lost.join(", ")
            )));
        }
        let disk = &mut self.rs[to].disk;
        disk.base.installed(&before, &snap_vv);
        // The log no longer reflects the state: it is synced and the
        // snapshot written before anything else is appended (a record
        // appended after the install may depend on ops only the snapshot
        // holds; a restart from the older snapshot could not replay it).
        disk.sync_now();
        let stored = self.encode(to);
        let disk = &mut self.rs[to].disk;
        disk.pending = Some(stored);
        self.promote_snapshot(to);
        self.after_append(to);
        self.resume_syncing(to)?;
        Ok(true)
    }

    /// The state `held` (per origin, the ops a region holds) is causally
    /// closed: every cause of each op in it is in it too.
    fn check_closed(&self, r: usize, held: &[u64]) -> Result<(), Violation> {
        for (o, &seq) in held.iter().enumerate() {
            if seq == 0 {
                continue;
            }
            let dot = meridian_core::Dot::new(region(o), seq);
            let made = self.made[o]
                .get(seq as usize - 1)
                .or_else(|| self.ghosts.get(&dot));
            let Some(made) = made else {
                return Err(Violation::Causality(format!(
                    "{} installed a state holding {}:{seq}, which no client made",
                    self.name(r),
                    self.name(o)
                )));
            };
            // The newest op of an origin saw everything its earlier ones
            // did: its past covers theirs.
            for (i, &need) in made.past.iter().enumerate() {
                if i != o && need > held[i] {
                    return Err(Violation::Causality(format!(
                        "{} installed a state holding {}:{seq} without its cause {}:{need}",
                        self.name(r),
                        self.name(o),
                        self.name(i)
                    )));
                }
            }
        }
        Ok(())
    }

    /// Region `r`'s node and what it holds, rebuilt from its disk as a
    /// restart does: its newest durable snapshot, then the records after
    /// it (skipping any it covers), which must be in causal order.
    pub(crate) fn rebuild(&self, r: usize) -> Result<(Node, Vec<u64>), Violation> {
        let disk = &self.rs[r].disk;
        let me = region(r);
        let replay = |detail: String| Violation::Replay {
            region: self.name(r).to_string(),
            detail,
        };
        let (mut node, mut seen, from) = match &disk.snapshot {
            Some(s) => {
                let snap = decode(&s.bytes).map_err(|e| replay(e.to_string()))?;
                let node = Node::from_snapshot(self.regions.clone(), me, snap)
                    .map_err(|e| replay(e.to_string()))?;
                (node, s.seen.clone(), s.lsn + 1)
            }
            None => (
                Node::new(self.regions.clone(), me),
                vec![0; self.n()],
                FIRST_LSN,
            ),
        };
        if from < disk.first_lsn() {
            return Err(replay(format!(
                "the log starts at record {}, but the snapshot covers only up to {}",
                disk.first_lsn(),
                from - 1
            )));
        }
        for (i, op) in disk.records_from(from).enumerate() {
            if node.vv().covers(op.dot) {
                continue;
            }
            if !deliverable(op, node.vv()) {
                return Err(replay(format!(
                    "record {} ({:?}) is out of causal order",
                    from + i as u64,
                    op.dot
                )));
            }
            node.replay(op);
            seen[op.dot.region.index()] = op.dot.seq;
        }
        if node.vv().as_slice() != seen.as_slice() {
            return Err(replay(format!(
                "rebuilt version vector {:?}, but the snapshot and log hold {seen:?}",
                node.vv()
            )));
        }
        Ok((node, seen))
    }
}
