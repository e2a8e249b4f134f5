//! What a simulated world looks like: its regions, network, disks, faults
//! and workload.

use crate::rtt::Latencies;
use meridian_core::Regions;
use std::fmt;
use std::str::FromStr;

/// Fewest keys a run may use. One key makes every write conflict, which is a
/// legitimate stress; zero keys would leave clients nothing to write.
pub const KEYS_MIN: usize = 1;

/// Most keys a run may use. The simulator is about conflicts, which need a
/// small key set; the reference model keeps per-key history in memory, and
/// 4096 keys is far more than any useful run needs.
pub const KEYS_MAX: usize = 4096;

/// Longest stretch of client writes, in simulated milliseconds. One hour of
/// writes is far beyond what a seed sweep needs and keeps a typo from making
/// a run that never ends.
pub const DURATION_MS_MAX: u64 = 3_600_000;

/// Most writes per second per region. Above this, one run holds so many ops
/// in memory (each region keeps its whole log) that a seed sweep stops being
/// cheap; benchmarks, not the simulator, measure throughput.
pub const WRITES_PER_SEC_MAX: u64 = 100_000;

/// Most writes in one run, over all regions: bounds memory (every op is kept
/// in each region's log and in the reference history).
pub const WRITES_MAX: u64 = 2_000_000;

/// Largest configured one-way delay, jitter or reordering delay, in
/// milliseconds. Real one-way delays stay under 200 ms; ten seconds is far
/// beyond that while keeping simulated time from overflowing.
pub const DELAY_MS_MAX: u64 = 10_000;

/// Most rounds (write phase, then heal and settle) in one run: each round
/// ends at a quiescent point where every checker runs.
pub const ROUNDS_MAX: u32 = 100;

/// Most writes one client pipeline sends at once (the server runs up to
/// `conn::PIPELINE_REQUESTS_MAX`; a few are enough to put several ops of one
/// region into one log write and one reply).
pub const PIPELINE_MAX: usize = 64;

/// The three regions of a small world: one per continent of the matrix.
pub const SMALL_REGIONS: [&str; 3] = ["us-east", "eu-west", "ap-southeast"];

/// When a region's log reaches the disk, as the server's `--fsync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fsync {
    /// Written and fsynced (group commit) before anything is acknowledged
    /// or shipped.
    Always,
    /// Written to the OS before acknowledging; fsynced once a second.
    EverySec,
    /// Written to the OS before acknowledging; the OS writes back later.
    No,
}

impl FromStr for Fsync {
    type Err = String;
    fn from_str(s: &str) -> Result<Fsync, String> {
        match s {
            "always" => Ok(Fsync::Always),
            "everysec" => Ok(Fsync::EverySec),
            "no" => Ok(Fsync::No),
            _ => Err(format!(
                "fsync policy {s:?} is not one of always, everysec, no"
            )),
        }
    }
}

impl fmt::Display for Fsync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fsync::Always => "always",
            Fsync::EverySec => "everysec",
            Fsync::No => "no",
        })
    }
}

/// A kind of fault. Episode kinds are planned per round (see
/// [`crate::faults`]); message kinds strike single messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// Every link to and from one region is cut.
    Isolate,
    /// The regions are split in two groups that cannot talk.
    Split,
    /// One direction of one link is cut.
    OneWay,
    /// One link (both directions) goes down and up repeatedly.
    Flap,
    /// A message is lost; the connection it was on resets.
    Loss,
    /// A batch or ack arrives twice.
    Dup,
    /// A batch or ack is held back so later ones overtake it.
    Reorder,
    /// One link direction gets much slower for a while.
    Spike,
    /// A region's process crashes and restarts: what was written to the OS
    /// survives, the rest of memory is lost.
    Crash,
    /// A region's machine loses power: what was not fsynced may be lost,
    /// with a torn tail. Off in `mixed`: see docs/testing.md.
    PowerLoss,
    /// A region's clock is off for a round, within or beyond the bound.
    Skew,
    /// A region's clock jumps forwards or backwards mid-round.
    Jump,
    /// A region's process crashes and stays down far longer than its peers
    /// keep their logs for ([`SimConfig::retention_ms`]): they truncate
    /// what it lacks, and it catches up by a full state transfer.
    LongDown,
}

impl FaultKind {
    /// Every kind, in display order.
    pub const ALL: [FaultKind; 13] = [
        FaultKind::Isolate,
        FaultKind::Split,
        FaultKind::OneWay,
        FaultKind::Flap,
        FaultKind::Loss,
        FaultKind::Dup,
        FaultKind::Reorder,
        FaultKind::Spike,
        FaultKind::Crash,
        FaultKind::PowerLoss,
        FaultKind::Skew,
        FaultKind::Jump,
        FaultKind::LongDown,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Isolate => "isolate",
            FaultKind::Split => "split",
            FaultKind::OneWay => "one-way",
            FaultKind::Flap => "flap",
            FaultKind::Loss => "loss",
            FaultKind::Dup => "dup",
            FaultKind::Reorder => "reorder",
            FaultKind::Spike => "spike",
            FaultKind::Crash => "crash",
            FaultKind::PowerLoss => "power-loss",
            FaultKind::Skew => "skew",
            FaultKind::Jump => "jump",
            FaultKind::LongDown => "long-down",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of fault kinds.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Faults(u16);

impl Faults {
    /// No faults at all: a calm world (jitter only).
    pub const NONE: Faults = Faults(0);

    /// Every kind except power loss, which breaks durability by design
    /// under `everysec` (see docs/testing.md).
    pub fn mixed() -> Faults {
        let mut f = Faults::NONE;
        for k in FaultKind::ALL {
            if k != FaultKind::PowerLoss {
                f = f.with(k);
            }
        }
        f
    }

    pub fn with(self, k: FaultKind) -> Faults {
        Faults(self.0 | k.bit())
    }

    pub fn without(self, k: FaultKind) -> Faults {
        Faults(self.0 & !k.bit())
    }

    pub fn has(self, k: FaultKind) -> bool {
        self.0 & k.bit() != 0
    }

    /// The kinds in the set, in display order.
    pub fn kinds(self) -> impl Iterator<Item = FaultKind> {
        FaultKind::ALL.into_iter().filter(move |k| self.has(*k))
    }
}

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Faults {
    /// `mixed`, `none`, or the kinds joined by commas (`mixed,power-loss`
    /// when that is shorter).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Faults::mixed() {
            return f.write_str("mixed");
        }
        if *self == Faults::mixed().with(FaultKind::PowerLoss) {
            return f.write_str("mixed,power-loss");
        }
        if *self == Faults::NONE {
            return f.write_str("none");
        }
        let names: Vec<&str> = self.kinds().map(FaultKind::name).collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for Faults {
    type Err = String;
    /// `mixed`, `none`, or a comma-separated list of kinds, each optionally
    /// prefixed with `-` to remove it (`mixed,-crash`).
    fn from_str(s: &str) -> Result<Faults, String> {
        let mut set = Faults::NONE;
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (remove, name) = match part.strip_prefix('-') {
                Some(n) => (true, n),
                None => (false, part),
            };
            let kinds: Vec<FaultKind> = match name {
                "mixed" => Faults::mixed().kinds().collect(),
                "none" => vec![],
                "partitions" => vec![
                    FaultKind::Isolate,
                    FaultKind::Split,
                    FaultKind::OneWay,
                    FaultKind::Flap,
                ],
                _ => vec![FaultKind::ALL
                    .into_iter()
                    .find(|k| k.name() == name)
                    .ok_or_else(|| {
                        let all: Vec<&str> = FaultKind::ALL.iter().map(|k| k.name()).collect();
                        format!(
                            "unknown fault {name:?}: use mixed, none, partitions or {}",
                            all.join(", ")
                        )
                    })?],
            };
            for k in kinds {
                set = if remove { set.without(k) } else { set.with(k) };
            }
        }
        Ok(set)
    }
}

/// A deliberately broken variant of the shell, to show that the checkers
/// catch real bugs. None is ever on outside tests and `--broken`.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Broken {
    /// After a reconnection, the sender's first batch leaves out one op
    /// (an off-by-one in resuming from the receiver's version vector).
    ResumeSkipsOne,
    /// A client write is acknowledged before its log record is durable.
    ReplyBeforeDurable,
    /// A receiver acknowledges a batch before its records are durable.
    AckBeforeDurable,
    /// Counters read as the largest region's contribution instead of the
    /// sum (a wrapper around reads: the core stays correct).
    CounterMax,
    /// A DEL claims to have seen one more op of every other region than it
    /// had, so receivers remove values the deleting region never saw.
    DelRemovesUnseen,
    /// The receiver acknowledges only in reply to batches, never when ops
    /// held for their causes are released by another link.
    NoAckOnProgress,
    /// The first op delivered to any region is dropped there, with every
    /// later copy.
    DropOneOp,
    /// An SREM or SPOP claims to have seen one more op of every other region
    /// than it had, so receivers remove set members added concurrently
    /// (remove wins instead of add wins).
    SremRemovesUnseen,
    /// Links ship records once written, before they are fsynced (the design
    /// before the second session): a power loss then loses ops peers hold,
    /// and the restarted region gives their sequence numbers to new ops.
    ShipUnsynced,
    /// Lists read in insertion order (by element id) instead of the order
    /// the RGA agreed on (a wrapper around reads: the core stays correct,
    /// every region reads the same).
    ListByInsertion,
    /// A region installs a peer's snapshot without re-applying its own log
    /// on top: the peer's state replaces its own, and its own ops the peer
    /// lacked (written while it was cut off, not yet shipped) are lost.
    InstallWithoutReplay,
    /// A region drops its log behind every snapshot, whether or not its
    /// peers acknowledged it or were left behind.
    TruncateUnacked,
    /// A link whose log no longer holds what the peer lacks streams from
    /// the first record it still holds instead of sending a snapshot.
    ServeTruncated,
    /// A region never leaves a silent peer behind: it keeps its log until
    /// every peer acknowledged it, however long a peer is away.
    NeverLeaveBehind,
}

impl Broken {
    pub const ALL: [Broken; 14] = [
        Broken::ResumeSkipsOne,
        Broken::ReplyBeforeDurable,
        Broken::AckBeforeDurable,
        Broken::CounterMax,
        Broken::DelRemovesUnseen,
        Broken::NoAckOnProgress,
        Broken::DropOneOp,
        Broken::SremRemovesUnseen,
        Broken::ListByInsertion,
        Broken::ShipUnsynced,
        Broken::InstallWithoutReplay,
        Broken::TruncateUnacked,
        Broken::ServeTruncated,
        Broken::NeverLeaveBehind,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Broken::ResumeSkipsOne => "resume-skips-one",
            Broken::ReplyBeforeDurable => "reply-before-durable",
            Broken::AckBeforeDurable => "ack-before-durable",
            Broken::CounterMax => "counter-max",
            Broken::DelRemovesUnseen => "del-removes-unseen",
            Broken::NoAckOnProgress => "no-ack-on-progress",
            Broken::DropOneOp => "drop-one-op",
            Broken::SremRemovesUnseen => "srem-removes-unseen",
            Broken::ListByInsertion => "list-by-insertion",
            Broken::ShipUnsynced => "ship-unsynced",
            Broken::InstallWithoutReplay => "install-without-replay",
            Broken::TruncateUnacked => "truncate-unacked",
            Broken::ServeTruncated => "serve-truncated",
            Broken::NeverLeaveBehind => "never-leave-behind",
        }
    }
}

impl FromStr for Broken {
    type Err = String;
    fn from_str(s: &str) -> Result<Broken, String> {
        Broken::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| format!("unknown broken variant {s:?}"))
    }
}

/// The shape of one simulated world. Every field is public so a caller can
/// start from [`SimConfig::default`] and change what it needs.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Region names (valid Meridian region names, any order).
    pub regions: Vec<String>,
    /// One-way delay of every link, in ms; `None` takes each pair's delay
    /// from the project's measured matrix (`data/rtt.csv`, half the RTT).
    pub base_latency_ms: Option<u64>,
    /// Each message waits an extra uniform `0..=jitter_ms` (without
    /// overtaking earlier messages of its connection: links are TCP).
    pub jitter_ms: u64,
    /// With [`FaultKind::Reorder`]: probability that a batch or ack is held
    /// back an extra `1..=reorder_delay_ms_max`, so later ones overtake it.
    pub reorder_prob: f64,
    pub reorder_delay_ms_max: u64,
    /// With [`FaultKind::Dup`]: probability that a batch or ack arrives twice.
    pub dup_prob: f64,
    /// With [`FaultKind::Loss`], during write phases: probability that a
    /// message is lost, which resets its connection.
    pub loss_prob: f64,
    /// Which faults may strike (see [`FaultKind`]).
    pub faults: Faults,
    pub fsync: Fsync,
    /// Client write time over the whole run, in simulated ms, split evenly
    /// between the rounds.
    pub duration_ms: u64,
    /// Rounds: each is a write phase with faults, then every fault heals
    /// and the world must settle (a quiescent point, where every checker
    /// runs) within the liveness bound.
    pub rounds: u32,
    /// Average client writes per second in each region.
    pub writes_per_sec_per_region: u64,
    /// Number of keys clients write (small, so concurrent writes to the same
    /// key are common).
    pub keys: usize,
    /// Most writes in one client pipeline (one log write, one reply).
    pub pipeline_max: usize,
    /// Stop writing after this many writes over all regions: how a failing
    /// run is shrunk to a short history.
    pub writes_limit: Option<u64>,
    /// How long a region keeps log records a silent peer has not
    /// acknowledged, in simulated ms: a peer not heard from for longer is
    /// *left behind* and gets a snapshot when it returns. `None`: derived
    /// from the rounds ([`SimConfig::retention_ms`]).
    pub log_retention_ms: Option<u64>,
    /// A deliberately broken variant; `None` in every real run.
    #[doc(hidden)]
    pub broken: Option<Broken>,
}

impl Default for SimConfig {
    /// The seven regions of the measured matrix with their real latencies,
    /// every fault of `mixed`, `everysec`.
    fn default() -> SimConfig {
        SimConfig {
            regions: Latencies::builtin().regions(),
            base_latency_ms: None,
            jitter_ms: 5,
            reorder_prob: 0.05,
            reorder_delay_ms_max: 200,
            dup_prob: 0.02,
            loss_prob: 0.002,
            faults: Faults::mixed(),
            fsync: Fsync::EverySec,
            duration_ms: 12_000,
            rounds: 2,
            writes_per_sec_per_region: 50,
            keys: 16,
            pipeline_max: 4,
            writes_limit: None,
            log_retention_ms: None,
            broken: None,
        }
    }
}

impl SimConfig {
    /// A world of three regions (one per continent), otherwise the default:
    /// quick enough for sweeps in a debug build.
    pub fn small() -> SimConfig {
        SimConfig {
            regions: SMALL_REGIONS.iter().map(|s| s.to_string()).collect(),
            ..SimConfig::default()
        }
    }

    /// The longest one-way delay between two of the regions, in ms,
    /// without jitter (0 for a pair the matrix lacks: `validate` refuses
    /// those).
    pub fn max_one_way_ms(&self) -> u64 {
        if let Some(ms) = self.base_latency_ms {
            return if self.regions.len() > 1 { ms } else { 0 };
        }
        let m = Latencies::builtin();
        let mut max = 0;
        for a in &self.regions {
            for b in self.regions.iter().filter(|b| *b != a) {
                max = max.max(m.one_way_ms(a, b).unwrap_or(0));
            }
        }
        max
    }

    /// Write time of one round, in simulated ms (a long-down episode
    /// extends its round's).
    pub fn round_ms(&self) -> u64 {
        self.duration_ms / self.rounds.max(1) as u64
    }

    /// How long a region keeps log records for a silent peer (see
    /// [`SimConfig::log_retention_ms`]). Unless set, the longer of
    /// [`crate::snap::LOG_RETENTION_MS`] and a round's write time plus
    /// twice the liveness bound: every fault but a long-down ends within
    /// its round's write phase and the world reconnects within the bound,
    /// so no other fault ever leaves a peer behind (a region cut off for
    /// longer than the retention and still writing could never be
    /// reconciled: each side would drop what the other lacks).
    pub fn retention_ms(&self) -> u64 {
        self.log_retention_ms.unwrap_or_else(|| {
            let bound = crate::world::base_liveness_bound_ms(self, self.max_one_way_ms());
            crate::snap::LOG_RETENTION_MS.max(self.round_ms() + 2 * bound)
        })
    }

    /// Checks the configuration and returns the cluster's region set.
    pub fn validate(&self) -> Result<Regions, String> {
        let regions = Regions::new(self.regions.iter().cloned()).map_err(|e| e.to_string())?;
        if !(KEYS_MIN..=KEYS_MAX).contains(&self.keys) {
            return Err(format!(
                "keys must be in {KEYS_MIN}..={KEYS_MAX}, got {}",
                self.keys
            ));
        }
        if self.duration_ms > DURATION_MS_MAX {
            return Err(format!("duration_ms above {DURATION_MS_MAX}"));
        }
        if !(1..=ROUNDS_MAX).contains(&self.rounds) {
            return Err(format!("rounds must be in 1..={ROUNDS_MAX}"));
        }
        if !(1..=PIPELINE_MAX).contains(&self.pipeline_max) {
            return Err(format!("pipeline_max must be in 1..={PIPELINE_MAX}"));
        }
        if self.writes_per_sec_per_region > WRITES_PER_SEC_MAX {
            return Err(format!(
                "writes_per_sec_per_region above {WRITES_PER_SEC_MAX}"
            ));
        }
        if let Some(r) = self.log_retention_ms {
            if !(crate::snap::LOG_RETENTION_MS_MIN..=DURATION_MS_MAX).contains(&r) {
                return Err(format!(
                    "log_retention_ms must be in {}..={DURATION_MS_MAX}",
                    crate::snap::LOG_RETENTION_MS_MIN
                ));
            }
        }
        // A long-down episode adds up to its downtime and half a round of
        // writes to its round.
        let long_ms = if self.faults.has(FaultKind::LongDown) {
            self.rounds as u64
                * (crate::faults::long_down_ms_max(self.retention_ms()) + self.round_ms())
        } else {
            0
        };
        // Pipelines average (1 + pipeline_max) / 2 writes.
        let writes = ((self.duration_ms + long_ms) as u128)
            * (self.writes_per_sec_per_region as u128)
            * (regions.len() as u128)
            * (1 + self.pipeline_max as u128)
            / 2000;
        if writes > WRITES_MAX as u128 {
            return Err(format!("{writes} writes in total, above {WRITES_MAX}"));
        }
        for (name, p) in [
            ("reorder_prob", self.reorder_prob),
            ("dup_prob", self.dup_prob),
            ("loss_prob", self.loss_prob),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(format!("{name} must be in 0..=1, got {p}"));
            }
        }
        if self.loss_prob > 0.5 {
            return Err("loss_prob above 0.5 never lets a connection stay up".into());
        }
        let delays = [
            self.base_latency_ms.unwrap_or(0),
            self.jitter_ms,
            self.reorder_delay_ms_max,
        ];
        if delays.iter().any(|&d| d > DELAY_MS_MAX) {
            return Err(format!("delays must be at most {DELAY_MS_MAX} ms"));
        }
        if self.base_latency_ms.is_none() {
            let m = Latencies::builtin();
            for a in regions.names() {
                for b in regions.names().iter().filter(|b| *b != a) {
                    if m.one_way_ms(a, b).is_none() {
                        return Err(format!(
                            "no measured latency between {a} and {b}: set base_latency_ms"
                        ));
                    }
                }
            }
        }
        Ok(regions)
    }

    /// The command that replays `seed` under this config: a `meridian sim`
    /// command line when the config is one the command line can express,
    /// else a line of Rust.
    pub fn replay_command(&self, seed: u64) -> String {
        match self.cli_flags() {
            Some(flags) if flags.is_empty() => format!("meridian sim --seed {seed}"),
            Some(flags) => format!("meridian sim --seed {seed} {flags}"),
            None => format!("meridian_sim::run_seed({seed}, &{self:?})"),
        }
    }

    /// The `meridian sim` flags that make this config, or `None` if some
    /// field has no flag (a config built in a test).
    pub fn cli_flags(&self) -> Option<String> {
        let d = SimConfig::default();
        let fixed = SimConfig {
            regions: d.regions.clone(),
            faults: d.faults,
            fsync: d.fsync,
            duration_ms: d.duration_ms,
            rounds: d.rounds,
            writes_per_sec_per_region: d.writes_per_sec_per_region,
            keys: d.keys,
            pipeline_max: d.pipeline_max,
            writes_limit: None,
            log_retention_ms: None,
            broken: None,
            ..self.clone()
        };
        if fixed != d {
            return None;
        }
        let mut flags = Vec::new();
        let mut sorted = self.regions.clone();
        sorted.sort();
        if sorted != d.regions {
            flags.push(format!("--regions {}", self.regions.join(",")));
        }
        if self.duration_ms != d.duration_ms {
            flags.push(format!("--duration-ms {}", self.duration_ms));
        }
        if self.rounds != d.rounds {
            flags.push(format!("--rounds {}", self.rounds));
        }
        if self.writes_per_sec_per_region != d.writes_per_sec_per_region {
            flags.push(format!("--rate {}", self.writes_per_sec_per_region));
        }
        if self.keys != d.keys {
            flags.push(format!("--keys {}", self.keys));
        }
        if self.pipeline_max != d.pipeline_max {
            flags.push(format!("--pipeline {}", self.pipeline_max));
        }
        if self.fsync != d.fsync {
            flags.push(format!("--fsync {}", self.fsync));
        }
        if self.faults != d.faults {
            flags.push(format!("--faults {}", self.faults));
        }
        if let Some(w) = self.writes_limit {
            flags.push(format!("--writes-limit {w}"));
        }
        if let Some(r) = self.log_retention_ms {
            flags.push(format!("--log-retention-ms {r}"));
        }
        if let Some(b) = self.broken {
            flags.push(format!("--broken {}", b.name()));
        }
        Some(flags.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(SimConfig::default().validate().unwrap().len(), 7);
        assert_eq!(SimConfig::small().validate().unwrap().len(), 3);
    }

    #[test]
    fn retention_outlasts_what_ordinary_faults_keep_silent() {
        // A round's write phase plus twice the liveness bound, at least
        // LOG_RETENTION_MS: 6 s rounds and a 5.11 s bound in the default
        // world; longer rounds raise it.
        assert_eq!(SimConfig::default().retention_ms(), 16_220);
        let one_round = SimConfig {
            rounds: 1,
            ..SimConfig::default()
        };
        assert_eq!(one_round.retention_ms(), 22_220);
        let short = SimConfig {
            duration_ms: 1_000,
            ..SimConfig::small()
        };
        assert_eq!(short.retention_ms(), crate::snap::LOG_RETENTION_MS);
        let set = SimConfig {
            log_retention_ms: Some(4_000),
            ..SimConfig::default()
        };
        assert_eq!(set.retention_ms(), 4_000);
        let bad = SimConfig {
            log_retention_ms: Some(10),
            ..SimConfig::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn bad_configs_are_refused() {
        let bad = [
            SimConfig {
                keys: 0,
                ..SimConfig::default()
            },
            SimConfig {
                dup_prob: 1.5,
                ..SimConfig::default()
            },
            SimConfig {
                reorder_prob: f64::NAN,
                ..SimConfig::default()
            },
            SimConfig {
                regions: vec!["mars".into(), "us-east".into()],
                ..SimConfig::default()
            },
            SimConfig {
                regions: vec![],
                ..SimConfig::default()
            },
            SimConfig {
                jitter_ms: DELAY_MS_MAX + 1,
                ..SimConfig::default()
            },
            SimConfig {
                rounds: 0,
                ..SimConfig::default()
            },
            SimConfig {
                writes_per_sec_per_region: WRITES_PER_SEC_MAX,
                duration_ms: DURATION_MS_MAX,
                ..SimConfig::default()
            },
        ];
        for cfg in bad {
            assert!(cfg.validate().is_err(), "{cfg:?}");
        }
        let fixed = SimConfig {
            regions: vec!["mars".into(), "venus".into()],
            base_latency_ms: Some(500),
            ..SimConfig::default()
        };
        assert!(fixed.validate().is_ok());
    }

    #[test]
    fn fault_sets_parse_and_print() {
        assert_eq!("mixed".parse::<Faults>().unwrap(), Faults::mixed());
        assert_eq!("none".parse::<Faults>().unwrap(), Faults::NONE);
        let f: Faults = "mixed,-crash,power-loss".parse().unwrap();
        assert!(!f.has(FaultKind::Crash) && f.has(FaultKind::PowerLoss));
        assert_eq!(f.to_string().parse::<Faults>().unwrap(), f);
        assert_eq!(
            "mixed,power-loss".parse::<Faults>().unwrap().to_string(),
            "mixed,power-loss"
        );
        assert!("meteor".parse::<Faults>().is_err());
    }

    #[test]
    fn replay_command_names_the_config() {
        assert_eq!(
            SimConfig::default().replay_command(7),
            "meridian sim --seed 7"
        );
        let cmd = SimConfig {
            keys: 3,
            fsync: Fsync::Always,
            faults: Faults::mixed().without(FaultKind::Loss),
            writes_limit: Some(12),
            log_retention_ms: Some(20_000),
            ..SimConfig::small()
        }
        .replay_command(7);
        assert!(
            cmd.starts_with("meridian sim --seed 7 --regions us-east,eu-west,ap-southeast"),
            "{cmd}"
        );
        assert!(cmd.contains("--keys 3 --fsync always"), "{cmd}");
        assert!(cmd.contains("--writes-limit 12"), "{cmd}");
        assert!(cmd.contains("--log-retention-ms 20000"), "{cmd}");
        let rust = SimConfig {
            jitter_ms: 9,
            ..SimConfig::default()
        }
        .replay_command(7);
        assert!(
            rust.starts_with("meridian_sim::run_seed(7, &SimConfig {"),
            "{rust}"
        );
    }
}
