//! Forwarding a batch, with failover.
//!
//! One attempt sends the batch to one region as a single pipeline:
//!
//! ```text
//! [setup replay]  [MERIDIAN.WAITFOR token ms]  cmd1 cmd2 ... cmdN  [MERIDIAN.SESSION]
//!  new connection  reads, region not known       the client's        when the batch
//!  only            to cover the session (sent    commands, in order  touched data
//!                  alone first, see below)
//! ```
//!
//! The session wait goes alone, before the batch, so that nothing of the
//! batch runs if the region cannot catch up (strict mode refuses it). It is
//! skipped when the region's last probe already covers the session, which
//! after a failover is almost always the case: the wait costs a round trip
//! only when the new region really is behind.
//!
//! `MERIDIAN.SESSION` costs one small command per batch (not a round trip:
//! it rides in the same pipeline) and keeps the session's point exact.
//!
//! If the attempt fails (connection error, timeout, or the region declared
//! down while waiting), the batch's replies count only if every reply,
//! the session's included, came back. Otherwise, command by command:
//! - answered non-idempotent writes keep their answer (they were applied;
//!   the session's point is then estimated, see `Session::gap`);
//! - everything else that is retry-safe (`Kind::retry_safe`), or was never
//!   sent, goes to the next region in `Decider::order`;
//! - unanswered non-idempotent writes get an error saying they may or may
//!   not have been applied.

use crate::classify::Kind;
use crate::client::{Client, Slot};
use crate::decide::{Event, Health};
use crate::session::{Gate, Verdict};
use crate::upstream::{Exchange, Failure, Upstream};
use crate::vv::Vv;
use bytes::{BufMut, Bytes, BytesMut};
use meridian_resp::{Reply, Request};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

const SESSION_CMD: &[u8] = b"*1\r\n$16\r\nMERIDIAN.SESSION\r\n";

/// Longest wait a client's own `MERIDIAN.WAITFOR` may add to the request
/// timeout, in ms (the server's `WAITFOR_MS_MAX`).
const CLIENT_WAIT_MS_MAX: u64 = 60_000;

/// What one attempt left to do.
enum Outcome {
    /// Every command has its reply.
    Done,
    /// These commands still need a region; `failed` says whether the
    /// region failed (and must not be tried again for this batch).
    Left {
        pending: Vec<usize>,
        failed: Option<String>,
    },
}

/// What one exchange is made of, reply by reply.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Setup,
    Wait,
    Cmd(usize),
    Session,
}

fn put_command(out: &mut BytesMut, args: &[Bytes]) {
    out.put_u8(b'*');
    out.extend_from_slice(args.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.put_u8(b'$');
        out.extend_from_slice(a.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

fn error_reply(msg: String) -> Slot {
    // Error lines cannot hold line breaks.
    let msg = msg.replace(['\r', '\n'], " ");
    Slot::Raw(Bytes::from(format!("-{msg}\r\n")))
}

impl Client {
    /// Forwards the requests at `indices` and fills their slots.
    pub(crate) async fn forward(
        &mut self,
        reqs: &[Request],
        kinds: &[Kind],
        indices: Vec<usize>,
        slots: &mut [Slot],
    ) {
        let mut pending = indices;
        let mut tried: Vec<usize> = Vec::new();
        let mut failures: Vec<String> = Vec::new();
        let mut retry = false;
        while !pending.is_empty() {
            let next = self.shared.decider.lock().order(&tried).first().copied();
            let Some(region) = next else {
                self.no_region(&pending, &failures, slots);
                return;
            };
            if retry {
                self.count_retries(kinds, &pending);
            }
            match self.attempt(region, reqs, kinds, pending, slots).await {
                Outcome::Done => return,
                Outcome::Left {
                    pending: left,
                    failed,
                } => {
                    pending = left;
                    if let Some(why) = failed {
                        tried.push(region);
                        failures.push(format!("{}: {why}", self.shared.name(region)));
                        retry = true;
                    }
                }
            }
        }
    }

    fn no_region(&self, pending: &[usize], failures: &[String], slots: &mut [Slot]) {
        let t = &self.shared.totals;
        t.no_region
            .fetch_add(pending.len() as u64, Ordering::Relaxed);
        let why = if failures.is_empty() {
            "no region is configured".to_string()
        } else {
            failures.join("; ")
        };
        for &i in pending {
            slots[i] = error_reply(format!(
                "ERR meridian router: no region could serve this command ({why})"
            ));
        }
    }

    fn count_retries(&self, kinds: &[Kind], pending: &[usize]) {
        let t = &self.shared.totals;
        for &i in pending {
            match kinds[i] {
                Kind::IdempotentWrite | Kind::Write => &t.writes_retried,
                _ => &t.reads_retried,
            }
            .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One attempt on `region`.
    async fn attempt(
        &mut self,
        region: usize,
        reqs: &[Request],
        kinds: &[Kind],
        mut pending: Vec<usize>,
        slots: &mut [Slot],
    ) -> Outcome {
        self.route_to(region);
        if self.up.is_none() {
            let addr = self.shared.cfg.regions[region].addr.clone();
            let timeout =
                Duration::from_micros(self.shared.decider.lock().probe_timeout_us(region));
            match Upstream::connect(region, &addr, timeout).await {
                Ok(up) => self.up = Some(up),
                Err(f) => return self.failed(region, pending, f),
            }
        }
        if pending.iter().any(|&i| kinds[i].reads_data()) {
            match self.session_gate(region).await {
                Ok(None) => {}
                Ok(Some(Verdict::ServeStale)) => {
                    let reads = pending.iter().filter(|&&i| kinds[i].reads_data()).count();
                    self.shared.regions[region]
                        .stale_reads
                        .fetch_add(reads as u64, Ordering::Relaxed);
                }
                Ok(Some(Verdict::Refuse)) => {
                    pending = self.refuse_session(region, kinds, pending, slots);
                    if pending.is_empty() {
                        return Outcome::Done;
                    }
                    return Outcome::Left {
                        pending,
                        failed: None,
                    };
                }
                Err(f) => return self.failed(region, pending, f),
            }
        }
        self.send_batch(region, reqs, kinds, pending, slots).await
    }

    /// Refuses the data commands of a batch whose region did not catch up
    /// with the session; returns the others.
    fn refuse_session(
        &self,
        region: usize,
        kinds: &[Kind],
        pending: Vec<usize>,
        slots: &mut [Slot],
    ) -> Vec<usize> {
        let (refused, rest): (Vec<usize>, Vec<usize>) =
            pending.into_iter().partition(|&i| kinds[i].touches_data());
        self.shared
            .totals
            .session_refused
            .fetch_add(refused.len() as u64, Ordering::Relaxed);
        let msg = format!(
            "TRYAGAIN meridian router: region {} has not caught up with this session ({}) within {} ms; nothing was applied; retry later, or run the router with --session available",
            self.shared.name(region),
            self.session.token().to_token(),
            self.shared.cfg.session_wait.as_millis()
        );
        for i in refused {
            slots[i] = error_reply(msg.clone());
        }
        rest
    }

    /// Makes sure `region` covers the session before a read: `Ok(None)` to
    /// go ahead, `Ok(Some(verdict))` when the wait timed out.
    async fn session_gate(&mut self, region: usize) -> Result<Option<Verdict>, Failure> {
        let probed = self.shared.decider.lock().region(region).vv.clone();
        let Gate::Wait(token) = self.session.gate(region, probed.as_ref()) else {
            return Ok(None);
        };
        let shared = self.shared.clone();
        let stats = &shared.regions[region];
        stats.session_waits.fetch_add(1, Ordering::Relaxed);
        let wait = self.shared.cfg.session_wait;
        let mut out = BytesMut::new();
        let ms = Bytes::from(wait.as_millis().to_string());
        let args = [
            Bytes::from_static(b"MERIDIAN.WAITFOR"),
            Bytes::from(token.to_token()),
            ms,
        ];
        let mut roles = self.setup_roles(&mut out);
        put_command(&mut out, &args);
        roles.push(Role::Wait);
        let deadline = Instant::now() + wait + self.shared.cfg.request_timeout;
        let ex = self.exchange(region, &out, roles.len(), deadline).await;
        if let Some(f) = ex.failure {
            return Err(f);
        }
        self.up_ready();
        let reached = matches!(ex.answers.last().map(|a| &a.reply), Some(Reply::Integer(1)));
        if reached {
            self.session.caught_up(region);
            return Ok(None);
        }
        stats.session_wait_timeouts.fetch_add(1, Ordering::Relaxed);
        Ok(Some(self.shared.cfg.policy.on_timeout()))
    }

    /// Appends the setup replay if the connection is new; returns roles.
    fn setup_roles(&self, out: &mut BytesMut) -> Vec<Role> {
        let mut roles = Vec::new();
        if self.up.as_ref().is_some_and(|u| u.needs_setup) {
            for cmd in self.setup.commands() {
                put_command(out, cmd);
                roles.push(Role::Setup);
            }
        }
        roles
    }

    fn up_ready(&mut self) {
        if let Some(up) = self.up.as_mut() {
            up.needs_setup = false;
        }
    }

    /// Runs one exchange on the current upstream, aborting if `region` is
    /// declared down meanwhile.
    async fn exchange(
        &mut self,
        region: usize,
        out: &[u8],
        expect: usize,
        deadline: Instant,
    ) -> Exchange {
        let shared = self.shared.clone();
        let mut changes = self.changes.clone();
        changes.mark_unchanged();
        let was_down = shared.health(region) == Health::Down;
        let abort = async move {
            if was_down {
                // A last-resort attempt on a region already down: only
                // its own replies or the timeout end it.
                return std::future::pending().await;
            }
            loop {
                if changes.changed().await.is_err() {
                    return std::future::pending().await;
                }
                if shared.health(region) == Health::Down {
                    return;
                }
            }
        };
        let Some(up) = self.up.as_mut() else {
            unreachable!("exchange without a connection");
        };
        up.exchange(out, expect, deadline, abort).await
    }

    /// Sends the batch itself.
    async fn send_batch(
        &mut self,
        region: usize,
        reqs: &[Request],
        kinds: &[Kind],
        pending: Vec<usize>,
        slots: &mut [Slot],
    ) -> Outcome {
        let mut out = BytesMut::new();
        let mut roles = self.setup_roles(&mut out);
        let fresh = !roles.is_empty();
        let mut extra_ms = 0;
        for &i in &pending {
            put_command(&mut out, &reqs[i].args);
            roles.push(Role::Cmd(i));
            extra_ms += client_wait_ms(&reqs[i].args);
        }
        let touches = pending.iter().any(|&i| kinds[i].touches_data());
        if touches {
            out.extend_from_slice(SESSION_CMD);
            roles.push(Role::Session);
        }
        let started = Instant::now();
        let deadline = started + self.shared.cfg.request_timeout + Duration::from_millis(extra_ms);
        let ex = self.exchange(region, &out, roles.len(), deadline).await;
        if let Some(f) = ex.failure {
            return self.partial(region, kinds, &roles, ex.answers, f, slots);
        }
        self.up_ready();
        for (role, a) in roles.iter().zip(ex.answers) {
            match *role {
                Role::Cmd(i) => slots[i] = Slot::Answer(a),
                Role::Session => {
                    if let Reply::Bulk(t) = &a.reply {
                        if let Ok(vv) = Vv::parse_token(t) {
                            self.session.observed(region, &vv);
                        }
                    }
                }
                Role::Setup | Role::Wait => {}
            }
        }
        // One small command on a warm connection is a fair round-trip
        // sample; big batches and waits are not.
        let sample = pending.len() == 1
            && !fresh
            && extra_ms == 0
            && matches!(kinds[pending[0]], Kind::Meta | Kind::Read);
        let rtt_us = sample.then(|| started.elapsed().as_micros() as u64);
        let stats = &self.shared.regions[region];
        stats
            .requests
            .fetch_add(pending.len() as u64, Ordering::Relaxed);
        stats.batches.fetch_add(1, Ordering::Relaxed);
        self.shared.apply(region, Event::RequestOk { rtt_us });
        Outcome::Done
    }

    /// Sorts out a batch whose exchange failed after `answers` replies.
    fn partial(
        &mut self,
        region: usize,
        kinds: &[Kind],
        roles: &[Role],
        answers: Vec<crate::upstream::Answer>,
        f: Failure,
        slots: &mut [Slot],
    ) -> Outcome {
        let answered = answers.len();
        let mut answers = answers.into_iter();
        let mut left = Vec::new();
        let mut gap = false;
        let t = &self.shared.totals;
        for (pos, role) in roles.iter().enumerate() {
            let answer = answers.next();
            let Role::Cmd(i) = *role else { continue };
            match answer {
                // Applied, and not to be repeated: keep its answer.
                Some(a) if kinds[i].unrepeatable() => {
                    slots[i] = Slot::Answer(a);
                    gap = true;
                }
                Some(_) => left.push(i),
                None if kinds[i].retry_safe() || f.sent_nothing => left.push(i),
                None => {
                    debug_assert!(pos >= answered);
                    t.writes_unknown.fetch_add(1, Ordering::Relaxed);
                    slots[i] = error_reply(format!(
                        "ERR meridian router: region {} failed before answering this command ({}); it may or may not have been applied, so it was not retried",
                        self.shared.name(region),
                        f.why
                    ));
                }
            }
        }
        if gap {
            t.session_gaps.fetch_add(1, Ordering::Relaxed);
            let estimate = self.shared.decider.lock().region(region).vv.clone();
            self.session
                .gap(self.shared.name(region), estimate.as_ref());
        }
        self.failed(region, left, f)
    }

    /// Records a failed attempt on `region`: the connection is dropped,
    /// the prober woken, and a connection failure counted against the
    /// region's circuit. A timeout is not counted: a slow command (a big
    /// MGET, a long scan) is not a dead region, and one client's heavy
    /// request must not move everyone; the probe sent at once tells which.
    fn failed(&mut self, region: usize, pending: Vec<usize>, f: Failure) -> Outcome {
        self.up = None;
        self.shared.regions[region]
            .failures
            .fetch_add(1, Ordering::Relaxed);
        if !f.timed_out {
            let why = f.why.clone();
            self.shared.apply(region, Event::RequestFailed { why });
        }
        self.shared.wake[region].notify_one();
        Outcome::Left {
            pending,
            failed: Some(f.why),
        }
    }
}

/// The wait a client's own `MERIDIAN.WAITFOR token ms` asks for, in ms.
fn client_wait_ms(args: &[Bytes]) -> u64 {
    if args.len() == 3 && args[0].eq_ignore_ascii_case(b"meridian.waitfor") {
        let ms = std::str::from_utf8(&args[2])
            .ok()
            .and_then(|s| s.parse::<u64>().ok());
        return ms.unwrap_or(0).min(CLIENT_WAIT_MS_MAX);
    }
    0
}
