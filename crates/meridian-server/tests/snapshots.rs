//! Snapshots, log truncation and the full state transfer, end to end:
//! real region servers on loopback (each in its own tokio runtime, so that
//! stopping one drops every task it had, as a process exit would), driven
//! by a minimal RESP client.
//!
//! - a restart from a snapshot plus the log after it gives the same data
//!   after `MERIDIAN.SNAPSHOT` truncated the log;
//! - a region stopped while the others write, truncate their logs past
//!   what it has and leave it behind (`--log-retention-secs 1`) is sent a
//!   snapshot when it comes back, installs it, keeps its own writes the
//!   others never got, and every region converges;
//! - a damaged snapshot file, or a truncated log without one, stops
//!   start-up with a clear error.

use clap::Parser;
use meridian_resp::{parse_reply, Reply};
use meridian_server::config::ServerArgs;
use meridian_server::Server;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SECRET: &str = "snapshot-test-secret";
/// Interval between two looks at a condition being waited for.
const POLL: Duration = Duration::from_millis(50);
/// Longest wait for regions to converge: reconnect backoff is at most 2 s,
/// and a region refused during another transfer retries after it.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest any single request may take.
const IO_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    args: ServerArgs,
}

/// Loopback ports free right now, distinct from each other.
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local_addr").port())
        .collect()
}

/// One region server, started and stopped in its own runtime.
struct Region {
    name: String,
    client_port: u16,
    repl_port: u16,
    peers: Vec<(String, u16)>,
    data: PathBuf,
    extra: Vec<String>,
    running: Option<(tokio::runtime::Runtime, Server)>,
}

impl Region {
    fn argv(&self) -> Vec<String> {
        let mut argv = vec![
            "server".to_string(),
            format!("--region={}", self.name),
            format!("--listen=127.0.0.1:{}", self.client_port),
            format!("--repl=127.0.0.1:{}", self.repl_port),
            format!("--data={}", self.data.display()),
            format!("--cluster-secret={SECRET}"),
            "--fsync=everysec".to_string(),
            "--threads=2".to_string(),
        ];
        for (name, port) in &self.peers {
            argv.push(format!("--peer={name}=127.0.0.1:{port}"));
        }
        argv.extend(self.extra.iter().cloned());
        argv
    }

    /// Starts the server; the error is start-up's.
    fn try_start(&mut self) -> anyhow::Result<()> {
        assert!(self.running.is_none(), "{} is already running", self.name);
        let args = Flags::try_parse_from(self.argv())?.args;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let server = rt.block_on(meridian_server::start(args))?;
        self.running = Some((rt, server));
        Ok(())
    }

    fn start(&mut self) {
        self.try_start()
            .unwrap_or_else(|e| panic!("start {}: {e:#}", self.name));
    }

    /// Stops every task of the server (dropping its runtime, as a process
    /// exit would), then closes its log.
    fn stop(&mut self) {
        if let Some((rt, server)) = self.running.take() {
            rt.shutdown_timeout(Duration::from_secs(10));
            server.shutdown();
        }
    }

    fn cmd(&self, args: &[&str]) -> Reply {
        let mut s = TcpStream::connect(("127.0.0.1", self.client_port))
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.name));
        s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).expect("send");
        let mut buf = Vec::new();
        let mut chunk = [0u8; 64 * 1024];
        loop {
            if let Some((reply, _)) = parse_reply(&buf).expect("valid reply") {
                return reply;
            }
            let n = s
                .read(&mut chunk)
                .unwrap_or_else(|e| panic!("{} {args:?}: {e}", self.name));
            assert!(n > 0, "{} closed the connection on {args:?}", self.name);
            buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn text(&self, args: &[&str]) -> String {
        match self.cmd(args) {
            Reply::Simple(s) => s.to_string(),
            Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
            Reply::Verbatim { text, .. } => String::from_utf8_lossy(&text).into_owned(),
            Reply::Integer(i) => i.to_string(),
            Reply::Null => "(nil)".to_string(),
            other => format!("{other:?}"),
        }
    }

    fn digest(&self) -> String {
        self.text(&["MERIDIAN.DIGEST"])
    }

    /// An INFO field, as a number.
    fn info_u64(&self, field: &str) -> u64 {
        let info = self.text(&["INFO", "all"]);
        info.lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .unwrap_or_else(|| panic!("INFO of {} has no {field}:\n{info}", self.name))
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("INFO field {field}: {e}"))
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Regions named `names`, each peering with all the others, with `extra`
/// flags, data under `dir`. Not started.
fn world(dir: &Path, names: &[&str], extra: &[&str]) -> Vec<Region> {
    let ports = free_ports(2 * names.len());
    names
        .iter()
        .enumerate()
        .map(|(i, name)| Region {
            name: name.to_string(),
            client_port: ports[2 * i],
            repl_port: ports[2 * i + 1],
            peers: names
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(j, n)| (n.to_string(), ports[2 * j + 1]))
                .collect(),
            data: dir.join(name),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            running: None,
        })
        .collect()
}

/// Waits until `cond` holds, or fails with `what()` after `limit`.
fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool, what: impl Fn() -> String) {
    let deadline = Instant::now() + limit;
    while !cond() {
        if Instant::now() > deadline {
            panic!("timed out after {limit:?}: {}", what());
        }
        std::thread::sleep(POLL);
    }
}

/// Waits until every listed region has the same digest.
fn converge(regions: &[&Region]) {
    wait_until(
        CONVERGE_TIMEOUT,
        || {
            let d: Vec<String> = regions.iter().map(|r| r.digest()).collect();
            d.windows(2).all(|w| w[0] == w[1])
        },
        || {
            regions
                .iter()
                .map(|r| {
                    format!(
                        "{}: {} {}\n{}",
                        r.name,
                        r.digest(),
                        r.text(&["MERIDIAN.VV"]),
                        r.text(&["INFO", "replication"])
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        },
    );
}

/// The field `name=N` of a MERIDIAN.SNAPSHOT status.
fn status_field(status: &str, name: &str) -> u64 {
    status
        .split_whitespace()
        .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {name} in {status:?}"))
        .parse()
        .unwrap_or_else(|e| panic!("{name} in {status:?}: {e}"))
}

/// Writes a bit of every type, `tag` in the keys and values.
fn write_mix(r: &Region, tag: &str, n: usize) {
    for i in 0..n {
        r.cmd(&["SET", &format!("{tag}:s{i}"), &format!("v{i}")]);
        r.cmd(&["INCRBY", "counter", &format!("{}", i + 1)]);
        r.cmd(&[
            "HSET",
            &format!("{tag}:h"),
            &format!("f{i}"),
            &format!("{i}"),
        ]);
        r.cmd(&["SADD", "set", &format!("{tag}{i}")]);
        r.cmd(&["ZADD", "zset", &format!("{i}"), &format!("{tag}{i}")]);
        r.cmd(&["RPUSH", "list", &format!("{tag}{i}")]);
    }
    r.cmd(&["LPOP", "list"]);
    r.cmd(&["SET", &format!("{tag}:ttl"), "x", "EX", "3600"]);
    r.cmd(&["DEL", &format!("{tag}:s0")]);
}

/// What a client reads of the mix, to compare beyond the digest.
fn read_mix(r: &Region, tag: &str) -> Vec<String> {
    vec![
        r.text(&["GET", &format!("{tag}:s1")]),
        r.text(&["GET", &format!("{tag}:s0")]),
        r.text(&["GET", "counter"]),
        format!("{:?}", r.cmd(&["HGETALL", &format!("{tag}:h")])),
        r.text(&["SCARD", "set"]),
        format!("{:?}", r.cmd(&["ZRANGE", "zset", "0", "-1"])),
        format!("{:?}", r.cmd(&["LRANGE", "list", "0", "-1"])),
        r.text(&["DBSIZE"]),
    ]
}

#[test]
fn restart_from_snapshot_and_log_suffix_gives_the_same_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = world(dir.path(), &["solo"], &[]);
    let r = &mut w[0];
    r.start();
    write_mix(r, "a", 40);
    let status = r.text(&["MERIDIAN.SNAPSHOT"]);
    assert!(status.starts_with("snapshot "), "{status}");
    let lsn = status_field(&status, "lsn");
    assert!(lsn > 200, "{status}");
    // No peer holds the log: everything up to the snapshot goes.
    assert_eq!(status_field(&status, "log_first_lsn"), lsn + 1, "{status}");
    assert_eq!(status_field(&status, "truncated"), lsn, "{status}");
    assert_eq!(r.info_u64("snapshot_lsn"), lsn);
    assert_eq!(r.info_u64("log_first_lsn"), lsn + 1);
    assert_eq!(r.info_u64("snapshots_written"), 1);
    // The log after the snapshot: changes to keys it holds, new keys.
    write_mix(r, "b", 10);
    r.cmd(&["DEL", "a:s5"]);
    r.cmd(&["LPOP", "list"]);
    let digest = r.digest();
    let reads = [read_mix(r, "a"), read_mix(r, "b")];
    r.stop();

    r.start();
    assert_eq!(r.digest(), digest);
    assert_eq!([read_mix(r, "a"), read_mix(r, "b")], reads);
    assert_eq!(r.text(&["GET", "a:s5"]), "(nil)");
    assert_eq!(r.info_u64("snapshot_lsn"), lsn);
    assert_eq!(r.info_u64("log_first_lsn"), lsn + 1);
    // Writes go on after it, and a second snapshot and restart agree.
    write_mix(r, "c", 5);
    let status = r.text(&["MERIDIAN.SNAPSHOT"]);
    assert!(status_field(&status, "lsn") > lsn, "{status}");
    r.cmd(&["SET", "after", "second"]);
    let digest = r.digest();
    r.stop();
    r.start();
    assert_eq!(r.digest(), digest);
    assert_eq!(r.text(&["GET", "after"]), "second");
}

#[test]
fn a_region_left_behind_gets_a_snapshot_and_keeps_its_own_writes() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = world(dir.path(), &["eu", "us", "ap"], &["--log-retention-secs=1"]);
    for r in w.iter_mut() {
        r.start();
    }
    write_mix(&w[0], "eu1", 20);
    write_mix(&w[1], "us1", 20);
    write_mix(&w[2], "ap1", 20);
    converge(&[&w[0], &w[1], &w[2]]);

    // ap writes while nobody hears it, then stops.
    w[0].stop();
    w[1].stop();
    w[2].cmd(&["SET", "ap:solo", "unshipped"]);
    w[2].cmd(&["RPUSH", "list", "from-ap"]);
    w[2].cmd(&["INCRBY", "counter", "1000"]);
    w[2].cmd(&["SADD", "set", "ap-solo"]);
    w[2].stop();

    // The others write on, snapshot, and truncate past what ap has: it
    // has been silent for longer than the retention.
    w[0].start();
    w[1].start();
    write_mix(&w[0], "eu2", 30);
    write_mix(&w[1], "us2", 30);
    converge(&[&w[0], &w[1]]);
    std::thread::sleep(Duration::from_millis(1200));
    for r in &w[..2] {
        let status = std::cell::RefCell::new(String::new());
        wait_until(
            CONVERGE_TIMEOUT,
            || {
                // The other's acknowledgement may still be on its way.
                let s = r.text(&["MERIDIAN.SNAPSHOT"]);
                let done = !s.contains("kept:") && status_field(&s, "truncated") > 0;
                *status.borrow_mut() = s;
                done
            },
            || format!("{} did not truncate: {}", r.name, status.borrow()),
        );
        assert!(r.info_u64("log_first_lsn") > 1);
    }

    // ap comes back: a peer's log no longer serves it; it gets a snapshot.
    w[2].start();
    converge(&[&w[0], &w[1], &w[2]]);
    let ap = &w[2];
    assert!(ap.info_u64("snapshots_installed") >= 1);
    assert!(ap.info_u64("state_transfers_received") >= 1);
    // The sender counts its transfer once the install is acknowledged.
    wait_until(
        CONVERGE_TIMEOUT,
        || {
            w[0].info_u64("state_transfers_sent") + w[1].info_u64("state_transfers_sent")
                == ap.info_u64("state_transfers_received")
        },
        || "transfers sent and received differ".into(),
    );
    for r in &w {
        assert_eq!(r.text(&["GET", "ap:solo"]), "unshipped", "{}", r.name);
        assert_eq!(r.text(&["SISMEMBER", "set", "ap-solo"]), "1", "{}", r.name);
        assert_eq!(r.text(&["GET", "eu2:s1"]), "v1", "{}", r.name);
        assert_eq!(r.text(&["GET", "us2:s3"]), "v3", "{}", r.name);
    }
    let want: i64 = 3 * (1..=20).sum::<i64>() + 2 * (1..=30).sum::<i64>() + 1000;
    assert_eq!(ap.text(&["GET", "counter"]), want.to_string());

    // ap restarts from the snapshot it wrote when it installed: same data.
    let digest = ap.digest();
    w[2].stop();
    w[2].start();
    assert_eq!(w[2].digest(), digest);
    // And replication goes on from there.
    w[2].cmd(&["SET", "ap:after", "1"]);
    w[0].cmd(&["SET", "eu:after", "1"]);
    converge(&[&w[0], &w[1], &w[2]]);
    assert_eq!(w[1].text(&["GET", "ap:after"]), "1");
}

#[test]
fn a_damaged_snapshot_file_or_a_missing_one_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = world(dir.path(), &["solo"], &[]);
    let r = &mut w[0];
    r.start();
    write_mix(r, "a", 10);
    let status = r.text(&["MERIDIAN.SNAPSHOT"]);
    assert!(status_field(&status, "truncated") > 0, "{status}");
    r.cmd(&["SET", "after", "x"]);
    r.stop();
    let file = r.data.join("snapshot");
    let good = std::fs::read(&file).unwrap();

    // One flipped bit in the state.
    let mut bad = good.clone();
    let at = bad.len() / 2;
    bad[at] ^= 0x10;
    std::fs::write(&file, &bad).unwrap();
    let e = format!("{:#}", r.try_start().unwrap_err());
    assert!(
        e.contains("snapshot file") && e.contains("damaged") && e.contains("checksum"),
        "{e}"
    );

    // Cut short.
    std::fs::write(&file, &good[..good.len() - 100]).unwrap();
    let e = format!("{:#}", r.try_start().unwrap_err());
    assert!(e.contains("snapshot file") && e.contains("damaged"), "{e}");

    // Gone, while the log no longer starts at its first record.
    std::fs::remove_file(&file).unwrap();
    let e = format!("{:#}", r.try_start().unwrap_err());
    assert!(e.contains("no snapshot file"), "{e}");

    // Put back, the region starts with all its data.
    std::fs::write(&file, &good).unwrap();
    r.start();
    assert_eq!(r.text(&["GET", "after"]), "x");
    assert_eq!(r.text(&["GET", "a:s3"]), "v3");
}

#[test]
fn flags_are_checked() {
    let parse = |extra: &[&str]| {
        let mut argv = vec![
            "server",
            "--region=eu",
            "--data=/tmp/x",
            "--cluster-secret=0123456789",
        ];
        argv.extend_from_slice(extra);
        let args = Flags::try_parse_from(argv).map_err(|e| e.to_string())?.args;
        args.validate().map_err(|e| e.to_string())?;
        Ok::<ServerArgs, String>(args)
    };
    let args = parse(&[]).unwrap();
    assert_eq!(args.snapshot_log_mb, 256);
    assert_eq!(args.log_retention_secs, 3600);
    let e = parse(&["--snapshot-log-mb=0"]).unwrap_err();
    assert!(e.contains("--snapshot-log-mb 0 is out of range"), "{e}");
    let e = parse(&["--log-retention-secs=0"]).unwrap_err();
    assert!(e.contains("--log-retention-secs 0 is out of range"), "{e}");
    assert!(parse(&["--log-retention-secs=soon"]).is_err());
    assert_eq!(
        parse(&["--log-retention-secs=2"])
            .unwrap()
            .log_retention_secs,
        2
    );
}

/// Two regions apart for longer than the retention, both writing, each
/// truncate what the other lacks: neither takes the other's snapshot (it
/// would lose ops), and both say so.
#[test]
fn regions_that_truncated_past_each_other_refuse_each_others_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = world(dir.path(), &["x", "y"], &["--log-retention-secs=1"]);
    w[0].start();
    w[1].start();
    w[0].cmd(&["SET", "k", "1"]);
    converge(&[&w[0], &w[1]]);
    for (on, off) in [(0, 1), (1, 0)] {
        w[off].stop();
        if w[on].running.is_none() {
            w[on].start();
        }
        w[on].cmd(&["SET", &format!("{}:alone", w[on].name), "1"]);
        std::thread::sleep(Duration::from_millis(1200));
        let status = w[on].text(&["MERIDIAN.SNAPSHOT"]);
        assert!(status_field(&status, "truncated") > 0, "{status}");
    }
    w[0].start();
    for r in &w {
        wait_until(
            CONVERGE_TIMEOUT,
            || {
                let info = r.text(&["INFO", "replication"]);
                r.info_u64("state_transfers_refused") >= 1
                    && info
                        .contains("refused by peer: state transfer: the offered snapshot lacks op")
            },
            || format!("{}: {}", r.name, r.text(&["INFO", "replication"])),
        );
        assert_eq!(r.info_u64("snapshots_installed"), 0);
    }
    // Each keeps its own history.
    assert_eq!(w[0].text(&["GET", "y:alone"]), "(nil)");
    assert_eq!(w[1].text(&["GET", "x:alone"]), "(nil)");
}

/// Under steady writes a snapshot covers ops no peer has acknowledged yet
/// when it is written; the log must still be cut behind it once they are
/// (the periodic pass over the snapshot points), not wait for the next
/// snapshot, which would meet the same race.
#[test]
fn the_log_is_cut_behind_a_snapshot_once_peers_acknowledge_it_under_steady_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rs = world(dir.path(), &["eu-west", "us-east"], &[]);
    for r in &mut rs {
        r.start();
    }
    write_mix(&rs[0], "a", 20);
    converge(&[&rs[0], &rs[1]]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let port = rs[0].client_port;
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            let mut buf = [0u8; 4096];
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // A pipeline of 50 SETs, then its replies.
                let mut req = String::new();
                for _ in 0..50 {
                    let (k, v) = (format!("w{}", i % 1000), format!("{i}"));
                    req.push_str(&format!(
                        "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{v}\r\n",
                        k.len(),
                        v.len()
                    ));
                    i += 1;
                }
                s.write_all(req.as_bytes()).expect("send");
                let mut got = 0;
                while got < 50 * 5 {
                    got += s.read(&mut buf).expect("read");
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let status = rs[0].text(&["MERIDIAN.SNAPSHOT"]);
    let lsn = status_field(&status, "lsn");
    // Cut behind it while the writes go on: within a few checks.
    wait_until(
        Duration::from_secs(10),
        || rs[0].info_u64("log_first_lsn") > lsn,
        || {
            format!(
                "log not cut behind {status:?}:\n{}",
                rs[0].text(&["INFO", "persistence"])
            )
        },
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().expect("writer");
    converge(&[&rs[0], &rs[1]]);
    // A restart reads the base back and serves the peer from the log.
    rs[0].stop();
    rs[0].start();
    write_mix(&rs[0], "b", 3);
    converge(&[&rs[0], &rs[1]]);
    assert_eq!(rs[1].info_u64("state_transfers_received"), 0);
}
