//! The region server: a tokio shell around the pure core.
//!
//! [`start`] recovers the region's state from its log, then runs three kinds
//! of task: the client listener (RESP, [`conn`]), the replication listener
//! ([`repl::accept`]) and one outgoing link per peer ([`repl::dial`]). All
//! share one [`shared::Shared`], whose `Node` is the only place state
//! changes, under one lock, in the same order the log records it.

pub mod alloc;
pub mod cmd;
pub mod config;
pub mod conn;
pub mod lag;
pub mod repl;
pub mod shared;

use anyhow::{bail, Context};
use config::ServerArgs;
use meridian_core::{Node, Op, Regions};
use meridian_log::{Log, LogConfig};
use parking_lot::Mutex;
use shared::{Counters, LinkState, OutLink, PeerStatus, Shared};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;

/// The Redis version we report to clients that check it (the command set
/// and reply shapes follow Redis 7.2).
pub const REDIS_COMPAT_VERSION: &str = "7.2.0";

/// A running region server.
pub struct Server {
    pub client_addr: SocketAddr,
    pub repl_addr: SocketAddr,
    pub shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Server {
    /// Stops every task and flushes the log.
    pub fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Err(e) = self.shared.log.close() {
            tracing::error!("closing the log: {e}");
        }
    }
}

/// Recovers the region from `args.data` and starts serving.
pub async fn start(args: ServerArgs) -> anyhow::Result<Server> {
    args.validate()?;
    let regions = Regions::new(args.region_names())?;
    let me = regions.id(&args.region)?;
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("create data directory {}", args.data.display()))?;
    check_identity(&args.data, &args, &regions)?;

    let started = Instant::now();
    let mut node = Node::new(regions.clone(), me);
    node.set_siblings(
        args.siblings
            .iter()
            .map(|p| bytes::Bytes::from(p.clone()))
            .collect(),
    );
    let mut bad = None;
    let mut replayed = 0u64;
    let log = Log::open(
        LogConfig::new(args.data.join("log"), args.fsync),
        |lsn, record| {
            if bad.is_some() {
                return;
            }
            match Op::decode(record) {
                Ok(op) if op.dot.region.index() < regions.len() => {
                    node.replay(&op);
                    replayed += 1;
                }
                Ok(op) => bad = Some(format!("record {lsn}: unknown region {}", op.dot.region)),
                Err(e) => bad = Some(format!("record {lsn}: {e}")),
            }
        },
    )
    .with_context(|| format!("open log in {}", args.data.display()))?;
    if let Some(why) = bad {
        bail!(
            "the log in {} cannot be replayed: {why}",
            args.data.display()
        );
    }
    if regions.len() > 1 {
        // Peers read only fsynced records: fsync as soon as anything is
        // written, whatever the client policy (see `Log::set_replicated`).
        log.set_replicated();
    }
    tracing::info!(
        region = %args.region,
        ops = replayed,
        keys = node.keys().live_keys(),
        ms = started.elapsed().as_millis() as u64,
        "recovered from log"
    );

    let client_listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listen for clients on {}", args.listen))?;
    let repl_listener = TcpListener::bind(args.repl)
        .await
        .with_context(|| format!("listen for replication on {}", args.repl))?;
    let client_addr = client_listener.local_addr()?;
    let repl_addr = repl_listener.local_addr()?;

    let peers = args
        .peers
        .iter()
        .map(|p| -> anyhow::Result<PeerStatus> {
            Ok(PeerStatus {
                name: p.name.clone(),
                id: regions.id(&p.name)?,
                addr: p.addr.clone(),
                out: Mutex::new(OutLink {
                    state: LinkState::Connecting,
                    ops_behind: 0,
                    ops_sent: 0,
                    ops_relayed: 0,
                    batches_sent: 0,
                    connects: 0,
                }),
                inbound_connections: Default::default(),
                ops_received: Default::default(),
                clock_ahead_holds: Default::default(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let shared = Arc::new(Shared {
        lag: Mutex::new((0..regions.len()).map(|_| Default::default()).collect()),
        node: Mutex::new(node),
        log,
        peers,
        counters: Counters::default(),
        started,
        client_addr,
        repl_addr,
        args,
    });
    let mut tasks = vec![
        tokio::spawn(conn::serve(shared.clone(), client_listener)),
        tokio::spawn(repl::accept::serve(shared.clone(), repl_listener)),
    ];
    for i in 0..shared.peers.len() {
        tasks.push(tokio::spawn(repl::dial::run(shared.clone(), i)));
    }
    {
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(cmd::expire::SWEEP_INTERVAL);
            loop {
                tick.tick().await;
                cmd::expire::sweep(&shared);
            }
        }));
    }
    tracing::info!(
        region = %shared.args.region,
        clients = %client_addr,
        replication = %repl_addr,
        "region server ready"
    );
    Ok(Server {
        client_addr,
        repl_addr,
        shared,
        tasks,
    })
}

/// Refuses a data directory made for another region or cluster: replaying
/// it here would mix two regions' histories.
fn check_identity(dir: &Path, args: &ServerArgs, regions: &Regions) -> anyhow::Result<()> {
    let path = dir.join("identity");
    let want = format!(
        "cluster={}\nregion={}\nregions={}\n",
        args.cluster,
        args.region,
        regions.names().join(",")
    );
    match std::fs::read_to_string(&path) {
        Ok(have) if have == want => Ok(()),
        Ok(have) => bail!(
            "data directory {} belongs to another configuration:\n{have}this server is:\n{want}",
            dir.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::write(&path, want).with_context(|| format!("write {}", path.display()))
        }
        Err(e) => Err(e).with_context(|| format!("read {}", path.display())),
    }
}

/// Runs a region server until Ctrl-C or SIGTERM.
pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    let server = start(args).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    server.shutdown();
    Ok(())
}
