//! What the demo prints: the per-second line, the summary table and the
//! JSON summary (the last line of stdout with `--json`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Lag of one directed link `from->to`: ops written in `from`, applied in
/// `to`, from write at the origin to apply (in ms).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LinkLag {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub count: u64,
}

/// The shared counters checked at the end: every region must count every
/// acknowledged increment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CounterCheck {
    /// Sum of the INCR/INCRBY increments acknowledged to the clients.
    pub increments: i64,
    /// Sum of the counters' values read in each region at the end.
    pub values: BTreeMap<String, i64>,
    /// Every region's sum equals `increments`.
    pub ok: bool,
}

/// The summary of one run; `--json` prints it as one line.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Every region applied every op (equal version vectors) and all hold
    /// identical state (equal digests).
    pub converged: bool,
    pub regions: Vec<String>,
    /// Acknowledged writes, all regions.
    pub writes: u64,
    /// Acknowledged reads, all regions.
    pub reads: u64,
    /// Commands in failed pipelines (not counted as writes or reads).
    pub errors: u64,
    /// Writes that met a concurrent value, summed over regions.
    pub conflicts: u64,
    /// How long the workload ran.
    pub duration_s: f64,
    /// Stopped by Ctrl-C or SIGTERM rather than `--duration`.
    pub interrupted: bool,
    /// Acknowledged commands (reads and writes) per second, per region.
    pub ops_per_sec: BTreeMap<String, f64>,
    /// Acknowledged writes per second, per region.
    pub writes_per_sec: BTreeMap<String, f64>,
    /// Per link `from->to`.
    pub lag_ms: BTreeMap<String, LinkLag>,
    /// Injected one-way delay per link `from->to`, in ms.
    pub delay_ms: BTreeMap<String, f64>,
    /// `MERIDIAN.DIGEST` per region at the end.
    pub digest: BTreeMap<String, String>,
    /// From the end of the workload until every region had applied every
    /// op, in ms; -1 if that did not happen in time.
    pub converge_ms: f64,
    pub counters: CounterCheck,
    /// With `--story london-fire`: from the kill until every London client
    /// was served again (by the next region), in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_ms: Option<f64>,
    /// With a story: the London clients' median latency before and after
    /// the fire, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_latency_ms: Option<BeforeAfter>,
    /// With a story: London reads that got an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_reads: Option<u64>,
    /// With a story: the rest of what it measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub story: Option<StoryFigures>,
}

/// A median before and after an event, in ms.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BeforeAfter {
    pub before: f64,
    pub after: f64,
}

/// What `--story london-fire` measured besides the headline figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StoryFigures {
    pub name: String,
    /// The region the London clients moved to.
    pub failover_region: String,
    /// Round trip London–that region in the latency matrix, in ms.
    pub emulated_rtt_ms: f64,
    /// `client_latency_ms.after - before`.
    pub added_latency_ms: f64,
    /// From the kill until the router's primary changed, in ms.
    pub router_switch_ms: f64,
    /// From the rebuilt region answering until the router sent traffic
    /// back to it, in ms; -1 if it did not within the wait.
    pub failback_ms: f64,
    pub reads: u64,
    pub writes: u64,
    pub failed_writes: u64,
    /// Reads refused by strict sessions (counted in `failed_reads`).
    pub session_refused: u64,
    /// Reads that returned older data than the session had written or
    /// read: must be 0.
    pub session_violations: u64,
    /// Longest London request, in ms.
    pub longest_ms: f64,
}

impl Summary {
    /// Parses the JSON line printed by `--json`.
    pub fn from_json_line(line: &str) -> serde_json::Result<Summary> {
        serde_json::from_str(line)
    }

    /// The one-line JSON form.
    pub fn to_json_line(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }

    /// The largest `p99 - delay` over links, with its link name.
    pub fn worst_p99_excess(&self) -> Option<(String, f64)> {
        self.lag_ms
            .iter()
            .filter_map(|(name, l)| Some((name.clone(), l.p99 - self.delay_ms.get(name)?)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// The human summary table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let how = if self.interrupted {
            "interrupted"
        } else {
            "done"
        };
        // Without a workload (`--rate 0`) there are no per-region rates.
        let workload = !self.ops_per_sec.is_empty();
        if workload {
            let _ = writeln!(
                s,
                "== summary: {} regions, workload ran {:.1} s ({how}) ==",
                self.regions.len(),
                self.duration_s
            );
            let _ = writeln!(
                s,
                "writes     {} acknowledged ({} reads, {} failed commands)",
                self.writes, self.reads, self.errors
            );
            for r in &self.regions {
                let w = self.writes_per_sec.get(r).copied().unwrap_or(0.0);
                let o = self.ops_per_sec.get(r).copied().unwrap_or(0.0);
                let _ = writeln!(s, "  {r:<14} {w:>8.0} writes/s {o:>8.0} ops/s");
            }
        } else {
            let _ = writeln!(
                s,
                "== summary: {} regions, ran {:.1} s ({how}) without a workload ==",
                self.regions.len(),
                self.duration_s
            );
        }
        let _ = writeln!(
            s,
            "conflicts  {} resolved (writes that met a concurrent value, all regions)",
            self.conflicts
        );
        let c = &self.counters;
        if !workload {
            self.lag_table(&mut s);
            return self.converged_line(s);
        }
        let verdict = if c.ok {
            "no increment lost"
        } else {
            "MISMATCH"
        };
        let values: Vec<String> = c.values.iter().map(|(r, v)| format!("{r} {v}")).collect();
        let _ = writeln!(
            s,
            "counters   {} acknowledged increments; counted: {} ({verdict})",
            c.increments,
            values.join(", ")
        );
        self.lag_table(&mut s);
        self.converged_line(s)
    }

    fn converged_line(&self, mut s: String) -> String {
        let after = if self.ops_per_sec.is_empty() {
            "the end of the run"
        } else {
            "the workload stopped"
        };
        let digest = self
            .digest
            .values()
            .next()
            .map(String::as_str)
            .unwrap_or("");
        let short = &digest[..digest.len().min(16)];
        if self.converged {
            let _ = write!(
                s,
                "converged  yes: all {} regions hold identical state (digest {short}…), {:.0} ms after {after}",
                self.regions.len(),
                self.converge_ms
            );
        } else {
            let _ = write!(
                s,
                "converged  NO: the regions' digests or version vectors differ"
            );
        }
        s
    }

    fn lag_table(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "lag per link (ms, from write at the origin to apply at the destination):"
        );
        let width = self
            .lag_ms
            .keys()
            .map(|k| k.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(
            s,
            "  {:<width$} {:>8} {:>8} {:>8} {:>10} {:>8} {:>9}",
            "link", "delay", "p50", "p99", "p99-delay", "max", "ops"
        );
        for (name, l) in &self.lag_ms {
            let d = self.delay_ms.get(name).copied().unwrap_or(0.0);
            let _ = writeln!(
                s,
                "  {name:<width$} {d:>8.2} {:>8.2} {:>8.2} {:>+10.2} {:>8.2} {:>9}",
                l.p50,
                l.p99,
                l.p99 - d,
                l.max,
                l.count
            );
        }
    }
}

/// Short names for the per-second line: the initials of the parts of each
/// name (`us-east` -> `ue`), or the full names if two would collide.
pub fn short_names(regions: &[String]) -> Vec<String> {
    let short: Vec<String> = regions
        .iter()
        .map(|r| {
            r.split(['-', '_'])
                .filter_map(|p| p.chars().next())
                .collect()
        })
        .collect();
    let mut sorted = short.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() == short.len() {
        short
    } else {
        regions.to_vec()
    }
}

/// One per-second line: ops/s per region, then lag p50/p99 per link.
/// `ops[i]` is region `i`'s ops/s (empty without a workload: no ops/s
/// part); `lag` holds `(from, to, p50, p99)` by region index.
pub fn second_line(
    elapsed_s: u64,
    short: &[String],
    ops: &[f64],
    lag: &[(usize, usize, f64, f64)],
) -> String {
    let mut s = format!("[{elapsed_s:>4}s]");
    if !ops.is_empty() {
        s.push_str(" ops/s");
        for (name, o) in short.iter().zip(ops) {
            let _ = write!(s, " {name} {o:.0}");
        }
        s.push_str(" |");
    }
    s.push_str(" lag p50/p99 ms");
    for (from, to, p50, p99) in lag {
        let (Some(f), Some(t)) = (short.get(*from), short.get(*to)) else {
            continue;
        };
        let _ = write!(s, " {f}>{t} {p50:.1}/{p99:.1}");
    }
    s
}

/// What is broken on purpose, for the end of the per-second line: empty
/// if nothing, else e.g. ` | DOWN ew | CUT ue isolated, ew>as`. `cut`
/// holds directed links `(from, to)` by region index; a region whose
/// every link is cut shows as isolated.
pub fn faults(short: &[String], cut: &[(usize, usize)], killed: &[usize]) -> String {
    let mut s = String::new();
    let name = |i: usize| short.get(i).map(String::as_str).unwrap_or("?");
    if !killed.is_empty() {
        let k: Vec<&str> = killed.iter().map(|i| name(*i)).collect();
        let _ = write!(s, " | DOWN {}", k.join(" "));
    }
    if cut.is_empty() {
        return s;
    }
    let n = short.len();
    if cut.len() >= n * n.saturating_sub(1) {
        s.push_str(" | CUT every link");
        return s;
    }
    let isolated: Vec<usize> = (0..short.len())
        .filter(|i| {
            (0..short.len())
                .filter(|j| j != i)
                .all(|j| cut.contains(&(*i, j)) && cut.contains(&(j, *i)))
        })
        .collect();
    let mut parts: Vec<String> = isolated
        .iter()
        .map(|i| format!("{} isolated", name(*i)))
        .collect();
    parts.extend(
        cut.iter()
            .filter(|(f, t)| !isolated.contains(f) && !isolated.contains(t))
            .map(|(f, t)| format!("{}>{}", name(*f), name(*t))),
    );
    let _ = write!(s, " | CUT {}", parts.join(", "));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn short_names_are_initials_unless_they_collide() {
        let r = names(&["us-east", "eu-west", "ap-southeast"]);
        assert_eq!(short_names(&r), ["ue", "ew", "as"]);
        let clash = names(&["eu-west", "eu-west_x"]);
        assert_eq!(short_names(&clash), ["ew", "ewx"]);
        let clash = names(&["ab-c", "ax-cy"]);
        assert_eq!(short_names(&clash), ["ab-c", "ax-cy"]);
    }

    #[test]
    fn second_line_is_compact() {
        let line = second_line(
            3,
            &names(&["ue", "ew"]),
            &[2001.0, 1999.4],
            &[(0, 1, 38.44, 39.21), (1, 0, 38.5, 39.0)],
        );
        assert_eq!(
            line,
            "[   3s] ops/s ue 2001 ew 1999 | lag p50/p99 ms ue>ew 38.4/39.2 ew>ue 38.5/39.0"
        );
    }

    #[test]
    fn quiet_line_and_faults() {
        let short = names(&["ue", "ew", "as"]);
        let line = second_line(7, &short, &[], &[(0, 1, 38.44, 39.21)]);
        assert_eq!(line, "[   7s] lag p50/p99 ms ue>ew 38.4/39.2");
        assert_eq!(faults(&short, &[], &[]), "");
        let isolated_ue = [(0, 1), (0, 2), (1, 0), (2, 0)];
        assert_eq!(faults(&short, &isolated_ue, &[]), " | CUT ue isolated");
        let two = names(&["ew", "el"]);
        assert_eq!(
            faults(&two, &[(0, 1), (1, 0)], &[1]),
            " | DOWN el | CUT every link"
        );
        assert_eq!(
            faults(&short, &[(1, 2), (2, 1)], &[0]),
            " | DOWN ue | CUT ew>as, as>ew"
        );
    }

    #[test]
    fn json_round_trips_and_has_the_required_keys() {
        let mut s = Summary {
            converged: true,
            regions: names(&["a", "b"]),
            writes: 10,
            ..Summary::default()
        };
        s.delay_ms.insert("a->b".into(), 5.65);
        s.lag_ms.insert(
            "a->b".into(),
            LinkLag {
                p50: 6.0,
                p99: 7.5,
                max: 8.0,
                count: 4,
            },
        );
        let line = s.to_json_line().unwrap();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        for key in ["converged", "regions", "writes", "lag_ms", "delay_ms"] {
            assert!(v.get(key).is_some(), "{key} missing from {line}");
        }
        assert_eq!(v["lag_ms"]["a->b"]["p99"], 7.5);
        assert_eq!(Summary::from_json_line(&line).unwrap(), s);
        let (link, excess) = s.worst_p99_excess().unwrap();
        assert_eq!(link, "a->b");
        assert!((excess - 1.85).abs() < 1e-9);
    }
}
