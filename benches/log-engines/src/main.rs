//! Can a well-kept embedded storage engine (fjall, redb) stand in for
//! meridian-log as the region server's durable write log?
//!
//! The server's access pattern: many connections each append a pipeline of
//! 16 small records (80 B here) with consecutive sequence numbers, and may
//! only reply once the batch is durable; replication later reads the records
//! back in order from a position. For each engine, policy and thread count
//! this program appends `records` records in batches of 16, makes each batch
//! durable per the policy before starting the next, then reads everything
//! back in order from the start. See README.md for the guarantees of each
//! configuration.
//!
//! ```text
//! cargo run --release --manifest-path benches/log-engines/Cargo.toml -- \
//!     [--records N] [--always-records N] [--repeat N] [--threads 1,4] \
//!     [--engines meridian-log,fjall,redb] [--policies everysec,always] [--dir /tmp]
//! ```

use fjall::{PartitionCreateOptions, PersistMode};
use meridian_log::{FsyncPolicy, Log, LogConfig};
use parking_lot::{Condvar, Mutex};
use redb::{Durability, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// Bytes per record (the log payload; the KV engines also store an 8-byte key).
const RECORD_BYTES: usize = 80;
/// Records per batch: one client pipeline.
const BATCH: usize = 16;
/// The background fsync interval of the everysec configurations.
const EVERYSEC: Duration = Duration::from_secs(1);

type Batch = [[u8; RECORD_BYTES]; BATCH];

const REDB_TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("log");

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum EngineKind {
    Mlog,
    Fjall,
    Redb,
}

impl EngineKind {
    fn name(self) -> &'static str {
        match self {
            Self::Mlog => "meridian-log",
            Self::Fjall => "fjall",
            Self::Redb => "redb",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Policy {
    EverySec,
    Always,
}

impl Policy {
    fn name(self) -> &'static str {
        match self {
            Self::EverySec => "everysec",
            Self::Always => "always",
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Case {
    engine: EngineKind,
    policy: Policy,
    threads: usize,
    /// Application-level group commit for the KV engines under `always`:
    /// one fsync (by whichever thread gets there first) covers every batch
    /// committed before it, instead of one fsync per batch.
    group_commit: bool,
    records: u64,
}

impl Case {
    fn label(&self) -> String {
        let mut s = self.engine.name().to_string();
        if self.group_commit {
            s.push_str("+gc");
        }
        s
    }
}

struct Outcome {
    case: Case,
    append_secs: f64,
    lat_us: (f64, f64, f64), // p50, p99, max
    cpu_secs: f64,
    read_secs: f64,
    disk_bytes: u64,
    apparent_bytes: u64,
    reopen_ms: f64,
}

impl Outcome {
    fn appends_per_s(&self) -> f64 {
        self.case.records as f64 / self.append_secs
    }
    fn reads_per_s(&self) -> f64 {
        self.case.records as f64 / self.read_secs
    }
}

// ---------------------------------------------------------------- helpers

/// Process CPU time (user + system, all threads), in seconds.
fn cpu_time() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we pass it.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    assert_eq!(rc, 0, "getrusage");
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// (allocated bytes as `du` counts them, apparent bytes) of every file under `dir`.
fn disk_usage(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let mut total = (0, 0);
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let entry = entry.expect("dir entry");
        let meta = entry.metadata().expect("metadata");
        if meta.is_dir() {
            let (a, b) = disk_usage(&entry.path());
            total.0 += a;
            total.1 += b;
        } else {
            total.0 += meta.blocks() * 512;
            total.1 += meta.len();
        }
    }
    total
}

/// Writes back all dirty data system-wide (sync(2)) and lets the disk settle.
fn quiesce() {
    // SAFETY: sync(2) has no arguments and cannot fail.
    unsafe { libc::sync() };
    std::thread::sleep(Duration::from_millis(500));
}

/// Fills `batch` with incompressible-looking bytes that differ per batch, so
/// no engine profits from compressing a constant.
fn fill(batch: &mut Batch, mut seed: u64) {
    for rec in batch.iter_mut() {
        for chunk in rec.chunks_mut(8) {
            // xorshift64*
            seed ^= seed >> 12;
            seed ^= seed << 25;
            seed ^= seed >> 27;
            let v = seed.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Runs `threads` threads that together append `batches` batches; each
/// thread calls its worker (made by `make`) once per batch, and the worker
/// returns only once the batch is durable. Returns (wall seconds, per-batch
/// latencies in ns, process CPU seconds).
fn drive<F, W>(threads: usize, batches: u64, make: F) -> (f64, Vec<u64>, f64)
where
    F: Fn() -> W + Sync,
    W: FnMut(&Batch),
{
    let next = AtomicU64::new(0);
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (next, barrier, make) = (&next, &barrier, &make);
                s.spawn(move || {
                    let mut worker = make();
                    let mut batch = [[0u8; RECORD_BYTES]; BATCH];
                    let mut lat = Vec::with_capacity((batches / threads as u64 + 1) as usize);
                    barrier.wait();
                    loop {
                        let b = next.fetch_add(1, Ordering::Relaxed);
                        if b >= batches {
                            break;
                        }
                        fill(&mut batch, (b + 1) * 0x9E37_79B9 + t as u64);
                        let t0 = Instant::now();
                        worker(&batch);
                        lat.push(t0.elapsed().as_nanos() as u64);
                    }
                    lat
                })
            })
            .collect();
        let cpu0 = cpu_time();
        barrier.wait();
        let start = Instant::now();
        let mut lat = Vec::with_capacity(batches as usize);
        for h in handles {
            lat.extend(h.join().expect("worker thread"));
        }
        let wall = start.elapsed().as_secs_f64();
        let cpu = cpu_time() - cpu0;
        (wall, lat, cpu)
    })
}

fn percentiles(mut lat: Vec<u64>) -> (f64, f64, f64) {
    lat.sort_unstable();
    let p = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
    (p(0.50), p(0.99), p(1.0))
}

/// A thread that runs `f` every [`EVERYSEC`] until dropped (the everysec
/// fsync of the KV engines).
struct Periodic {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Periodic {
    fn start(f: impl Fn() + Send + 'static) -> Self {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let (lock, cv) = &*s;
            let mut stopped = lock.lock();
            loop {
                let deadline = Instant::now() + EVERYSEC;
                while !*stopped && Instant::now() < deadline {
                    cv.wait_until(&mut stopped, deadline);
                }
                if *stopped {
                    return;
                }
                drop(stopped);
                f();
                stopped = lock.lock();
            }
        });
        Self {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Periodic {
    fn drop(&mut self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
        if let Some(h) = self.handle.take() {
            h.join().expect("periodic thread");
        }
    }
}

/// Group commit for engines that fsync under their own lock: tickets are
/// taken in commit order; a thread that needs its commit synced either finds
/// that someone's fsync already covered it, or becomes the leader and
/// fsyncs everything committed so far.
#[derive(Default)]
struct GroupSync {
    committed: AtomicU64,
    synced: Mutex<u64>,
}

impl GroupSync {
    /// Call right after a commit, while still holding the commit-order lock.
    fn ticket(&self) -> u64 {
        self.committed.fetch_add(1, Ordering::AcqRel) + 1
    }

    fn sync(&self, ticket: u64, fsync: impl FnOnce()) {
        let mut synced = self.synced.lock();
        if *synced >= ticket {
            return;
        }
        let target = self.committed.load(Ordering::Acquire);
        fsync();
        *synced = target;
    }
}

// ---------------------------------------------------------------- engines

fn run_mlog(case: Case, dir: &Path) -> Outcome {
    let policy = match case.policy {
        Policy::EverySec => FsyncPolicy::EverySec,
        Policy::Always => FsyncPolicy::Always,
    };
    let path = dir.join("mlog");
    let log = Log::open(LogConfig::new(&path, policy), |_, _| {}).expect("open meridian-log");
    let batches = case.records / BATCH as u64;

    let (append_secs, lat, cpu_secs) = drive(case.threads, batches, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("tokio runtime");
        let log = log.clone();
        move |batch: &Batch| {
            let mut last = 0;
            for rec in batch {
                last = log.append(rec).expect("append");
            }
            rt.block_on(log.wait_durable(last)).expect("wait_durable");
        }
    });
    assert_eq!(log.durable_lsn(), case.records);

    let t0 = Instant::now();
    let (mut next, mut bytes) = (1u64, 0usize);
    while next <= case.records {
        let recs = log.read_from(next, 8192, 1 << 20).expect("read_from");
        assert!(!recs.is_empty(), "read_from stalled at {next}");
        for (lsn, rec) in recs {
            assert_eq!(lsn, next, "meridian-log read out of order");
            bytes += rec.len();
            next += 1;
        }
    }
    let read_secs = t0.elapsed().as_secs_f64();
    assert_eq!(bytes, case.records as usize * RECORD_BYTES);

    log.close().expect("close");
    drop(log);
    let (disk_bytes, apparent_bytes) = disk_usage(&path);
    let t0 = Instant::now();
    let mut replayed = 0u64;
    let log = Log::open(LogConfig::new(&path, policy), |_, _| replayed += 1).expect("reopen");
    let reopen_ms = t0.elapsed().as_secs_f64() * 1e3;
    assert_eq!(replayed, case.records);
    drop(log);

    Outcome {
        case,
        append_secs,
        lat_us: percentiles(lat),
        cpu_secs,
        read_secs,
        disk_bytes,
        apparent_bytes,
        reopen_ms,
    }
}

fn run_fjall(case: Case, dir: &Path) -> Outcome {
    let path = dir.join("fjall");
    let keyspace = fjall::Config::new(&path).open().expect("open fjall");
    let part = keyspace
        .open_partition("log", PartitionCreateOptions::default())
        .expect("open partition");
    let batches = case.records / BATCH as u64;
    // The sequence counter; held across the commit so that commit order is
    // sequence order (a reader must never see N+16 before N).
    let seq = Mutex::new(0u64);
    let group = GroupSync::default();
    let syncer = (case.policy == Policy::EverySec).then(|| {
        let ks = keyspace.clone();
        Periodic::start(move || ks.persist(PersistMode::SyncData).expect("fjall persist"))
    });

    let (append_secs, lat, cpu_secs) = drive(case.threads, batches, || {
        let (keyspace, part, seq, group) = (keyspace.clone(), part.clone(), &seq, &group);
        move |batch: &Batch| {
            let ticket = {
                let mut s = seq.lock();
                // PersistMode::Buffer: the journal's BufWriter is flushed to
                // the OS (write(2)) before commit returns.
                let mut b = keyspace.batch().durability(Some(PersistMode::Buffer));
                for rec in batch {
                    *s += 1;
                    b.insert(&part, &s.to_be_bytes()[..], &rec[..]);
                }
                b.commit().expect("fjall commit");
                group.ticket()
            };
            if case.policy == Policy::Always {
                let fsync = || {
                    keyspace
                        .persist(PersistMode::SyncData)
                        .expect("fjall persist")
                };
                if case.group_commit {
                    group.sync(ticket, fsync);
                } else {
                    fsync();
                }
            }
        }
    });
    drop(syncer);

    let t0 = Instant::now();
    let mut next = 1u64;
    let mut bytes = 0usize;
    for kv in part.iter() {
        let (k, v) = kv.expect("fjall read");
        assert_eq!(&k[..], &next.to_be_bytes()[..], "fjall read out of order");
        bytes += v.len();
        next += 1;
    }
    let read_secs = t0.elapsed().as_secs_f64();
    assert_eq!(next - 1, case.records);
    assert_eq!(bytes, case.records as usize * RECORD_BYTES);

    keyspace
        .persist(PersistMode::SyncAll)
        .expect("final persist");
    drop(part);
    drop(keyspace);
    // fjall's background threads release the directory asynchronously.
    std::thread::sleep(Duration::from_millis(200));
    let (disk_bytes, apparent_bytes) = disk_usage(&path);
    let t0 = Instant::now();
    let keyspace = fjall::Config::new(&path).open().expect("reopen fjall");
    let part = keyspace
        .open_partition("log", PartitionCreateOptions::default())
        .expect("reopen partition");
    let reopen_ms = t0.elapsed().as_secs_f64() * 1e3;
    assert_eq!(
        part.last_key_value()
            .expect("read")
            .map(|(k, _)| k.to_vec()),
        Some(case.records.to_be_bytes().to_vec())
    );
    drop(part);
    drop(keyspace);

    Outcome {
        case,
        append_secs,
        lat_us: percentiles(lat),
        cpu_secs,
        read_secs,
        disk_bytes,
        apparent_bytes,
        reopen_ms,
    }
}

fn redb_immediate_commit(db: &redb::Database) {
    let mut tx = db.begin_write().expect("redb begin_write");
    tx.set_durability(Durability::Immediate);
    tx.commit().expect("redb commit");
}

fn run_redb(case: Case, dir: &Path) -> Outcome {
    std::fs::create_dir_all(dir.join("redb")).expect("mkdir");
    let path = dir.join("redb").join("log.redb");
    let db = Arc::new(redb::Database::create(&path).expect("create redb"));
    {
        let tx = db.begin_write().expect("begin_write");
        tx.open_table(REDB_TABLE).expect("create table");
        tx.commit().expect("commit");
    }
    let batches = case.records / BATCH as u64;
    let seq = Mutex::new(0u64);
    let group = GroupSync::default();
    // Per-batch durability: everysec -> None (+ an Immediate commit every
    // second); always -> Immediate; always+gc -> None, then a group fsync
    // (an empty Immediate commit persists every earlier None commit).
    let per_batch = match (case.policy, case.group_commit) {
        (Policy::Always, false) => Durability::Immediate,
        _ => Durability::None,
    };
    let syncer = (case.policy == Policy::EverySec).then(|| {
        let db = db.clone();
        Periodic::start(move || redb_immediate_commit(&db))
    });

    let (append_secs, lat, cpu_secs) = drive(case.threads, batches, || {
        let (db, seq, group) = (&db, &seq, &group);
        move |batch: &Batch| {
            let ticket = {
                let mut s = seq.lock();
                let mut tx = db.begin_write().expect("redb begin_write");
                tx.set_durability(per_batch);
                {
                    let mut table = tx.open_table(REDB_TABLE).expect("open table");
                    for rec in batch {
                        *s += 1;
                        table
                            .insert(&s.to_be_bytes()[..], &rec[..])
                            .expect("redb insert");
                    }
                }
                tx.commit().expect("redb commit");
                group.ticket()
            };
            if case.policy == Policy::Always && case.group_commit {
                group.sync(ticket, || redb_immediate_commit(db));
            }
        }
    });
    drop(syncer);

    let t0 = Instant::now();
    let mut next = 1u64;
    let mut bytes = 0usize;
    {
        let rtx = db.begin_read().expect("begin_read");
        let table = rtx.open_table(REDB_TABLE).expect("open table");
        for kv in table.iter().expect("iter") {
            let (k, v) = kv.expect("redb read");
            assert_eq!(k.value(), &next.to_be_bytes()[..], "redb read out of order");
            bytes += v.value().len();
            next += 1;
        }
    }
    let read_secs = t0.elapsed().as_secs_f64();
    assert_eq!(next - 1, case.records);
    assert_eq!(bytes, case.records as usize * RECORD_BYTES);

    redb_immediate_commit(&db);
    drop(Arc::into_inner(db).expect("sole db handle"));
    let (disk_bytes, apparent_bytes) = disk_usage(path.parent().expect("dir"));
    let t0 = Instant::now();
    let db = redb::Database::open(&path).expect("reopen redb");
    let reopen_ms = t0.elapsed().as_secs_f64() * 1e3;
    {
        let rtx = db.begin_read().expect("begin_read");
        let table = rtx.open_table(REDB_TABLE).expect("open table");
        assert_eq!(table.len().expect("len"), case.records);
    }
    drop(db);

    Outcome {
        case,
        append_secs,
        lat_us: percentiles(lat),
        cpu_secs,
        read_secs,
        disk_bytes,
        apparent_bytes,
        reopen_ms,
    }
}

// ---------------------------------------------------------------- main

struct Args {
    records: u64,
    always_records: u64,
    repeat: usize,
    threads: Vec<usize>,
    engines: Vec<EngineKind>,
    policies: Vec<Policy>,
    dir: PathBuf,
}

fn parse_args() -> Args {
    let mut a = Args {
        records: 1_000_000,
        always_records: 50_000,
        repeat: 3,
        threads: vec![1, 4],
        engines: vec![EngineKind::Mlog, EngineKind::Fjall, EngineKind::Redb],
        policies: vec![Policy::EverySec, Policy::Always],
        dir: std::env::temp_dir(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--records" => a.records = val().parse().expect("--records N"),
            "--always-records" => a.always_records = val().parse().expect("--always-records N"),
            "--threads" => {
                a.threads = val()
                    .split(',')
                    .map(|t| t.parse().expect("--threads 1,4"))
                    .collect()
            }
            "--engines" => {
                a.engines = val()
                    .split(',')
                    .map(|e| match e {
                        "meridian-log" | "mlog" => EngineKind::Mlog,
                        "fjall" => EngineKind::Fjall,
                        "redb" => EngineKind::Redb,
                        _ => panic!("unknown engine {e}"),
                    })
                    .collect()
            }
            "--policies" => {
                a.policies = val()
                    .split(',')
                    .map(|p| match p {
                        "everysec" => Policy::EverySec,
                        "always" => Policy::Always,
                        _ => panic!("unknown policy {p}"),
                    })
                    .collect()
            }
            "--repeat" => a.repeat = val().parse().expect("--repeat N"),
            "--dir" => a.dir = PathBuf::from(val()),
            "-h" | "--help" => {
                println!("usage: log-engines-bench [--records N] [--always-records N] [--repeat N] [--threads 1,4] [--engines meridian-log,fjall,redb] [--policies everysec,always] [--dir DIR]");
                std::process::exit(0);
            }
            _ => panic!("unknown argument {flag} (try --help)"),
        }
    }
    assert!(a.repeat >= 1, "--repeat must be at least 1");
    a.records -= a.records % BATCH as u64;
    a.always_records -= a.always_records % BATCH as u64;
    a
}

fn main() {
    let args = parse_args();
    let mut cases = Vec::new();
    for &policy in &args.policies {
        let records = match policy {
            Policy::EverySec => args.records,
            Policy::Always => args.always_records,
        };
        for &threads in &args.threads {
            for &engine in &args.engines {
                cases.push(Case {
                    engine,
                    policy,
                    threads,
                    group_commit: false,
                    records,
                });
                if policy == Policy::Always && threads > 1 && engine != EngineKind::Mlog {
                    cases.push(Case {
                        engine,
                        policy,
                        threads,
                        group_commit: true,
                        records,
                    });
                }
            }
        }
    }

    println!(
        "{} B records, batches of {BATCH}, each batch made durable before the next; data in {}",
        RECORD_BYTES,
        args.dir.display()
    );
    println!(
        "everysec rows: {} records; always rows: {} records (each batch fsyncs, so fewer); each case run {} times",
        args.records, args.always_records, args.repeat
    );
    let started = Instant::now();
    // Every case runs `repeat` times, round-robin (so a slow patch of the
    // shared disk hits all engines alike); the table shows the run with the
    // median appends/s, and the min-max over the runs.
    let mut runs: Vec<Vec<Outcome>> = cases.iter().map(|_| Vec::new()).collect();
    for round in 0..args.repeat {
        for (i, &case) in cases.iter().enumerate() {
            // Start every case on a quiet disk: flush the dirty pages (and
            // the deletes) of earlier cases, which otherwise land in the
            // middle of this case's fsyncs.
            quiesce();
            let tmp = tempfile::Builder::new()
                .prefix("log-engines-")
                .tempdir_in(&args.dir)
                .expect("tempdir");
            let o = match case.engine {
                EngineKind::Mlog => run_mlog(case, tmp.path()),
                EngineKind::Fjall => run_fjall(case, tmp.path()),
                EngineKind::Redb => run_redb(case, tmp.path()),
            };
            eprintln!(
                "  run {}/{}: {:<15} {:<8} {} thr: {:>10.0} appends/s  ({:.1} s)",
                round + 1,
                args.repeat,
                case.label(),
                case.policy.name(),
                case.threads,
                o.appends_per_s(),
                o.append_secs
            );
            runs[i].push(o);
        }
    }
    let mut outcomes: Vec<(Outcome, f64, f64)> = Vec::new();
    for mut r in runs {
        r.sort_by(|a, b| a.appends_per_s().total_cmp(&b.appends_per_s()));
        let (lo, hi) = (r[0].appends_per_s(), r[r.len() - 1].appends_per_s());
        let median = r.swap_remove(r.len() / 2);
        outcomes.push((median, lo, hi));
    }

    println!();
    println!("| engine | policy | thr | records | appends/s | min-max of {} runs | vs mlog | p50 µs | p99 µs | max µs | CPU ns/rec | cores | read rec/s | vs mlog | disk MB (du) | apparent MB | reopen ms |", args.repeat);
    println!("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for (o, lo, hi) in &outcomes {
        let base = outcomes.iter().map(|(b, _, _)| b).find(|b| {
            b.case.engine == EngineKind::Mlog
                && b.case.policy == o.case.policy
                && b.case.threads == o.case.threads
        });
        let ratio = |f: fn(&Outcome) -> f64| {
            base.map_or("-".to_string(), |b| format!("{:.2}x", f(o) / f(b)))
        };
        let c = &o.case;
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.0}-{:.0} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {:.0} | {} | {:.1} | {:.1} | {:.0} |",
            c.label(),
            c.policy.name(),
            c.threads,
            c.records,
            o.appends_per_s(),
            lo,
            hi,
            ratio(Outcome::appends_per_s),
            o.lat_us.0,
            o.lat_us.1,
            o.lat_us.2,
            o.cpu_secs * 1e9 / c.records as f64,
            o.cpu_secs / o.append_secs,
            o.reads_per_s(),
            ratio(Outcome::reads_per_s),
            o.disk_bytes as f64 / 1e6,
            o.apparent_bytes as f64 / 1e6,
            o.reopen_ms,
        );
    }
    println!();
    println!("latency = one batch of {BATCH}: first append until durable per policy.");
    println!("CPU = process user+sys time during the append phase (all threads, incl. background); cores = CPU / wall.");
    println!(
        "+gc = application-level group commit (one fsync covers all batches committed before it)."
    );
    println!("redb everysec rows do NOT survive a process crash for the last <= 1 s (Durability::None); see README.");
    println!("total run time {:.0} s", started.elapsed().as_secs_f64());
}
