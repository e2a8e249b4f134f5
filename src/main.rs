//! `meridian`: one binary for every part of the system.

use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOC: meridian_server::alloc::Counting = meridian_server::alloc::Counting;

#[derive(Parser)]
#[command(
    name = "meridian",
    version,
    about = "Multi-region active-active database speaking RESP"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run one region server.
    Server(meridian_server::config::ServerArgs),
    /// Run a router: a RESP proxy that sends every client to the nearest
    /// healthy region and fails over within a second.
    Router(meridian_router::RouterArgs),
    /// Start a world of regions on this machine with real WAN latencies,
    /// run a workload, and report lag and convergence.
    Demo(meridian_demo::DemoArgs),
    /// Run the deterministic simulator: seeds of a whole world with faults,
    /// checked for convergence, durability, causality and liveness.
    Sim(meridian_sim::SimArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Command::Server(args) = &cli.command {
        rt.worker_threads(args.worker_threads());
    }
    let rt = rt.enable_all().build()?;
    match cli.command {
        Command::Server(args) => rt.block_on(meridian_server::run(args)),
        Command::Router(args) => rt.block_on(meridian_router::run(args)),
        Command::Demo(args) => rt.block_on(meridian_demo::run(args)),
        Command::Sim(args) => meridian_sim::cli_main(args),
    }
}
