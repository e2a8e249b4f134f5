//! `meridian sim`: run seeds and report, or replay one seed.
//!
//! ```text
//! meridian sim --seeds 1000                 # sweep seeds 0..1000, summary table
//! meridian sim --seed 42                    # replay one seed, print its summary
//! meridian sim --seed 42 --trace            # ... and its whole history
//! meridian sim --seed 42 --shrink           # ... and shrink a failure
//! ```
//!
//! The last line of the output is always `N passed, M failed`, and the exit
//! code is non-zero if any seed failed.

use crate::check::SimReport;
use crate::config::{Broken, FaultKind, Faults, Fsync, SimConfig};
use crate::error::SimFailure;
use crate::shrink::shrink;
use crate::stats::Stats;
use crate::world::World;
use std::io::Write;
use std::time::{Duration, Instant};

/// Most failures the summary lists one by one (the count covers all).
pub const FAILURES_SHOWN_MAX: usize = 20;

/// Options of `meridian sim`.
#[derive(clap::Args, Debug, Clone)]
pub struct SimArgs {
    /// Replay this one seed and print its history summary.
    #[arg(long, conflicts_with_all = ["seeds", "first_seed"])]
    pub seed: Option<u64>,
    /// How many seeds to run.
    #[arg(long, default_value_t = 100)]
    pub seeds: u64,
    /// The first seed of the sweep.
    #[arg(long, default_value_t = 0)]
    pub first_seed: u64,
    /// Regions, comma-separated [default: the seven of data/rtt.csv].
    #[arg(long, value_delimiter = ',')]
    pub regions: Vec<String>,
    /// Client write time per run, in simulated ms, split over the rounds.
    #[arg(long, default_value_t = SimConfig::default().duration_ms)]
    pub duration_ms: u64,
    /// Rounds per run: write with faults, heal, settle and check.
    #[arg(long, default_value_t = SimConfig::default().rounds)]
    pub rounds: u32,
    /// Client writes per second per region.
    #[arg(long, default_value_t = SimConfig::default().writes_per_sec_per_region)]
    pub rate: u64,
    /// Keys the clients write.
    #[arg(long, default_value_t = SimConfig::default().keys)]
    pub keys: usize,
    /// Most writes per client pipeline.
    #[arg(long, default_value_t = SimConfig::default().pipeline_max)]
    pub pipeline: usize,
    /// fsync policy of every region: always, everysec or no.
    #[arg(long, default_value = "everysec")]
    pub fsync: Fsync,
    /// Faults: mixed, none, or kinds (isolate, split, one-way, flap, loss,
    /// dup, reorder, spike, crash, power-loss, skew, jump, long-down),
    /// comma-separated; `-kind` removes one (`mixed,-crash`).
    #[arg(long, default_value = "mixed")]
    pub faults: Faults,
    /// Stop the clients after this many writes (what --shrink sets).
    #[arg(long)]
    pub writes_limit: Option<u64>,
    /// How long a region keeps log records for a silent peer, in simulated
    /// ms [default: 15000, or a round's write time plus twice the liveness
    /// bound if longer].
    #[arg(long)]
    pub log_retention_ms: Option<u64>,
    /// With --seed: print every event of the history.
    #[arg(long, requires = "seed")]
    pub trace: bool,
    /// With --seed: shrink a failure to a small history that fails the
    /// same way, and print its replay command.
    #[arg(long, requires = "seed")]
    pub shrink: bool,
    /// A deliberately broken variant, to see the checkers catch it.
    #[arg(long, hide = true)]
    pub broken: Option<Broken>,
}

impl SimArgs {
    /// The world these options describe.
    pub fn config(&self) -> SimConfig {
        let d = SimConfig::default();
        SimConfig {
            regions: if self.regions.is_empty() {
                d.regions.clone()
            } else {
                self.regions.clone()
            },
            duration_ms: self.duration_ms,
            rounds: self.rounds,
            writes_per_sec_per_region: self.rate,
            keys: self.keys,
            pipeline_max: self.pipeline,
            fsync: self.fsync,
            faults: self.faults,
            writes_limit: self.writes_limit,
            log_retention_ms: self.log_retention_ms,
            broken: self.broken,
            ..d
        }
    }
}

/// Runs `meridian sim`. Exits the process with status 1 if a seed failed,
/// after printing the summary whose last line is `N passed, M failed`.
pub fn cli_main(args: SimArgs) -> anyhow::Result<()> {
    let cfg = args.config();
    cfg.validate().map_err(anyhow::Error::msg)?;
    let failed = match args.seed {
        Some(seed) => replay(seed, &cfg, &args),
        None => sweep(&cfg, &args),
    };
    std::io::stdout().flush()?;
    if failed {
        // The summary is the output; an error message after it would hide
        // the last line scripts look for.
        std::process::exit(1);
    }
    Ok(())
}

/// Replays one seed; returns true if it failed.
fn replay(seed: u64, cfg: &SimConfig, args: &SimArgs) -> bool {
    let started = Instant::now();
    let mut world = match World::with_trace(seed, cfg, args.trace) {
        Ok(w) => w,
        Err(f) => {
            println!("{f}\n0 passed, 1 failed");
            return true;
        }
    };
    let result = world.run().and_then(|()| world.report());
    if let Some(lines) = world.trace() {
        for line in lines {
            println!("{line}");
        }
    }
    println!("meridian sim --seed {seed}: {}", describe(cfg));
    match result {
        Ok(report) => {
            println!("{report}");
            println!("wall time {:.3} s", started.elapsed().as_secs_f64());
            println!("1 passed, 0 failed");
            false
        }
        Err(f) => {
            println!("FAILED: {f}\n  history {:016x}", f.history);
            if args.shrink {
                print_shrunk(seed, cfg);
            }
            println!("0 passed, 1 failed");
            true
        }
    }
}

fn print_shrunk(seed: u64, cfg: &SimConfig) {
    println!("shrinking...");
    match shrink(seed, cfg) {
        Some(s) => {
            println!(
                "shrunk in {} runs to {} writes: {}\n  replay: {}",
                s.runs, s.writes, s.failure.violation, s.failure.replay
            );
        }
        None => println!("the run passed when shrinking began (it should not)"),
    }
}

fn describe(cfg: &SimConfig) -> String {
    format!(
        "{} regions, {} rounds of {} ms writes, {} writes/s/region, {} keys, \
         pipelines of up to {}, fsync {}, faults {}, log retention {} ms",
        cfg.regions.len(),
        cfg.rounds,
        cfg.duration_ms / cfg.rounds as u64,
        cfg.writes_per_sec_per_region,
        cfg.keys,
        cfg.pipeline_max,
        cfg.fsync,
        cfg.faults,
        cfg.retention_ms()
    )
}

/// Totals of a sweep.
#[derive(Default)]
struct Totals {
    passed: u64,
    region_hours: f64,
    simulated_ms: u64,
    stats: Stats,
    failures: Vec<SimFailure>,
}

impl Totals {
    fn add(&mut self, r: &SimReport) {
        self.passed += 1;
        self.region_hours += r.region_hours();
        self.simulated_ms += r.simulated_ms;
        self.stats.absorb(&r.stats);
    }
}

/// Runs the seeds one after another (one core; the machine's other core
/// stays free); returns true if any failed.
fn sweep(cfg: &SimConfig, args: &SimArgs) -> bool {
    let started = Instant::now();
    let cpu_before = cpu_time();
    let bar = indicatif::ProgressBar::new(args.seeds);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} seeds, {msg}, eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let mut t = Totals::default();
    for seed in args.first_seed..args.first_seed.saturating_add(args.seeds) {
        match crate::run_seed(seed, cfg) {
            Ok(r) => t.add(&r),
            Err(f) => {
                bar.suspend(|| println!("{f}"));
                t.failures.push(f);
            }
        }
        bar.set_message(format!("{} failed", t.failures.len()));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let wall = started.elapsed();
    let cpu = match (cpu_before, cpu_time()) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => wall,
    };
    print_summary(cfg, args, &t, wall, cpu);
    !t.failures.is_empty()
}

fn print_summary(cfg: &SimConfig, args: &SimArgs, t: &Totals, wall: Duration, cpu: Duration) {
    let failed = t.failures.len() as u64;
    let s = &t.stats;
    let cpu_min = cpu.as_secs_f64() / 60.0;
    println!(
        "meridian sim: seeds {}..{}, {}",
        args.first_seed,
        args.first_seed.saturating_add(args.seeds),
        describe(cfg)
    );
    let rows: Vec<(&str, String)> = vec![
        ("seeds", args.seeds.to_string()),
        ("passed", t.passed.to_string()),
        ("failed", failed.to_string()),
        (
            "simulated time",
            format!(
                "{:.1} h (passing seeds)",
                t.simulated_ms as f64 / 3_600_000.0
            ),
        ),
        ("simulated region-hours", format!("{:.2}", t.region_hours)),
        (
            "client writes",
            format!(
                "{} ({} acknowledged, {} unacknowledged lost in crashes)",
                s.writes, s.writes_acked, s.writes_lost_unacked
            ),
        ),
        ("expiry ops swept", s.swept.to_string()),
        ("events", s.events.to_string()),
        (
            "deliveries",
            format!("{} ({} duplicate)", s.deliveries, s.duplicates_delivered),
        ),
        ("ops relayed", s.ops_relayed.to_string()),
        (
            "connections",
            format!(
                "{} up, {} closed by silence, {} handshake timeouts",
                s.connects, s.silence_closes, s.handshake_timeouts
            ),
        ),
        ("ops held for clock skew", s.clock_holds.to_string()),
        ("most ops held for causes", s.pending_max.to_string()),
        (
            "slowest settle",
            settle(
                s.settle_ms_max,
                s.liveness_bound_ms,
                "every round had a long-down",
            ),
        ),
        (
            "slowest after a long-down",
            settle(s.long_settle_ms_max, s.long_bound_ms, "no long-down"),
        ),
        (
            "snapshots written",
            format!(
                "{} ({} log records truncated; longest log at a quiescent point {} records)",
                s.snapshots_written, s.records_truncated, s.log_records_max
            ),
        ),
        (
            "state transfers",
            format!(
                "{} offered, {} sent ({:.1} MB, largest {} bytes), {} installed, {} refused",
                s.snapshot_offers,
                s.snapshots_sent,
                s.snapshot_bytes_sent as f64 / 1e6,
                s.snapshot_bytes_max,
                s.snapshot_installs,
                s.snapshot_refusals
            ),
        ),
        (
            "ops in installed snapshots",
            format!(
                "{} brought, {} of the receivers' own re-applied on top",
                s.ops_brought, s.ops_reapplied
            ),
        ),
        ("wall time", format!("{:.1} s", wall.as_secs_f64())),
        ("CPU time", format!("{:.1} s", cpu.as_secs_f64())),
        (
            "region-hours per CPU-minute",
            format!("{:.2}", t.region_hours / cpu_min.max(1e-9)),
        ),
    ];
    for (k, v) in rows {
        println!("  {k:<28} {v}");
    }
    println!("faults injected (episodes; messages for loss, dup, reorder)");
    for k in FaultKind::ALL {
        println!("  {:<28} {}", k.name(), s.faults.get(k));
    }
    if !t.failures.is_empty() {
        println!("failures");
        for f in t.failures.iter().take(FAILURES_SHOWN_MAX) {
            println!(
                "  seed {} ({}): replay with: {}",
                f.seed,
                f.violation.rule(),
                f.replay
            );
        }
        if t.failures.len() > FAILURES_SHOWN_MAX {
            println!("  ... and {} more", t.failures.len() - FAILURES_SHOWN_MAX);
        }
    }
    println!("{} passed, {} failed", t.passed, failed);
}

/// CPU time this process has used, from /proc (Linux); `None` elsewhere.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces), from field 3.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // /proc reports in USER_HZ, which is 100 on Linux.
    Some(Duration::from_millis((utime + stime) * 10))
}

/// A settle time against its bound, or `none` if no round had a bound.
fn settle(ms: u64, bound_ms: u64, none: &str) -> String {
    if bound_ms > 0 {
        format!("{ms} ms after healing (bound {bound_ms} ms)")
    } else {
        none.to_string()
    }
}
