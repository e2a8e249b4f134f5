//! Applying planned faults: cuts, spikes, clock changes, and crashes with
//! restarts from the log.

use crate::config::{FaultKind, Fsync};
use crate::disk::SYNC_LAG_MS_MAX;
use crate::error::Violation;
use crate::events::Event;
use crate::faults::Action;
use crate::link::{Conn, HEARTBEAT_INTERVAL_MS, LINK_SILENCE_MAX_MS};
use crate::world::World;
use meridian_core::RegionId;

impl World {
    pub(crate) fn on_fault(&mut self, action: Action) -> Result<(), Violation> {
        match action {
            Action::Cut { from, to } => self.on_cut(from, to),
            Action::Heal { from, to } => {
                for p in self.net.heal(from, to) {
                    self.redeliver(p);
                }
            }
            Action::SpikeOn { from, to, extra_ms } => self.net.spike(from, to, extra_ms, true),
            Action::SpikeOff { from, to, extra_ms } => self.net.spike(from, to, extra_ms, false),
            Action::Crash { region, power } => {
                if self.rs[region].up {
                    let kind = if power {
                        FaultKind::PowerLoss
                    } else {
                        FaultKind::Crash
                    };
                    self.stats.faults.add(kind, 1);
                    self.crash(region, power)?;
                }
            }
            Action::Restart { region } => {
                if !self.rs[region].up && !self.rs[region].held_down {
                    self.restart(region)?;
                }
            }
            Action::LongDown { region } => {
                self.crash(region, false)?;
                self.rs[region].held_down = true;
            }
            Action::LongUp { region } => {
                self.rs[region].held_down = false;
                if !self.rs[region].up {
                    self.restart(region)?;
                }
            }
            Action::Clock { region, delta_ms } => {
                let offset = &mut self.rs[region].offset_ms;
                *offset += delta_ms;
                self.clock_error_max_ms = self.clock_error_max_ms.max(offset.unsigned_abs());
            }
        }
        Ok(())
    }

    /// The direction `from -> to` is cut: every connection that uses it
    /// closes if the cut outlasts the silence timeout.
    fn on_cut(&mut self, from: usize, to: usize) {
        if !self.net.cut(from, to, self.now_ms) {
            return;
        }
        for id in [self.link_id(from, to), self.link_id(to, from)] {
            let l = self.link_ref(id);
            if l.live {
                let epoch = l.epoch;
                self.queue.push(
                    self.now_ms + LINK_SILENCE_MAX_MS,
                    Event::Silence {
                        link: id,
                        epoch,
                        since_ms: self.now_ms,
                    },
                );
            }
        }
    }

    /// Region `r` goes down. Its log keeps what the crash kind lets it keep
    /// (see [`crate::disk`]); its memory, connections and waiting clients
    /// are gone.
    pub(crate) fn crash(&mut self, r: usize, power: bool) -> Result<(), Violation> {
        if !self.rs[r].up {
            return Ok(());
        }
        let region = &mut self.rs[r];
        region.up = false;
        region.life += 1;
        region.replies.clear();
        let cut = region.disk.crash(power, &mut self.disk_rng);
        let line = self.history.tracing().then(|| {
            format!(
                "{} {}: log keeps {} records, loses {}",
                self.name(r),
                if power { "loses power" } else { "crashes" },
                cut.kept,
                cut.lost
            )
        });
        self.history.note(&[r as u64, cut.kept as u64], line);
        self.forget_lost_writes(r, power)?;
        // Its acceptors waiting to send a `Welcome` or an `Ack` are gone too.
        let n = self.n();
        self.sync_waits.retain(|w| w.link % n != r);
        for p in (0..self.n()).filter(|&p| p != r) {
            // r's own links die with it; their acceptors at p see the close.
            let out = self.link_id(r, p);
            self.close(out, None);
            self.link(out).conn = Conn::Down;
            self.link(out).transfer = None;
            // Links into r: the dialer at p learns from a reset (process
            // crash) or from silence (the machine is gone).
            let into = self.link_id(p, r);
            let notice = if power {
                self.now_ms + LINK_SILENCE_MAX_MS
            } else {
                self.now_ms + self.net.base_ms(r, p)
            };
            self.close(into, Some(notice));
            self.link(into).stale.clear();
        }
        Ok(())
    }

    /// Drops from the history the writes of `r` its log no longer holds.
    /// None may have been acknowledged, except under power loss with
    /// `everysec` or `no` the ones acknowledged (once written) within the
    /// last [`SYNC_LAG_MS_MAX`]: the log's writer fsyncs back to back, so a
    /// written record is synced by the end of the fsync after the one under
    /// way when it was written. (Before replication waited for fsyncs, the
    /// window was the policy's interval: a second, or the OS's writeback.)
    /// None of them was shipped, so no peer holds one; the region will
    /// reuse their sequence numbers, which `check_reuse` verifies is safe.
    fn forget_lost_writes(&mut self, r: usize, power: bool) -> Result<(), Violation> {
        let me = RegionId(r as u16);
        let disk = &self.rs[r].disk;
        let in_snapshot = disk.snapshot.as_ref().map_or(0, |s| s.seen[r]);
        let kept_seq = disk
            .records()
            .rev()
            .find(|op| op.dot.region == me)
            .map_or(0, |op| op.dot.seq)
            .max(in_snapshot);
        let lost = self.made[r].split_off(kept_seq as usize);
        let window_ms = match self.cfg.fsync {
            Fsync::Always => 0,
            Fsync::EverySec | Fsync::No => SYNC_LAG_MS_MAX,
        };
        for m in lost {
            match m.acked_ms {
                None => self.stats.writes_lost_unacked += 1,
                Some(at) if power && at + window_ms >= self.now_ms => {
                    self.stats.writes_lost_acked += 1;
                }
                Some(at) => {
                    return Err(Violation::Durability(format!(
                        "{} {} and lost {}:{} ({:?} {:?}), acknowledged {} ms earlier \
                         (fsync {})",
                        self.name(r),
                        if power { "lost power" } else { "crashed" },
                        self.name(r),
                        m.op.dot.seq,
                        String::from_utf8_lossy(&m.op.key),
                        m.op.body,
                        self.now_ms - at,
                        self.cfg.fsync
                    )))
                }
            }
            if power {
                self.ghosts.insert(m.op.dot, m);
            }
        }
        Ok(())
    }

    /// Region `r` starts again: its node is rebuilt from its newest
    /// snapshot and the log after it, as the server does, and its dialers
    /// start afresh.
    pub(crate) fn restart(&mut self, r: usize) -> Result<(), Violation> {
        let (node, seen) = self.rebuild(r)?;
        let now = self.now_ms;
        let region = &mut self.rs[r];
        region.node = node;
        region.seen = seen;
        region.up = true;
        region.held_down = false;
        region.started_ms = now;
        // Its retention clock for silent peers starts again.
        region.heard_ms.iter_mut().for_each(|h| *h = now);
        let life = region.life;
        self.queue.push(
            now + crate::snap::MAINTAIN_INTERVAL_MS,
            Event::Maintain { region: r, life },
        );
        let line = self
            .history
            .tracing()
            .then(|| format!("{} restarts", self.name(r)));
        self.history.note(&[r as u64], line);
        let n = self.n();
        for p in (0..n).filter(|&p| p != r) {
            let id = self.link_id(r, p);
            self.link(id).restart_dialer(n);
            self.queue.push(self.now_ms, Event::Dial { link: id });
            // Dialers into r that have not noticed the crash yet do at
            // their next heartbeat, which the restarted r answers with a
            // reset (a duplicate notice is ignored). A connection still
            // open was dialled while r was down and reaches the restarted
            // r (its Hello is on its way): it is not reset.
            let into = self.link_id(p, r);
            let l = self.link_ref(into);
            if !l.live && l.conn != Conn::Down {
                let epoch = l.epoch;
                let at = self.now_ms + HEARTBEAT_INTERVAL_MS + self.net.base_ms(r, p);
                self.queue.push(at, Event::Closed { link: into, epoch });
            }
        }
        Ok(())
    }
}
