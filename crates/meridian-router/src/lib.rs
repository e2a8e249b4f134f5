//! `meridian router`: a RESP proxy that sends every client to the nearest
//! healthy region and moves it within a second when that region dies.
//!
//! Clients use it exactly as they would use Redis. The router probes every
//! region ([`probe`]), keeps a smoothed round trip and a circuit per region
//! and picks the primary ([`decide`], a pure state machine), forwards each
//! pipeline in order to the chosen region ([`client`], [`forward`]),
//! retries what is safe to retry when a region fails mid-request
//! ([`classify`] has the rule per command), and keeps each connection's
//! causal point so that after a failover it never reads older data than it
//! has seen ([`session`]).
//!
//! ```text
//! $ meridian router --listen 127.0.0.1:6380 --near eu-london \
//!     --region eu-london=10.0.0.1:6379 --region eu-west=10.1.0.1:6379
//! $ redis-cli -p 6380 SET k v
//! $ redis-cli -p 6380 INFO router
//! # Router
//! primary_region:eu-london
//! region_eu-london:health=up,circuit=closed,rtt_ms=0.41,requests=1,...
//! ```
//!
//! In process (as `meridian demo --story london-fire` runs it):
//!
//! ```no_run
//! # async fn f() -> anyhow::Result<()> {
//! use clap::Parser;
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     router: meridian_router::RouterArgs,
//! }
//! let cli = Cli::parse_from(["router", "--listen", "127.0.0.1:0", "--region", "eu-west=127.0.0.1:7000"]);
//! let router = meridian_router::start(cli.router.config()?).await?;
//! println!("clients connect to {}", router.addr());
//! println!("{:?}", router.snapshot().primary);
//! router.shutdown();
//! # Ok(()) }
//! ```

pub mod args;
pub mod classify;
pub mod client;
pub mod decide;
pub mod forward;
pub mod metrics;
pub mod probe;
pub mod session;
pub mod shared;
pub mod stats;
pub mod upstream;
pub mod vv;

pub use args::{RouterArgs, RouterConfig};
pub use session::Policy;
pub use stats::Snapshot;

use anyhow::Context;
use shared::Shared;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A running router. Dropping it stops every task and closes every client.
pub struct Router {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Router {
    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The metrics address, with `--metrics`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The router's figures now.
    pub fn snapshot(&self) -> Snapshot {
        stats::snapshot(&self.shared)
    }

    /// The `# Router` INFO section.
    pub fn info(&self) -> String {
        stats::info_section(&self.shared)
    }

    /// A handle that reads the router's figures from another task.
    pub fn handle(&self) -> RouterHandle {
        RouterHandle {
            shared: self.shared.clone(),
        }
    }

    /// Stops every task (probers, listener, clients).
    pub fn shutdown(self) {}
}

impl Drop for Router {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Reads a running router's figures; cheap to clone and send.
#[derive(Clone)]
pub struct RouterHandle {
    shared: Arc<Shared>,
}

impl RouterHandle {
    /// The router's figures now.
    pub fn snapshot(&self) -> Snapshot {
        stats::snapshot(&self.shared)
    }
}

/// Binds the listeners and starts probing and serving.
pub async fn start(cfg: RouterConfig) -> anyhow::Result<Router> {
    let listener = TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("listen for clients on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let metrics = match cfg.metrics {
        Some(m) => Some(
            TcpListener::bind(m)
                .await
                .with_context(|| format!("listen for metrics on {m}"))?,
        ),
        None => None,
    };
    let metrics_addr = metrics.as_ref().map(|l| l.local_addr()).transpose()?;
    let mut cfg = cfg;
    cfg.listen = addr;
    let shared = Arc::new(Shared::new(cfg));
    let mut tasks = Vec::new();
    for i in 0..shared.cfg.regions.len() {
        tasks.push(tokio::spawn(probe::run(shared.clone(), i)));
    }
    tasks.push(tokio::spawn(ticker(shared.clone())));
    tasks.push(tokio::spawn(client::serve(shared.clone(), listener)));
    if let Some(l) = metrics {
        tasks.push(tokio::spawn(metrics::serve(shared.clone(), l)));
    }
    let names: Vec<String> = shared
        .cfg
        .regions
        .iter()
        .map(|r| format!("{}={}", r.name, r.addr))
        .collect();
    tracing::info!(%addr, regions = names.join(","), session = shared.cfg.policy.label(), "router ready");
    Ok(Router {
        addr,
        metrics_addr,
        shared,
        tasks,
    })
}

/// Re-evaluates time-based rules once per probe interval, so a switch
/// waiting out its hold happens on time even when probes are slow.
async fn ticker(shared: Arc<Shared>) {
    let period = std::time::Duration::from_millis(shared.cfg.tuning.probe_interval_ms);
    let mut t = tokio::time::interval(period);
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        t.tick().await;
        shared.tick();
    }
}

/// Runs a router until Ctrl-C or SIGTERM.
pub async fn run(args: RouterArgs) -> anyhow::Result<()> {
    let router = start(args.config()?).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("router shutting down");
    router.shutdown();
    Ok(())
}
