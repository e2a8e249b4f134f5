//! The local world: region servers as child processes on loopback, with a
//! delaying proxy on every directed replication link.
//!
//! A server needs its peers' addresses when it starts, and it dials its
//! peers for its outgoing stream, so the order is: choose every port, start
//! every proxy (link `A->B` forwards to B's replication port), then start
//! every server with `--peer B=<proxy of A->B>`.

use crate::args::{DemoArgs, Plan};
use crate::child::{RegionProcess, RegionSpec};
use crate::out::Out;
use crate::probe;
use anyhow::{anyhow, bail, Context};
use meridian_wan::Wan;
use redis::aio::MultiplexedConnection;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::time::Instant;

/// Times the whole world is started afresh when a server finds a chosen
/// port taken (another program grabbed it between our choice and its bind).
pub const START_ATTEMPTS_MAX: usize = 3;

/// Longest wait for a started server to answer PING: it recovers from its
/// log first, which for a kept `--data` directory can take a while.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest wait for every replication link to be up: a handshake is two
/// round trips over the slowest link (~0.5 s), and a server that dialled
/// before its peer was listening retries after at most 2 s of backoff.
pub const LINKS_TIMEOUT: Duration = Duration::from_secs(20);

/// How often start-up waits poll the servers.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Cluster name given to the servers; a world is one cluster.
const CLUSTER: &str = "meridian-demo";

/// Where data and logs live.
enum DataDir {
    /// Removed when dropped.
    Temp(tempfile::TempDir),
    /// Given with `--data`, or a temporary directory kept for its logs.
    Kept(PathBuf),
}

impl DataDir {
    fn path(&self) -> &Path {
        match self {
            DataDir::Temp(t) => t.path(),
            DataDir::Kept(p) => p,
        }
    }
}

/// A running world. Field order is drop order: servers are killed first,
/// then the proxies stop, then the data directory is removed.
pub struct World {
    /// In the order of `Plan::regions`.
    pub regions: Vec<RegionProcess>,
    /// One monitoring connection per region, same order.
    pub conns: Vec<MultiplexedConnection>,
    /// Regions killed on purpose ([`World::kill_region`]) and not yet
    /// restarted, same order.
    killed: Vec<bool>,
    wan: Option<Wan>,
    dir: DataDir,
}

impl World {
    /// Starts every proxy and server and waits until each server answers.
    /// On failure everything started is stopped, and the region logs are
    /// kept; the error says where.
    pub async fn start(plan: &Plan, args: &DemoArgs, out: &Out) -> anyhow::Result<World> {
        let mut dir = match &args.data {
            Some(p) => {
                std::fs::create_dir_all(p)
                    .with_context(|| format!("create data directory {}", p.display()))?;
                DataDir::Kept(p.clone())
            }
            None => DataDir::Temp(
                tempfile::Builder::new()
                    .prefix("meridian-demo-")
                    .tempdir()
                    .context("create a temporary directory for region data")?,
            ),
        };
        let secret = format!("{:032x}", rand::random::<u128>());
        let mut attempt = 1;
        loop {
            match start_once(plan, args, dir.path(), &secret).await {
                Ok((regions, conns, wan)) => {
                    return Ok(World {
                        killed: vec![false; regions.len()],
                        regions,
                        conns,
                        wan: Some(wan),
                        dir,
                    })
                }
                Err(Failure::PortTaken(region)) if attempt < START_ATTEMPTS_MAX => {
                    out.say(&format!(
                        "region {region} found its port taken; choosing new ports (attempt {} of {START_ATTEMPTS_MAX})",
                        attempt + 1
                    ));
                    attempt += 1;
                }
                Err(Failure::PortTaken(region)) => {
                    let kept = keep(&mut dir);
                    bail!("region {region} could not bind its ports in {START_ATTEMPTS_MAX} attempts; logs in {}", kept.display());
                }
                Err(Failure::Other(e)) => {
                    let kept = keep(&mut dir);
                    return Err(e.context(format!("region logs kept in {}", kept.display())));
                }
            }
        }
    }

    /// The directory holding data and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Whether the data directory is removed at the end.
    pub fn is_temporary(&self) -> bool {
        matches!(self.dir, DataDir::Temp(_))
    }

    /// Keeps the data directory (for its logs) and returns its path.
    pub fn keep_dir(&mut self) -> PathBuf {
        keep(&mut self.dir)
    }

    /// Fails with the region's log tail if a server has exited, other than
    /// one killed on purpose ([`World::kill_region`]).
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        self.check_alive_except(None)
    }

    /// Like [`World::check_alive`], also skipping region `skip`.
    pub fn check_alive_except(&mut self, skip: Option<usize>) -> anyhow::Result<()> {
        for (i, r) in self.regions.iter_mut().enumerate() {
            if Some(i) == skip || self.killed[i] {
                continue;
            }
            if let Some(status) = r.exited() {
                bail!(
                    "region {} exited ({status}); its log {} ends with:\n{}",
                    r.region,
                    r.log.display(),
                    r.log_tail()
                );
            }
        }
        Ok(())
    }

    /// Whether region `i` was killed on purpose and not restarted.
    pub fn is_killed(&self, i: usize) -> bool {
        self.killed.get(i).copied().unwrap_or(false)
    }

    /// Indices of the regions killed on purpose and not restarted.
    pub fn killed(&self) -> Vec<usize> {
        (0..self.regions.len())
            .filter(|i| self.killed[*i])
            .collect()
    }

    /// Cuts the directed replication link `from -> to` (region indices):
    /// its connections are dropped and new ones closed until healed.
    pub fn cut_link(&self, from: usize, to: usize) -> anyhow::Result<()> {
        let (f, t) = self.link_names(from, to)?;
        self.wan()?.cut(f, t)?;
        Ok(())
    }

    /// Heals the directed replication link `from -> to`.
    pub fn heal_link(&self, from: usize, to: usize) -> anyhow::Result<()> {
        let (f, t) = self.link_names(from, to)?;
        self.wan()?.heal(f, t)?;
        Ok(())
    }

    /// Whether the directed link `from -> to` is cut (false if unknown).
    pub fn is_cut(&self, from: usize, to: usize) -> bool {
        let (Some(f), Some(t)) = (self.regions.get(from), self.regions.get(to)) else {
            return false;
        };
        self.wan
            .as_ref()
            .and_then(|w| w.link(&f.region, &t.region))
            .is_some_and(|l| l.is_cut())
    }

    /// Every cut directed link as `(from, to)` region indices, sorted.
    pub fn cut_links(&self) -> Vec<(usize, usize)> {
        let n = self.regions.len();
        (0..n)
            .flat_map(|f| (0..n).map(move |t| (f, t)))
            .filter(|(f, t)| f != t && self.is_cut(*f, *t))
            .collect()
    }

    /// Heals every link.
    pub fn heal_all(&self) {
        if let Some(w) = &self.wan {
            w.heal_all();
        }
    }

    fn wan(&self) -> anyhow::Result<&Wan> {
        self.wan
            .as_ref()
            .ok_or_else(|| anyhow!("the replication links are shut down"))
    }

    fn link_names(&self, from: usize, to: usize) -> anyhow::Result<(&str, &str)> {
        match (self.regions.get(from), self.regions.get(to)) {
            (Some(f), Some(t)) if from != to => Ok((&f.region, &t.region)),
            _ => bail!("no replication link {from} -> {to}"),
        }
    }

    /// Kills region `i` with SIGKILL, as a fire would: no shutdown, no
    /// flush beyond what the fsync policy already did.
    pub fn kill_region(&mut self, i: usize) {
        self.regions[i].kill();
        self.killed[i] = true;
    }

    /// Starts region `i` again from its data directory, waits until it
    /// answers, and replaces its monitoring connection. On failure the
    /// region is left killed (so the demo goes on without it).
    pub async fn restart_region(&mut self, i: usize) -> anyhow::Result<()> {
        self.regions[i].respawn()?;
        // From here on an exit is a failure again, not a kill.
        self.killed[i] = false;
        let failed = match wait_ready(&mut self.regions[i]).await {
            Ok(conn) => {
                self.conns[i] = conn;
                return Ok(());
            }
            Err(Failure::PortTaken(r)) => {
                anyhow!("region {r} found its port taken when restarting")
            }
            Err(Failure::Other(e)) => e,
        };
        self.kill_region(i);
        Err(failed)
    }

    /// Polls INFO replication until every region reports every peer link
    /// connected, printing progress; fails after [`LINKS_TIMEOUT`] naming
    /// the links still down.
    pub async fn wait_links(&mut self, out: &Out) -> anyhow::Result<()> {
        let started = Instant::now();
        let mut last_report = started;
        loop {
            self.check_alive()?;
            let mut down = Vec::new();
            let mut total = 0;
            for (r, conn) in self.regions.iter().zip(self.conns.iter_mut()) {
                let info = probe::info(conn, "replication")
                    .await
                    .with_context(|| format!("INFO replication on {}", r.region))?;
                for (peer, state) in probe::peer_links(&info) {
                    total += 1;
                    if state != "connected" {
                        down.push(format!("{}->{peer} ({state})", r.region));
                    }
                }
            }
            if down.is_empty() && total > 0 {
                return Ok(());
            }
            if started.elapsed() > LINKS_TIMEOUT {
                bail!(
                    "replication links still not connected after {LINKS_TIMEOUT:?}: {}",
                    down.join(", ")
                );
            }
            if last_report.elapsed() >= Duration::from_secs(1) {
                last_report = Instant::now();
                out.say(&format!(
                    "waiting for replication links: {} of {total} connected",
                    total - down.len()
                ));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Kills every server and stops every proxy; a temporary data
    /// directory is removed when `self` drops.
    pub async fn shutdown(mut self) {
        for r in &mut self.regions {
            r.kill();
        }
        if let Some(wan) = self.wan.take() {
            wan.shutdown().await;
        }
    }
}

fn keep(dir: &mut DataDir) -> PathBuf {
    let placeholder = DataDir::Kept(PathBuf::new());
    let path = match std::mem::replace(dir, placeholder) {
        DataDir::Temp(t) => t.keep(),
        DataDir::Kept(p) => p,
    };
    *dir = DataDir::Kept(path.clone());
    path
}

/// Why one start attempt failed.
enum Failure {
    /// A server could not bind a chosen port: worth another attempt.
    PortTaken(String),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

type Started = (Vec<RegionProcess>, Vec<MultiplexedConnection>, Wan);

async fn start_once(
    plan: &Plan,
    args: &DemoArgs,
    dir: &Path,
    secret: &str,
) -> Result<Started, Failure> {
    let n = plan.regions.len();
    let ports = free_ports(2 * n).context("choose free loopback ports")?;
    let (listen, repl) = ports.split_at(n);
    let mut wan = Wan::new();
    let mut peers: Vec<Vec<(String, SocketAddr)>> = vec![Vec::new(); n];
    for link in &plan.links {
        let from = index(plan, &link.from)?;
        let to = index(plan, &link.to)?;
        let addr = wan
            .add_link(&link.from, &link.to, repl[to], link.delay)
            .await
            .with_context(|| format!("start the proxy for link {}", link.name()))?;
        peers[from].push((link.to.clone(), addr));
    }
    let mut regions = Vec::with_capacity(n);
    for (i, name) in plan.regions.iter().enumerate() {
        let spec = RegionSpec {
            bin: &plan.server_bin,
            region: name,
            listen: listen[i],
            repl: repl[i],
            peers: std::mem::take(&mut peers[i]),
            data: dir.join(name),
            log: dir.join(format!("{name}.log")),
            fsync: &args.fsync,
            siblings: &args.siblings,
            log_retention_secs: args.log_retention_secs,
            cluster: CLUSTER,
            secret,
        };
        regions.push(RegionProcess::spawn(&spec)?);
    }
    let mut conns = Vec::with_capacity(n);
    for r in &mut regions {
        conns.push(wait_ready(r).await?);
    }
    Ok((regions, conns, wan))
}

fn index(plan: &Plan, name: &str) -> anyhow::Result<usize> {
    plan.regions
        .iter()
        .position(|r| r == name)
        .ok_or_else(|| anyhow!("link names unknown region {name}"))
}

/// `n` distinct free loopback addresses: all are bound at once (so none
/// repeats), then released for the servers to bind.
fn free_ports(n: usize) -> std::io::Result<Vec<SocketAddr>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .collect::<std::io::Result<Vec<_>>>()?;
    listeners.iter().map(TcpListener::local_addr).collect()
}

/// Waits until the server answers PING, or fails with its log tail.
async fn wait_ready(r: &mut RegionProcess) -> Result<MultiplexedConnection, Failure> {
    let started = Instant::now();
    loop {
        if let Some(status) = r.exited() {
            let tail = r.log_tail();
            if tail.contains("Address already in use") {
                return Err(Failure::PortTaken(r.region.clone()));
            }
            return Err(anyhow!(
                "region {} exited during start-up ({status}); its log {} ends with:\n{tail}",
                r.region,
                r.log.display()
            )
            .into());
        }
        if let Ok(mut conn) = probe::connect(r.listen).await {
            if probe::query::<String>(&mut conn, &redis::cmd("PING"))
                .await
                .is_ok()
            {
                return Ok(conn);
            }
        }
        if started.elapsed() > READY_TIMEOUT {
            return Err(anyhow!(
                "region {} did not answer on {} within {READY_TIMEOUT:?}; see its log {}",
                r.region,
                r.listen,
                r.log.display()
            )
            .into());
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
