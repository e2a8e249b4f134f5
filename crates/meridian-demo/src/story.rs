//! `--story london-fire`: the article's story, reproduced.
//!
//! Clients in London talk to a `meridian router` standing next to
//! eu-london. The router reaches eu-london directly and every other region
//! through a delaying proxy with the measured one-way delay from London
//! (so Dublin, eu-west, is 5.65 ms away each way). Halfway through
//! `--duration`, eu-london is killed (SIGKILL). The London clients carry on
//! through the next nearest region; the demo measures how long that took,
//! their latency before and after, failed reads, and whether any session
//! read older data than it had written or read (strict sessions). Then
//! eu-london is rebuilt from its disk and the router fails back.
//!
//! Each London client owns one key: it writes an increasing number every
//! fifth operation and reads the key back otherwise, every
//! [`OP_INTERVAL`]. A read below the last number written or read is a
//! session violation. The regular workload runs in the other regions.

use crate::args::{Plan, LONDON};
use crate::out::Out;
use crate::report::{BeforeAfter, StoryFigures, Summary};
use crate::signals::Signals;
use crate::workload::{KeySpace, Workload};
use crate::world::World;
use crate::{measure, probe};
use anyhow::{anyhow, Context};
use meridian_router::{Policy, RouterArgs};
use meridian_wan::{RttMatrix, Wan};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Pause between two operations of one London client: 200 operations a
/// second each, enough for tight medians without loading a laptop that
/// runs the whole world.
pub const OP_INTERVAL: Duration = Duration::from_millis(5);

/// One operation in this many is a write.
pub const WRITE_EVERY: u64 = 5;

/// Reads in the first this-long are left out of the "before" median (new
/// connections, cold caches).
pub const WARM_UP: Duration = Duration::from_secs(1);

/// Reads this long after every client moved are where "after" starts.
pub const SETTLE: Duration = Duration::from_millis(200);

/// Longest wait for the router to choose London at the start, and to fail
/// back after the rebuild (which takes `FAILBACK_HEALTHY_MS` plus the
/// switch hold, about 4 s).
pub const ROUTER_WAIT: Duration = Duration::from_secs(30);

/// One London operation.
#[derive(Clone, Copy, Debug)]
struct Record {
    sent: Instant,
    done: Instant,
    read: bool,
    ok: bool,
}

/// What the London clients count as they go.
#[derive(Default)]
struct Live {
    ops: AtomicU64,
    errors: AtomicU64,
    refused: AtomicU64,
    failed_writes: AtomicU64,
    violations: AtomicU64,
    /// Latencies of the current second, in ms.
    lat_ms: Mutex<Vec<f64>>,
    first_error: Mutex<Option<String>>,
}

impl Live {
    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
        first.get_or_insert(what);
    }
}

/// Runs the story; returns the summary (before it is printed).
pub async fn london_fire(
    plan: &Plan,
    args: &crate::DemoArgs,
    out: &Out,
    world: &mut World,
    signals: &mut Signals,
) -> anyhow::Result<Summary> {
    let london = plan
        .regions
        .iter()
        .position(|r| r == LONDON)
        .ok_or_else(|| anyhow!("{LONDON} is not running"))?;
    let (router, wan) = start_router(world, london, out).await?;
    wait_primary(&router, LONDON, signals).await?;
    let keys = KeySpace {
        prefix: format!("demo:{:08x}:", rand::random::<u32>()),
        keys: args.keys,
        hot: args.hot_keys,
    };
    let others: Vec<(String, SocketAddr)> = world
        .regions
        .iter()
        .filter(|r| r.region != LONDON)
        .map(|r| (r.region.clone(), r.listen))
        .collect();
    let load = Workload::start(&others, args.clients, args.rate, &keys).await?;
    let live = Arc::new(Live::default());
    let (stop, stop_rx) = watch::channel(false);
    let mut clients = Vec::new();
    for c in 0..args.clients {
        let conn = probe::connect(router.addr()).await?;
        let key = format!("{}london:{c}", keys.prefix);
        clients.push(tokio::spawn(client(
            conn,
            key,
            live.clone(),
            stop_rx.clone(),
        )));
    }
    out.say(&format!(
        "london-fire: {} London clients use the router at {} (next to {LONDON}); {} is killed halfway through",
        args.clients,
        router.addr(),
        LONDON
    ));

    let started = Instant::now();
    let total = plan.duration.context("a story needs --duration")?;
    let mut t = Timeline::new(started);
    let mut interrupted = t
        .run_until(
            started + total / 2,
            out,
            &live,
            &router,
            world,
            None,
            signals,
        )
        .await?;
    let kill = Instant::now();
    let mut switch_ms = -1.0;
    let mut restarted = kill;
    let mut failback_ms = -1.0;
    if !interrupted {
        world.kill_region(london);
        out.say(&format!(
            "*** {LONDON} is on fire: killed (SIGKILL) at {:.1} s ***",
            (kill - started).as_secs_f64()
        ));
        let watcher = tokio::spawn(watch_switch(router_probe(&router), kill));
        interrupted = t
            .run_until(
                started + total,
                out,
                &live,
                &router,
                world,
                Some(london),
                signals,
            )
            .await?;
        switch_ms = watcher.await.unwrap_or(-1.0);
    }
    if !interrupted || world.regions[london].exited().is_some() {
        world
            .restart_region(london)
            .await
            .context("rebuild eu-london")?;
        restarted = Instant::now();
        out.say(&format!("*** {LONDON} rebuilt: restarted from its disk; waiting for the router to fail back ***"));
        if !interrupted {
            let deadline = restarted + ROUTER_WAIT;
            let back = t
                .run_until_primary(deadline, LONDON, out, &live, &router, world, signals)
                .await?;
            failback_ms = back.map_or(-1.0, |at| ms(at - restarted));
        }
    }
    let _ = stop.send(true);
    let mut logs = Vec::new();
    for c in clients {
        logs.push(c.await.unwrap_or_default());
    }
    let counters = load.counters.clone();
    let first_error = load.first_error.clone();
    load.stop().await;
    let duration = started.elapsed();
    let snap = router.snapshot();
    drop(router);
    wan.shutdown().await;

    let mut s = super::converge(plan, out, world, signals).await?;
    s.interrupted = interrupted;
    s.duration_s = duration.as_secs_f64();
    let mut other_plan = plan.clone();
    other_plan.regions = others.iter().map(|(r, _)| r.clone()).collect();
    super::add_workload(&mut s, &other_plan, &counters);
    s.counters.values = measure::sums(world, &keys.counters()).await?;
    s.counters.ok = s
        .counters
        .values
        .values()
        .all(|v| *v == s.counters.increments);
    s.conflicts = measure::conflicts(world).await?;
    super::add_lag(&mut s, plan, world).await?;
    if let Some(e) = first_error.lock().map(|e| e.clone()).unwrap_or(None) {
        out.say(&format!(
            "{} commands of the other regions failed; the first: {e}",
            s.errors
        ));
    }
    let moved_to = snap
        .regions
        .iter()
        .filter(|r| r.name != LONDON)
        .max_by_key(|r| r.requests)
        .map(|r| r.name.clone())
        .unwrap_or_default();
    let fig = Figures::from_logs(&logs, started, kill, restarted);
    let rtt = RttMatrix::builtin()
        .rtt_ms(LONDON, &moved_to)
        .unwrap_or(f64::NAN);
    s.failover_ms = Some(round2(fig.failover_ms));
    s.client_latency_ms = Some(BeforeAfter {
        before: round2(fig.before_ms),
        after: round2(fig.after_ms),
    });
    s.failed_reads = Some(fig.failed_reads);
    s.story = Some(StoryFigures {
        name: "london-fire".into(),
        failover_region: moved_to,
        emulated_rtt_ms: rtt,
        added_latency_ms: round2(fig.after_ms - fig.before_ms),
        router_switch_ms: round2(switch_ms),
        failback_ms: round2(failback_ms),
        reads: fig.reads,
        writes: fig.writes,
        failed_writes: live.failed_writes.load(Ordering::Relaxed),
        session_refused: live.refused.load(Ordering::Relaxed),
        session_violations: live.violations.load(Ordering::Relaxed),
        longest_ms: round2(fig.longest_ms),
    });
    if let Some(e) = live.first_error.lock().map(|e| e.clone()).unwrap_or(None) {
        out.say(&format!("first London error: {e}"));
    }
    out.say(&story_table(&s));
    Ok(s)
}

/// Starts the client-path proxies and the router next to London.
async fn start_router(
    world: &World,
    london: usize,
    out: &Out,
) -> anyhow::Result<(meridian_router::Router, Wan)> {
    let rtt = RttMatrix::builtin();
    let mut wan = Wan::new();
    let mut regions = Vec::new();
    let mut shown = Vec::new();
    for (i, r) in world.regions.iter().enumerate() {
        let addr = if i == london {
            r.listen
        } else {
            let delay = rtt
                .one_way_delay(LONDON, &r.region)
                .with_context(|| format!("no round trip {LONDON}-{}", r.region))?;
            shown.push(format!(
                "{} {:.2} ms",
                r.region,
                delay.as_secs_f64() * 1000.0
            ));
            wan.add_link("london-clients", &r.region, r.listen, delay)
                .await
                .with_context(|| format!("client-path proxy to {}", r.region))?
        };
        regions.push((r.region.clone(), addr.to_string()));
    }
    out.say(&format!(
        "client path from London, one-way delay: {LONDON} direct, {}",
        shown.join(", ")
    ));
    let args = RouterArgs {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        regions,
        near: Some(LONDON.to_string()),
        rtt: Vec::new(),
        session: Policy::Strict,
        session_wait_ms: meridian_router::args::SESSION_WAIT_MS_DEFAULT,
        request_timeout_ms: meridian_router::args::REQUEST_TIMEOUT_MS_DEFAULT,
        metrics: None,
    };
    let router = meridian_router::start(args.config()?).await?;
    Ok((router, wan))
}

/// Waits until the router sends traffic to `region` with every region up.
async fn wait_primary(
    router: &meridian_router::Router,
    region: &str,
    signals: &mut Signals,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + ROUTER_WAIT;
    loop {
        let s = router.snapshot();
        if s.primary.as_deref() == Some(region) && s.regions.iter().all(|r| r.health == "up") {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("the router did not choose {region} with every region up within {ROUTER_WAIT:?}:\n{}", router.info());
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            _ = signals.recv() => anyhow::bail!("interrupted while waiting for the router"),
        }
    }
}

/// A cheap way to read the router's primary from another task.
fn router_probe(router: &meridian_router::Router) -> impl Fn() -> Option<String> + Send + 'static {
    let handle = router.handle();
    move || handle.snapshot().primary
}

/// Polls the router until its primary is no longer London; returns the
/// time since `kill` in ms (-1 if not within `ROUTER_WAIT`).
async fn watch_switch(primary: impl Fn() -> Option<String>, kill: Instant) -> f64 {
    while kill.elapsed() < ROUTER_WAIT {
        if primary().as_deref() != Some(LONDON) {
            return ms(kill.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    -1.0
}

/// One London client: see the module doc.
async fn client(
    mut conn: redis::aio::MultiplexedConnection,
    key: String,
    live: Arc<Live>,
    mut stop: watch::Receiver<bool>,
) -> Vec<Record> {
    let mut log = Vec::new();
    let mut tick = tokio::time::interval(OP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut n, mut written, mut seen) = (0u64, 0u64, 0u64);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return log,
        }
        n += 1;
        let read = n % WRITE_EVERY != 0;
        let sent = Instant::now();
        let ok = if read {
            match probe::query::<Option<u64>>(&mut conn, redis::cmd("GET").arg(&key)).await {
                Ok(v) => {
                    let v = v.unwrap_or(0);
                    if v < written || v < seen {
                        live.violations.fetch_add(1, Ordering::Relaxed);
                        live.error(format!(
                            "{key}: read {v} after writing {written} and reading {seen}"
                        ));
                    }
                    seen = seen.max(v);
                    true
                }
                Err(e) => {
                    let text = format!("{e:#}");
                    if text.contains("TRYAGAIN") || text.contains("caught up") {
                        live.refused.fetch_add(1, Ordering::Relaxed);
                    }
                    live.error(format!("GET {key}: {text}"));
                    false
                }
            }
        } else {
            match probe::query::<()>(&mut conn, redis::cmd("SET").arg(&key).arg(written + 1)).await
            {
                Ok(()) => {
                    written += 1;
                    true
                }
                Err(e) => {
                    live.failed_writes.fetch_add(1, Ordering::Relaxed);
                    live.error(format!("SET {key}: {e:#}"));
                    false
                }
            }
        };
        let done = Instant::now();
        live.ops.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut l) = live.lat_ms.lock() {
            l.push(ms(done - sent));
        }
        log.push(Record {
            sent,
            done,
            read,
            ok,
        });
    }
}

/// The per-second lines.
struct Timeline {
    started: Instant,
    next: Instant,
    last_ops: u64,
}

impl Timeline {
    fn new(started: Instant) -> Timeline {
        Timeline {
            started,
            next: started + Duration::from_secs(1),
            last_ops: 0,
        }
    }

    /// Prints a line a second until `end`; true if interrupted.
    #[allow(clippy::too_many_arguments)]
    async fn run_until(
        &mut self,
        end: Instant,
        out: &Out,
        live: &Live,
        router: &meridian_router::Router,
        world: &mut World,
        dead: Option<usize>,
        signals: &mut Signals,
    ) -> anyhow::Result<bool> {
        loop {
            let wake = self.next.min(end);
            tokio::select! {
                _ = tokio::time::sleep_until(wake) => {}
                _ = signals.recv() => return Ok(true),
            }
            if Instant::now() >= self.next {
                world.check_alive_except(dead)?;
                self.line(out, live, router);
            }
            if Instant::now() >= end {
                return Ok(false);
            }
        }
    }

    /// Like `run_until`, stopping early once the router's primary is
    /// `region`; returns when that happened.
    #[allow(clippy::too_many_arguments)]
    async fn run_until_primary(
        &mut self,
        deadline: Instant,
        region: &str,
        out: &Out,
        live: &Live,
        router: &meridian_router::Router,
        world: &mut World,
        signals: &mut Signals,
    ) -> anyhow::Result<Option<Instant>> {
        loop {
            if router.snapshot().primary.as_deref() == Some(region) {
                return Ok(Some(Instant::now()));
            }
            if Instant::now() > deadline {
                return Ok(None);
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                _ = signals.recv() => return Ok(None),
            }
            if Instant::now() >= self.next {
                world.check_alive_except(None)?;
                self.line(out, live, router);
            }
        }
    }

    fn line(&mut self, out: &Out, live: &Live, router: &meridian_router::Router) {
        let now = Instant::now();
        let ops = live.ops.load(Ordering::Relaxed);
        let mut lat = std::mem::take(&mut *live.lat_ms.lock().unwrap_or_else(|p| p.into_inner()));
        let snap = router.snapshot();
        let rtts: Vec<String> = snap
            .regions
            .iter()
            .map(|r| match r.rtt_ms {
                Some(m) => format!("{} {:.1} ms {}", r.name, m, r.health),
                None => format!("{} ? {}", r.name, r.health),
            })
            .collect();
        out.say(&format!(
            "[{:>4.0}s] london: {} ops/s, median {:.2} ms, {} errors | router -> {} ({})",
            (now - self.started).as_secs_f64(),
            ops - self.last_ops,
            median(&mut lat),
            live.errors.load(Ordering::Relaxed),
            snap.primary.as_deref().unwrap_or("none"),
            rtts.join(", ")
        ));
        self.last_ops = ops;
        while self.next <= now {
            self.next += Duration::from_secs(1);
        }
    }
}

/// The headline figures, from the clients' logs.
#[derive(Debug, Default)]
struct Figures {
    failover_ms: f64,
    before_ms: f64,
    after_ms: f64,
    failed_reads: u64,
    reads: u64,
    writes: u64,
    longest_ms: f64,
}

impl Figures {
    fn from_logs(
        logs: &[Vec<Record>],
        started: Instant,
        kill: Instant,
        restarted: Instant,
    ) -> Figures {
        // A client has moved once an operation it sent after the kill
        // came back: London was dead, so another region served it.
        let failover_ms = logs
            .iter()
            .filter_map(|log| {
                log.iter()
                    .find(|r| r.sent > kill)
                    .map(|r| ms(r.done - kill))
            })
            .fold(0.0, f64::max);
        let all = || logs.iter().flatten();
        let settled = kill + Duration::from_secs_f64(failover_ms / 1000.0) + SETTLE;
        let mut before: Vec<f64> = all()
            .filter(|r| r.read && r.ok && r.sent > started + WARM_UP && r.done < kill)
            .map(|r| ms(r.done - r.sent))
            .collect();
        let mut after: Vec<f64> = all()
            .filter(|r| r.read && r.ok && r.sent > settled && r.done < restarted)
            .map(|r| ms(r.done - r.sent))
            .collect();
        Figures {
            failover_ms,
            before_ms: median(&mut before),
            after_ms: median(&mut after),
            failed_reads: all().filter(|r| r.read && !r.ok).count() as u64,
            reads: all().filter(|r| r.read).count() as u64,
            writes: all().filter(|r| !r.read).count() as u64,
            longest_ms: all().map(|r| ms(r.done - r.sent)).fold(0.0, f64::max),
        }
    }
}

fn story_table(s: &Summary) -> String {
    let Some(st) = &s.story else {
        return String::new();
    };
    let lat = s.client_latency_ms.clone().unwrap_or_default();
    format!(
        "== london-fire ==\n\
         failover        {:.1} ms from the kill until every London client was served by {} (the router switched after {:.1} ms)\n\
         client latency  median {:.2} ms before, {:.2} ms after: +{:.2} ms (emulated London-{} round trip {:.1} ms)\n\
         failed reads    {} of {} ({} refused by strict sessions); failed writes {} of {}; longest request {:.1} ms\n\
         sessions        {} reads older than the session had written or read\n\
         failback        {}",
        s.failover_ms.unwrap_or(-1.0),
        st.failover_region,
        st.router_switch_ms,
        lat.before,
        lat.after,
        st.added_latency_ms,
        st.failover_region,
        st.emulated_rtt_ms,
        s.failed_reads.unwrap_or(0),
        st.reads,
        st.session_refused,
        st.failed_writes,
        st.writes,
        st.longest_ms,
        st.session_violations,
        if st.failback_ms >= 0.0 {
            format!("the router sent London's clients back to {LONDON} {:.1} s after it was rebuilt", st.failback_ms / 1000.0)
        } else {
            "not observed".to_string()
        },
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_from_logs() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let rec = |s: u64, d: u64, read: bool, ok: bool| Record {
            sent: at(s),
            done: at(d),
            read,
            ok,
        };
        // Kill at 2000 ms, restart at 5000 ms.
        let a = vec![
            rec(1500, 1501, true, true),
            rec(1990, 2030, true, true), // in flight at the kill
            rec(2035, 2047, true, true), // first sent after: moved at 47 ms
            rec(2500, 2512, true, true),
            rec(2600, 2612, false, true),
        ];
        let b = vec![
            rec(1600, 1602, true, true),
            rec(2010, 2060, true, false),
            rec(2700, 2712, true, true),
        ];
        let f = Figures::from_logs(&[a, b], t0, at(2000), at(5000));
        assert_eq!(f.failover_ms, 60.0);
        assert_eq!((f.before_ms, f.after_ms), (2.0, 12.0));
        assert_eq!((f.failed_reads, f.reads, f.writes), (1, 7, 1));
        assert_eq!(f.longest_ms, 50.0);
    }
}
