//! The worked examples of `docs/semantics.md`, run as tests: every file in
//! `tests/examples/` is a script of Redis commands run in several regions in
//! one thread, through the server's real command layer, with replication
//! held until the script says `sync` (a simulator-style world: the regions'
//! nodes, a clock the script moves, and delivery under its control).
//!
//! Script lines:
//!
//! ```text
//! # comment
//! regions eu us ap            first line: the regions (any names)
//! siblings PATTERN            make matching keys keep siblings (all regions)
//! eu: SADD cart apple -> 1    run in eu; check the reply
//! eu,us: GET k -> "v"         run in each region listed, same reply
//! *: SMEMBERS cart -> ["apple"]   run in every region
//! eu: SET k v                 run without checking the reply
//! sync                        deliver every held op to every region
//! sync eu>us                  deliver eu's held ops to us only
//! time +1500                  advance every region's clock (ms)
//! converged                   every region has the same digest
//! ```
//!
//! Replies are written on one line: `1` (integer), `"text"` (bulk), `nil`,
//! `OK` (status), `(error) ERR ...` (error prefix match), `[a, b]` (array or
//! set), `{k: v}` (map). Each command advances the clock by 1 ms, so every
//! write has its own clock reading and the scripts are deterministic.

use bytes::Bytes;
use clap::Parser;
use meridian_core::{Node, Op, Regions};
use meridian_log::{FsyncPolicy, Log, LogConfig};
use meridian_resp::{format_double, Protocol, Reply};
use meridian_server::cmd::{self, Ctx};
use meridian_server::config::ServerArgs;
use meridian_server::conn::ConnState;
use meridian_server::shared::{Counters, Shared};
use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

const START_MS: u64 = 1_700_000_000_000;

#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    args: ServerArgs,
}

/// One region: its shared state (node and log) and what each peer has
/// received of its log.
struct Region {
    name: String,
    shared: Arc<Shared>,
    /// Per region index, the next log position of ours it has not received.
    sent: Vec<u64>,
}

struct World {
    regions: Vec<Region>,
    now_ms: u64,
    _dir: tempfile::TempDir,
}

impl World {
    fn new(names: &[&str]) -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let all = Regions::new(names.iter().copied()).expect("regions");
        let regions = names
            .iter()
            .map(|name| {
                let mut argv = vec![
                    "t".to_string(),
                    format!("--region={name}"),
                    format!("--data={}", dir.path().join(name).display()),
                    "--cluster-secret=examples-secret".to_string(),
                    "--listen=127.0.0.1:0".to_string(),
                    "--repl=127.0.0.1:0".to_string(),
                ];
                for other in names.iter().filter(|n| *n != name) {
                    argv.push(format!("--peer={other}=127.0.0.1:1"));
                }
                let args = Flags::parse_from(argv).args;
                let log = Log::open(
                    LogConfig::new(dir.path().join(name), FsyncPolicy::No),
                    |_, _| {},
                )
                .expect("open log");
                let node = Node::new(all.clone(), all.id(name).expect("region id"));
                let shared = Arc::new(Shared {
                    lag: Mutex::new(Vec::new()),
                    node: Mutex::new(node),
                    log,
                    peers: Vec::new(),
                    counters: Counters::default(),
                    started: Instant::now(),
                    client_addr: "127.0.0.1:0".parse().unwrap(),
                    repl_addr: "127.0.0.1:0".parse().unwrap(),
                    args,
                    snapshots: Default::default(),
                });
                Region {
                    name: name.to_string(),
                    shared,
                    sent: vec![1; names.len()],
                }
            })
            .collect();
        World {
            regions,
            now_ms: START_MS,
            _dir: dir,
        }
    }

    fn index(&self, name: &str) -> usize {
        self.regions
            .iter()
            .position(|r| r.name == name)
            .unwrap_or_else(|| panic!("no region {name}"))
    }

    fn run(&mut self, r: usize, args: &[Bytes]) -> Reply {
        self.now_ms += 1;
        let shared = self.regions[r].shared.clone();
        let mut node = shared.node.lock();
        let mut conn = ConnState {
            id: 1,
            name: None,
            proto: Protocol::Resp2,
            addr: "127.0.0.1:1".parse().unwrap(),
            closing: false,
        };
        let mut ctx = Ctx {
            shared: &shared,
            node: &mut node,
            conn: &mut conn,
            now_ms: self.now_ms,
            lsn: 0,
            record: Vec::new(),
            wait: None,
        };
        cmd::dispatch(&mut ctx, args)
    }

    /// Delivers `from`'s ops that `to` has not received.
    fn deliver(&mut self, from: usize, to: usize) {
        if from == to {
            return;
        }
        let log = self.regions[from].shared.log.clone();
        log.flush().expect("flush");
        let next = self.regions[from].sent[to];
        let records = log
            .read_from(next, usize::MAX, usize::MAX)
            .expect("read log");
        let mut last = next - 1;
        let mut node = self.regions[to].shared.node.lock();
        for (lsn, record) in records {
            let op = Op::decode(&record).expect("decode op");
            node.receive(self.now_ms, op).expect("receive");
            last = lsn;
        }
        drop(node);
        self.regions[from].sent[to] = last + 1;
    }

    fn sync_all(&mut self) {
        // Two rounds: an op released by a later one is then applied too.
        for _ in 0..2 {
            for from in 0..self.regions.len() {
                for to in 0..self.regions.len() {
                    self.deliver(from, to);
                }
            }
        }
    }

    fn digests(&self) -> Vec<String> {
        self.regions
            .iter()
            .map(|r| r.shared.node.lock().digest())
            .collect()
    }
}

/// Renders a reply on one line (see the module doc).
fn render(r: &Reply) -> String {
    let list = |items: &[Reply]| {
        let v: Vec<String> = items.iter().map(render).collect();
        format!("[{}]", v.join(", "))
    };
    match r {
        Reply::Simple(s) => s.to_string(),
        Reply::Error(e) => format!("(error) {e}"),
        Reply::Integer(n) => n.to_string(),
        Reply::Bulk(b) => quote(b),
        Reply::Null | Reply::NullArray => "nil".to_string(),
        Reply::Array(a) | Reply::Set(a) | Reply::Push(a) => list(a),
        Reply::Map(m) => {
            let v: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}: {}", render(k), render(v)))
                .collect();
            format!("{{{}}}", v.join(", "))
        }
        Reply::Double(d) => quote(format_double(*d).as_bytes()),
        Reply::Bool(b) => b.to_string(),
        Reply::Verbatim { text, .. } => quote(text),
        Reply::BigNumber(n) => n.clone(),
    }
}

fn quote(b: &[u8]) -> String {
    let mut s = String::from("\"");
    for &c in b {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    s
}

/// Splits a command line into arguments; double quotes group words.
fn split_args(line: &str) -> Vec<Bytes> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(Bytes::from(std::mem::take(&mut cur)));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(Bytes::from(cur));
    }
    out
}

/// Runs one script; panics with its file and line on the first mismatch.
fn run_script(path: &Path) {
    let text = std::fs::read_to_string(path).expect("read script");
    let at = |n: usize| format!("{}:{}", path.display(), n + 1);
    let mut world: Option<World> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(names) = line.strip_prefix("regions ") {
            let names: Vec<&str> = names.split_whitespace().collect();
            world = Some(World::new(&names));
            continue;
        }
        let w = world
            .as_mut()
            .unwrap_or_else(|| panic!("{}: `regions` must come first", at(n)));
        if let Some(p) = line.strip_prefix("siblings ") {
            for r in &w.regions {
                let mut node = r.shared.node.lock();
                let mut pats = node.sibling_patterns().to_vec();
                pats.push(Bytes::from(p.trim().to_string()));
                node.set_siblings(pats);
            }
        } else if line == "sync" {
            w.sync_all();
        } else if let Some(dir) = line.strip_prefix("sync ") {
            let (from, to) = dir
                .split_once('>')
                .unwrap_or_else(|| panic!("{}: sync FROM>TO", at(n)));
            let (from, to) = (w.index(from.trim()), w.index(to.trim()));
            w.deliver(from, to);
        } else if let Some(ms) = line.strip_prefix("time +") {
            w.now_ms += ms.trim().parse::<u64>().expect("time +MS");
        } else if line == "converged" {
            let d = w.digests();
            assert!(
                d.iter().all(|x| *x == d[0]),
                "{}: digests differ: {d:?}",
                at(n)
            );
        } else {
            let (who, rest) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("{}: expected `region: COMMAND`", at(n)));
            let (command, expected) = match rest.split_once(" -> ") {
                Some((c, e)) => (c, Some(e.trim())),
                None => (rest, None),
            };
            let targets: Vec<usize> = if who.trim() == "*" {
                (0..w.regions.len()).collect()
            } else {
                who.split(',').map(|r| w.index(r.trim())).collect()
            };
            let args = split_args(command);
            for r in targets {
                let got = render(&w.run(r, &args));
                if let Some(want) = expected {
                    let ok = if let Some(prefix) = want.strip_prefix("(error) ") {
                        got.starts_with(&format!("(error) {prefix}"))
                    } else {
                        got == want
                    };
                    assert!(
                        ok,
                        "{}: in {}: {}\n  expected: {want}\n       got: {got}",
                        at(n),
                        w.regions[r].name,
                        command.trim()
                    );
                }
            }
        }
    }
}

fn scripts() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/examples");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/examples")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    v.sort();
    v
}

#[test]
fn worked_examples() {
    let all = scripts();
    assert!(!all.is_empty(), "no scripts in tests/examples");
    for path in all {
        run_script(&path);
    }
}

#[test]
fn render_is_one_line() {
    let r = Reply::Array(vec![Reply::bulk("a\n"), Reply::Null, Reply::integer(3)]);
    assert_eq!(render(&r), "[\"a\\x0a\", nil, 3]");
}
