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
//! * `command`, `input`, `control`: the commands typed while the demo
//!   runs (or read from `--script FILE`): cut and heal links, kill and
//!   restart regions, send a command to a region, wait for convergence,
//!   status. With `--rate 0 --duration 0` the demo is a playground: no
//!   workload, only the user's commands.
//! * `reply`: replies printed as `redis-cli` prints them.

pub mod args;
mod child;
mod command;
mod control;
mod input;
mod measure;
mod out;
mod probe;
mod reply;
pub mod report;
mod signals;
mod story;
mod workload;
mod world;

pub use args::DemoArgs;
pub use report::{BeforeAfter, CounterCheck, LinkLag, StoryFigures, Summary};

use anyhow::{bail, Context};
use args::Plan;
use command::Command;
use control::{Control, Outcome};
use input::{Commands, Line};
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
            describe(&plan, &args, &out, &world, &Commands::Stdin(None));
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

/// How the session's run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// `--duration` passed.
    Duration,
    /// Ctrl-C or SIGTERM.
    Signal,
    /// The `quit` command.
    Quit,
    /// The end of `--script`.
    ScriptEnd,
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
    let mut commands = match (&plan.script, &args.script) {
        (Some(lines), Some(path)) => Commands::script(lines, path),
        _ => Commands::stdin(),
    };
    describe(plan, args, out, world, &commands);
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
    let load = match args.rate {
        0 => None,
        rate => Some(Workload::start(&addrs, args.clients, rate, &keys).await?),
    };
    let started = Instant::now();
    let short = report::short_names(&plan.regions);
    let control = Control::new(
        &plan.regions,
        &short,
        measure::CONVERGE_TIMEOUT_BASE + plan.delay_max(),
        load.is_some(),
    );
    let ctx = Ctx {
        plan,
        out,
        control: &control,
        short: &short,
        script: plan.script.is_some(),
    };
    let monitored = monitor(&ctx, world, load.as_ref(), signals, &mut commands).await;
    let (counters, first_error) = match &load {
        Some(l) => (l.counters.clone(), l.first_error.clone()),
        None => Default::default(),
    };
    if let Some(l) = load {
        l.stop().await;
    }
    let duration = started.elapsed();
    let stop = monitored?;
    if stop == Stop::Signal {
        let what = if args.rate > 0 {
            "stopping the workload"
        } else {
            "stopping"
        };
        out.say(&format!(
            "{what} (Ctrl-C again to skip the convergence check)"
        ));
    }
    restore(plan, out, world, signals).await?;
    let mut s = converge(plan, out, world, signals).await?;
    s.interrupted = stop == Stop::Signal;
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

/// Heals every cut link and restarts every killed region, saying so: the
/// convergence check needs every region up and reachable.
async fn restore(
    plan: &Plan,
    out: &Out,
    world: &mut World,
    signals: &mut Signals,
) -> anyhow::Result<()> {
    let cut = world.cut_links().len();
    if cut > 0 {
        world.heal_all();
        out.say(&format!(
            "healing the {cut} cut replication link(s) before the convergence check"
        ));
    }
    for i in world.killed() {
        let name = &plan.regions[i];
        out.say(&format!(
            "restarting {name} (killed) from its disk before the convergence check"
        ));
        tokio::select! {
            r = world.restart_region(i) => r.with_context(|| format!("restart {name}"))?,
            _ = signals.recv() => bail!("interrupted while restarting {name}"),
        }
    }
    Ok(())
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
fn describe(plan: &Plan, args: &DemoArgs, out: &Out, world: &World, commands: &Commands) {
    let mut s = String::from("regions, each a Redis server for any client:\n");
    for r in &world.regions {
        s.push_str(&format!(
            "  {:<14} {:<21} redis-cli -p {}\n",
            r.region,
            r.listen,
            r.listen.port()
        ));
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
    let mut until = match plan.duration {
        Some(d) => format!("for {} s (Ctrl-C stops early)", d.as_secs()),
        None => "until Ctrl-C".to_string(),
    };
    if let Some(path) = &args.script {
        until = format!("{until}, or until the script {} ends", path.display());
    } else if commands.is_open() {
        until.push_str(" or quit");
    }
    if args.rate == 0 {
        s.push_str(&format!(
            "runs {until}, with no workload (--rate 0): only your own commands change the data\n"
        ));
    } else {
        s.push_str(&format!(
            "workload {until}: {} clients and {} writes/s per region (reads on top), {} own keys per region, {} hot keys and {} counters written by every region\n",
            args.clients, args.rate, args.keys, args.hot_keys, args.hot_keys
        ));
    }
    if commands.is_terminal() {
        s.push_str("type commands here: cut REGION, heal, kill REGION, restart REGION, status, redis REGION CMD..., wait, help, quit\n");
    } else if commands.is_piped() && args.script.is_none() {
        s.push_str("reading commands from stdin (help lists them)\n");
    }
    let short = report::short_names(&plan.regions);
    let legend: Vec<String> = short
        .iter()
        .zip(&plan.regions)
        .filter(|(s, r)| s != r)
        .map(|(s, r)| format!("{s}={r}"))
        .collect();
    if args.rate == 0 {
        s.push_str("a line whenever replication lag, a cut or a kill changes: lag p50/p99 per link (cumulative since start)");
    } else {
        s.push_str(
            "each second: acknowledged ops/s per region, lag p50/p99 per link (cumulative since start)",
        );
    }
    if !legend.is_empty() {
        s.push_str(&format!(" [{}]", legend.join(" ")));
    }
    out.say(&s);
}

/// What the monitor loop shares with the commands it runs.
struct Ctx<'a> {
    plan: &'a Plan,
    out: &'a Out,
    control: &'a Control,
    short: &'a [String],
    /// Commands come from `--script`: a failing one ends the demo.
    script: bool,
}

/// Prints a line per second (without a workload: only when it changes)
/// and runs the commands that come, until the duration has passed, a stop
/// request, `quit` or the end of the script. Fails if a region dies (other
/// than by `kill`), or a script command fails.
async fn monitor(
    ctx: &Ctx<'_>,
    world: &mut World,
    load: Option<&Workload>,
    signals: &mut Signals,
    commands: &mut Commands,
) -> anyhow::Result<Stop> {
    let started = Instant::now();
    let end = ctx.plan.duration.map(|d| started + d);
    let mut tick =
        tokio::time::interval_at(started + Duration::from_secs(1), Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_ops: Vec<u64> = vec![0; ctx.plan.regions.len()];
    let mut last_at = started;
    let mut last_shown = String::new();
    let echo = !commands.is_terminal();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = sleep_until(end) => return Ok(Stop::Duration),
            _ = signals.recv() => return Ok(Stop::Signal),
            line = commands.next() => {
                let stop = match line {
                    Line::ScriptEnd => Some(Stop::ScriptEnd),
                    Line::TooLong { at } => {
                        let e = format!("{at}: line longer than {} bytes, ignored", input::LINE_BYTES_MAX);
                        ctx.out.say(&format!("error: {e}"));
                        None
                    }
                    Line::Text { at, text } => execute(ctx, world, signals, &at, &text, echo).await?,
                };
                match stop {
                    Some(s) => return Ok(s),
                    None => continue,
                }
            }
        }
        world.check_alive()?;
        let now = Instant::now();
        let secs = (now - last_at).as_secs_f64().max(f64::EPSILON);
        last_at = now;
        let ops: Vec<f64> = match load {
            Some(load) => load
                .counters
                .iter()
                .zip(last_ops.iter_mut())
                .map(|(c, last)| {
                    let n = c.ops.load(Ordering::Relaxed);
                    let rate = (n - *last) as f64 / secs;
                    *last = n;
                    rate
                })
                .collect(),
            None => Vec::new(),
        };
        let lag: Vec<_> = measure::lag_per_link(world)
            .await?
            .into_iter()
            .map(|r| (r.from, r.to, r.lag.p50_ms, r.lag.p99_ms))
            .collect();
        let elapsed = (now - started).as_secs_f64().round() as u64;
        let line = report::second_line(elapsed, ctx.short, &ops, &lag)
            + &report::faults(ctx.short, &world.cut_links(), &world.killed());
        // Without a workload, only changes are worth a line.
        let shown = line
            .split_once(']')
            .map_or("", |(_, rest)| rest)
            .to_string();
        if load.is_some() || shown != last_shown {
            ctx.out.say(&line);
            last_shown = shown;
        }
    }
}

/// Runs one command line. Returns how the session stops, if it does. A
/// bad or failing command prints a one-line error, or with `--script`
/// ends the demo with that error.
async fn execute(
    ctx: &Ctx<'_>,
    world: &mut World,
    signals: &mut Signals,
    at: &str,
    text: &str,
    echo: bool,
) -> anyhow::Result<Option<Stop>> {
    let parsed = command::parse(text, &ctx.plan.regions, ctx.short);
    // `redis` prints its own `region> ...` line.
    if echo && !matches!(parsed, Ok(None) | Ok(Some(Command::Redis { .. }))) {
        ctx.out.say(&format!("> {text}"));
    }
    let ran = match parsed {
        Ok(None) => return Ok(None),
        Ok(Some(cmd)) => ctx.control.run(cmd, ctx.out, world, signals).await,
        Err(e) => Err(e),
    };
    match ran {
        Ok(Outcome::Continue) => Ok(None),
        Ok(Outcome::Quit) => Ok(Some(Stop::Quit)),
        Ok(Outcome::Interrupted) => Ok(Some(Stop::Signal)),
        Err(e) if ctx.script => Err(e.context(format!("{at}: {text}"))),
        Err(e) => {
            let one_line = format!("{e:#}").replace('\n', " ");
            ctx.out.say(&format!("error: {one_line}"));
            Ok(None)
        }
    }
}

/// Sleeps until `end`, or forever if there is none.
async fn sleep_until(end: Option<Instant>) {
    match end {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
