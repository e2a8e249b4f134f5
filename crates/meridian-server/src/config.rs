//! Server settings, from command-line flags.

use anyhow::{bail, Context};
use meridian_core::region::valid_region_name;
use meridian_log::FsyncPolicy;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Shortest accepted cluster secret, in bytes. The secret is what keeps a
/// stranger from joining the cluster and injecting writes; a short one can be
/// guessed offline from a captured handshake.
pub const CLUSTER_SECRET_BYTES_MIN: usize = 8;

/// Most `--siblings` patterns. Every conflicting write checks the patterns;
/// a handful covers any sane key layout.
pub const SIBLING_PATTERNS_MAX: usize = 64;

/// Settings of one region server (`meridian server`).
#[derive(clap::Args, Clone, Debug)]
pub struct ServerArgs {
    /// This region's name (a-z, 0-9, '-', '_').
    #[arg(long)]
    pub region: String,
    /// Address for Redis clients (RESP).
    #[arg(long, default_value = "127.0.0.1:6379")]
    pub listen: SocketAddr,
    /// Address for replication links from other regions.
    #[arg(long, default_value = "127.0.0.1:7379")]
    pub repl: SocketAddr,
    /// Another region and its replication address, NAME=HOST:PORT; once per
    /// other region.
    #[arg(long = "peer", value_name = "NAME=ADDR", value_parser = parse_peer)]
    pub peers: Vec<Peer>,
    /// Directory holding this region's log (created if missing).
    #[arg(long)]
    pub data: PathBuf,
    /// When a write is fsynced before it is acknowledged: always (group
    /// commit), everysec (written before the reply, fsynced each second), no.
    #[arg(long, default_value = "everysec")]
    pub fsync: FsyncPolicy,
    /// Name of the cluster; regions of another cluster are refused.
    #[arg(long, default_value = "meridian")]
    pub cluster: String,
    /// Secret shared by every region of the cluster, proven at each link's
    /// handshake and never sent.
    #[arg(long, env = "MERIDIAN_CLUSTER_SECRET", hide_env_values = true)]
    pub cluster_secret: String,
    /// Glob pattern of string keys that keep concurrent values as siblings
    /// (MERIDIAN.SIBLINGS, MERIDIAN.RESOLVE) instead of last-write-wins;
    /// repeatable. Give every region the same patterns.
    #[arg(long = "siblings", value_name = "PATTERN")]
    pub siblings: Vec<String>,
    /// Worker threads serving clients and replication links (default: the
    /// machine's cores minus one, at least one). Every command runs under
    /// the one state lock, so more workers than cores only contend; the
    /// core left over runs the log's fsync thread, the kernel's network
    /// work and, on a test machine, the benchmark client.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=THREADS_MAX as i64))]
    pub threads: Option<u16>,
    /// Write a snapshot of the state to the data directory each time the
    /// log has grown by this many MiB since the last one, and delete the
    /// log behind it once every peer has acknowledged it (or is left
    /// behind, see --log-retention-secs). MERIDIAN.SNAPSHOT writes one at
    /// once.
    #[arg(long, value_name = "MB", default_value_t = SNAPSHOT_LOG_MB_DEFAULT)]
    pub snapshot_log_mb: u64,
    /// How long a peer may be unreachable before the log is truncated past
    /// what it lacks anyway (it is *left behind*); when it comes back a
    /// peer sends it a full snapshot of its state instead of the log.
    /// Meanwhile the log keeps everything it lacks.
    #[arg(long, value_name = "SECS", default_value_t = LOG_RETENTION_SECS_DEFAULT)]
    pub log_retention_secs: u64,
}

/// Default of `--snapshot-log-mb`: a snapshot per 256 MiB of log bounds
/// the disk a busy region's log takes and the replay on restart (about a
/// second of records at full write rate), while snapshots stay rare (one
/// every few minutes under heavy load, each a pause of the whole state).
pub const SNAPSHOT_LOG_MB_DEFAULT: u64 = 256;

/// Largest `--snapshot-log-mb` (1 TiB): past it the log would fill a
/// disk before a snapshot bounded it.
pub const SNAPSHOT_LOG_MB_MAX: u64 = 1024 * 1024;

/// Default of `--log-retention-secs`: an hour covers a restart, a deploy
/// or a network incident, after which a peer that is still away gets a
/// snapshot rather than holding the log of every other region.
pub const LOG_RETENTION_SECS_DEFAULT: u64 = 3600;

/// Largest `--log-retention-secs` (a year): longer is "keep the log for
/// ever", which a disk does not allow.
pub const LOG_RETENTION_SECS_MAX: u64 = 365 * 24 * 3600;

/// Most worker threads `--threads` takes: past a few, the state lock is the
/// limit, and each thread holds buffers.
pub const THREADS_MAX: u16 = 256;

impl ServerArgs {
    /// The worker threads to run (see `--threads`).
    pub fn worker_threads(&self) -> usize {
        match self.threads {
            Some(n) => usize::from(n),
            None => std::thread::available_parallelism()
                .map(|n| n.get().saturating_sub(1))
                .unwrap_or(1)
                .max(1),
        }
    }
}

/// One `--peer NAME=ADDR`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    pub addr: String,
}

fn parse_peer(s: &str) -> Result<Peer, String> {
    let (name, addr) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=HOST:PORT, got {s:?}"))?;
    if !valid_region_name(name) {
        return Err(format!("invalid region name {name:?}"));
    }
    if !addr.contains(':') {
        return Err(format!("expected HOST:PORT after '=', got {addr:?}"));
    }
    Ok(Peer {
        name: name.to_string(),
        addr: addr.to_string(),
    })
}

impl ServerArgs {
    /// Checks what flags alone cannot.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !valid_region_name(&self.region) {
            bail!(
                "--region {:?} is invalid: use 1 to 64 characters from a-z, 0-9, '-' and '_'",
                self.region
            );
        }
        if self.cluster_secret.len() < CLUSTER_SECRET_BYTES_MIN {
            bail!("--cluster-secret must be at least {CLUSTER_SECRET_BYTES_MIN} bytes");
        }
        if self.cluster.is_empty() || self.cluster.len() > meridian_core::protocol::NAME_BYTES_MAX {
            bail!("--cluster must be 1 to 256 bytes");
        }
        for p in &self.peers {
            if p.name == self.region {
                bail!("--peer {} names this region itself", p.name);
            }
        }
        let mut names: Vec<&str> = self.peers.iter().map(|p| p.name.as_str()).collect();
        names.sort();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            bail!("--peer {} given twice", w[0]);
        }
        meridian_core::Regions::new(self.region_names()).context("region set")?;
        if self.siblings.len() > SIBLING_PATTERNS_MAX {
            bail!("at most {SIBLING_PATTERNS_MAX} --siblings patterns");
        }
        if !(1..=SNAPSHOT_LOG_MB_MAX).contains(&self.snapshot_log_mb) {
            bail!(
                "--snapshot-log-mb {} is out of range: use 1 to {SNAPSHOT_LOG_MB_MAX} (MiB of log between snapshots)",
                self.snapshot_log_mb
            );
        }
        if !(1..=LOG_RETENTION_SECS_MAX).contains(&self.log_retention_secs) {
            bail!(
                "--log-retention-secs {} is out of range: use 1 to {LOG_RETENTION_SECS_MAX} (how long an unreachable peer holds the log)",
                self.log_retention_secs
            );
        }
        Ok(())
    }

    /// This region and its peers.
    pub fn region_names(&self) -> Vec<String> {
        std::iter::once(self.region.clone())
            .chain(self.peers.iter().map(|p| p.name.clone()))
            .collect()
    }
}
