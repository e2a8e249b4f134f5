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
    /// Start a world of regions on this machine with real WAN latencies,
    /// run a workload, and report lag and convergence.
    Demo(meridian_demo::DemoArgs),
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Server(args) => rt.block_on(meridian_server::run(args)),
        Command::Demo(args) => rt.block_on(meridian_demo::run(args)),
    }
}
