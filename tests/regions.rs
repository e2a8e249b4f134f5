//! Process-level integration tests: real `meridian server` processes on
//! loopback, driven by a real Redis client (the `redis` crate) and, where the
//! wire bytes matter, by raw TCP.
//!
//! Every wait is a poll with a deadline; every failure message carries the
//! tail of each server's log. Child processes are killed (SIGKILL) and reaped
//! when their [`Region`] is dropped, also when a test panics, and the data
//! directories live in a temporary directory removed afterwards.

use redis::{Connection, FromRedisValue, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Barrier;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_meridian");
const SECRET: &str = "integration-test-secret";
/// Interval between two looks at a condition being waited for.
const POLL: Duration = Duration::from_millis(25);
/// Longest wait for a server to answer PING after it is spawned.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest wait for regions to converge (reconnect backoff is at most 2 s).
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest any single client request may take before the test fails.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Log lines per region shown in a failure message.
const LOG_TAIL_LINES: usize = 40;

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// Loopback ports free right now, distinct from each other: all are bound at
/// once, read, then released for the servers to take.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local_addr").port())
        .collect()
}

enum StartError {
    /// A port was taken between choosing it and the server binding it.
    Bind(String),
    Other(String),
}

/// One region server process.
struct Region {
    name: String,
    client_port: u16,
    repl_port: u16,
    /// Every other region: name and replication port on 127.0.0.1.
    peers: Vec<(String, u16)>,
    secret: String,
    data: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Region {
    fn spawn(&mut self) -> std::io::Result<()> {
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        writeln!(
            log,
            "===== test harness: starting {} (clients {}, replication {}) =====",
            self.name, self.client_port, self.repl_port
        )?;
        let mut cmd = Command::new(BIN);
        cmd.arg("server")
            .arg("--region")
            .arg(&self.name)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.client_port))
            .arg("--repl")
            .arg(format!("127.0.0.1:{}", self.repl_port));
        for (name, port) in &self.peers {
            cmd.arg("--peer").arg(format!("{name}=127.0.0.1:{port}"));
        }
        cmd.arg("--data")
            .arg(&self.data)
            .arg("--fsync")
            .arg("everysec")
            .arg("--cluster-secret")
            .arg(&self.secret)
            .env_remove("MERIDIAN_CLUSTER_SECRET")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log));
        self.child = Some(cmd.spawn()?);
        Ok(())
    }

    /// Spawns the server and waits until it answers PING.
    fn start(&mut self) -> Result<(), StartError> {
        self.spawn()
            .map_err(|e| StartError::Other(format!("spawn {BIN}: {e}")))?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                let tail = self.log_tail();
                let msg = format!("{} exited during start ({status}):\n{tail}", self.name);
                return Err(if tail.contains("Address already in use") {
                    StartError::Bind(msg)
                } else {
                    StartError::Other(msg)
                });
            }
            if let Ok(mut con) = self.try_conn(Duration::from_millis(250)) {
                if redis::cmd("PING").query::<String>(&mut con).is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(StartError::Other(format!(
                    "{} did not answer PING within {START_TIMEOUT:?}:\n{}",
                    self.name,
                    self.log_tail()
                )));
            }
            std::thread::sleep(POLL);
        }
    }

    /// SIGKILL (what `Child::kill` sends on unix), then reap.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn try_conn(&self, timeout: Duration) -> redis::RedisResult<Connection> {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}/", self.client_port))?;
        let con = client.get_connection_with_timeout(timeout)?;
        con.set_read_timeout(Some(IO_TIMEOUT))?;
        con.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(con)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(LOG_TAIL_LINES);
        lines[from..].join("\n")
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Regions started together, each knowing the others as peers.
struct Cluster {
    /// Declared before `_dir` so the processes die before their directory
    /// is removed.
    regions: Vec<Region>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts one region per `(name, secret)`; every region lists the others
    /// as peers, plus `extra_peers` (name, replication port). Retries with
    /// fresh ports if one was taken before a server could bind it.
    fn start(specs: &[(&str, &str)], extra_peers: &[(&str, u16)]) -> Cluster {
        let dir = tempfile::tempdir().expect("create temp dir");
        let mut last = String::new();
        for attempt in 0..5 {
            let ports = free_ports(specs.len() * 2);
            let mut regions: Vec<Region> = specs
                .iter()
                .enumerate()
                .map(|(i, (name, secret))| {
                    let peers = specs
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .map(|(j, (n, _))| (n.to_string(), ports[2 * j + 1]))
                        .chain(extra_peers.iter().map(|(n, p)| (n.to_string(), *p)))
                        .collect();
                    Region {
                        name: name.to_string(),
                        client_port: ports[2 * i],
                        repl_port: ports[2 * i + 1],
                        peers,
                        secret: secret.to_string(),
                        data: dir.path().join(format!("attempt{attempt}")).join(name),
                        log: dir.path().join(format!("{name}.log")),
                        child: None,
                    }
                })
                .collect();
            let mut retry = false;
            for r in regions.iter_mut() {
                match r.start() {
                    Ok(()) => {}
                    Err(StartError::Bind(msg)) => {
                        last = msg;
                        retry = true;
                        break;
                    }
                    Err(StartError::Other(msg)) => panic!("{msg}"),
                }
            }
            if !retry {
                return Cluster { regions, _dir: dir };
            }
            drop(regions);
        }
        panic!("could not start the regions on free ports after 5 attempts; last failure:\n{last}");
    }

    /// Starts region `i` again with the same flags, ports and data
    /// directory. Its ports were free a moment ago and its peers know its
    /// replication port, so a port held briefly by someone else is waited
    /// for rather than changed.
    fn restart(&mut self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.regions[i].start() {
                Ok(()) => return,
                Err(StartError::Bind(msg)) if Instant::now() < deadline => {
                    eprintln!("restart could not bind, retrying: {msg}");
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(StartError::Bind(msg) | StartError::Other(msg)) => {
                    self.fail(format!("restart of {} failed: {msg}", self.regions[i].name))
                }
            }
        }
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for r in &self.regions {
            out.push_str(&format!(
                "\n----- log of {} (last {LOG_TAIL_LINES} lines) -----\n{}\n",
                r.name,
                r.log_tail()
            ));
        }
        out
    }

    /// Fails the test with `msg` and every region's log tail.
    fn fail(&self, msg: impl Display) -> ! {
        panic!("{msg}\n{}", self.logs())
    }

    fn conn(&self, i: usize) -> Connection {
        let r = &self.regions[i];
        r.try_conn(IO_TIMEOUT)
            .unwrap_or_else(|e| self.fail(format!("connect to {}: {e}", r.name)))
    }

    /// Runs `cmd`, failing the test (with logs) on any error.
    fn q<T: FromRedisValue>(&self, con: &mut Connection, cmd: &redis::Cmd) -> T {
        cmd.query(con)
            .unwrap_or_else(|e| self.fail(format!("{}: {e}", show_cmd(cmd))))
    }

    /// Runs `cmd`, which must fail; returns the error text ("ERR ...").
    fn q_err(&self, con: &mut Connection, cmd: &redis::Cmd) -> String {
        match cmd.query::<Value>(con) {
            Ok(v) => self.fail(format!("{} should fail, got {v:?}", show_cmd(cmd))),
            Err(e) => err_text(&e),
        }
    }

    fn vv(&self, con: &mut Connection) -> Vec<(String, i64)> {
        self.q(con, &redis::cmd("MERIDIAN.VV"))
    }

    fn digest(&self, i: usize) -> String {
        self.q(&mut self.conn(i), &redis::cmd("MERIDIAN.DIGEST"))
    }

    fn info_replication(&self, i: usize) -> String {
        self.q(&mut self.conn(i), redis::cmd("INFO").arg("replication"))
    }

    /// Waits until the regions `which` report the same version vector (they
    /// have applied the same ops) and returns it.
    fn wait_converged(&self, which: &[usize], what: &str) -> Vec<(String, i64)> {
        let started = Instant::now();
        let deadline = started + CONVERGE_TIMEOUT;
        let mut cons: Vec<Connection> = which.iter().map(|&i| self.conn(i)).collect();
        loop {
            let vvs: Vec<Vec<(String, i64)>> = cons.iter_mut().map(|c| self.vv(c)).collect();
            if vvs.windows(2).all(|w| w[0] == w[1]) {
                eprintln!(
                    "[{what}] converged in {:?}: {:?}",
                    started.elapsed(),
                    vvs[0]
                );
                return vvs[0].clone();
            }
            if Instant::now() > deadline {
                let mut msg = format!("{what}: no convergence within {CONVERGE_TIMEOUT:?}:\n");
                for (k, &i) in which.iter().enumerate() {
                    msg.push_str(&format!(
                        "  {} MERIDIAN.VV {:?}\n  {} INFO replication:\n{}\n",
                        self.regions[i].name,
                        vvs[k],
                        self.regions[i].name,
                        self.info_replication(i)
                    ));
                }
                self.fail(msg);
            }
            std::thread::sleep(POLL);
        }
    }

    /// Asserts that the regions `which` hold identical state.
    fn assert_same_digest(&self, which: &[usize], what: &str) {
        let digests: Vec<(String, String)> = which
            .iter()
            .map(|&i| (self.regions[i].name.clone(), self.digest(i)))
            .collect();
        if !digests.windows(2).all(|w| w[0].1 == w[1].1) {
            self.fail(format!(
                "{what}: equal version vectors but different digests: {digests:?}"
            ));
        }
    }

    /// Asserts that region `i` holds exactly `model` (key -> value), that
    /// every key of `deleted` is absent, and that `counter` has `count`.
    fn check_model(
        &self,
        i: usize,
        model: &BTreeMap<String, String>,
        deleted: &BTreeSet<String>,
        count: i64,
        what: &str,
    ) {
        let name = &self.regions[i].name;
        let mut con = self.conn(i);
        let keys: Vec<&String> = model.keys().collect();
        for chunk in keys.chunks(500) {
            let got: Vec<Option<String>> = self.q(&mut con, redis::cmd("MGET").arg(chunk));
            for (k, v) in chunk.iter().zip(got) {
                if v.as_deref() != Some(model[*k].as_str()) {
                    self.fail(format!(
                        "{what}: in {name}, key {k} = {v:?}, but the acknowledged write set {:?}",
                        model[*k]
                    ));
                }
            }
        }
        let gone: Vec<&String> = deleted.iter().collect();
        for chunk in gone.chunks(500) {
            let got: Vec<Option<String>> = self.q(&mut con, redis::cmd("MGET").arg(chunk));
            for (k, v) in chunk.iter().zip(got) {
                if v.is_some() {
                    self.fail(format!(
                        "{what}: in {name}, deleted key {k} came back with value {v:?}"
                    ));
                }
            }
            let n: i64 = self.q(&mut con, redis::cmd("EXISTS").arg(chunk));
            if n != 0 {
                self.fail(format!(
                    "{what}: in {name}, EXISTS of {} deleted keys = {n}",
                    chunk.len()
                ));
            }
        }
        let c: Option<i64> = self.q(&mut con, redis::cmd("GET").arg("counter"));
        if c != Some(count) {
            self.fail(format!(
                "{what}: in {name}, counter = {c:?}, acknowledged increments sum to {count}"
            ));
        }
        // The model, the shared counter and the shared key: nothing more.
        let size: i64 = self.q(&mut con, &redis::cmd("DBSIZE"));
        if size != model.len() as i64 + 2 {
            self.fail(format!(
                "{what}: in {name}, DBSIZE = {size}, expected {} (model keys + counter + shared)",
                model.len() + 2
            ));
        }
    }

    /// The value of `key` in each of the regions `which`; fails unless all
    /// are equal and present.
    fn same_value_everywhere(&self, which: &[usize], key: &str, what: &str) -> String {
        let values: Vec<(String, Option<String>)> = which
            .iter()
            .map(|&i| {
                (
                    self.regions[i].name.clone(),
                    self.q(&mut self.conn(i), redis::cmd("GET").arg(key)),
                )
            })
            .collect();
        if values[0].1.is_none() || !values.windows(2).all(|w| w[0].1 == w[1].1) {
            self.fail(format!("{what}: {key} differs across regions: {values:?}"));
        }
        values[0].1.clone().unwrap_or_default()
    }
}

fn show_cmd(cmd: &redis::Cmd) -> String {
    let parts: Vec<String> = cmd
        .args_iter()
        .map(|a| match a {
            redis::Arg::Simple(b) => String::from_utf8_lossy(b).to_string(),
            redis::Arg::Cursor => "<cursor>".to_string(),
        })
        .take(6)
        .collect();
    parts.join(" ")
}

/// The error as the server sent it: "CODE detail".
fn err_text(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_string(),
        _ => e.to_string(),
    }
}

/// `link` and `last_error` of `peer_<peer>` in an INFO replication text.
fn peer_link(info: &str, peer: &str) -> Option<(String, String)> {
    let prefix = format!("peer_{peer}:");
    let line = info.lines().find(|l| l.starts_with(&prefix))?;
    let mut link = String::new();
    let mut last_error = String::new();
    for field in line[prefix.len()..].split(',') {
        if let Some(v) = field.strip_prefix("link=") {
            link = v.to_string();
        } else if let Some(v) = field.strip_prefix("last_error=") {
            last_error = v.to_string();
        }
    }
    Some((link, last_error))
}

/// The seq a version vector holds for `region`.
fn seq_of(vv: &[(String, i64)], region: &str) -> i64 {
    vv.iter().find(|(r, _)| r == region).map_or(0, |(_, s)| *s)
}

/// Writes acknowledged by one writer thread.
#[derive(Default)]
struct Acked {
    sets: Vec<(String, String)>,
    incrs: i64,
    dels: Vec<String>,
    shared_values: Vec<String>,
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

const US: usize = 0;
const EU: usize = 1;
const AP: usize = 2;
const NAMES: [&str; 3] = ["us-east", "eu-west", "ap-southeast"];

/// The acceptance test: starts three real `meridian server`
/// processes on loopback, writes in each, checks convergence, kills one with
/// SIGKILL, writes more in the others, restarts it from its data directory,
/// and checks it caught up and lost no acknowledged write.
#[test]
fn three_regions_converge_and_survive_sigkill() {
    let t0 = Instant::now();
    let mut cl = Cluster::start(&NAMES.map(|n| (n, SECRET)), &[]);
    let all = [US, EU, AP];
    // What every region must hold in the end: key -> value of the last
    // acknowledged write, and the keys deleted after their last write.
    let mut model: BTreeMap<String, String> = BTreeMap::new();
    let mut deleted: BTreeSet<String> = BTreeSet::new();
    let mut counter = 0i64;

    // Phase 1: distinct keys in each region, and at the same time increments
    // of one shared counter and SETs of one shared key from all three.
    const KEYS: usize = 500;
    const INCRS: usize = 300;
    const BURST: usize = 1000;
    let barrier = Barrier::new(3);
    let results: Vec<Result<Acked, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = all
            .iter()
            .map(|&i| {
                let mut con = cl.conn(i);
                let region = NAMES[i];
                let barrier = &barrier;
                s.spawn(move || -> Result<Acked, String> {
                    let mut acked = Acked::default();
                    let mut last_count = 0i64;
                    barrier.wait();
                    for k in 0..KEYS {
                        let (key, value) = (format!("{region}:k{k}"), format!("v1:{region}:{k}"));
                        redis::cmd("SET")
                            .arg(&key)
                            .arg(&value)
                            .query::<String>(&mut con)
                            .map_err(|e| format!("{region}: SET {key}: {e}"))?;
                        acked.sets.push((key, value));
                        if k < INCRS {
                            let n: i64 = redis::cmd("INCR")
                                .arg("counter")
                                .query(&mut con)
                                .map_err(|e| format!("{region}: INCR counter: {e}"))?;
                            // Increments only add up: each reply is above the
                            // one before.
                            if n <= last_count {
                                return Err(format!(
                                    "{region}: INCR counter replied {n} after {last_count}"
                                ));
                            }
                            last_count = n;
                            acked.incrs += 1;
                        }
                        if k % 5 == 0 {
                            let v = format!("{region}:{k}");
                            redis::cmd("SET")
                                .arg("shared")
                                .arg(&v)
                                .query::<String>(&mut con)
                                .map_err(|e| format!("{region}: SET shared: {e}"))?;
                            acked.shared_values.push(v);
                        }
                    }
                    Ok(acked)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("writer thread panicked".into()))
            })
            .collect()
    });
    let mut shared_values = BTreeSet::new();
    for r in results {
        let acked = r.unwrap_or_else(|e| cl.fail(format!("phase 1 write failed: {e}")));
        model.extend(acked.sets);
        counter += acked.incrs;
        shared_values.extend(acked.shared_values);
    }
    assert_eq!(counter, 3 * INCRS as i64);
    eprintln!("[phase 1] writes acknowledged after {:?}", t0.elapsed());

    cl.wait_converged(&all, "phase 1");
    cl.assert_same_digest(&all, "phase 1");
    for i in all {
        cl.check_model(i, &model, &deleted, counter, "phase 1");
    }
    let shared = cl.same_value_everywhere(&all, "shared", "phase 1");
    if !shared_values.contains(&shared) {
        cl.fail(format!(
            "phase 1: shared = {shared:?}, which no client wrote"
        ));
    }

    // Phase 2: ap-southeast acknowledges writes of its own, then dies by
    // SIGKILL at once, before it can be sure to have sent them anywhere.
    {
        let mut con = cl.conn(AP);
        for k in 0..50 {
            // Overwrites of its own phase-1 keys.
            let (key, value) = (format!("ap-southeast:k{k}"), format!("v2:ap-southeast:{k}"));
            let _: String = cl.q(&mut con, redis::cmd("SET").arg(&key).arg(&value));
            model.insert(key, value);
        }
        for k in 0..150 {
            let (key, value) = (format!("ap-southeast:p2:k{k}"), format!("v2:ap:{k}"));
            let _: String = cl.q(&mut con, redis::cmd("SET").arg(&key).arg(&value));
            model.insert(key, value);
        }
        for _ in 0..100 {
            let _: i64 = cl.q(&mut con, redis::cmd("INCR").arg("counter"));
            counter += 1;
        }
        // A last burst in one pipeline, acknowledged as a whole just before
        // the kill: the likeliest writes to be on ap-southeast's disk only.
        let mut pipe = redis::pipe();
        for k in 0..BURST {
            let (key, value) = (format!("ap-southeast:burst:k{k}"), format!("b:{k}"));
            pipe.cmd("SET").arg(&key).arg(&value).ignore();
            model.insert(key, value);
        }
        for _ in 0..50 {
            pipe.cmd("INCRBY").arg("counter").arg(2).ignore();
            counter += 2;
        }
        pipe.query::<()>(&mut con)
            .unwrap_or_else(|e| cl.fail(format!("ap-southeast burst pipeline: {e}")));
    }
    let ap_seq_acked = seq_of(&cl.vv(&mut cl.conn(AP)), "ap-southeast");
    cl.regions[AP].kill();
    let seen_by = |i: usize| seq_of(&cl.vv(&mut cl.conn(i)), "ap-southeast");
    eprintln!(
        "[phase 2] ap-southeast killed at seq {ap_seq_acked} after {:?}; us-east had {} of them, eu-west {}",
        t0.elapsed(),
        seen_by(US),
        seen_by(EU),
    );

    // The survivors write on: new keys, increments, and deletes of phase-1
    // keys that nobody writes concurrently (a DEL removes what its region
    // has seen, and every region has seen all of phase 1).
    let survivors = [US, EU];
    let results: Vec<Result<Acked, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = survivors
            .iter()
            .map(|&i| {
                let mut con = cl.conn(i);
                let region = NAMES[i];
                let to_delete: Vec<String> = if i == US {
                    (400..450)
                        .map(|k| format!("ap-southeast:k{k}"))
                        .chain((0..50).map(|k| format!("eu-west:k{k}")))
                        .collect()
                } else {
                    (0..50).map(|k| format!("us-east:k{k}")).collect()
                };
                s.spawn(move || -> Result<Acked, String> {
                    let mut acked = Acked::default();
                    for k in 0..200 {
                        let (key, value) =
                            (format!("{region}:p2:k{k}"), format!("v2:{region}:{k}"));
                        redis::cmd("SET")
                            .arg(&key)
                            .arg(&value)
                            .query::<String>(&mut con)
                            .map_err(|e| format!("{region}: SET {key}: {e}"))?;
                        acked.sets.push((key, value));
                        let _: i64 = redis::cmd("INCR")
                            .arg("counter")
                            .query(&mut con)
                            .map_err(|e| format!("{region}: INCR counter: {e}"))?;
                        acked.incrs += 1;
                    }
                    for key in to_delete {
                        let n: i64 = redis::cmd("DEL")
                            .arg(&key)
                            .query(&mut con)
                            .map_err(|e| format!("{region}: DEL {key}: {e}"))?;
                        if n != 1 {
                            return Err(format!("{region}: DEL {key} removed {n} keys, not 1"));
                        }
                        acked.dels.push(key);
                    }
                    Ok(acked)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("writer thread panicked".into()))
            })
            .collect()
    });
    for r in results {
        let acked = r.unwrap_or_else(|e| cl.fail(format!("phase 2 write failed: {e}")));
        model.extend(acked.sets);
        counter += acked.incrs;
        for key in acked.dels {
            model.remove(&key);
            deleted.insert(key);
        }
    }
    // The survivors converge with each other while ap-southeast is down,
    // whichever of its last ops each had received when it died: they relay
    // them to each other (see
    // `live_regions_keep_replicating_while_a_region_is_down`).
    cl.wait_converged(&[US, EU], "phase 2 survivors");

    // Phase 3: restart ap-southeast from its data directory, same flags.
    cl.restart(AP);
    eprintln!("[phase 3] ap-southeast restarted after {:?}", t0.elapsed());
    // Its own acknowledged writes come back from its own log: peers send
    // their own ops and relay third regions' ops, never a region's own ops
    // back to it, so nobody else could give them back.
    {
        let mut con = cl.conn(AP);
        let seq = seq_of(&cl.vv(&mut con), "ap-southeast");
        if seq < ap_seq_acked {
            cl.fail(format!(
                "ap-southeast recovered its own ops up to seq {seq}, but had acknowledged up to {ap_seq_acked} before SIGKILL"
            ));
        }
        for k in [0, 49] {
            let key = format!("ap-southeast:k{k}");
            let v: Option<String> = cl.q(&mut con, redis::cmd("GET").arg(&key));
            if v.as_deref() != Some(model[&key].as_str()) {
                cl.fail(format!(
                    "after restart, ap-southeast's own acknowledged write of {key} is lost: {v:?}"
                ));
            }
        }
        let n: i64 = cl.q(
            &mut con,
            redis::cmd("EXISTS").arg(
                (0..150)
                    .map(|k| format!("ap-southeast:p2:k{k}"))
                    .collect::<Vec<_>>(),
            ),
        );
        if n != 150 {
            cl.fail(format!(
                "after restart, only {n} of ap-southeast's 150 acknowledged new keys exist there"
            ));
        }
        let n: i64 = cl.q(
            &mut con,
            redis::cmd("EXISTS").arg(
                (0..BURST)
                    .map(|k| format!("ap-southeast:burst:k{k}"))
                    .collect::<Vec<_>>(),
            ),
        );
        if n != BURST as i64 {
            cl.fail(format!(
                "after restart, only {n} of the {BURST} keys of ap-southeast's acknowledged last pipeline exist there"
            ));
        }
    }

    cl.wait_converged(&all, "phase 3 (after restart)");
    cl.assert_same_digest(&all, "phase 3 (after restart)");
    for i in all {
        cl.check_model(i, &model, &deleted, counter, "phase 3 (after restart)");
    }
    assert_eq!(counter, 3 * INCRS as i64 + 100 + 100 + 2 * 200);
    cl.same_value_everywhere(&all, "shared", "phase 3");

    // The restarted region's own links work again: a new write there
    // reaches both others.
    let _: String = cl.q(
        &mut cl.conn(AP),
        redis::cmd("SET").arg("after-restart").arg("yes"),
    );
    cl.wait_converged(&all, "after a write in the restarted region");
    cl.same_value_everywhere(
        &all,
        "after-restart",
        "after a write in the restarted region",
    );
    cl.assert_same_digest(&all, "after a write in the restarted region");
    eprintln!("[done] after {:?}", t0.elapsed());
}

/// Two regions configured with different cluster secrets never link: each
/// side's handshake proof fails the other's check.
#[test]
fn wrong_cluster_secret_is_refused() {
    let cl = Cluster::start(
        &[
            ("us-east", "secret-of-us-east"),
            ("eu-west", "secret-of-eu-west"),
        ],
        &[],
    );
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    let states = loop {
        let states: Vec<_> = [(0, "eu-west"), (1, "us-east")]
            .iter()
            .map(|&(i, peer)| peer_link(&cl.info_replication(i), peer))
            .collect();
        let refused = states.iter().all(|s| {
            matches!(s, Some((link, err)) if link == "refused" && err.contains("authentication"))
        });
        if refused {
            break states;
        }
        if Instant::now() > deadline {
            cl.fail(format!(
                "peer links not refused for authentication within {CONVERGE_TIMEOUT:?}: {states:?}"
            ));
        }
        std::thread::sleep(POLL);
    };
    eprintln!("links: {states:?}");

    // No link ever passes the handshake, so no op is ever sent: a write in
    // one region must not show up in the other, however long we wait. Half
    // a second is many times what replication takes on loopback.
    let mut us = cl.conn(0);
    let mut eu = cl.conn(1);
    let _: String = cl.q(&mut us, redis::cmd("SET").arg("secret-test").arg("from-us"));
    std::thread::sleep(Duration::from_millis(500));
    let v: Option<String> = cl.q(&mut eu, redis::cmd("GET").arg("secret-test"));
    if v.is_some() {
        cl.fail(format!(
            "a write crossed a link refused for a wrong secret: eu-west has {v:?}"
        ));
    }
    let vv = cl.vv(&mut eu);
    if seq_of(&vv, "us-east") != 0 {
        cl.fail(format!("eu-west applied ops of us-east: {vv:?}"));
    }
    // Both still serve their own clients.
    let v: Option<String> = cl.q(&mut us, redis::cmd("GET").arg("secret-test"));
    assert_eq!(v.as_deref(), Some("from-us"));
}

/// A region that dies after its last ops reached some peers but not others
/// must not stop the live regions from replicating to each other.
///
/// Each region sends only its own ops, and an op is applied only after every
/// op it had seen. So when ap-southeast's last op reached eu-west but not
/// us-east, each write eu-west makes afterwards depends on an op that only
/// ap-southeast can send to us-east. This test forces that interleaving
/// (which happens by chance when a region is killed mid-replication): it
/// restarts ap-southeast with an unreachable address for us-east, so that
/// its new ops reach eu-west only, kills it, writes in eu-west and expects
/// the write in us-east.
#[test]
fn live_regions_keep_replicating_while_a_region_is_down() {
    let mut cl = Cluster::start(&NAMES.map(|n| (n, SECRET)), &[]);
    let all = [US, EU, AP];
    let _: String = cl.q(&mut cl.conn(US), redis::cmd("SET").arg("before").arg("1"));
    cl.wait_converged(&all, "initial");

    // ap-southeast's link to us-east broken (port 1: nothing listens).
    cl.regions[AP].kill();
    for (name, port) in cl.regions[AP].peers.iter_mut() {
        if name == "us-east" {
            *port = 1;
        }
    }
    cl.restart(AP);
    let _: String = cl.q(&mut cl.conn(AP), redis::cmd("SET").arg("from-ap").arg("a"));
    let ap_seq = seq_of(&cl.vv(&mut cl.conn(AP)), "ap-southeast");
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    while seq_of(&cl.vv(&mut cl.conn(EU)), "ap-southeast") < ap_seq {
        if Instant::now() > deadline {
            cl.fail("eu-west never received ap-southeast's write");
        }
        std::thread::sleep(POLL);
    }
    cl.regions[AP].kill();

    // eu-west has seen ap-southeast's last op; us-east has not, and now
    // cannot get it until ap-southeast is back.
    let _: String = cl.q(&mut cl.conn(EU), redis::cmd("SET").arg("from-eu").arg("e"));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let v: Option<String> = cl.q(&mut cl.conn(US), redis::cmd("GET").arg("from-eu"));
        if v.as_deref() == Some("e") {
            break;
        }
        if Instant::now() > deadline {
            cl.fail(format!(
                "a write in eu-west did not reach us-east within 5 s while ap-southeast is down \
                 (us-east VV {:?}, eu-west VV {:?}); us-east INFO replication:\n{}",
                cl.vv(&mut cl.conn(US)),
                cl.vv(&mut cl.conn(EU)),
                cl.info_replication(US)
            ));
        }
        std::thread::sleep(POLL);
    }
}

/// Reads from `s` until the peer closes the connection (or the read
/// timeout); returns what was read and whether the connection was closed.
fn read_to_close(s: &mut TcpStream) -> (String, bool) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return (String::from_utf8_lossy(&buf).to_string(), true),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // A reset after the reply also means closed.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (String::from_utf8_lossy(&buf).to_string(), true)
            }
            Err(_) => return (String::from_utf8_lossy(&buf).to_string(), false),
        }
    }
}

/// Reads from `s` until what was read ends with `suffix`.
fn read_until_suffix(s: &mut TcpStream, suffix: &str) -> Result<String, String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.ends_with(suffix.as_bytes()) {
        match s.read(&mut chunk) {
            Ok(0) => return Err(format!("closed after {:?}", String::from_utf8_lossy(&buf))),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("{e} after {:?}", String::from_utf8_lossy(&buf))),
        }
    }
    Ok(String::from_utf8_lossy(&buf).to_string())
}

fn raw_conn(cl: &Cluster) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", cl.regions[0].client_port))
        .unwrap_or_else(|e| cl.fail(format!("raw connect: {e}")));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// One region whose only peer is unreachable, used as a Redis server.
#[test]
fn redis_client_basics() {
    // A port nothing listens on. Port 1 is outside the range the other
    // tests' servers draw from, so none of them can take it while this test
    // runs; if something does listen there, use a port bound and released.
    let dead_port = match TcpStream::connect(("127.0.0.1", 1)) {
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => 1,
        _ => free_ports(1)[0],
    };
    let cl = Cluster::start(&[("solo", SECRET)], &[("ghost", dead_port)]);
    let mut con = cl.conn(0);
    /// A command from its parts.
    fn c(parts: &[&str]) -> redis::Cmd {
        let mut cmd = redis::cmd(parts[0]);
        for p in &parts[1..] {
            cmd.arg(*p);
        }
        cmd
    }
    let s = |con: &mut Connection, parts: &[&str]| -> Option<String> { cl.q(con, &c(parts)) };
    let i = |con: &mut Connection, parts: &[&str]| -> i64 { cl.q(con, &c(parts)) };
    let e = |con: &mut Connection, parts: &[&str]| -> String { cl.q_err(con, &c(parts)) };

    // PING / ECHO.
    assert_eq!(s(&mut con, &["PING"]).as_deref(), Some("PONG"));
    assert_eq!(s(&mut con, &["PING", "hello"]).as_deref(), Some("hello"));
    assert_eq!(
        s(&mut con, &["ECHO", "a b\r\nc"]).as_deref(),
        Some("a b\r\nc")
    );

    // DBSIZE / EXISTS / DEL counts, on a fresh region.
    assert_eq!(i(&mut con, &["DBSIZE"]), 0);
    assert_eq!(
        s(&mut con, &["MSET", "a", "1", "b", "2", "c", "3"]).as_deref(),
        Some("OK")
    );
    assert_eq!(i(&mut con, &["DBSIZE"]), 3);
    assert_eq!(i(&mut con, &["EXISTS", "a", "b", "nosuch", "a"]), 3);
    let got: Vec<Option<String>> = cl.q(&mut con, &c(&["MGET", "a", "b", "nosuch", "c"]));
    assert_eq!(
        got,
        vec![Some("1".into()), Some("2".into()), None, Some("3".into())]
    );
    assert_eq!(i(&mut con, &["DEL", "a", "b", "nosuch", "a"]), 2);
    assert_eq!(i(&mut con, &["EXISTS", "a", "b"]), 0);
    assert_eq!(i(&mut con, &["DBSIZE"]), 1);
    assert_eq!(i(&mut con, &["DEL", "c"]), 1);
    assert_eq!(i(&mut con, &["DBSIZE"]), 0);

    // SET / GET and the SET options.
    assert_eq!(s(&mut con, &["SET", "k", "v1"]).as_deref(), Some("OK"));
    assert_eq!(s(&mut con, &["GET", "k"]).as_deref(), Some("v1"));
    assert_eq!(s(&mut con, &["GET", "missing"]), None);
    assert_eq!(s(&mut con, &["SET", "k", "v2", "NX"]), None);
    assert_eq!(s(&mut con, &["GET", "k"]).as_deref(), Some("v1"));
    assert_eq!(
        s(&mut con, &["SET", "fresh", "f", "NX"]).as_deref(),
        Some("OK")
    );
    assert_eq!(s(&mut con, &["SET", "missing", "x", "XX"]), None);
    assert_eq!(i(&mut con, &["EXISTS", "missing"]), 0);
    // SETNX, SETEX, PSETEX: the older spellings of SET NX / EX / PX.
    assert_eq!(i(&mut con, &["SETNX", "k", "other"]), 0);
    assert_eq!(i(&mut con, &["SETNX", "nx", "first"]), 1);
    assert_eq!(s(&mut con, &["GET", "nx"]).as_deref(), Some("first"));
    assert_eq!(
        s(&mut con, &["SETEX", "ex", "100", "e"]).as_deref(),
        Some("OK")
    );
    assert!((99..=100).contains(&i(&mut con, &["TTL", "ex"])));
    assert_eq!(
        s(&mut con, &["PSETEX", "px", "100000", "p"]).as_deref(),
        Some("OK")
    );
    assert!((99_000..=100_000).contains(&i(&mut con, &["PTTL", "px"])));
    assert_eq!(
        e(&mut con, &["SETEX", "ex", "0", "e"]),
        "ERR invalid expire time in 'setex' command"
    );
    assert_eq!(
        e(&mut con, &["PSETEX", "ex", "x", "e"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(i(&mut con, &["DEL", "nx", "ex", "px"]), 3);
    assert_eq!(
        s(&mut con, &["SET", "k", "v3", "XX"]).as_deref(),
        Some("OK")
    );
    assert_eq!(
        s(&mut con, &["SET", "k", "v4", "GET"]).as_deref(),
        Some("v3")
    );
    assert_eq!(s(&mut con, &["SET", "new", "n", "GET"]), None);
    assert_eq!(s(&mut con, &["GET", "new"]).as_deref(), Some("n"));
    assert_eq!(s(&mut con, &["GET", "k"]).as_deref(), Some("v4"));
    assert_eq!(i(&mut con, &["TTL", "k"]), -1);
    assert_eq!(
        s(&mut con, &["SET", "k", "v5", "EX", "100"]).as_deref(),
        Some("OK")
    );
    let ttl = i(&mut con, &["TTL", "k"]);
    assert!((99..=100).contains(&ttl), "TTL after EX 100 = {ttl}");
    assert_eq!(i(&mut con, &["TTL", "missing"]), -2);
    assert_eq!(
        e(&mut con, &["SET", "k", "v", "EX", "0"]),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        e(&mut con, &["SET", "k", "v", "NX", "XX"]),
        "ERR syntax error"
    );
    assert_eq!(s(&mut con, &["GET", "k"]).as_deref(), Some("v5"));
    // A short expiry really expires.
    assert_eq!(
        s(&mut con, &["SET", "brief", "b", "PX", "100"]).as_deref(),
        Some("OK")
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while s(&mut con, &["GET", "brief"]).is_some() {
        if Instant::now() > deadline {
            cl.fail("a key SET with PX 100 was still there after 5 s");
        }
        std::thread::sleep(POLL);
    }

    // Counters.
    assert_eq!(i(&mut con, &["INCR", "n"]), 1);
    assert_eq!(i(&mut con, &["INCRBY", "n", "10"]), 11);
    assert_eq!(i(&mut con, &["DECR", "n"]), 10);
    assert_eq!(i(&mut con, &["DECRBY", "n", "3"]), 7);
    assert_eq!(i(&mut con, &["INCRBY", "n", "-10"]), -3);
    assert_eq!(s(&mut con, &["GET", "n"]).as_deref(), Some("-3"));
    assert_eq!(
        s(&mut con, &["INCRBYFLOAT", "f", "1.5"]).as_deref(),
        Some("1.5")
    );
    assert_eq!(
        s(&mut con, &["INCRBYFLOAT", "f", "0.25"]).as_deref(),
        Some("1.75")
    );
    assert_eq!(s(&mut con, &["GET", "f"]).as_deref(), Some("1.75"));
    assert_eq!(
        e(&mut con, &["INCR", "k"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        e(&mut con, &["INCRBY", "n", "abc"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(s(&mut con, &["GET", "k"]).as_deref(), Some("v5"));

    // APPEND / STRLEN.
    assert_eq!(i(&mut con, &["APPEND", "s", "hello"]), 5);
    assert_eq!(i(&mut con, &["APPEND", "s", " world"]), 11);
    assert_eq!(i(&mut con, &["STRLEN", "s"]), 11);
    assert_eq!(i(&mut con, &["STRLEN", "missing"]), 0);
    assert_eq!(s(&mut con, &["GET", "s"]).as_deref(), Some("hello world"));

    // Errors.
    let unknown = e(&mut con, &["NOSUCHCMD", "x"]);
    assert!(
        unknown.starts_with("ERR unknown command") && unknown.contains("NOSUCHCMD"),
        "{unknown}"
    );
    assert_eq!(
        e(&mut con, &["GET"]),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        e(&mut con, &["SET", "k"]),
        "ERR wrong number of arguments for 'set' command"
    );
    let sel = e(&mut con, &["SELECT", "1"]);
    assert!(sel.starts_with("ERR"), "SELECT 1: {sel}");
    assert_eq!(s(&mut con, &["SELECT", "0"]).as_deref(), Some("OK"));
    // The connection is still fine after error replies.
    assert_eq!(s(&mut con, &["GET", "s"]).as_deref(), Some("hello world"));

    // CLIENT.
    assert_eq!(s(&mut con, &["CLIENT", "GETNAME"]), None);
    assert_eq!(
        s(&mut con, &["CLIENT", "SETNAME", "it-client"]).as_deref(),
        Some("OK")
    );
    assert_eq!(
        s(&mut con, &["CLIENT", "GETNAME"]).as_deref(),
        Some("it-client")
    );
    let id1 = i(&mut con, &["CLIENT", "ID"]);
    let mut con2 = cl.conn(0);
    let id2 = i(&mut con2, &["CLIENT", "ID"]);
    assert!(id1 > 0 && id2 > 0 && id1 != id2, "client ids {id1} {id2}");
    assert_eq!(s(&mut con2, &["CLIENT", "GETNAME"]), None);

    // HELLO 3 on a raw socket: a RESP3 map, then RESP3 replies.
    {
        let mut raw = raw_conn(&cl);
        raw.write_all(b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n*2\r\n$3\r\nGET\r\n$7\r\nmissing\r\n*1\r\n$4\r\nPING\r\n")
            .unwrap();
        let text = read_until_suffix(&mut raw, "+PONG\r\n")
            .unwrap_or_else(|e| cl.fail(format!("HELLO 3 on a raw socket: {e}")));
        assert!(text.starts_with("%7\r\n"), "HELLO 3 reply: {text:?}");
        assert!(
            text.contains("$5\r\nproto\r\n:3\r\n"),
            "HELLO 3 reply: {text:?}"
        );
        // A RESP3 null for the missing key, between the map and PONG.
        assert!(text.ends_with("_\r\n+PONG\r\n"), "RESP3 replies: {text:?}");
    }

    // Malformed frames: an error reply, then the connection is closed;
    // another client's connection is not disturbed.
    let mut bystander = raw_conn(&cl);
    bystander.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
    assert_eq!(
        read_until_suffix(&mut bystander, "\r\n").as_deref(),
        Ok("+PONG\r\n")
    );
    for (bad, want) in [
        (
            &b"*1\r\n$-5\r\n"[..],
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            &b"*abc\r\n"[..],
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
    ] {
        let mut raw = raw_conn(&cl);
        raw.write_all(bad).unwrap();
        let (text, closed) = read_to_close(&mut raw);
        assert!(
            text.starts_with("-ERR Protocol error"),
            "reply to {:?}: {text:?}",
            String::from_utf8_lossy(bad)
        );
        assert_eq!(text, want, "reply to {:?}", String::from_utf8_lossy(bad));
        assert!(
            closed,
            "connection left open after a protocol error ({:?})",
            String::from_utf8_lossy(bad)
        );
        bystander
            .write_all(b"*2\r\n$4\r\nECHO\r\n$2\r\nok\r\n")
            .unwrap();
        assert_eq!(
            read_until_suffix(&mut bystander, "ok\r\n").as_deref(),
            Ok("$2\r\nok\r\n"),
            "the other connection after a protocol error"
        );
    }
    assert_eq!(s(&mut con, &["PING"]).as_deref(), Some("PONG"));

    // The peer is unreachable: its link is not up, and local writes are
    // acknowledged quickly all the same.
    let info = cl.info_replication(0);
    match peer_link(&info, "ghost") {
        Some((link, _)) if link == "down" || link == "connecting" => {}
        other => cl.fail(format!("peer_ghost link: {other:?} in\n{info}")),
    }
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for k in 0..200 {
        let t = Instant::now();
        let _: String = cl.q(&mut con, &c(&["SET", &format!("offline:{k}"), "v"]));
        slowest = slowest.max(t.elapsed());
    }
    let total = started.elapsed();
    if slowest > Duration::from_secs(1) || total > Duration::from_secs(5) {
        cl.fail(format!(
            "writes with an unreachable peer are slow: 200 SETs took {total:?}, slowest {slowest:?}"
        ));
    }
    assert_eq!(i(&mut con, &["EXISTS", "offline:0", "offline:199"]), 2);
}
