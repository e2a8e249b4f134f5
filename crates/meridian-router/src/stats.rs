//! The router's counters and the two ways it shows them: the `# Router`
//! section of INFO and Prometheus text (`--metrics`).
//!
//! ```text
//! # Router
//! primary_region:eu-west
//! failovers:1
//! ...
//! region_eu-london:health=down,circuit=open,rtt_ms=0.31,requests=5120,clients=0,failovers=1,stale_reads=0,session_waits=0,...
//! ```

use crate::shared::Shared;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Counters of one region.
#[derive(Default, Debug)]
pub struct RegionStats {
    /// Client commands this region answered.
    pub requests: AtomicU64,
    /// Batches (pipelines) it answered.
    pub batches: AtomicU64,
    /// Real requests to it that failed (connection errors, timeouts).
    pub failures: AtomicU64,
    /// Times traffic failed over away from it.
    pub failovers: AtomicU64,
    /// Reads it served after a session wait timed out (`--session available`).
    pub stale_reads: AtomicU64,
    /// Session waits (`MERIDIAN.WAITFOR`) sent to it.
    pub session_waits: AtomicU64,
    /// ... of which timed out.
    pub session_wait_timeouts: AtomicU64,
    /// Client connections currently routed to it.
    pub clients: AtomicI64,
    pub probes_ok: AtomicU64,
    pub probes_failed: AtomicU64,
}

/// Router-wide counters.
#[derive(Default, Debug)]
pub struct Totals {
    pub connections_received: AtomicU64,
    pub clients: AtomicI64,
    pub rejected_connections: AtomicU64,
    pub commands: AtomicU64,
    pub protocol_errors: AtomicU64,
    /// Reads (and other retry-safe commands that read) sent again to
    /// another region after a failure.
    pub reads_retried: AtomicU64,
    /// Idempotent writes (or writes known unsent) sent again.
    pub writes_retried: AtomicU64,
    /// Writes answered with "may or may not have been applied".
    pub writes_unknown: AtomicU64,
    /// Commands no region could serve.
    pub no_region: AtomicU64,
    /// Commands refused because a region did not catch up with the
    /// session (`--session strict`).
    pub session_refused: AtomicU64,
    /// Sessions whose point had to be estimated (see `Session::gap`).
    pub session_gaps: AtomicU64,
    pub switches: AtomicU64,
    pub failovers: AtomicU64,
}

fn get(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

fn geti(a: &AtomicI64) -> i64 {
    a.load(Ordering::Relaxed)
}

/// One region's figures, as shown.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionView {
    pub name: String,
    pub addr: String,
    pub health: &'static str,
    pub circuit: &'static str,
    /// Smoothed round trip used for choosing (never below the floor).
    pub rtt_ms: Option<f64>,
    pub requests: u64,
    pub clients: i64,
    pub failovers: u64,
    pub stale_reads: u64,
    pub session_waits: u64,
    pub session_wait_timeouts: u64,
    pub failures: u64,
    pub probes_ok: u64,
    pub probes_failed: u64,
    pub last_error: Option<String>,
}

/// A consistent-enough copy of the router's state.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    pub primary: Option<String>,
    pub regions: Vec<RegionView>,
    pub failovers: u64,
    pub switches: u64,
    pub reads_retried: u64,
    pub writes_retried: u64,
    pub writes_unknown: u64,
    pub no_region: u64,
    pub session_refused: u64,
    pub session_gaps: u64,
    pub clients: i64,
    pub commands: u64,
}

impl Snapshot {
    /// The figures of region `name`.
    pub fn region(&self, name: &str) -> Option<&RegionView> {
        self.regions.iter().find(|r| r.name == name)
    }
}

/// Takes a snapshot.
pub fn snapshot(sh: &Shared) -> Snapshot {
    let d = sh.decider.lock();
    let regions = (0..sh.cfg.regions.len())
        .map(|i| {
            let r = d.region(i);
            let s = &sh.regions[i];
            let score = r.score_ms();
            RegionView {
                name: r.name.clone(),
                addr: sh.cfg.regions[i].addr.clone(),
                health: r.health.label(),
                circuit: r.health.circuit(),
                rtt_ms: score.is_finite().then_some(score),
                requests: get(&s.requests),
                clients: geti(&s.clients),
                failovers: get(&s.failovers),
                stale_reads: get(&s.stale_reads),
                session_waits: get(&s.session_waits),
                session_wait_timeouts: get(&s.session_wait_timeouts),
                failures: get(&s.failures),
                probes_ok: get(&s.probes_ok),
                probes_failed: get(&s.probes_failed),
                last_error: r.last_error.clone(),
            }
        })
        .collect();
    let t = &sh.totals;
    Snapshot {
        primary: d.primary().map(|p| d.region(p).name.clone()),
        regions,
        failovers: get(&t.failovers),
        switches: get(&t.switches),
        reads_retried: get(&t.reads_retried),
        writes_retried: get(&t.writes_retried),
        writes_unknown: get(&t.writes_unknown),
        no_region: get(&t.no_region),
        session_refused: get(&t.session_refused),
        session_gaps: get(&t.session_gaps),
        clients: geti(&t.clients),
        commands: get(&t.commands),
    }
}

/// The `# Router` section of INFO (CRLF line ends, as INFO has).
pub fn info_section(sh: &Shared) -> String {
    let s = snapshot(sh);
    let mut out = String::from("# Router\r\n");
    let _ = write!(
        out,
        "router_listen:{}\r\nsession_policy:{}\r\nsession_wait_ms:{}\r\nrequest_timeout_ms:{}\r\nprimary_region:{}\r\nconnected_clients:{}\r\ntotal_commands_routed:{}\r\nswitches:{}\r\nfailovers:{}\r\nreads_retried:{}\r\nwrites_retried:{}\r\nwrites_not_retried:{}\r\nno_region_errors:{}\r\nsession_refused:{}\r\nsession_gaps:{}\r\n",
        sh.cfg.listen,
        sh.cfg.policy.label(),
        sh.cfg.session_wait.as_millis(),
        sh.cfg.request_timeout.as_millis(),
        s.primary.as_deref().unwrap_or("none"),
        s.clients,
        s.commands,
        s.switches,
        s.failovers,
        s.reads_retried,
        s.writes_retried,
        s.writes_unknown,
        s.no_region,
        s.session_refused,
        s.session_gaps,
    );
    if let Some(last) = sh.last_switch.lock().clone() {
        let name = |r: Option<usize>| r.map_or("none", |i| sh.name(i));
        let _ = write!(
            out,
            "last_switch:reason={},from={},to={},ms_ago={}\r\n",
            last.reason.label(),
            name(last.from),
            name(last.to),
            last.at.elapsed().as_millis()
        );
    }
    for r in &s.regions {
        let rtt = r
            .rtt_ms
            .map_or("unknown".to_string(), |m| format!("{m:.2}"));
        let _ = write!(
            out,
            "region_{}:health={},circuit={},rtt_ms={rtt},requests={},clients={},failovers={},stale_reads={},session_waits={},session_wait_timeouts={},failures={},probes_ok={},probes_failed={},addr={}",
            r.name,
            r.health,
            r.circuit,
            r.requests,
            r.clients,
            r.failovers,
            r.stale_reads,
            r.session_waits,
            r.session_wait_timeouts,
            r.failures,
            r.probes_ok,
            r.probes_failed,
            r.addr,
        );
        if let Some(e) = &r.last_error {
            let _ = write!(out, ",last_error={}", e.replace([',', '\r', '\n'], " "));
        }
        out.push_str("\r\n");
    }
    out
}

/// Prometheus text exposition of the same figures.
pub fn prometheus(sh: &Shared) -> String {
    let s = snapshot(sh);
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP meridian_router_{name} {help}");
        let _ = writeln!(out, "# TYPE meridian_router_{name} {kind}");
        for (labels, v) in rows {
            let _ = writeln!(out, "meridian_router_{name}{labels} {v}");
        }
    };
    let per = |f: &dyn Fn(&RegionView) -> f64| -> Vec<(String, f64)> {
        s.regions
            .iter()
            .map(|r| (format!("{{region=\"{}\"}}", r.name), f(r)))
            .collect()
    };
    family(
        "region_rtt_ms",
        "gauge",
        "Smoothed round trip to the region.",
        {
            s.regions
                .iter()
                .filter_map(|r| Some((format!("{{region=\"{}\"}}", r.name), r.rtt_ms?)))
                .collect()
        },
    );
    family(
        "region_up",
        "gauge",
        "1 if the region's circuit is closed.",
        per(&|r| (r.health == "up") as u8 as f64),
    );
    family(
        "region_circuit",
        "gauge",
        "The region's circuit state (1 for the current one).",
        s.regions
            .iter()
            .flat_map(|r| {
                ["unknown", "closed", "open", "half-open"].map(|c| {
                    (
                        format!("{{region=\"{}\",state=\"{c}\"}}", r.name),
                        (r.circuit == c) as u8 as f64,
                    )
                })
            })
            .collect(),
    );
    family(
        "region_primary",
        "gauge",
        "1 for the region new requests go to.",
        per(&|r| (Some(&r.name) == s.primary.as_ref()) as u8 as f64),
    );
    family(
        "region_requests_total",
        "counter",
        "Client commands the region answered.",
        per(&|r| r.requests as f64),
    );
    family(
        "region_clients",
        "gauge",
        "Client connections routed to the region.",
        per(&|r| r.clients as f64),
    );
    family(
        "region_failovers_total",
        "counter",
        "Failovers away from the region.",
        per(&|r| r.failovers as f64),
    );
    family(
        "region_stale_reads_total",
        "counter",
        "Reads served after a session wait timed out.",
        per(&|r| r.stale_reads as f64),
    );
    family(
        "region_session_waits_total",
        "counter",
        "Session waits sent to the region.",
        per(&|r| r.session_waits as f64),
    );
    family(
        "region_session_wait_timeouts_total",
        "counter",
        "Session waits that timed out.",
        per(&|r| r.session_wait_timeouts as f64),
    );
    family(
        "region_request_failures_total",
        "counter",
        "Real requests that failed.",
        per(&|r| r.failures as f64),
    );
    family(
        "region_probe_failures_total",
        "counter",
        "Probes that failed.",
        per(&|r| r.probes_failed as f64),
    );
    let one = |v: u64| vec![(String::new(), v as f64)];
    family(
        "reads_retried_total",
        "counter",
        "Reads retried on another region.",
        one(s.reads_retried),
    );
    family(
        "writes_retried_total",
        "counter",
        "Writes retried on another region.",
        one(s.writes_retried),
    );
    family(
        "writes_not_retried_total",
        "counter",
        "Writes answered with may-or-may-not-have-been-applied.",
        one(s.writes_unknown),
    );
    family(
        "session_refused_total",
        "counter",
        "Commands refused by --session strict.",
        one(s.session_refused),
    );
    family(
        "clients",
        "gauge",
        "Connected clients.",
        vec![(String::new(), s.clients as f64)],
    );
    out
}
