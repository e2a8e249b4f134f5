//! The measured inter-region latency matrix and region metadata.
//!
//! Data comes from the project's `data/rtt.csv` (`region_a,region_b,rtt_ms`,
//! symmetric, one line per unordered pair) and `data/regions.csv`
//! (`region,city,provider_region,lat,lon`). Both are embedded at compile
//! time so the local world needs no files at run time.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::csv::{self, parse_err};
use crate::WanError;

/// Largest accepted round-trip time, in milliseconds. The slowest
/// terrestrial/subsea paths between cloud regions are ~350 ms; anything
/// above two seconds is almost surely a unit error (µs typed as ms).
pub const RTT_MS_MAX: f64 = 2_000.0;

const RTT_FILE: &str = "rtt.csv";
const RTT_HEADER: &[&str] = &["region_a", "region_b", "rtt_ms"];
const REGIONS_FILE: &str = "regions.csv";
const REGIONS_HEADER: &[&str] = &["region", "city", "provider_region", "lat", "lon"];

/// Symmetric round-trip times between named regions, in milliseconds.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RttMatrix {
    /// Keyed by the pair in lexicographic order, so lookups are symmetric.
    rtt: BTreeMap<(String, String), f64>,
    regions: BTreeSet<String>,
}

impl RttMatrix {
    /// Parses `region_a,region_b,rtt_ms` CSV text (header line first).
    ///
    /// Errors name the 1-based line: wrong header, wrong field count, empty
    /// or malformed region name, a region paired with itself, an RTT that
    /// is not a number in `(0, RTT_MS_MAX]`, or a pair listed twice (in
    /// either order). The matrix need not be complete; see
    /// [`RttMatrix::missing_pairs`].
    pub fn parse(text: &str) -> Result<RttMatrix, WanError> {
        let mut m = RttMatrix::default();
        let mut first_line: BTreeMap<(String, String), usize> = BTreeMap::new();
        for rec in csv::records(RTT_FILE, text, RTT_HEADER)? {
            let (a, b) = (rec.fields[0], rec.fields[1]);
            csv::region_name(RTT_FILE, rec.line, a)?;
            csv::region_name(RTT_FILE, rec.line, b)?;
            if a == b {
                return Err(parse_err(
                    RTT_FILE,
                    rec.line,
                    format!("region `{a}` paired with itself"),
                ));
            }
            let ms = csv::number(RTT_FILE, rec.line, "rtt_ms", rec.fields[2])?;
            if ms <= 0.0 || ms > RTT_MS_MAX {
                return Err(parse_err(
                    RTT_FILE,
                    rec.line,
                    format!("rtt_ms {ms} outside (0, {RTT_MS_MAX}]"),
                ));
            }
            let key = key(a, b);
            if let Some(prev) = first_line.get(&key) {
                return Err(parse_err(
                    RTT_FILE,
                    rec.line,
                    format!("pair {a},{b} already given on line {prev}"),
                ));
            }
            first_line.insert(key.clone(), rec.line);
            m.regions.insert(a.to_string());
            m.regions.insert(b.to_string());
            m.rtt.insert(key, ms);
        }
        Ok(m)
    }

    /// The project's measured matrix (`data/rtt.csv`, embedded).
    pub fn builtin() -> RttMatrix {
        // Compile-time data, checked by the `builtin_*` tests; not I/O.
        RttMatrix::parse(include_str!("../../../data/rtt.csv"))
            .expect("embedded data/rtt.csv is valid")
    }

    /// Round-trip time between `a` and `b` in ms; symmetric; `Some(0.0)`
    /// when `a == b` and `a` is known; `None` for unknown regions or pairs.
    pub fn rtt_ms(&self, a: &str, b: &str) -> Option<f64> {
        if a == b {
            return self.regions.contains(a).then_some(0.0);
        }
        self.rtt.get(&key(a, b)).copied()
    }

    /// One-way latency in ms: half of [`RttMatrix::rtt_ms`].
    pub fn one_way_ms(&self, a: &str, b: &str) -> Option<f64> {
        self.rtt_ms(a, b).map(|ms| ms / 2.0)
    }

    /// One-way latency as a [`Duration`], for [`crate::LinkConfig`].
    pub fn one_way_delay(&self, a: &str, b: &str) -> Option<Duration> {
        self.one_way_ms(a, b)
            .map(|ms| Duration::from_secs_f64(ms / 1000.0))
    }

    /// All region names mentioned, sorted.
    pub fn regions(&self) -> Vec<String> {
        self.regions.iter().cloned().collect()
    }

    /// Unordered pairs of known regions with no RTT, sorted. Empty means
    /// the matrix is complete.
    pub fn missing_pairs(&self) -> Vec<(String, String)> {
        let names = self.regions();
        let mut out = Vec::new();
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                if !self.rtt.contains_key(&key(a, b)) {
                    out.push((a.clone(), b.clone()));
                }
            }
        }
        out
    }
}

fn key(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

/// One region of the local world.
#[derive(Debug, Clone, PartialEq)]
pub struct RegionInfo {
    /// Meridian's region name, e.g. `eu-london`.
    pub name: String,
    /// Human-readable location, e.g. `London`.
    pub city: String,
    /// The cloud region the RTTs were measured from, e.g. `aws eu-west-2`.
    pub provider_region: String,
    /// Latitude in degrees, `[-90, 90]`.
    pub lat: f64,
    /// Longitude in degrees, `[-180, 180]`.
    pub lon: f64,
}

/// Parses `region,city,provider_region,lat,lon` CSV text (header first),
/// keeping file order. Errors name the 1-based line (bad field count,
/// malformed name, duplicate region, coordinates out of range).
pub fn parse_regions(text: &str) -> Result<Vec<RegionInfo>, WanError> {
    let mut out: Vec<RegionInfo> = Vec::new();
    for rec in csv::records(REGIONS_FILE, text, REGIONS_HEADER)? {
        let f = &rec.fields;
        csv::region_name(REGIONS_FILE, rec.line, f[0])?;
        if out.iter().any(|r| r.name == f[0]) {
            return Err(parse_err(
                REGIONS_FILE,
                rec.line,
                format!("region `{}` listed twice", f[0]),
            ));
        }
        let lat = csv::number(REGIONS_FILE, rec.line, "lat", f[3])?;
        let lon = csv::number(REGIONS_FILE, rec.line, "lon", f[4])?;
        if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
            return Err(parse_err(
                REGIONS_FILE,
                rec.line,
                format!("coordinates ({lat}, {lon}) out of range"),
            ));
        }
        out.push(RegionInfo {
            name: f[0].to_string(),
            city: f[1].to_string(),
            provider_region: f[2].to_string(),
            lat,
            lon,
        });
    }
    Ok(out)
}

/// The project's regions (`data/regions.csv`, embedded), in file order.
pub fn builtin_regions() -> Vec<RegionInfo> {
    // Compile-time data, checked by the `builtin_*` tests; not I/O.
    parse_regions(include_str!("../../../data/regions.csv"))
        .expect("embedded data/regions.csv is valid")
}
