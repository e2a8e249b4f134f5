//! `meridian router` end to end: real `meridian server` and `meridian
//! router` processes on loopback, with the WAN emulator in front of the
//! regions on the client path where distance matters.
//!
//! Every wait polls with a deadline; child processes are killed and reaped
//! when dropped (also when a test panics); data lives in a temporary
//! directory. Timing figures (failover time, latency) are printed, not
//! asserted: they are measured by the demo (`--story london-fire`).

use meridian_wan::Wan;
use redis::Connection;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_meridian");
const SECRET: &str = "router-test-secret";
/// Interval between two looks at a condition being waited for.
const POLL: Duration = Duration::from_millis(10);
/// Longest wait for a process to start answering.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest wait for anything else the tests wait for (replication,
/// failover, failback).
const WAIT_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest a single client request may take.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

fn free_ports(n: usize) -> Vec<u16> {
    let ls: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind"))
        .collect();
    ls.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

/// A child process, killed (SIGKILL) and reaped on drop.
struct Proc {
    name: String,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

impl Proc {
    fn spawn(name: &str, args: Vec<String>, log: PathBuf) -> Proc {
        let mut p = Proc {
            name: name.to_string(),
            args,
            log,
            child: None,
        };
        p.start();
        p
    }

    fn start(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open log");
        let child = Command::new(BIN)
            .args(&self.args)
            .env("MERIDIAN_CLUSTER_SECRET", SECRET)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {BIN} {:?}: {e}", self.args));
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn connect(port: u16) -> redis::RedisResult<Connection> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/"))?;
    let con = client.get_connection_with_timeout(Duration::from_millis(500))?;
    con.set_read_timeout(Some(IO_TIMEOUT))?;
    con.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(con)
}

/// Polls `f` until it returns `Some`, failing with `what` after `limit`.
fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(POLL);
    }
}

/// A region server: its client port and process.
struct Region {
    port: u16,
    proc: Proc,
}

/// Starts `names` as regions; `dial(from, to)` gives the replication
/// address `from` dials to reach `to` (a WAN link, or `to`'s port).
fn start_regions(
    dir: &Path,
    names: &[&str],
    ports: &[(u16, u16)],
    dial: impl Fn(usize, usize) -> String,
) -> Vec<Region> {
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let (port, repl) = ports[i];
        let mut args = vec![
            "server".to_string(),
            "--region".into(),
            name.to_string(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--repl".into(),
            format!("127.0.0.1:{repl}"),
            "--data".into(),
            dir.join(name).display().to_string(),
        ];
        for (j, peer) in names.iter().enumerate().filter(|(j, _)| *j != i) {
            args.push("--peer".into());
            args.push(format!("{peer}={}", dial(i, j)));
        }
        let proc = Proc::spawn(name, args, dir.join(format!("{name}.log")));
        out.push(Region { port, proc });
    }
    for r in &mut out {
        wait_ready(r.port, &r.proc);
    }
    out
}

fn wait_ready(port: u16, p: &Proc) {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(mut c) = connect(port) {
            if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} did not answer on {port}:\n{}",
            p.name,
            p.log_tail()
        );
        std::thread::sleep(POLL);
    }
}

/// Starts a router on a free port with `args` after `router --listen`.
fn start_router(dir: &Path, name: &str, args: &[String]) -> (u16, Proc) {
    let port = free_ports(1)[0];
    let mut all = vec![
        "router".to_string(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
    ];
    all.extend(args.iter().cloned());
    let p = Proc::spawn(name, all, dir.join(format!("{name}.log")));
    // INFO router is answered by the router itself.
    wait_for("the router to listen", START_TIMEOUT, || {
        let mut c = connect(port).ok()?;
        redis::cmd("INFO")
            .arg("router")
            .query::<String>(&mut c)
            .ok()
    });
    (port, p)
}

fn info_router(con: &mut Connection) -> String {
    redis::cmd("INFO")
        .arg("router")
        .query(con)
        .expect("INFO router")
}

fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

/// `key=value` of the `region_<name>:` line.
fn region_field(info: &str, region: &str, key: &str) -> Option<String> {
    let line = field(info, &format!("region_{region}"))?;
    line.split(',')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .map(str::to_string)
}

fn primary_is(port: u16, region: &str, also_up: &[&str]) -> bool {
    let Ok(mut c) = connect(port) else {
        return false;
    };
    let info = info_router(&mut c);
    field(&info, "primary_region") == Some(region)
        && also_up
            .iter()
            .all(|r| region_field(&info, r, "health").as_deref() == Some("up"))
}

fn err_text(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(d)) => format!("{code} {d}"),
        _ => e.to_string(),
    }
}

/// Sends raw RESP and returns exactly `n` replies' bytes.
fn raw(stream: &mut TcpStream, bytes: &[u8], n: usize) -> Vec<Vec<u8>> {
    stream.write_all(bytes).unwrap();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut chunk = [0u8; 65536];
    while out.len() < n {
        if let Some((_, used)) = meridian_resp::parse_reply(&buf).unwrap() {
            out.push(buf.drain(..used).collect());
            continue;
        }
        let k = stream.read(&mut chunk).expect("read reply");
        assert!(k > 0, "connection closed after {} replies", out.len());
        buf.extend_from_slice(&chunk[..k]);
    }
    out
}

fn resp(args: &[&str]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    v
}

fn tcp(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

// ---------------------------------------------------------------------------
// Pass-through
// ---------------------------------------------------------------------------

/// Sample invocations per command: `{k}` is a fresh key per side. The
/// replies through the router must equal the replies of the region itself,
/// byte for byte (`~` marks replies that differ by nature, e.g. an id,
/// compared by type only).
const SAMPLES: &[(&str, &[&str])] = &[
    ("append", &["APPEND {k} ab", "APPEND {k} cd", "GET {k}"]),
    (
        "client",
        &[
            "~CLIENT ID",
            "CLIENT SETNAME x",
            "CLIENT GETNAME",
            "CLIENT NOSUCH",
        ],
    ),
    ("command", &["COMMAND COUNT", "~COMMAND INFO get"]),
    ("dbsize", &["~DBSIZE"]),
    ("decr", &["DECR {k}", "DECR {k}"]),
    ("decrby", &["DECRBY {k} 5", "DECRBY {k} x"]),
    ("del", &["SET {k} 1", "DEL {k} {k}2", "DEL {k}"]),
    ("echo", &["ECHO hello"]),
    ("exists", &["SET {k} 1", "EXISTS {k} {k} {k}2"]),
    (
        "expire",
        &["SET {k} v", "EXPIRE {k} 100", "TTL {k}", "EXPIRE {k}2 5"],
    ),
    (
        "expireat",
        &["SET {k} v", "EXPIREAT {k} 99999999999", "EXPIRETIME {k}"],
    ),
    ("expiretime", &["EXPIRETIME {k}"]),
    ("get", &["GET {k}", "SET {k} v", "GET {k}"]),
    ("getset", &["GETSET {k} a", "GETSET {k} b"]),
    ("hdel", &["HSET {k} a 1 b 2", "HDEL {k} a c", "HLEN {k}"]),
    ("hello", &["~HELLO 2"]),
    (
        "hexists",
        &["HSET {k} a 1", "HEXISTS {k} a", "HEXISTS {k} b"],
    ),
    ("hget", &["HSET {k} a 1", "HGET {k} a", "HGET {k} b"]),
    ("hgetall", &["HSET {k} a 1", "~HGETALL {k}"]),
    ("hincrby", &["HINCRBY {k} a 5", "HINCRBY {k} a -2"]),
    ("hincrbyfloat", &["HINCRBYFLOAT {k} a 1.5"]),
    ("hkeys", &["HSET {k} a 1", "HKEYS {k}"]),
    ("hlen", &["HSET {k} a 1 b 2", "HLEN {k}"]),
    ("hmget", &["HSET {k} a 1", "HMGET {k} a b"]),
    ("hmset", &["HMSET {k} a 1 b 2", "HGET {k} b"]),
    (
        "hset",
        &["HSET {k} a 1 b 2", "HSET {k} a 3", "HSET {k}", "GET {k}"],
    ),
    (
        "hsetnx",
        &["HSETNX {k} a 1", "HSETNX {k} a 2", "HGET {k} a"],
    ),
    ("hstrlen", &["HSET {k} a abc", "HSTRLEN {k} a"]),
    ("hvals", &["HSET {k} a 1", "HVALS {k}"]),
    ("incr", &["INCR {k}", "INCR {k}", "SET {k} x", "INCR {k}"]),
    ("incrby", &["INCRBY {k} 7"]),
    ("incrbyfloat", &["INCRBYFLOAT {k} 1.5", "INCRBYFLOAT {k} 2"]),
    ("info", &["~INFO server"]),
    ("keys", &["SET {k}x 1", "~KEYS {k}*"]),
    ("lindex", &["RPUSH {k} a b", "LINDEX {k} 1", "LINDEX {k} 5"]),
    (
        "linsert",
        &["RPUSH {k} a c", "LINSERT {k} BEFORE c b", "LRANGE {k} 0 -1"],
    ),
    ("llen", &["RPUSH {k} a b", "LLEN {k}"]),
    (
        "lpop",
        &["RPUSH {k} a b c", "LPOP {k}", "LPOP {k} 2", "LPOP {k}"],
    ),
    ("lpush", &["LPUSH {k} a b", "LRANGE {k} 0 -1"]),
    ("lpushx", &["LPUSHX {k} a", "LPUSH {k} a", "LPUSHX {k} b"]),
    ("lrange", &["RPUSH {k} a b c", "LRANGE {k} 1 -1"]),
    (
        "lrem",
        &["RPUSH {k} a b a", "LREM {k} 0 a", "LRANGE {k} 0 -1"],
    ),
    (
        "lset",
        &[
            "RPUSH {k} a b",
            "LSET {k} 0 z",
            "LSET {k} 9 z",
            "LRANGE {k} 0 -1",
        ],
    ),
    (
        "ltrim",
        &["RPUSH {k} a b c", "LTRIM {k} 1 1", "LRANGE {k} 0 -1"],
    ),
    ("meridian.digest", &["~MERIDIAN.DIGEST"]),
    ("meridian.lag", &["~MERIDIAN.LAG"]),
    ("meridian.resolve", &["MERIDIAN.RESOLVE {k} bad v"]),
    ("meridian.session", &["~MERIDIAN.SESSION"]),
    ("meridian.vv", &["~MERIDIAN.VV"]),
    (
        "meridian.waitfor",
        &["MERIDIAN.WAITFOR v1: 10", "MERIDIAN.WAITFOR bad 10"],
    ),
    ("mget", &["SET {k} 1", "MGET {k} {k}2"]),
    ("mset", &["MSET {k} 1 {k}2 2", "MGET {k} {k}2", "MSET {k}"]),
    ("persist", &["SET {k} v EX 100", "PERSIST {k}", "TTL {k}"]),
    (
        "pexpire",
        &["SET {k} v", "PEXPIRE {k} 100000", "PEXPIRE {k}2 5"],
    ),
    (
        "pexpireat",
        &[
            "SET {k} v",
            "PEXPIREAT {k} 99999999999999",
            "PEXPIRETIME {k}",
        ],
    ),
    ("pexpiretime", &["PEXPIRETIME {k}"]),
    ("ping", &["PING", "PING hi"]),
    ("pttl", &["PTTL {k}", "SET {k} v", "PTTL {k}"]),
    (
        "rename",
        &[
            "SET {k} v",
            "RENAME {k} {k}2",
            "GET {k}2",
            "RENAME {k} {k}3",
        ],
    ),
    (
        "renamenx",
        &[
            "SET {k} v",
            "SET {k}2 w",
            "RENAMENX {k} {k}2",
            "RENAMENX {k} {k}3",
        ],
    ),
    ("rpop", &["RPUSH {k} a b", "RPOP {k}", "RPOP {k}2"]),
    ("rpush", &["RPUSH {k} a b", "RPUSH {k} c"]),
    ("rpushx", &["RPUSHX {k} a", "RPUSH {k} a", "RPUSHX {k} b"]),
    ("sadd", &["SADD {k} a b a", "SADD {k} a"]),
    ("scan", &["~SCAN 0"]),
    ("scard", &["SADD {k} a b", "SCARD {k}"]),
    ("sdiff", &["SADD {k} a b", "SADD {k}2 b", "SDIFF {k} {k}2"]),
    ("select", &["SELECT 0", "SELECT 1"]),
    (
        "set",
        &[
            "SET {k} v",
            "SET {k} w NX",
            "SET {k} w XX",
            "SET {k} x GET",
            "SET {k} v EX 100",
            "SET {k} v BADOPT",
        ],
    ),
    (
        "sinter",
        &["SADD {k} a b", "SADD {k}2 b", "SINTER {k} {k}2"],
    ),
    (
        "sismember",
        &["SADD {k} a", "SISMEMBER {k} a", "SISMEMBER {k} b"],
    ),
    ("smembers", &["SADD {k} a", "SMEMBERS {k}"]),
    ("smismember", &["SADD {k} a", "SMISMEMBER {k} a b"]),
    ("spop", &["SADD {k} a", "SPOP {k}", "SPOP {k}"]),
    ("srandmember", &["SADD {k} a", "SRANDMEMBER {k}"]),
    ("srem", &["SADD {k} a b", "SREM {k} a c"]),
    ("strlen", &["SET {k} abc", "STRLEN {k}"]),
    ("sunion", &["SADD {k} a", "SADD {k}2 a", "SUNION {k} {k}2"]),
    ("ttl", &["SET {k} v EX 100", "TTL {k}", "TTL {k}2"]),
    ("type", &["SET {k} v", "TYPE {k}", "TYPE {k}2"]),
    ("unlink", &["SET {k} 1", "UNLINK {k}"]),
    (
        "zadd",
        &["ZADD {k} 1 a 2 b", "ZADD {k} 3 a", "ZADD {k} x a"],
    ),
    ("zcard", &["ZADD {k} 1 a", "ZCARD {k}"]),
    ("zcount", &["ZADD {k} 1 a 2 b", "ZCOUNT {k} 1 1"]),
    ("zincrby", &["ZINCRBY {k} 2 a", "ZINCRBY {k} 2 a"]),
    (
        "zrange",
        &[
            "ZADD {k} 1 a 2 b",
            "ZRANGE {k} 0 -1",
            "ZRANGE {k} 0 -1 WITHSCORES",
        ],
    ),
    ("zrank", &["ZADD {k} 1 a 2 b", "ZRANK {k} b", "ZRANK {k} c"]),
    ("zrem", &["ZADD {k} 1 a", "ZREM {k} a b"]),
    ("zrevrank", &["ZADD {k} 1 a 2 b", "ZREVRANK {k} b"]),
    (
        "zscore",
        &["ZADD {k} 1.5 a", "ZSCORE {k} a", "ZSCORE {k} b"],
    ),
    (
        "zrangebyscore",
        &["ZADD {k} 1 a 2 b", "ZRANGEBYSCORE {k} 1 2"],
    ),
    ("meridian.conflicts", &["~MERIDIAN.CONFLICTS COUNT 1"]),
    ("meridian.siblings", &["~MERIDIAN.SIBLINGS {k}"]),
    ("nosuchcommand", &["NOSUCHCOMMAND a b"]),
    // Last: they empty the keyspace.
    ("flushdb", &["FLUSHDB"]),
    ("flushall", &["FLUSHALL"]),
];

#[test]
fn the_router_passes_every_command_through() {
    let dir = tempfile::tempdir().unwrap();
    let p = free_ports(3);
    let regions = start_regions(
        dir.path(),
        &["solo"],
        &[(p[0], p[1])],
        |_, _| unreachable!(),
    );
    let solo = regions[0].port;
    let (rport, router) = start_router(
        dir.path(),
        "router",
        &[
            "--region".into(),
            format!("solo=127.0.0.1:{solo}"),
            "--metrics".into(),
            format!("127.0.0.1:{}", p[2]),
        ],
    );
    wait_for("the router to pick solo", WAIT_TIMEOUT, || {
        primary_is(rport, "solo", &["solo"]).then_some(())
    });

    // Every command the region lists, through both paths.
    let mut direct = tcp(solo);
    let mut routed = tcp(rport);
    let list = raw(&mut direct, &resp(&["COMMAND", "LIST"]), 1).remove(0);
    let Some((meridian_resp::Reply::Array(names), _)) = meridian_resp::parse_reply(&list).unwrap()
    else {
        panic!("COMMAND LIST")
    };
    let mut untested = Vec::new();
    for name in names {
        let meridian_resp::Reply::Bulk(n) = name else {
            continue;
        };
        let n = String::from_utf8_lossy(&n).to_string();
        if n == "quit" {
            continue; // below
        }
        match SAMPLES.iter().find(|(c, _)| *c == n) {
            Some(_) => {}
            None => untested.push(n),
        }
    }
    for (i, (cmd, lines)) in SAMPLES.iter().enumerate() {
        for line in lines.iter() {
            let (loose, line) = match line.strip_prefix('~') {
                Some(l) => (true, l),
                None => (false, *line),
            };
            let d: Vec<String> = line
                .split(' ')
                .map(|w| w.replace("{k}", &format!("d{i}")))
                .collect();
            let r: Vec<String> = line
                .split(' ')
                .map(|w| w.replace("{k}", &format!("r{i}")))
                .collect();
            let dv: Vec<&str> = d.iter().map(String::as_str).collect();
            let rv: Vec<&str> = r.iter().map(String::as_str).collect();
            let a = raw(&mut direct, &resp(&dv), 1).remove(0);
            let b = raw(&mut routed, &resp(&rv), 1).remove(0);
            if loose {
                assert_eq!(
                    a[0],
                    b[0],
                    "{cmd}: {line}: {:?} vs {:?}",
                    String::from_utf8_lossy(&a),
                    String::from_utf8_lossy(&b)
                );
            } else {
                // Errors may quote the key, which differs by side.
                let a = String::from_utf8_lossy(&a).replace(&format!("d{i}"), &format!("r{i}"));
                assert_eq!(a, String::from_utf8_lossy(&b), "{cmd}: {line}");
            }
        }
    }
    if !untested.is_empty() {
        eprintln!("commands the region lists without a sample here (forwarded, not compared): {untested:?}");
    }

    // A long pipeline comes back complete and in order.
    let mut pipe = Vec::new();
    for i in 0..3000 {
        pipe.extend_from_slice(&resp(&["SET", &format!("p{i}"), &i.to_string()]));
        pipe.extend_from_slice(&resp(&["GET", &format!("p{i}")]));
    }
    let replies = raw(&mut routed, &pipe, 6000);
    for i in 0..3000 {
        assert_eq!(replies[2 * i], b"+OK\r\n");
        assert_eq!(
            replies[2 * i + 1],
            format!("${}\r\n{i}\r\n", i.to_string().len()).as_bytes()
        );
    }

    // Inline commands, refusals, INFO with the router's section, QUIT.
    let r = raw(
        &mut routed,
        b"PING\r\nMULTI\r\nBLPOP l 0\r\nSUBSCRIBE c\r\nINFO\r\nINFO router\r\nQUIT\r\nPING\r\n",
        7,
    );
    assert_eq!(r[0], b"+PONG\r\n");
    for (i, what) in [(1, "transactions"), (2, "blocking"), (3, "pin")] {
        let text = String::from_utf8_lossy(&r[i]).to_string();
        assert!(
            text.starts_with("-ERR meridian router:") && text.contains(what),
            "{text}"
        );
    }
    let info = String::from_utf8_lossy(&r[4]).to_string();
    assert!(
        info.contains("# Server")
            && info.contains("# Router")
            && info.contains("region_solo:health=up"),
        "{info}"
    );
    assert!(String::from_utf8_lossy(&r[5]).contains("primary_region:solo"));
    assert_eq!(r[6], b"+OK\r\n");
    let mut rest = Vec::new();
    assert_eq!(
        routed.read_to_end(&mut rest).unwrap_or(0),
        0,
        "closed after QUIT"
    );

    // RESP3 and the client name survive (HELLO is replayed upstream).
    let mut c = tcp(rport);
    let r = raw(
        &mut c,
        &[
            resp(&["HELLO", "3"]),
            resp(&["CLIENT", "SETNAME", "me"]),
            resp(&["INFO", "router"]),
            resp(&["CLIENT", "GETNAME"]),
        ]
        .concat(),
        4,
    );
    assert_eq!(r[0][0], b'%', "HELLO 3 answers a map");
    assert_eq!(r[2][0], b'=', "INFO is verbatim text in RESP3");
    assert_eq!(r[3], b"$2\r\nme\r\n");

    // MERIDIAN.SESSION through the router covers the connection's writes.
    let mut con = connect(rport).unwrap();
    let _: () = redis::cmd("SET").arg("s").arg("1").query(&mut con).unwrap();
    let token: String = redis::cmd("MERIDIAN.SESSION").query(&mut con).unwrap();
    assert!(token.starts_with("v1:solo="), "{token}");
    let reached: i64 = redis::cmd("MERIDIAN.WAITFOR")
        .arg(&token)
        .arg(100)
        .query(&mut con)
        .unwrap();
    assert_eq!(reached, 1);

    // redis-cli, if installed, works through the router as against Redis.
    if let Ok(out) = Command::new("redis-cli")
        .args(["-p", &rport.to_string(), "SET", "cli", "yes"])
        .output()
    {
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
        let out = Command::new("redis-cli")
            .args(["-p", &rport.to_string(), "GET", "cli"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "yes");
    }
    // Prometheus text over HTTP.
    let mut http = tcp(p[2]);
    http.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut page = String::new();
    http.read_to_string(&mut page).unwrap();
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    assert!(
        page.contains("meridian_router_region_up{region=\"solo\"} 1"),
        "{page}"
    );
    assert!(page.contains("meridian_router_region_requests_total{region=\"solo\"}"));
    drop(router);
    drop(regions);
}

// ---------------------------------------------------------------------------
// Failover under load
// ---------------------------------------------------------------------------

/// One read as a reader saw it.
#[derive(Clone, Copy)]
struct Sample {
    sent: Instant,
    done: Instant,
    ok: bool,
}

/// Emulated round trips from the router to each region: "near" is 5 ms
/// away, "far" 15 ms, so the choice is real.
const NEAR_ONE_WAY: Duration = Duration::from_micros(2_500);
const FAR_ONE_WAY: Duration = Duration::from_micros(7_500);
const READERS: usize = 4;
const KEYS: usize = 100;

/// How the nearest region fails.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// SIGKILL: its sockets are reset at once.
    Kill,
    /// SIGSTOP: it stops answering but every connection stays open, as
    /// behind a network black hole; only timeouts reveal it.
    Freeze,
}

#[test]
fn killing_the_nearest_region_under_read_load_fails_no_read() {
    failover_under_read_load(Fault::Kill);
}

#[test]
fn freezing_the_nearest_region_under_read_load_fails_no_read() {
    failover_under_read_load(Fault::Freeze);
}

fn signal(p: &Proc, sig: &str) {
    let pid = p.child.as_ref().expect("running").id();
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill {sig} {pid}");
}

fn failover_under_read_load(fault: Fault) {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let p = free_ports(4);
    let mut regions = start_regions(
        dir.path(),
        &["near", "far"],
        &[(p[0], p[1]), (p[2], p[3])],
        |_, j| format!("127.0.0.1:{}", [p[1], p[3]][j]),
    );
    let mut wan = Wan::new();
    let to_near = rt
        .block_on(wan.add_link("router", "near", addr(regions[0].port), NEAR_ONE_WAY))
        .unwrap();
    let to_far = rt
        .block_on(wan.add_link("router", "far", addr(regions[1].port), FAR_ONE_WAY))
        .unwrap();
    let (rport, router) = start_router(
        dir.path(),
        "router",
        &[
            "--region".into(),
            format!("near={to_near}"),
            "--region".into(),
            format!("far={to_far}"),
        ],
    );
    wait_for("the router to prefer near", WAIT_TIMEOUT, || {
        primary_is(rport, "near", &["near", "far"]).then_some(())
    });
    // Data every reader reads, present in both regions. (This connection
    // then stays counted on near, where it last went: a connection moves
    // when it next sends a request.)
    let mut con = connect(rport).unwrap();
    for k in 0..KEYS {
        let _: () = redis::cmd("SET")
            .arg(format!("k{k}"))
            .arg(k)
            .query(&mut con)
            .unwrap();
    }
    drop(con);
    let mut far = connect(regions[1].port).unwrap();
    wait_for("far to hold every key", WAIT_TIMEOUT, || {
        let v: Option<String> = redis::cmd("GET")
            .arg(format!("k{}", KEYS - 1))
            .query(&mut far)
            .ok()?;
        v.is_some().then_some(())
    });

    let stop = Arc::new(AtomicBool::new(false));
    let log: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let (stop, log, failures) = (stop.clone(), log.clone(), failures.clone());
            std::thread::spawn(move || {
                let mut con = connect(rport).unwrap();
                let mut mine = Vec::new();
                let mut i = r;
                while !stop.load(Ordering::Relaxed) {
                    let k = i % KEYS;
                    i += 1;
                    let sent = Instant::now();
                    let got: redis::RedisResult<Option<String>> =
                        redis::cmd("GET").arg(format!("k{k}")).query(&mut con);
                    let ok = matches!(&got, Ok(Some(v)) if *v == k.to_string());
                    if !ok {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("reader {r}: GET k{k} -> {got:?}"));
                    }
                    mine.push(Sample {
                        sent,
                        done: Instant::now(),
                        ok,
                    });
                }
                log.lock().unwrap().extend(mine);
            })
        })
        .collect();
    // Where the clients are, every few ms: (time, clients on near, on far).
    // Raw RESP: a client library's connection set-up (CLIENT SETINFO)
    // would itself be routed, and count as a client that never moves.
    let monitor = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut con = tcp(rport);
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let reply = raw(&mut con, &resp(&["INFO", "router"]), 1).remove(0);
                let info = String::from_utf8_lossy(&reply).to_string();
                let n = |r: &str| {
                    region_field(&info, r, "clients")
                        .and_then(|v| v.parse::<i64>().ok())
                        .unwrap_or(-1)
                };
                seen.push((Instant::now(), n("near"), n("far")));
                std::thread::sleep(Duration::from_millis(2));
            }
            seen
        })
    };
    std::thread::sleep(Duration::from_millis(1500));
    match fault {
        Fault::Kill => regions[0].proc.kill(),
        Fault::Freeze => signal(&regions[0].proc, "-STOP"),
    }
    // Once the signal is delivered (kill reaps the process; `kill -STOP`
    // returns after sending it).
    let kill = Instant::now();
    std::thread::sleep(Duration::from_millis(2500));
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    let seen = monitor.join().unwrap();
    let reads = log.lock().unwrap().clone();
    let failures = failures.lock().unwrap().clone();
    let info = info_router(&mut connect(rport).unwrap());

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let all_far = seen
        .iter()
        .find(|(t, n, f)| *t > kill && *n == 0 && *f == READERS as i64)
        .map(|(t, _, _)| ms(*t - kill));
    // Per reader, its first read sent after the kill is served by far
    // (near is dead); when it completes, that reader has moved.
    let mut moved: Vec<f64> = Vec::new();
    {
        let mut by_sent = reads.clone();
        by_sent.sort_by_key(|r| r.sent);
        // Readers are sequential: the first READERS reads sent after the
        // kill are one per reader.
        for r in by_sent.iter().filter(|r| r.sent > kill).take(READERS) {
            moved.push(ms(r.done - kill));
        }
    }
    let stall = reads
        .iter()
        .map(|r| ms(r.done - r.sent))
        .fold(0.0, f64::max);
    let mut before: Vec<f64> = reads
        .iter()
        .filter(|r| r.done < kill)
        .map(|r| ms(r.done - r.sent))
        .collect();
    let settle = kill + Duration::from_millis(1000);
    let mut after: Vec<f64> = reads
        .iter()
        .filter(|r| r.sent > settle)
        .map(|r| ms(r.done - r.sent))
        .collect();
    if let Fault::Freeze = fault {
        signal(&regions[0].proc, "-CONT");
    }
    eprintln!(
        "failover under read load ({fault:?}): {} reads, {} failed; first read served by far {:.1} ms after the kill, every reader moved after {:.1} ms, all {READERS} clients routed to far after {} ms; longest read {stall:.1} ms; median read {:.2} ms before, {:.2} ms after; reads_retried {}",
        reads.len(),
        failures.len(),
        moved.iter().copied().fold(f64::INFINITY, f64::min),
        moved.iter().copied().fold(0.0, f64::max),
        all_far.map_or("never".to_string(), |m| format!("{m:.1}")),
        median(&mut before),
        median(&mut after),
        field(&info, "reads_retried").unwrap_or("?"),
    );
    assert!(
        failures.is_empty(),
        "failed reads: {failures:?}\n{}",
        router.log_tail()
    );
    assert!(reads.iter().all(|r| r.ok));
    assert!(
        all_far.is_some(),
        "clients never all moved to far: {:?}\n{info}",
        seen.iter()
            .filter(|s| s.0 > kill)
            .map(|s| (s.1, s.2))
            .take(40)
            .collect::<Vec<_>>()
    );
    assert_eq!(field(&info, "primary_region"), Some("far"), "{info}");
    assert_eq!(
        region_field(&info, "near", "circuit").as_deref(),
        Some("open")
    );
    assert!(!before.is_empty() && !after.is_empty());
    drop(router);
    rt.block_on(wan.shutdown());
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

// ---------------------------------------------------------------------------
// Sessions across failover
// ---------------------------------------------------------------------------

#[test]
fn a_strict_session_never_reads_older_data_after_failover() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let p = free_ports(4);
    // London's ops reach Dublin through a link the test can cut.
    let mut wan = Wan::new();
    let london_to_dublin = rt
        .block_on(wan.add_link("eu-london", "eu-west", addr(p[3]), Duration::ZERO))
        .unwrap();
    let mut regions = start_regions(
        dir.path(),
        &["eu-london", "eu-west"],
        &[(p[0], p[1]), (p[2], p[3])],
        |i, _| {
            if i == 0 {
                london_to_dublin.to_string()
            } else {
                format!("127.0.0.1:{}", p[1])
            }
        },
    );
    let routing = |policy: &str| -> Vec<String> {
        [
            "--region",
            &format!("eu-london=127.0.0.1:{}", p[0]),
            "--region",
            &format!("eu-west=127.0.0.1:{}", p[2]),
            "--near",
            "eu-london",
            "--session",
            policy,
            "--session-wait-ms",
            "200",
        ]
        .map(String::from)
        .to_vec()
    };
    let (sport, strict) = start_router(dir.path(), "strict", &routing("strict"));
    let (aport, available) = start_router(dir.path(), "available", &routing("available"));
    for port in [sport, aport] {
        wait_for("the routers to prefer London", WAIT_TIMEOUT, || {
            primary_is(port, "eu-london", &["eu-london", "eu-west"]).then_some(())
        });
    }
    let mut s = connect(sport).unwrap();
    let mut a = connect(aport).unwrap();
    let set = |c: &mut Connection, k: &str, v: &str| {
        let _: () = redis::cmd("SET").arg(k).arg(v).query(c).unwrap();
    };
    set(&mut s, "ks", "v1");
    set(&mut a, "ka", "v1");
    let mut dublin = connect(regions[1].port).unwrap();
    wait_for("Dublin to hold v1", WAIT_TIMEOUT, || {
        let v: Vec<Option<String>> = redis::cmd("MGET")
            .arg("ks")
            .arg("ka")
            .query(&mut dublin)
            .ok()?;
        (v == [Some("v1".to_string()), Some("v1".to_string())]).then_some(())
    });
    // London's next writes never leave London.
    wan.cut("eu-london", "eu-west").unwrap();
    set(&mut s, "ks", "v2");
    set(&mut a, "ka", "v2");
    let get = |c: &mut Connection, k: &str| redis::cmd("GET").arg(k).query::<Option<String>>(c);
    assert_eq!(get(&mut s, "ks").unwrap().as_deref(), Some("v2"));
    regions[0].proc.kill();

    // Strict: Dublin lacks v2, so the read is refused, never answered v1.
    for _ in 0..3 {
        match get(&mut s, "ks") {
            Ok(v) => panic!("strict session read {v:?} from a region that lacks its write"),
            Err(e) => assert!(err_text(&e).starts_with("TRYAGAIN"), "{}", err_text(&e)),
        }
    }
    // Writes still go through (to Dublin).
    set(&mut s, "other", "x");
    // Available: served, stale, and counted.
    assert_eq!(get(&mut a, "ka").unwrap().as_deref(), Some("v1"));
    let ainfo = info_router(&mut a);
    assert_ne!(
        region_field(&ainfo, "eu-west", "stale_reads").as_deref(),
        Some("0"),
        "{ainfo}"
    );
    let sinfo = info_router(&mut s);
    assert_ne!(field(&sinfo, "session_refused"), Some("0"), "{sinfo}");
    assert_eq!(field(&sinfo, "primary_region"), Some("eu-west"), "{sinfo}");

    // London comes back and ships v2: the strict session reads v2, and
    // never v1 on the way.
    regions[0].proc.start();
    wait_ready(regions[0].port, &regions[0].proc);
    wan.heal("eu-london", "eu-west").unwrap();
    let started = Instant::now();
    wait_for(
        "the strict session to read v2",
        WAIT_TIMEOUT,
        || match get(&mut s, "ks") {
            Ok(Some(v)) if v == "v2" => Some(()),
            Ok(v) => panic!("strict session read {v:?} after London came back"),
            Err(e) => {
                assert!(err_text(&e).starts_with("TRYAGAIN"), "{}", err_text(&e));
                None
            }
        },
    );
    eprintln!(
        "strict session: refused while Dublin lacked its write, read v2 {:.0} ms after London came back",
        started.elapsed().as_secs_f64() * 1000.0
    );
    drop((strict, available));
    rt.block_on(wan.shutdown());
}

// ---------------------------------------------------------------------------
// The London story
// ---------------------------------------------------------------------------

/// Longest the story may take: start-up, 4 s of story, the rebuild and
/// failback (about 4 s), convergence, with room for a slow machine.
const STORY_TIMEOUT: Duration = Duration::from_secs(90);

#[test]
fn the_london_story_keeps_every_session_and_reports_its_figures() {
    let mut child = Command::new(BIN)
        .args([
            "demo",
            "--regions",
            "eu-west,eu-london",
            "--story",
            "london-fire",
            "--duration",
            "4",
            "--rate",
            "200",
            "--json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start meridian demo");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > STORY_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the story ran longer than {STORY_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert!(status.success(), "demo failed:\n{err}");
    let last = out.lines().last().unwrap_or_default();
    let s = meridian_demo::Summary::from_json_line(last)
        .unwrap_or_else(|e| panic!("not a summary ({e}): {last:?}\n{err}"));
    let story = s.story.clone().expect("story figures");
    let lat = s.client_latency_ms.clone().expect("client_latency_ms");
    eprintln!(
        "london-fire: failover {:?} ms, latency {:.2} -> {:.2} ms (+{:.2}, emulated {:.1}), failed reads {:?}, refused {}, violations {}, failback {:.0} ms",
        s.failover_ms, lat.before, lat.after, story.added_latency_ms, story.emulated_rtt_ms,
        s.failed_reads, story.session_refused, story.session_violations, story.failback_ms
    );
    assert!(s.converged, "{err}");
    assert_eq!(story.session_violations, 0, "{err}");
    assert_eq!(story.failover_region, "eu-west");
    assert!(s.failover_ms.is_some_and(|m| m > 0.0));
    // Every byte to Dublin is held for the emulated delay: no read after
    // the failover can be faster than the round trip.
    assert!(lat.after >= story.emulated_rtt_ms, "{lat:?}");
    assert!(story.reads > 0 && s.failed_reads.is_some());
}
