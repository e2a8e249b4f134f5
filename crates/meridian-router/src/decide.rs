//! Where traffic goes: the router's decisions as a pure state machine.
//!
//! [`Decider`] performs no I/O and reads no clock. The shell feeds it
//! events — a probe answered or failed, a real request succeeded or
//! failed — each with the time it happened, and reads back the region to
//! use ([`Decider::primary`]), the order to try regions in when one fails
//! ([`Decider::order`]), how long to wait for a probe
//! ([`Decider::probe_timeout_us`]), and [`Note`]s saying what changed.
//!
//! Per region it keeps a smoothed round trip (EWMA of probe and request
//! samples, never below the `--rtt` floor) and a circuit:
//!
//! ```text
//!            first success              FAILURES_TO_OPEN failures
//!   Unknown ───────────────▶ Up ◀──┐  ──────────────────────────▶ Down (open)
//!      │                    (closed)│                               │  ▲
//!      └── FAILURES_TO_OPEN ───────┼──────────────▶ Down           │  │ any failure
//!          failures                 │                   success     ▼  │
//!                                   └─── healthy FAILBACK_HEALTHY_MS ─ Recovering
//!                                        and caught up               (half-open)
//! ```
//!
//! Choosing the primary:
//! - the primary must be Up (or, when no region is Up, Recovering); when it
//!   stops being so, the best other region takes over at once (failover);
//! - otherwise another region replaces it only if it is faster by
//!   `max(SWITCH_MARGIN_MS, SWITCH_MARGIN_RATIO × rtt)` for `SWITCH_HOLD_MS`
//!   without interruption, so two regions of similar latency never flap;
//! - a region that failed serves again only after answering every probe
//!   for `FAILBACK_HEALTHY_MS` and holding everything the primary held
//!   when that period ended (its version vector dominates), then by the
//!   rule above.

use crate::vv::Vv;

/// How often each region is probed, in ms. A failure must be detected in
/// well under a second; two probe periods plus a probe timeout stays under
/// 600 ms for a near region, and ten small probes a second per region cost
/// nothing next to real traffic.
pub const PROBE_INTERVAL_MS: u64 = 100;

/// Shortest probe timeout, in ms: far above a near region's round trip, so
/// a loaded machine (a scheduler stall, an fsync) does not look like a
/// dead region, and short enough to keep detection under a second.
pub const PROBE_TIMEOUT_MIN_MS: u64 = 250;

/// Longest probe timeout, in ms: a region farther away than this many
/// milliseconds is as good as unreachable.
pub const PROBE_TIMEOUT_MAX_MS: u64 = 2_000;

/// Probe timeout in smoothed round trips (between the bounds above): a
/// far region's probes take its round trip, and a jitter of a few round
/// trips is not a failure.
pub const PROBE_TIMEOUT_RTTS: f64 = 4.0;

/// Consecutive failures (probes or real requests) that open the circuit.
/// One alone may be a lost probe or a stall; two in a row, with probes
/// every `PROBE_INTERVAL_MS` and a probe sent at once after a failure, is a
/// dead or unreachable region within a few hundred ms. (Envoy's default
/// outlier detection needs 5 consecutive failures.)
pub const FAILURES_TO_OPEN: u32 = 2;

/// How long a failed region must answer every probe before it may serve
/// again, in ms: 30 probes in a row. A flapping region never gets traffic
/// back, and a restarted one has time to catch up.
pub const FAILBACK_HEALTHY_MS: u64 = 3_000;

/// A region must be faster than the primary by at least this many ms
/// (and by `SWITCH_MARGIN_RATIO`) to take over: below a couple of ms, round
/// trip estimates are noise.
pub const SWITCH_MARGIN_MS: f64 = 2.0;

/// ... and by at least this fraction of the primary's round trip.
pub const SWITCH_MARGIN_RATIO: f64 = 0.2;

/// ... for this long without interruption, in ms (ten probes).
pub const SWITCH_HOLD_MS: u64 = 1_000;

/// Weight of a new round-trip sample in the estimate: about the last ten
/// samples (one second of probes) count.
pub const RTT_EWMA_ALPHA: f64 = 0.2;

/// The knobs above, gathered so tests can shrink them.
#[derive(Clone, Debug, PartialEq)]
pub struct Tuning {
    pub probe_interval_ms: u64,
    pub probe_timeout_min_ms: u64,
    pub probe_timeout_max_ms: u64,
    pub probe_timeout_rtts: f64,
    pub failures_to_open: u32,
    pub failback_healthy_ms: u64,
    pub switch_margin_ms: f64,
    pub switch_margin_ratio: f64,
    pub switch_hold_ms: u64,
    pub rtt_ewma_alpha: f64,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            probe_interval_ms: PROBE_INTERVAL_MS,
            probe_timeout_min_ms: PROBE_TIMEOUT_MIN_MS,
            probe_timeout_max_ms: PROBE_TIMEOUT_MAX_MS,
            probe_timeout_rtts: PROBE_TIMEOUT_RTTS,
            failures_to_open: FAILURES_TO_OPEN,
            failback_healthy_ms: FAILBACK_HEALTHY_MS,
            switch_margin_ms: SWITCH_MARGIN_MS,
            switch_margin_ratio: SWITCH_MARGIN_RATIO,
            switch_hold_ms: SWITCH_HOLD_MS,
            rtt_ewma_alpha: RTT_EWMA_ALPHA,
        }
    }
}

/// A region's health, which is also its circuit's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Not yet probed.
    Unknown,
    /// Serving (circuit closed).
    Up,
    /// Failed (circuit open): not used while another region can serve.
    Down,
    /// Answering again after a failure, not yet trusted (half-open).
    Recovering,
}

impl Health {
    /// `unknown`, `up`, `down`, `recovering`.
    pub fn label(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
            Health::Recovering => "recovering",
        }
    }

    /// The circuit-breaker name of the state: `closed`, `open`, `half-open`.
    pub fn circuit(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "closed",
            Health::Down => "open",
            Health::Recovering => "half-open",
        }
    }

    /// Order of preference when trying regions (lower first).
    fn rank(self) -> u8 {
        match self {
            Health::Up => 0,
            Health::Recovering => 1,
            Health::Unknown => 2,
            Health::Down => 3,
        }
    }
}

/// What the decider knows of one region.
#[derive(Clone, Debug)]
pub struct RegionState {
    pub name: String,
    /// Lower bound on the round trip, in ms (`--rtt`, `--near`).
    pub floor_ms: Option<f64>,
    /// Smoothed measured round trip, in ms.
    pub rtt_ms: Option<f64>,
    pub health: Health,
    /// When `health` last changed, in µs.
    pub since_us: u64,
    /// Failures since the last success.
    pub failures: u32,
    /// The region's version vector at its last probe.
    pub vv: Option<Vv>,
    /// While Recovering: what it must hold before serving again.
    pub catch_up: Option<Vv>,
    pub last_error: Option<String>,
    /// Whether it was ever Up.
    pub ever_up: bool,
}

impl RegionState {
    /// The round trip used for choosing, in ms: the estimate, never below
    /// the floor; the floor alone before any sample; infinite if neither.
    pub fn score_ms(&self) -> f64 {
        match (self.rtt_ms, self.floor_ms) {
            (Some(m), Some(f)) => m.max(f),
            (Some(m), None) => m,
            (None, Some(f)) => f,
            (None, None) => f64::INFINITY,
        }
    }
}

/// Something that happened to a region.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A probe answered after `rtt_us`, reporting the region's point.
    ProbeOk {
        rtt_us: u64,
        vv: Option<Vv>,
    },
    ProbeFailed {
        why: String,
    },
    /// A real request was answered; `rtt_us` when it is a fair round-trip
    /// sample (one small command).
    RequestOk {
        rtt_us: Option<u64>,
    },
    /// A real request met a connection error or timed out.
    RequestFailed {
        why: String,
    },
}

/// Why the primary changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The first choice (or a better one found while starting).
    Start,
    /// The primary stopped being healthy.
    Failover,
    /// Another region was clearly faster for `SWITCH_HOLD_MS` (this is
    /// also how traffic fails back to a recovered region).
    Better,
}

impl Reason {
    pub fn label(self) -> &'static str {
        match self {
            Reason::Start => "start",
            Reason::Failover => "failover",
            Reason::Better => "better",
        }
    }
}

/// A change the shell may log, count or act on.
#[derive(Clone, Debug, PartialEq)]
pub enum Note {
    Health {
        region: usize,
        from: Health,
        to: Health,
    },
    Switch {
        from: Option<usize>,
        to: Option<usize>,
        reason: Reason,
    },
}

/// The routing state machine. Times are µs on any monotonic clock.
#[derive(Clone, Debug)]
pub struct Decider {
    tuning: Tuning,
    regions: Vec<RegionState>,
    primary: Option<usize>,
    primary_reason: Reason,
    primary_since_us: u64,
    /// Whether any region was ever primary.
    ever_primary: bool,
    /// A region beating the primary, and since when.
    candidate: Option<(usize, u64)>,
}

impl Decider {
    /// A decider for regions `(name, rtt floor in ms)`, all Unknown.
    pub fn new(regions: Vec<(String, Option<f64>)>, tuning: Tuning) -> Decider {
        assert!(!regions.is_empty(), "a router needs at least one region");
        Decider {
            tuning,
            regions: regions
                .into_iter()
                .map(|(name, floor_ms)| RegionState {
                    name,
                    floor_ms,
                    rtt_ms: None,
                    health: Health::Unknown,
                    since_us: 0,
                    failures: 0,
                    vv: None,
                    catch_up: None,
                    last_error: None,
                    ever_up: false,
                })
                .collect(),
            primary: None,
            primary_reason: Reason::Start,
            primary_since_us: 0,
            ever_primary: false,
            candidate: None,
        }
    }

    pub fn tuning(&self) -> &Tuning {
        &self.tuning
    }

    pub fn regions(&self) -> &[RegionState] {
        &self.regions
    }

    pub fn region(&self, i: usize) -> &RegionState {
        &self.regions[i]
    }

    /// The region new requests go to, if any region is usable.
    pub fn primary(&self) -> Option<usize> {
        self.primary
    }

    /// Every region except `exclude`, in the order to try them: the
    /// primary, then Up, Recovering, Unknown and Down regions, each by
    /// round trip.
    pub fn order(&self, exclude: &[usize]) -> Vec<usize> {
        let mut v: Vec<usize> = (0..self.regions.len())
            .filter(|i| !exclude.contains(i))
            .collect();
        v.sort_by(|&a, &b| {
            let key = |i: usize| {
                let r = &self.regions[i];
                (Some(i) != self.primary, r.health.rank())
            };
            key(a).cmp(&key(b)).then(
                self.regions[a]
                    .score_ms()
                    .total_cmp(&self.regions[b].score_ms()),
            )
        });
        v
    }

    /// How long to wait for a probe of region `i`, in µs.
    pub fn probe_timeout_us(&self, i: usize) -> u64 {
        let t = &self.tuning;
        let score = self.regions[i].score_ms();
        let ms = if score.is_finite() {
            (score * t.probe_timeout_rtts)
                .clamp(t.probe_timeout_min_ms as f64, t.probe_timeout_max_ms as f64)
        } else {
            t.probe_timeout_min_ms as f64
        };
        (ms * 1000.0) as u64
    }

    /// Applies one event to region `i` at `now_us`; returns what changed.
    pub fn on_event(&mut self, now_us: u64, i: usize, event: Event) -> Vec<Note> {
        let mut notes = Vec::new();
        match event {
            Event::ProbeOk { rtt_us, vv } => {
                self.sample(i, rtt_us);
                if vv.is_some() {
                    self.regions[i].vv = vv;
                }
                self.success(now_us, i, &mut notes);
            }
            Event::RequestOk { rtt_us } => {
                if let Some(us) = rtt_us {
                    self.sample(i, us);
                }
                self.success(now_us, i, &mut notes);
            }
            Event::ProbeFailed { why } | Event::RequestFailed { why } => {
                self.failure(now_us, i, why, &mut notes);
            }
        }
        self.evaluate(now_us, &mut notes);
        notes
    }

    /// Re-evaluates time-based rules (the switch hold) without an event.
    pub fn tick(&mut self, now_us: u64) -> Vec<Note> {
        let mut notes = Vec::new();
        self.evaluate(now_us, &mut notes);
        notes
    }

    fn sample(&mut self, i: usize, rtt_us: u64) {
        let ms = rtt_us as f64 / 1000.0;
        let a = self.tuning.rtt_ewma_alpha;
        let r = &mut self.regions[i];
        r.rtt_ms = Some(match r.rtt_ms {
            Some(old) => old + a * (ms - old),
            None => ms,
        });
    }

    fn set_health(&mut self, now_us: u64, i: usize, to: Health, notes: &mut Vec<Note>) {
        let r = &mut self.regions[i];
        let from = r.health;
        if from == to {
            return;
        }
        r.health = to;
        r.ever_up |= to == Health::Up;
        r.since_us = now_us;
        r.catch_up = None;
        notes.push(Note::Health {
            region: i,
            from,
            to,
        });
    }

    fn success(&mut self, now_us: u64, i: usize, notes: &mut Vec<Note>) {
        self.regions[i].failures = 0;
        match self.regions[i].health {
            Health::Up => {}
            Health::Unknown => self.set_health(now_us, i, Health::Up, notes),
            // A region that never served (e.g. started after the router)
            // has no traffic to win back: with no other region up it
            // serves at once.
            Health::Down if !self.regions[i].ever_up && self.best(Health::Up).is_none() => {
                self.set_health(now_us, i, Health::Up, notes)
            }
            Health::Down => self.set_health(now_us, i, Health::Recovering, notes),
            Health::Recovering => {
                let healthy_us = now_us.saturating_sub(self.regions[i].since_us);
                if healthy_us < self.tuning.failback_healthy_ms * 1000 {
                    return;
                }
                if self.regions[i].catch_up.is_none() {
                    // What the region serving now holds is what this one
                    // must hold before clients come back to it.
                    let target = self
                        .primary
                        .filter(|&p| p != i)
                        .and_then(|p| self.regions[p].vv.clone())
                        .unwrap_or_default();
                    self.regions[i].catch_up = Some(target);
                }
                let r = &self.regions[i];
                let caught_up = match (&r.vv, &r.catch_up) {
                    (_, Some(t)) if t.is_empty() => true,
                    (Some(vv), Some(t)) => vv.dominates(t),
                    _ => false,
                };
                if caught_up {
                    self.set_health(now_us, i, Health::Up, notes);
                }
            }
        }
    }

    fn failure(&mut self, now_us: u64, i: usize, why: String, notes: &mut Vec<Note>) {
        let threshold = self.tuning.failures_to_open;
        let r = &mut self.regions[i];
        r.failures = r.failures.saturating_add(1);
        r.last_error = Some(why);
        let open = match r.health {
            Health::Down => false,
            // Half-open: one failure is enough to close the door again.
            Health::Recovering => true,
            Health::Up | Health::Unknown => r.failures >= threshold,
        };
        if open {
            self.set_health(now_us, i, Health::Down, notes);
        }
    }

    /// Best region with health `h`, by score (lowest index on ties).
    fn best(&self, h: Health) -> Option<usize> {
        (0..self.regions.len())
            .filter(|&i| self.regions[i].health == h)
            .min_by(|&a, &b| {
                self.regions[a]
                    .score_ms()
                    .total_cmp(&self.regions[b].score_ms())
                    .then(a.cmp(&b))
            })
    }

    fn eligible(&self, i: usize) -> bool {
        match self.regions[i].health {
            Health::Up => true,
            Health::Recovering => self.best(Health::Up).is_none(),
            Health::Unknown | Health::Down => false,
        }
    }

    fn switch(&mut self, now_us: u64, to: Option<usize>, reason: Reason, notes: &mut Vec<Note>) {
        self.candidate = None;
        if to == self.primary {
            return;
        }
        notes.push(Note::Switch {
            from: self.primary,
            to,
            reason,
        });
        self.primary = to;
        self.ever_primary |= to.is_some();
        self.primary_reason = reason;
        self.primary_since_us = now_us;
    }

    fn evaluate(&mut self, now_us: u64, notes: &mut Vec<Note>) {
        let best = self
            .best(Health::Up)
            .or_else(|| self.best(Health::Recovering));
        let Some(p) = self.primary else {
            if let Some(b) = best {
                // Coming back from "no region usable" is a failover too.
                let reason = if self.ever_primary {
                    Reason::Failover
                } else {
                    Reason::Start
                };
                self.switch(now_us, Some(b), reason, notes);
            }
            return;
        };
        if !self.eligible(p) {
            self.switch(now_us, best, Reason::Failover, notes);
            return;
        }
        let Some(b) = best.filter(|&b| b != p) else {
            self.candidate = None;
            return;
        };
        let t = &self.tuning;
        let (sp, sb) = (self.regions[p].score_ms(), self.regions[b].score_ms());
        let margin = t.switch_margin_ms.max(t.switch_margin_ratio * sp);
        if sb + margin >= sp {
            self.candidate = None;
            return;
        }
        let hold_us = t.switch_hold_ms * 1000;
        // While starting, the first region to answer is used at once and
        // a clearly better one replaces it at once: no traffic to protect.
        let starting = self.primary_reason == Reason::Start
            && now_us.saturating_sub(self.primary_since_us) < hold_us;
        if starting {
            self.switch(now_us, Some(b), Reason::Start, notes);
            return;
        }
        match self.candidate {
            Some((c, since)) if c == b => {
                if now_us.saturating_sub(since) >= hold_us {
                    self.switch(now_us, Some(b), Reason::Better, notes);
                }
            }
            _ => self.candidate = Some((b, now_us)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: u64 = 1000;

    fn decider(floors: &[Option<f64>]) -> Decider {
        let regions = floors
            .iter()
            .enumerate()
            .map(|(i, f)| (format!("r{i}"), *f))
            .collect();
        Decider::new(regions, Tuning::default())
    }

    fn ok(rtt_ms: f64) -> Event {
        Event::ProbeOk {
            rtt_us: (rtt_ms * 1000.0) as u64,
            vv: None,
        }
    }

    fn ok_vv(rtt_ms: f64, token: &str) -> Event {
        Event::ProbeOk {
            rtt_us: (rtt_ms * 1000.0) as u64,
            vv: Some(Vv::parse_token(token.as_bytes()).unwrap()),
        }
    }

    fn fail() -> Event {
        Event::ProbeFailed {
            why: "refused".into(),
        }
    }

    /// Both regions answering; r0 at 1 ms, r1 at 10 ms, r0 primary.
    fn two_up() -> Decider {
        let mut d = decider(&[None, None]);
        d.on_event(MS, 0, ok(1.0));
        d.on_event(MS, 1, ok(10.0));
        assert_eq!(d.primary(), Some(0));
        d
    }

    #[test]
    fn first_answer_is_used_and_a_clearly_better_one_replaces_it_while_starting() {
        let mut d = decider(&[None, None]);
        let notes = d.on_event(MS, 1, ok(10.0));
        assert!(notes.contains(&Note::Switch {
            from: None,
            to: Some(1),
            reason: Reason::Start
        }));
        d.on_event(2 * MS, 0, ok(1.0));
        assert_eq!(d.primary(), Some(0));
    }

    #[test]
    fn floors_order_regions_before_any_probe_and_bound_the_estimate() {
        let d = decider(&[Some(11.3), Some(0.0), None]);
        assert_eq!(d.primary(), None);
        assert_eq!(d.order(&[]), [1, 0, 2]);
        let mut d = decider(&[Some(11.3), Some(0.0)]);
        // On loopback both answer in 0.1 ms; the floors keep London first.
        d.on_event(MS, 0, ok(0.1));
        d.on_event(MS, 1, ok(0.1));
        assert_eq!(d.primary(), Some(1));
        assert_eq!(d.region(0).score_ms(), 11.3);
    }

    #[test]
    fn one_failure_does_not_open_the_circuit_two_do_and_traffic_moves_at_once() {
        let mut d = two_up();
        d.on_event(100 * MS, 0, fail());
        assert_eq!(d.region(0).health, Health::Up);
        d.on_event(110 * MS, 0, ok(1.0));
        d.on_event(200 * MS, 0, fail());
        assert_eq!(d.region(0).health, Health::Up, "a success reset the count");
        let notes = d.on_event(210 * MS, 0, fail());
        assert_eq!(d.region(0).health, Health::Down);
        assert_eq!(d.primary(), Some(1));
        assert!(notes.contains(&Note::Switch {
            from: Some(0),
            to: Some(1),
            reason: Reason::Failover
        }));
        assert_eq!(d.order(&[]), [1, 0]);
        assert_eq!(d.order(&[1]), [0]);
    }

    #[test]
    fn fails_back_only_after_a_healthy_period_and_catching_up() {
        let mut d = two_up();
        d.on_event(100 * MS, 0, fail());
        d.on_event(101 * MS, 0, fail());
        assert_eq!(d.primary(), Some(1));
        d.on_event(150 * MS, 1, ok_vv(10.0, "v1:r0=5,r1=9"));
        d.on_event(200 * MS, 0, ok_vv(1.0, "v1:r0=5"));
        assert_eq!(d.region(0).health, Health::Recovering);
        // A failure while half-open opens the circuit again.
        d.on_event(300 * MS, 0, fail());
        assert_eq!(d.region(0).health, Health::Down);
        let back = 400 * MS;
        d.on_event(back, 0, ok_vv(1.0, "v1:r0=5"));
        let healthy = back + FAILBACK_HEALTHY_MS * MS;
        d.on_event(healthy - MS, 0, ok_vv(1.0, "v1:r0=5"));
        assert_eq!(
            d.region(0).health,
            Health::Recovering,
            "not healthy long enough"
        );
        d.on_event(healthy, 0, ok_vv(1.0, "v1:r0=5,r1=3"));
        assert_eq!(
            d.region(0).health,
            Health::Recovering,
            "it lacks r1's ops 4..9, which the primary held"
        );
        d.on_event(healthy + 100 * MS, 0, ok_vv(1.0, "v1:r0=5,r1=9"));
        assert_eq!(d.region(0).health, Health::Up);
        assert_eq!(d.primary(), Some(1), "the switch waits SWITCH_HOLD_MS");
        let up = healthy + 100 * MS;
        d.on_event(up + SWITCH_HOLD_MS * MS - MS, 0, ok(1.0));
        assert_eq!(d.primary(), Some(1));
        let notes = d.on_event(up + SWITCH_HOLD_MS * MS, 0, ok(1.0));
        assert_eq!(d.primary(), Some(0));
        assert!(notes.contains(&Note::Switch {
            from: Some(1),
            to: Some(0),
            reason: Reason::Better
        }));
    }

    #[test]
    fn with_every_region_down_there_is_no_primary_until_one_answers() {
        let mut d = two_up();
        for i in [0, 1] {
            d.on_event(100 * MS, i, fail());
            d.on_event(100 * MS, i, fail());
        }
        assert_eq!(d.primary(), None);
        assert_eq!(d.order(&[]), [0, 1]);
        // A recovering region serves when nothing better exists.
        d.on_event(200 * MS, 1, ok(10.0));
        assert_eq!(d.region(1).health, Health::Recovering);
        assert_eq!(d.primary(), Some(1));
        // It stays primary when the other one recovers too (no clear
        // winner is Up), and loses it to an Up region at once.
        d.on_event(300 * MS, 0, ok(1.0));
        assert_eq!(d.region(0).health, Health::Recovering);
        let t = 300 * MS + FAILBACK_HEALTHY_MS * MS;
        d.on_event(t, 0, ok(1.0));
        assert_eq!(d.region(0).health, Health::Up);
        assert_eq!(d.primary(), Some(0));
    }

    #[test]
    fn a_region_that_never_served_serves_at_once_when_nothing_else_can() {
        let mut d = decider(&[None, None]);
        for i in [0, 1] {
            d.on_event(MS, i, fail());
            d.on_event(MS, i, fail());
        }
        assert_eq!(d.region(0).health, Health::Down);
        d.on_event(100 * MS, 1, ok(10.0));
        assert_eq!(d.region(1).health, Health::Up);
        // With region 1 up, region 0 must earn its way in.
        d.on_event(200 * MS, 0, ok(1.0));
        assert_eq!(d.region(0).health, Health::Recovering);
        assert_eq!(d.primary(), Some(1));
    }

    #[test]
    fn probe_timeout_follows_the_round_trip_within_bounds() {
        let mut d = decider(&[None, None, Some(1000.0)]);
        assert_eq!(d.probe_timeout_us(0), PROBE_TIMEOUT_MIN_MS * MS);
        d.on_event(MS, 0, ok(1.0));
        d.on_event(MS, 1, ok(150.0));
        assert_eq!(d.probe_timeout_us(0), PROBE_TIMEOUT_MIN_MS * MS);
        assert_eq!(d.probe_timeout_us(1), 600 * MS);
        assert_eq!(d.probe_timeout_us(2), PROBE_TIMEOUT_MAX_MS * MS);
    }

    #[test]
    fn request_samples_feed_the_estimate() {
        let mut d = two_up();
        for k in 0..50 {
            d.on_event(
                (100 + k) * MS,
                0,
                Event::RequestOk {
                    rtt_us: Some(5_000),
                },
            );
        }
        let rtt = d.region(0).rtt_ms.unwrap();
        assert!((rtt - 5.0).abs() < 0.01, "{rtt}");
    }

    proptest! {
        /// Two regions whose round trips wander within a band narrower
        /// than the switch margin never trade places, however the samples
        /// fall.
        #[test]
        fn similar_regions_do_not_flap(
            samples in proptest::collection::vec((0usize..2, 0.0f64..1.9), 1..400)
        ) {
            let mut d = decider(&[None, None]);
            d.on_event(MS, 0, ok(5.0));
            d.on_event(MS, 1, ok(5.0));
            let first = d.primary();
            for (k, (i, jitter)) in samples.into_iter().enumerate() {
                let now = 2 * SWITCH_HOLD_MS * MS + k as u64 * 50 * MS;
                d.on_event(now, i, ok(5.0 + jitter));
                prop_assert_eq!(d.primary(), first);
            }
        }

        /// A region that stops answering loses its traffic within a
        /// second of simulated time, whatever the probe phase and timeout,
        /// as long as the shell probes as specified: every interval, at
        /// once after a failure, each failure reported at its timeout.
        #[test]
        fn a_dead_primary_is_replaced_within_a_second(
            phase_ms in 0u64..PROBE_INTERVAL_MS,
            silent in any::<bool>(),
        ) {
            let mut d = two_up();
            let kill = 10_000 * MS;
            let mut t = kill - phase_ms * MS;
            while t < kill {
                d.on_event(t, 0, ok(1.0));
                d.on_event(t, 1, ok(10.0));
                t += PROBE_INTERVAL_MS * MS;
            }
            // After the kill each probe fails: at its timeout when the
            // region is silent (a black hole), at once when refused.
            let mut failures = 0;
            while d.primary() == Some(0) {
                let cost = if silent { d.probe_timeout_us(0) } else { MS };
                t += cost;
                d.on_event(t, 0, fail());
                failures += 1;
                if d.region(0).failures == 1 {
                    continue; // the shell probes again at once
                }
                t += PROBE_INTERVAL_MS * MS;
            }
            prop_assert_eq!(failures, FAILURES_TO_OPEN);
            prop_assert!(t - kill < 1000 * MS, "took {} ms", (t - kill) / MS);
            prop_assert_eq!(d.primary(), Some(1));
        }
    }
}
