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
pub mod snapshot;

use anyhow::{bail, Context};
use config::ServerArgs;
use meridian_core::Regions;
use meridian_log::LogConfig;
use parking_lot::Mutex;
use shared::{Counters, PeerStatus, Shared};
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
    let rec = snapshot::recover(
        &args.data,
        LogConfig::new(args.data.join("log"), args.fsync),
        &regions,
        me,
        args.siblings
            .iter()
            .map(|p| bytes::Bytes::from(p.clone()))
            .collect(),
    )?;
    let (node, log) = (rec.node, rec.log);
    if regions.len() > 1 {
        // Peers read only fsynced records: fsync as soon as anything is
        // written, whatever the client policy (see `Log::set_replicated`).
        log.set_replicated();
    }
    tracing::info!(
        region = %args.region,
        snapshot_lsn = rec.snapshot_lsn,
        snapshot_bytes = rec.snapshot_bytes,
        ops = rec.replayed,
        log_first_lsn = log.first_lsn(),
        log_last_lsn = log.last_lsn(),
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
            Ok(PeerStatus::new(
                p.name.clone(),
                regions.id(&p.name)?,
                p.addr.clone(),
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let snapshots = shared::Snapshots::default();
    {
        let mut st = snapshots.state.lock();
        st.base = rec.base;
        st.lsn = rec.snapshot_lsn;
        if let Some(vv) = rec.snapshot_vv {
            st.points.push_back((rec.snapshot_lsn, vv));
        }
        st.file_bytes = rec.snapshot_bytes;
    }
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
        snapshots,
    });
    let mut tasks = vec![
        tokio::spawn(conn::serve(shared.clone(), client_listener)),
        tokio::spawn(repl::accept::serve(shared.clone(), repl_listener)),
    ];
    for i in 0..shared.peers.len() {
        tasks.push(tokio::spawn(repl::dial::run(shared.clone(), i)));
    }
    tasks.push(tokio::spawn(snapshot::run(shared.clone())));
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
