//! The demo's flags, their limits, and the checked plan they become.

use anyhow::{bail, Context};
use meridian_wan::RttMatrix;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Fewest regions: replication needs someone to replicate to.
pub const REGIONS_MIN: usize = 2;

/// Most regions: the measured matrix (`data/rtt.csv`) has seven, and seven
/// servers plus 42 delaying links is what a laptop runs with honest lag.
pub const REGIONS_MAX: usize = 7;

/// Most workload clients per region: each is a connection and a task in
/// the demo process, which shares the machine with every region server.
pub const CLIENTS_MAX: usize = 64;

/// Highest target write rate per region (writes/s). Well above what one
/// machine running the whole world sustains; it bounds the pacing maths.
pub const RATE_MAX: u64 = 200_000;

/// Largest key space per region: every key lives in the memory of every
/// region server on this one machine.
pub const KEYS_MAX: u64 = 10_000_000;

/// Largest set of hot keys shared by all regions; a small set is the point
/// (it makes concurrent writes to the same key happen).
pub const HOT_KEYS_MAX: u64 = 10_000;

/// Largest `--log-retention-secs`: the region server's own limit (a year).
pub const LOG_RETENTION_SECS_MAX: u64 = 365 * 24 * 3600;

/// Longest run, in seconds (a week); `0` means until Ctrl-C.
pub const DURATION_S_MAX: u64 = 7 * 24 * 3600;

/// The regions started when `--regions` is not given.
pub const DEFAULT_REGIONS: &str = "us-east,eu-west,ap-southeast";

/// Settings of `meridian demo`.
#[derive(clap::Args, Clone, Debug)]
pub struct DemoArgs {
    /// Regions to start, comma-separated, from the measured latency matrix
    /// (data/rtt.csv).
    #[arg(long, default_value = DEFAULT_REGIONS, value_delimiter = ',')]
    pub regions: Vec<String>,
    /// How long the demo runs, in seconds; 0 runs until Ctrl-C (or the
    /// `quit` command).
    #[arg(long, default_value_t = 30)]
    pub duration: u64,
    /// Print the per-second lines to stderr and end stdout with one JSON
    /// object summarising the run.
    #[arg(long)]
    pub json: bool,
    /// Target writes per second in each region (reads come on top); 0 runs
    /// no workload, so only your own commands change the data (with
    /// `--duration 0`: a playground for redis-cli).
    #[arg(long, default_value_t = 2000)]
    pub rate: u64,
    /// Workload clients (connections) per region.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// Keys each region writes on its own (the per-region key space).
    #[arg(long, default_value_t = 1000)]
    pub keys: u64,
    /// Keys and counters written by every region at once (conflicts).
    #[arg(long, default_value_t = 16)]
    pub hot_keys: u64,
    /// Fsync policy of the region servers: always, everysec, no.
    #[arg(long, default_value = "everysec", value_parser = ["always", "everysec", "no"])]
    pub fsync: String,
    /// Keep region data and logs in this directory instead of a temporary
    /// one that is removed at the end.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Key pattern (glob) whose string keys keep concurrent writes as
    /// siblings (`MERIDIAN.SIBLINGS`, `MERIDIAN.RESOLVE`); passed to every
    /// region server. Repeatable.
    #[arg(long, value_name = "PATTERN")]
    pub siblings: Vec<String>,
    /// Play a scripted story instead of the plain workload. london-fire:
    /// clients in London use a router next to eu-london; eu-london is
    /// killed halfway through --duration and later rebuilt. Needs eu-london
    /// and another region in --regions.
    #[arg(long, value_enum)]
    pub story: Option<Story>,
    /// Run the control commands in FILE (one a line: cut, heal, kill,
    /// restart, status, redis REGION CMD..., wait, sleep MS; see `help`
    /// while the demo runs) instead of reading them from stdin; the demo
    /// stops at the end of the script. A failing command stops it with an
    /// error.
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,
    /// Passed to every region server: how long a region may be away
    /// before the others truncate their logs past what it lacks; when it
    /// comes back (`restart REGION`) a peer sends it a full snapshot
    /// instead (see INFO persistence and replication, and
    /// MERIDIAN.SNAPSHOT). Default: the server's (an hour).
    #[arg(long, value_name = "SECS")]
    pub log_retention_secs: Option<u64>,
    /// The `meridian` executable that runs the region servers (default:
    /// this program).
    #[arg(long, hide = true)]
    pub server_bin: Option<PathBuf>,
}

/// A scripted story (`--story`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Story {
    /// London's region burns down; its clients carry on through the next
    /// nearest region.
    LondonFire,
}

/// The region the London story burns down.
pub const LONDON: &str = "eu-london";

/// Shortest run for a story, in seconds: a phase before the fire and one
/// after it, each long enough for a median.
pub const STORY_DURATION_S_MIN: u64 = 4;

/// One directed replication link and its injected one-way delay.
#[derive(Clone, Debug)]
pub struct LinkPlan {
    /// Region whose ops travel on the link (the dialler).
    pub from: String,
    /// Region receiving them.
    pub to: String,
    pub delay: Duration,
}

impl LinkPlan {
    /// `from->to`, the name used in reports and JSON.
    pub fn name(&self) -> String {
        format!("{}->{}", self.from, self.to)
    }
}

/// Checked settings: what the demo will start.
#[derive(Clone, Debug)]
pub struct Plan {
    pub regions: Vec<String>,
    /// Every ordered pair of distinct regions.
    pub links: Vec<LinkPlan>,
    pub duration: Option<Duration>,
    pub server_bin: PathBuf,
    pub story: Option<Story>,
    /// `--script`: `(line number, text)` of each command, all parsed.
    pub script: Option<Vec<(usize, String)>>,
}

impl Plan {
    /// The longest injected one-way delay.
    pub fn delay_max(&self) -> Duration {
        self.links.iter().map(|l| l.delay).max().unwrap_or_default()
    }
}

impl DemoArgs {
    /// Checks every flag against its limit and the latency matrix.
    pub fn plan(&self) -> anyhow::Result<Plan> {
        let rtt = RttMatrix::builtin();
        let regions = check_regions(&self.regions, &rtt)?;
        check_range("--clients", self.clients as u64, 1, CLIENTS_MAX as u64)?;
        check_range("--rate", self.rate, 0, RATE_MAX)?;
        check_range("--keys", self.keys, 1, KEYS_MAX)?;
        check_range("--hot-keys", self.hot_keys, 1, HOT_KEYS_MAX)?;
        check_range("--duration", self.duration, 0, DURATION_S_MAX)?;
        if let Some(secs) = self.log_retention_secs {
            check_range("--log-retention-secs", secs, 1, LOG_RETENTION_SECS_MAX)?;
        }
        if self.story == Some(Story::LondonFire) {
            if !regions.iter().any(|r| r == LONDON) {
                bail!("--story london-fire needs {LONDON} in --regions, e.g. --regions us-east,eu-west,{LONDON}");
            }
            if self.duration < STORY_DURATION_S_MIN {
                bail!("--story london-fire needs --duration of at least {STORY_DURATION_S_MIN} s");
            }
            if self.rate == 0 {
                bail!("--story london-fire needs a workload: --rate of at least 1");
            }
            if self.script.is_some() {
                bail!("--story plays its own script: leave out --script");
            }
        }
        let script = match &self.script {
            Some(path) => Some(check_script(path, &regions)?),
            None => None,
        };
        let mut links = Vec::new();
        for from in &regions {
            for to in regions.iter().filter(|t| *t != from) {
                let delay = rtt.one_way_delay(from, to).with_context(|| {
                    format!("data/rtt.csv has no round trip between {from} and {to}")
                })?;
                links.push(LinkPlan {
                    from: from.clone(),
                    to: to.clone(),
                    delay,
                });
            }
        }
        let server_bin = match &self.server_bin {
            Some(p) => p.clone(),
            None => std::env::current_exe()
                .context("cannot find this program's path to start the region servers")?,
        };
        Ok(Plan {
            regions,
            links,
            duration: (self.duration > 0).then(|| Duration::from_secs(self.duration)),
            server_bin,
            story: self.story,
            script,
        })
    }
}

/// Reads the script and parses every command in it, so a typo fails
/// before any region starts.
fn check_script(path: &Path, regions: &[String]) -> anyhow::Result<Vec<(usize, String)>> {
    let lines = crate::input::read_script(path)?;
    let short = crate::report::short_names(regions);
    for (n, text) in &lines {
        crate::command::parse(text, regions, &short)
            .with_context(|| format!("--script {}:{n}: {text}", path.display()))?;
    }
    Ok(lines)
}

fn check_range(flag: &str, v: u64, min: u64, max: u64) -> anyhow::Result<()> {
    if v < min || v > max {
        bail!("{flag} {v} is out of range: use {min} to {max}");
    }
    Ok(())
}

/// Trims, rejects unknown and repeated names, and bounds the count.
fn check_regions(given: &[String], rtt: &RttMatrix) -> anyhow::Result<Vec<String>> {
    let known = rtt.regions();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for name in given.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        if !known.iter().any(|k| k == name) {
            bail!(
                "unknown region {name:?}: the latency matrix knows {}",
                known.join(", ")
            );
        }
        if !seen.insert(name) {
            bail!("region {name} is listed twice in --regions");
        }
        out.push(name.to_string());
    }
    if out.len() < REGIONS_MIN || out.len() > REGIONS_MAX {
        bail!(
            "--regions names {} region(s): use {REGIONS_MIN} to {REGIONS_MAX} of {}",
            out.len(),
            known.join(", ")
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        demo: DemoArgs,
    }

    fn plan(args: &[&str]) -> anyhow::Result<Plan> {
        let cli = Cli::try_parse_from(std::iter::once("demo").chain(args.iter().copied()))?;
        cli.demo.plan()
    }

    #[test]
    fn defaults_give_three_regions_and_six_links() {
        let p = plan(&[]).unwrap();
        assert_eq!(p.regions, ["us-east", "eu-west", "ap-southeast"]);
        assert_eq!(p.links.len(), 6);
        // Half of the 76.0 ms round trip in data/rtt.csv.
        let l = p.links.iter().find(|l| l.name() == "us-east->eu-west");
        assert_eq!(l.map(|l| l.delay), Some(Duration::from_micros(38_000)));
        assert_eq!(p.duration, Some(Duration::from_secs(30)));
    }

    #[test]
    fn unknown_region_lists_the_known_ones() {
        let e = plan(&["--regions", "us-east,mars-north"]).unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("mars-north") && msg.contains("eu-london"),
            "{msg}"
        );
    }

    #[test]
    fn region_count_and_repeats_are_checked() {
        assert!(plan(&["--regions", "us-east"]).is_err());
        assert!(plan(&["--regions", "us-east,us-east"]).is_err());
        let all = "us-east,us-west,eu-west,eu-london,ap-southeast,ap-northeast,sa-east";
        assert_eq!(plan(&["--regions", all]).unwrap().links.len(), 42);
    }

    #[test]
    fn limits_are_enforced() {
        assert!(plan(&["--clients", "0"]).is_err());
        assert_eq!(plan(&["--rate", "0"]).unwrap().script, None);
        assert!(plan(&["--rate", "200001"]).is_err());
        assert!(plan(&["--keys", "0"]).is_err());
        assert!(plan(&["--fsync", "sometimes"]).is_err());
        assert_eq!(plan(&["--duration", "0"]).unwrap().duration, None);
        assert!(plan(&["--log-retention-secs", "0"]).is_err());
        assert!(plan(&["--log-retention-secs", "2"]).is_ok());
    }

    #[test]
    fn scripts_are_checked_before_anything_starts() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.txt");
        std::fs::write(&good, "cut ue\nredis eu-west SADD s x\nheal\nwait\n").unwrap();
        let path = good.to_str().unwrap();
        let p = plan(&["--script", path]).unwrap();
        assert_eq!(p.script.map(|s| s.len()), Some(4));
        let bad = dir.path().join("bad.txt");
        std::fs::write(&bad, "heal\n\ncut mars-north\n").unwrap();
        let e = plan(&["--script", bad.to_str().unwrap()]).unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("bad.txt:3") && msg.contains("us-east"),
            "{msg}"
        );
        assert!(plan(&["--script", "/no/such/script"]).is_err());
    }

    #[test]
    fn the_london_story_needs_london() {
        assert!(plan(&["--story", "london-fire"]).is_err());
        let p = plan(&["--story", "london-fire", "--regions", "eu-west,eu-london"]).unwrap();
        assert_eq!(p.story, Some(Story::LondonFire));
        assert!(plan(&[
            "--story",
            "london-fire",
            "--regions",
            "eu-west,eu-london",
            "--duration",
            "0"
        ])
        .is_err());
    }
}
