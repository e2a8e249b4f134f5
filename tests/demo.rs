//! `meridian demo` end to end: a real two-region world (eu-west and
//! eu-london, 5.65 ms one-way) for a few seconds, checked through the JSON
//! summary it prints last; the playground (`--rate 0`) driven by a
//! `--script` through the concurrent-write examples of
//! `docs/semantics.md`; and commands typed on stdin, bad ones included.

use meridian_demo::Summary;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest the short demo may take: 3 s of workload plus start-up,
/// convergence and shutdown, with room for a slow CI machine.
const DEMO_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `meridian demo`. Dropped before it exited (a failed or
/// timed-out test), it is asked to stop with SIGTERM, which makes it kill
/// its region servers, and is killed outright if it has not stopped
/// within [`STOP_GRACE`].
struct Running {
    child: Child,
}

/// How long a demo asked to stop may take to kill its servers and exit.
const STOP_GRACE: Duration = Duration::from_secs(15);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            let asked = Instant::now();
            while asked.elapsed() < STOP_GRACE {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `meridian demo ARGS`; returns (success, stdout, stderr). Fails the
/// test if the demo outlives [`DEMO_TIMEOUT`].
fn demo(args: &[&str]) -> (bool, String, String) {
    demo_with(args, None, DEMO_TIMEOUT)
}

/// Like [`demo`], writing `input` to the demo's stdin and then closing it
/// (stdin is `/dev/null` without `input`).
fn demo_with(args: &[&str], input: Option<&str>, timeout: Duration) -> (bool, String, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .arg("demo")
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start meridian demo");
    let mut run = Running { child };
    if let (Some(text), Some(mut stdin)) = (input, run.child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .expect("write the demo's stdin");
        // Dropping it closes stdin: end of input, not end of the demo.
    }
    let mut stdout = run.child.stdout.take().expect("piped stdout");
    let mut stderr = run.child.stderr.take().expect("piped stderr");
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
        if let Some(status) = run.child.try_wait().expect("wait for meridian demo") {
            break status;
        }
        if started.elapsed() > timeout {
            drop(run);
            let err = err.join().unwrap_or_default();
            panic!("meridian demo {args:?} ran longer than {timeout:?}; it printed:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = out.join().expect("stdout reader");
    let err = err.join().expect("stderr reader");
    (status.success(), out, err)
}

/// The JSON summary on the last line of stdout.
fn summary(out: &str, err: &str) -> Summary {
    let last = out.lines().last().unwrap_or_default();
    Summary::from_json_line(last)
        .unwrap_or_else(|e| panic!("last stdout line is not the summary ({e}): {last:?}\n{err}"))
}

/// Every reply the demo printed for `prompt` (`region> COMMAND ...`), in
/// order; a reply is its first line plus any numbered lines after it
/// (`1) "email"`, as redis-cli prints arrays).
fn replies(log: &str, prompt: &str) -> Vec<Vec<String>> {
    let lines: Vec<&str> = log.lines().collect();
    let numbered = |l: &str| {
        let t = l.trim_start();
        let digits = t.chars().take_while(char::is_ascii_digit).count();
        digits > 0 && (t[digits..].starts_with(") ") || t[digits..].starts_with("# "))
    };
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if *l != prompt {
            continue;
        }
        let mut reply: Vec<String> = Vec::new();
        for (j, r) in lines[i + 1..].iter().enumerate() {
            if j > 0 && !numbered(r) {
                break;
            }
            reply.push(r.to_string());
        }
        out.push(reply);
    }
    out
}

#[test]
fn two_region_world_converges_and_lag_is_at_least_the_delay() {
    let (ok, out, err) = demo(&[
        "--regions",
        "eu-west,eu-london",
        "--duration",
        "3",
        "--json",
        "--rate",
        "500",
    ]);
    assert!(ok, "demo failed:\n{err}");
    let s = summary(&out, &err);
    assert!(s.converged, "not converged:\n{err}");
    assert_eq!(s.regions, ["eu-west", "eu-london"]);
    assert!(s.writes > 0);
    assert!(s.counters.ok, "an increment was lost: {:?}", s.counters);
    for link in ["eu-west->eu-london", "eu-london->eu-west"] {
        let delay = s.delay_ms[link];
        let lag = &s.lag_ms[link];
        assert!((delay - 5.65).abs() < 1e-9, "{link}: delay {delay}");
        assert!(lag.count > 0, "{link}: no ops measured");
        // The emulated link holds every byte for the delay, so no op can
        // arrive sooner: a lag below it means the emulation is not there.
        assert!(
            lag.p50 >= delay && lag.p99 >= delay,
            "{link}: lag {lag:?} below the injected delay {delay} ms"
        );
    }
}

#[test]
fn unknown_region_is_refused_with_the_known_ones() {
    let (ok, _out, err) = demo(&["--regions", "us-east,mars-north", "--duration", "1"]);
    assert!(!ok);
    assert!(
        err.contains("mars-north") && err.contains("eu-london"),
        "unhelpful error: {err}"
    );
}

/// Longest the scripted playground may take: start-up, three partitions
/// each healed and waited for (reconnecting takes up to ~2 s), shutdown.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// The examples by hand, through real servers: each concurrent
/// pair of writes is made concurrent by cutting a region off first.
const EXAMPLES: &str = "\
# Add wins: SREM and a concurrent SADD of the same member.
redis us-east SADD s x
wait
cut us-east
redis us-east SREM s x
redis eu-west SADD s x
redis us-east SISMEMBER s x
status
heal
wait
redis us-east SISMEMBER s x
redis eu-west SISMEMBER s x
redis ap-southeast SISMEMBER s x

# DEL removes only what its region had seen: a concurrent HSET survives.
redis us-east HSET user:1 name Ada city Paris
wait
cut eu-west
redis eu-west DEL user:1
redis us-east HSET user:1 email ada@example.com
heal
wait
redis ap-southeast HGETALL user:1
redis eu-west HGETALL user:1

# Last write wins; the loser is in the conflict log.
cut us-east
redis us-east SET greeting hello
sleep 50
redis eu-west SET greeting hola
heal
wait
redis us-east GET greeting
redis ap-southeast GET greeting
redis eu-west MERIDIAN.CONFLICTS KEY greeting
status
quit
";

#[test]
fn playground_script_reproduces_concurrent_writes_by_hand() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let script = dir.path().join("examples.txt");
    std::fs::write(&script, EXAMPLES).expect("write the script");
    let path = script.to_str().expect("UTF-8 path");
    let (ok, out, err) = demo_with(
        &["--rate", "0", "--duration", "0", "--json", "--script", path],
        None,
        SCRIPT_TIMEOUT,
    );
    assert!(ok, "demo failed:\n{err}");
    let one = |prompt: &str, i: usize| -> Vec<String> {
        let r = replies(&err, prompt);
        r.get(i)
            .cloned()
            .unwrap_or_else(|| panic!("no reply {i} to {prompt:?} in:\n{err}"))
    };
    // While cut off, us-east had removed x and eu-west had added it back.
    assert_eq!(one("us-east> SISMEMBER s x", 0), ["(integer) 0"], "{err}");
    for r in ["us-east", "eu-west", "ap-southeast"] {
        let after = one(&format!("{r}> SISMEMBER s x"), usize::from(r == "us-east"));
        assert_eq!(
            after,
            ["(integer) 1"],
            "{r}: the concurrent SADD must win\n{err}"
        );
    }
    for r in ["ap-southeast", "eu-west"] {
        let h = one(&format!("{r}> HGETALL user:1"), 0);
        assert_eq!(h, ["1) \"email\"", "2) \"ada@example.com\""], "{r}\n{err}");
    }
    for r in ["us-east", "ap-southeast"] {
        assert_eq!(one(&format!("{r}> GET greeting"), 0), ["\"hola\""], "{err}");
    }
    let log = one("eu-west> MERIDIAN.CONFLICTS KEY greeting", 0).join("\n");
    for want in ["\"hola\"", "\"hello\"", "later-clock", "us-east", "eu-west"] {
        assert!(
            log.contains(want),
            "{want} missing from the conflict log:\n{log}"
        );
    }
    assert!(
        err.contains("CUT ue isolated"),
        "status shows no cut:\n{err}"
    );
    let s = summary(&out, &err);
    assert!(s.converged, "not converged:\n{err}");
    assert_eq!(s.writes, 0, "--rate 0 must run no workload");
    assert!(s.conflicts > 0, "the SET conflict was not counted");
}

#[test]
fn a_bad_script_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let script = dir.path().join("typo.txt");
    std::fs::write(&script, "cut us-east\nheel\n").expect("write the script");
    let path = script.to_str().expect("UTF-8 path");
    let (ok, _out, err) = demo(&["--script", path]);
    assert!(!ok);
    assert!(
        err.contains("typo.txt:2") && err.contains("unknown command") && !err.contains("starting"),
        "unhelpful error: {err}"
    );
}

#[test]
fn typed_commands_bad_ones_too_and_faults_left_at_the_end_are_undone() {
    let typed = "bogus\ncut eu-west\nkill eu-london\nredis eu-west SET k v\nstatus\n";
    let (ok, out, err) = demo_with(
        &[
            "--regions",
            "eu-west,eu-london",
            "--duration",
            "3",
            "--rate",
            "200",
            "--json",
        ],
        Some(typed),
        DEMO_TIMEOUT,
    );
    assert!(ok, "demo failed:\n{err}");
    for want in [
        "error: unknown command \"bogus\"",
        "cut: eu-west is isolated",
        "killed eu-london",
        "eu-west> SET k v\nOK",
        "status after",
        "| DOWN el | CUT every link",
        "healing the 2 cut replication link(s)",
        "restarting eu-london (killed)",
    ] {
        assert!(err.contains(want), "{want:?} missing from:\n{err}");
    }
    assert!(summary(&out, &err).converged, "not converged:\n{err}");
}
