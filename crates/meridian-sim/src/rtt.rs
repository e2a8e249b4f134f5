//! The project's measured inter-region latencies (`data/rtt.csv`), embedded
//! at compile time so a simulation needs no files.
//!
//! The file holds one line per unordered pair, `region_a,region_b,rtt_ms`.
//! The simulator uses half the round trip as the one-way delay, rounded to
//! the nearest millisecond (simulated time is in whole milliseconds).

use std::collections::BTreeMap;

/// The measured matrix, as shipped with the project.
const RTT_CSV: &str = include_str!("../../../data/rtt.csv");

const HEADER: &str = "region_a,region_b,rtt_ms";

/// Largest accepted round trip, in milliseconds. The slowest paths between
/// cloud regions are about 350 ms; more than 2 s is a unit error.
pub const RTT_MS_MAX: f64 = 2_000.0;

/// One-way delays between named regions, in whole milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Latencies {
    /// Keyed by the pair in name order, so lookups are symmetric.
    one_way_ms: BTreeMap<(String, String), u64>,
}

impl Latencies {
    /// Parses `region_a,region_b,rtt_ms` text (header first). Fails with the
    /// 1-based line number on a bad header, field count, number or repeat.
    pub fn parse(text: &str) -> Result<Latencies, String> {
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
        match lines.next() {
            Some((_, h)) if h == HEADER => {}
            _ => return Err(format!("line 1: expected header {HEADER:?}")),
        }
        let mut one_way_ms = BTreeMap::new();
        for (n, line) in lines.filter(|(_, l)| !l.is_empty()) {
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            let [a, b, rtt] = fields[..] else {
                return Err(format!("line {n}: expected 3 fields, got {}", fields.len()));
            };
            let rtt: f64 = rtt
                .parse()
                .map_err(|_| format!("line {n}: rtt_ms {rtt:?} is not a number"))?;
            if !(rtt > 0.0 && rtt <= RTT_MS_MAX) || a == b {
                return Err(format!("line {n}: bad pair {a},{b} or rtt {rtt}"));
            }
            // Half the round trip, at least 1 ms so that no message arrives
            // in the same millisecond it was sent.
            let ms = ((rtt / 2.0).round() as u64).max(1);
            if one_way_ms.insert(pair(a, b), ms).is_some() {
                return Err(format!("line {n}: pair {a},{b} given twice"));
            }
        }
        Ok(Latencies { one_way_ms })
    }

    /// The project's measured matrix.
    pub fn builtin() -> Latencies {
        // Compile-time data, checked by the tests below; not I/O.
        Latencies::parse(RTT_CSV).unwrap_or_else(|e| panic!("data/rtt.csv: {e}"))
    }

    /// The one-way delay between `a` and `b`, if the matrix has the pair.
    pub fn one_way_ms(&self, a: &str, b: &str) -> Option<u64> {
        self.one_way_ms.get(&pair(a, b)).copied()
    }

    /// Every region named in the matrix, sorted.
    pub fn regions(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .one_way_ms
            .keys()
            .flat_map(|(a, b)| [a.clone(), b.clone()])
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_matrix_is_complete() {
        let m = Latencies::builtin();
        let names = m.regions();
        assert_eq!(names.len(), 7);
        for a in &names {
            for b in names.iter().filter(|b| *b != a) {
                assert!(m.one_way_ms(a, b).is_some(), "{a}-{b} missing");
            }
        }
        // 76.0 ms round trip: 38 ms each way, in both directions.
        assert_eq!(m.one_way_ms("us-east", "eu-west"), Some(38));
        assert_eq!(m.one_way_ms("eu-west", "us-east"), Some(38));
        // 11.3 ms round trip rounds to 6 ms one way.
        assert_eq!(m.one_way_ms("eu-london", "eu-west"), Some(6));
    }

    #[test]
    fn rejects_bad_text() {
        assert!(Latencies::parse("a,b\n").is_err());
        assert!(Latencies::parse("region_a,region_b,rtt_ms\nx,y\n").is_err());
        assert!(Latencies::parse("region_a,region_b,rtt_ms\nx,y,z\n").is_err());
        assert!(Latencies::parse("region_a,region_b,rtt_ms\nx,x,3\n").is_err());
        assert!(Latencies::parse("region_a,region_b,rtt_ms\nx,y,3\ny,x,4\n").is_err());
        assert!(Latencies::parse("region_a,region_b,rtt_ms\nx,y,3000\n").is_err());
    }
}
