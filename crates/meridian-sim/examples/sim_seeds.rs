//! Runs a range of seeds and prints one line per seed:
//! `cargo run --release -p meridian-sim --example sim_seeds -- FIRST COUNT [seven]`.

use meridian_sim::{run_seed, SimConfig};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let first: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(0);
    let count: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    let cfg = match args.get(2).map(String::as_str) {
        Some("seven") => SimConfig::seven_regions(),
        _ => SimConfig::default(),
    };
    let mut failed = 0;
    for seed in first..first + count {
        match run_seed(seed, &cfg) {
            Ok(report) => println!("{report}"),
            Err(failure) => {
                failed += 1;
                println!("{failure}");
            }
        }
    }
    println!("{} passed, {failed} failed", count - failed);
    if failed > 0 {
        std::process::exit(1);
    }
}
