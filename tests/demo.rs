//! `meridian demo` end to end: a real two-region world (eu-west and
//! eu-london, 5.65 ms one-way) for a few seconds, checked through the JSON
//! summary it prints last.

use meridian_demo::Summary;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest the short demo may take: 3 s of workload plus start-up,
/// convergence and shutdown, with room for a slow CI machine.
const DEMO_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `meridian demo ARGS`; returns (success, stdout, stderr). Fails the
/// test if the demo outlives [`DEMO_TIMEOUT`] (the demo is killed; region
/// servers it started may then outlive it).
fn demo(args: &[&str]) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_meridian"))
        .arg("demo")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start meridian demo");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
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
        if let Some(status) = child.try_wait().expect("wait for meridian demo") {
            break status;
        }
        if started.elapsed() > DEMO_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("meridian demo {args:?} ran longer than {DEMO_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = out.join().expect("stdout reader");
    let err = err.join().expect("stderr reader");
    (status.success(), out, err)
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
    let last = out.lines().last().unwrap_or_default();
    let s = Summary::from_json_line(last)
        .unwrap_or_else(|e| panic!("last stdout line is not the summary ({e}): {last:?}\n{err}"));
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
