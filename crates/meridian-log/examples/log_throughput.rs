//! Group-commit throughput and append-to-durable latency of meridian-log, for
//! each fsync policy, in two shapes:
//!
//! * firehose: `threads` threads append `records` 64-byte records as fast as
//!   they can; a watcher records when each LSN became durable.
//! * paced: the same, but the threads together append at `rate` records/s,
//!   so latency is measured below saturation rather than as queueing delay.
//! * clients: `clients` tokio tasks each loop append -> wait_durable, like
//!   connections waiting to reply, for `seconds`.
//!
//! ```text
//! cargo run --release -p meridian-log --example log_throughput -- [records] [threads] [clients] [seconds] [rate]
//! ```

use meridian_log::{FsyncPolicy, Log, LogConfig};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Size of every record, in bytes (a typical small replicated op).
const RECORD_BYTES: usize = 64;

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .map(|s| s.parse().expect("numeric argument"))
        .unwrap_or(default)
}

fn main() {
    let records = arg(1, 2_000_000);
    let threads = arg(2, 4);
    let clients = arg(3, 256);
    let seconds = arg(4, 3);
    let rate = arg(5, 1_000_000);
    println!("{records} records of {RECORD_BYTES} B, {threads} appender threads; {clients} waiting clients for {seconds} s");
    for policy in [FsyncPolicy::Always, FsyncPolicy::EverySec, FsyncPolicy::No] {
        firehose(policy, records, threads, None);
        firehose(policy, records, threads, Some(rate));
        clients_loop(policy, clients, Duration::from_secs(seconds));
    }
}

fn open(policy: FsyncPolicy) -> (tempfile::TempDir, Arc<Log>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Log::open(LogConfig::new(dir.path(), policy), |_, _| {}).expect("open");
    (dir, log)
}

fn percentiles(mut lat_ns: Vec<u64>) -> String {
    lat_ns.sort_unstable();
    let p = |q: f64| lat_ns[((lat_ns.len() - 1) as f64 * q) as usize] as f64 / 1000.0;
    format!(
        "p50 {:.0} us, p99 {:.0} us, max {:.0} us",
        p(0.5),
        p(0.99),
        p(1.0)
    )
}

fn firehose(policy: FsyncPolicy, records: u64, threads: u64, rate: Option<u64>) {
    let (_dir, log) = open(policy);
    let start = Instant::now();
    let appended_at: Arc<Vec<AtomicU64>> =
        Arc::new((0..=records).map(|_| AtomicU64::new(0)).collect());

    let watcher = {
        let log = log.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("rt");
            let mut rx = log.subscribe();
            let mut events = Vec::new();
            rt.block_on(async {
                loop {
                    let durable = *rx.borrow_and_update();
                    events.push((durable, start.elapsed().as_nanos() as u64));
                    if durable >= records {
                        break;
                    }
                    rx.changed().await.expect("log alive");
                }
            });
            events
        })
    };
    let producers: Vec<_> = (0..threads)
        .map(|t| {
            let log = log.clone();
            let appended_at = appended_at.clone();
            let n = records / threads + u64::from(t < records % threads);
            std::thread::spawn(move || {
                let record = [t as u8; RECORD_BYTES];
                // Per-thread pacing: check the schedule every PACE_STEP appends.
                const PACE_STEP: u64 = 256;
                let per_thread_rate = rate.map(|r| r as f64 / threads as f64);
                for i in 0..n {
                    if let Some(r) = per_thread_rate.filter(|_| i % PACE_STEP == 0) {
                        let due = Duration::from_secs_f64(i as f64 / r);
                        if let Some(ahead) = due.checked_sub(start.elapsed()) {
                            std::thread::sleep(ahead);
                        }
                    }
                    let at = start.elapsed().as_nanos() as u64;
                    let lsn = log.append(&record).expect("append");
                    appended_at[lsn as usize].store(at, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for p in producers {
        p.join().expect("producer");
    }
    let appended = start.elapsed();
    let events = watcher.join().expect("watcher");
    let durable = Duration::from_nanos(events.last().expect("events").1);

    let mut lat = Vec::with_capacity(records as usize);
    let mut prev = 0;
    for &(lsn, at) in &events {
        for l in prev + 1..=lsn {
            lat.push(at.saturating_sub(appended_at[l as usize].load(Ordering::Relaxed)));
        }
        prev = prev.max(lsn);
    }
    let s = log.stats();
    println!(
        "{policy:>8} {:<9} {:>10.0} records/s durable ({:.0}/s appended), {} batches ({:.0} rec/batch), {} fsyncs; append->durable {}",
        if rate.is_some() { "paced:" } else { "firehose:" },
        records as f64 / durable.as_secs_f64(),
        records as f64 / appended.as_secs_f64(),
        s.write_batches,
        s.records_written as f64 / s.write_batches as f64,
        s.fsyncs,
        percentiles(lat),
    );
}

fn clients_loop(policy: FsyncPolicy, clients: u64, run_for: Duration) {
    let (_dir, log) = open(policy);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let log = log.clone();
            let stop = stop.clone();
            rt.spawn(async move {
                let record = [c as u8; RECORD_BYTES];
                let mut lat = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let t0 = Instant::now();
                    let lsn = log.append(&record).expect("append");
                    log.wait_durable(lsn).await.expect("durable");
                    lat.push(t0.elapsed().as_nanos() as u64);
                }
                lat
            })
        })
        .collect();
    std::thread::sleep(run_for);
    stop.store(true, Ordering::Relaxed);
    let lat: Vec<u64> = rt.block_on(async {
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("client"));
        }
        all
    });
    let elapsed = start.elapsed();
    let s = log.stats();
    println!(
        "{policy:>8} clients:  {:>10.0} ops/s     , {} batches ({:.0} rec/batch), {} fsyncs; append->durable {}",
        lat.len() as f64 / elapsed.as_secs_f64(),
        s.write_batches,
        s.records_written as f64 / s.write_batches as f64,
        s.fsyncs,
        percentiles(lat),
    );
}
