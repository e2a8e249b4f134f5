//! `meridian demo`: the local world, first version.
//!
//! Starts a region server per region as a child process on loopback, puts a
//! delaying proxy ([`meridian_wan`]) with the measured one-way delay on
//! every directed replication link, runs a mixed workload from clients in
//! every region (some writing the same keys at the same time), prints a
//! line per second, and at the end (after `--duration` or on Ctrl-C) waits
//! for replication to finish and prints a summary: writes, conflicts, lag
//! per link against its injected delay, and whether all regions hold
//! identical state.
//!
//! ```text
//! $ meridian demo --duration 10
//! $ meridian demo --regions eu-west,eu-london --duration 3 --json | tail -1
//! {"converged":true,"regions":["eu-west","eu-london"],"writes":...}
//! ```
//!
//! * [`args`]: flags, limits, and the checked [`args::Plan`].
//! * `world`: ports, proxies, server processes, start-up waits.
//! * `workload`: the paced clients and what they count.
//! * `measure`: lag per link, conflicts, counters, the convergence wait.
//! * [`report`]: the per-second line, the summary table, the JSON.
//! * `story`: `--story london-fire`, a router next to eu-london, the
//!   region killed and rebuilt, the clients' failover measured.

pub mod args;
mod child;
mod measure;
mod out;
mod probe;
pub mod report;
mod signals;
mod story;
mod workload;
mod world;

pub use args::DemoArgs;
pub use report::{BeforeAfter, CounterCheck, LinkLag, StoryFigures, Summary};

use anyhow::{bail, Context};
use args::Plan;
use out::Out;
use signals::Signals;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;
use workload::{KeySpace, Workload};
use world::World;

/// Runs the demo until `--duration` has passed or Ctrl-C, then reports.
/// Fails if the flags are invalid, the world cannot start, a region dies,
/// or the regions do not converge (after printing the summary).
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let plan = args.plan()?;
    let out = Out::new(args.json);
    let mut signals = Signals::new().context("install the Ctrl-C handler")?;
    out.say(&format!(
        "meridian demo: starting {} regions on loopback ({})",
        plan.regions.len(),
        plan.regions.join(", ")
    ));
    let mut world = tokio::select! {
        w = World::start(&plan, &args, &out) => w?,
        _ = signals.recv() => bail!("interrupted while starting the regions"),
    };
    let ran = match plan.story {
        Some(args::Story::LondonFire) => {
            tokio::select! {
                r = world.wait_links(&out) => r?,
                _ = signals.recv() => bail!("interrupted while waiting for the replication links"),
            }
            describe(&plan, &args, &out, &world);
            story::london_fire(&plan, &args, &out, &mut world, &mut signals).await
        }
        None => session(&plan, &args, &out, &mut world, &mut signals).await,
    };
    match ran {
        Ok(summary) => {
            out.say(&summary.table());
            let kept = (!summary.converged).then(|| world.keep_dir());
            if args.json {
                out.json(&summary.to_json_line()?);
            }
            world.shutdown().await;
            match kept {
                Some(dir) => bail!(
                    "the regions did not converge; their data and logs are kept in {}",
                    dir.display()
                ),
                None => Ok(()),
            }
        }
        Err(e) => {
            let dir = world.keep_dir();
            world.shutdown().await;
            Err(e.context(format!("region data and logs kept in {}", dir.display())))
        }
    }
}

/// Everything between a started world and its summary.
async fn session(
    plan: &Plan,
    args: &DemoArgs,
    out: &Out,
    world: &mut World,
    signals: &mut Signals,
) -> anyhow::Result<Summary> {
    tokio::select! {
        r = world.wait_links(out) => r?,
        _ = signals.recv() => bail!("interrupted while waiting for the replication links"),
    }
    describe(plan, args, out, world);
    measure::reset_lag(world).await?;
    let keys = KeySpace {
        prefix: format!("demo:{:08x}:", rand::random::<u32>()),
        keys: args.keys,
        hot: args.hot_keys,
    };
    let addrs: Vec<_> = world
        .regions
        .iter()
        .map(|r| (r.region.clone(), r.listen))
        .collect();
    let load = Workload::start(&addrs, args.clients, args.rate, &keys).await?;
    let started = Instant::now();
    let monitored = monitor(plan, out, world, &load, signals).await;
    let counters = load.counters.clone();
    let first_error = load.first_error.clone();
    load.stop().await;
    let duration = started.elapsed();
    let interrupted = monitored?;
    if interrupted {
        out.say("stopping the workload (Ctrl-C again to skip the convergence check)");
    }
    let mut s = converge(plan, out, world, signals).await?;
    s.interrupted = interrupted;
    s.duration_s = duration.as_secs_f64();
    add_workload(&mut s, plan, &counters);
    s.counters.values = measure::sums(world, &keys.counters()).await?;
    s.counters.ok = s
        .counters
        .values
        .values()
        .all(|v| *v == s.counters.increments);
    s.conflicts = measure::conflicts(world).await?;
    add_lag(&mut s, plan, world).await?;
    let first_error = first_error.lock().map(|e| e.clone()).unwrap_or(None);
    if let Some(e) = first_error {
        out.say(&format!(
            "{} commands failed; the first failure: {e}",
            s.errors
        ));
    }
    Ok(s)
}

/// Waits for every region to apply every op, then compares digests: the
/// start of the summary.
async fn converge(
    plan: &Plan,
    out: &Out,
    world: &mut World,
    signals: &mut Signals,
) -> anyhow::Result<Summary> {
    let limit = measure::CONVERGE_TIMEOUT_BASE + plan.delay_max();
    let waited = measure::await_same_vv(world, out, signals, limit).await?;
    let digest = measure::digests(world).await?;
    let same_digest = digest.values().all(|d| Some(d) == digest.values().next());
    Ok(Summary {
        converged: waited.is_some() && same_digest,
        regions: plan.regions.clone(),
        converge_ms: waited.map_or(-1.0, |d| round1(d.as_secs_f64() * 1000.0)),
        digest,
        ..Summary::default()
    })
}

/// Adds what the clients counted (after `s.duration_s` is set).
fn add_workload(s: &mut Summary, plan: &Plan, counters: &[workload::RegionCounters]) {
    let secs = s.duration_s.max(f64::EPSILON);
    for (r, c) in plan.regions.iter().zip(counters) {
        let writes = c.writes.load(Ordering::Relaxed);
        s.writes += writes;
        s.reads += c.reads.load(Ordering::Relaxed);
        s.errors += c.errors.load(Ordering::Relaxed);
        s.counters.increments += c.increments.load(Ordering::Relaxed);
        let ops = c.ops.load(Ordering::Relaxed) as f64;
        s.ops_per_sec.insert(r.clone(), round1(ops / secs));
        s.writes_per_sec
            .insert(r.clone(), round1(writes as f64 / secs));
    }
}

/// Adds lag per link and the injected delays.
async fn add_lag(s: &mut Summary, plan: &Plan, world: &mut World) -> anyhow::Result<()> {
    for row in measure::lag_per_link(world).await? {
        let name = format!("{}->{}", plan.regions[row.from], plan.regions[row.to]);
        let l = &row.lag;
        let lag = LinkLag {
            p50: l.p50_ms,
            p99: l.p99_ms,
            max: l.max_ms,
            count: l.count,
        };
        s.lag_ms.insert(name, lag);
    }
    for l in &plan.links {
        let ms = round3(l.delay.as_secs_f64() * 1000.0);
        s.delay_ms.insert(l.name(), ms);
    }
    Ok(())
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Prints where everything is, before the workload starts.
fn describe(plan: &Plan, args: &DemoArgs, out: &Out, world: &World) {
    let mut s = String::from("regions (try: redis-cli -p PORT):\n");
    for r in &world.regions {
        s.push_str(&format!("  {:<14} {}\n", r.region, r.listen));
    }
    s.push_str("replication links, injected one-way delay (half the measured round trip):\n");
    for l in &plan.links {
        s.push_str(&format!(
            "  {:<30} {:>7.2} ms\n",
            l.name(),
            l.delay.as_secs_f64() * 1000.0
        ));
    }
    let fate = if world.is_temporary() {
        "removed at the end"
    } else {
        "kept"
    };
    s.push_str(&format!(
        "data and logs in {} ({fate})\n",
        world.dir().display()
    ));
    let until = match plan.duration {
        Some(d) => format!("for {} s (Ctrl-C stops early)", d.as_secs()),
        None => "until Ctrl-C".to_string(),
    };
    s.push_str(&format!(
        "workload {until}: {} clients and {} writes/s per region (reads on top), {} own keys per region, {} hot keys and {} counters written by every region\n",
        args.clients, args.rate, args.keys, args.hot_keys, args.hot_keys
    ));
    let short = report::short_names(&plan.regions);
    let legend: Vec<String> = short
        .iter()
        .zip(&plan.regions)
        .filter(|(s, r)| s != r)
        .map(|(s, r)| format!("{s}={r}"))
        .collect();
    s.push_str(
        "each second: acknowledged ops/s per region, lag p50/p99 per link (cumulative since start)",
    );
    if !legend.is_empty() {
        s.push_str(&format!(" [{}]", legend.join(" ")));
    }
    out.say(&s);
}

/// Prints a line per second until the duration has passed (`Ok(false)`)
/// or a stop request comes (`Ok(true)`). Fails if a region dies.
async fn monitor(
    plan: &Plan,
    out: &Out,
    world: &mut World,
    load: &Workload,
    signals: &mut Signals,
) -> anyhow::Result<bool> {
    let started = Instant::now();
    let end = plan.duration.map(|d| started + d);
    let short = report::short_names(&plan.regions);
    let mut tick =
        tokio::time::interval_at(started + Duration::from_secs(1), Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_ops: Vec<u64> = vec![0; plan.regions.len()];
    let mut last_at = started;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = sleep_until(end) => return Ok(false),
            _ = signals.recv() => return Ok(true),
        }
        world.check_alive()?;
        let now = Instant::now();
        let secs = (now - last_at).as_secs_f64().max(f64::EPSILON);
        last_at = now;
        let ops: Vec<f64> = load
            .counters
            .iter()
            .zip(last_ops.iter_mut())
            .map(|(c, last)| {
                let n = c.ops.load(Ordering::Relaxed);
                let rate = (n - *last) as f64 / secs;
                *last = n;
                rate
            })
            .collect();
        let lag: Vec<_> = measure::lag_per_link(world)
            .await?
            .into_iter()
            .map(|r| (r.from, r.to, r.lag.p50_ms, r.lag.p99_ms))
            .collect();
        let elapsed = (now - started).as_secs_f64().round() as u64;
        out.say(&report::second_line(elapsed, &short, &ops, &lag));
    }
}

/// Sleeps until `end`, or forever if there is none.
async fn sleep_until(end: Option<Instant>) {
    match end {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
