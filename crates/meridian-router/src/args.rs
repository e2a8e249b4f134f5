//! `meridian router` flags and the checked configuration they become.

use crate::decide::Tuning;
use crate::session::Policy;
use crate::vv::valid_region_name;
use anyhow::bail;
use meridian_wan::RttMatrix;
use std::net::SocketAddr;
use std::time::Duration;

/// Default bound on a session wait, in ms. Replication between the
/// farthest measured regions takes about half their 341 ms round trip; a
/// region that has not caught up after a second is not going to soon
/// (what it lacks died with the failed region).
pub const SESSION_WAIT_MS_DEFAULT: u64 = 1_000;

/// Longest session wait accepted, in ms: the server's `WAITFOR_MS_MAX`.
pub const SESSION_WAIT_MS_MAX: u64 = 60_000;

/// Default time a region has to answer a forwarded batch, in ms, before
/// the router gives up on it (on top of any wait the batch asks for).
/// Probes detect dead regions sooner; this catches a region that answers
/// probes but not requests.
pub const REQUEST_TIMEOUT_MS_DEFAULT: u64 = 1_000;

/// Longest request timeout accepted, in ms.
pub const REQUEST_TIMEOUT_MS_MAX: u64 = 600_000;

/// Most regions one router knows (the core's `REGIONS_MAX`).
pub const REGIONS_MAX: usize = 64;

/// Settings of `meridian router`.
#[derive(clap::Args, Clone, Debug)]
pub struct RouterArgs {
    /// Address for Redis clients.
    #[arg(long, default_value = "127.0.0.1:6380")]
    pub listen: SocketAddr,
    /// A region and its client address, NAME=HOST:PORT; once per region.
    #[arg(long = "region", value_name = "NAME=ADDR", value_parser = parse_region, required = true)]
    pub regions: Vec<(String, String)>,
    /// The region this router stands next to: round trips to the others
    /// are taken from the measured matrix (data/rtt.csv) as floors.
    #[arg(long, value_name = "REGION")]
    pub near: Option<String>,
    /// A floor on the round trip to a region, NAME=MS (overrides --near
    /// for that region). Measurements above the floor win.
    #[arg(long = "rtt", value_name = "NAME=MS", value_parser = parse_rtt)]
    pub rtt: Vec<(String, f64)>,
    /// When a region does not catch up with a client's session in time:
    /// strict refuses the read, available serves it and counts it stale.
    #[arg(long, value_enum, default_value = "strict")]
    pub session: Policy,
    /// How long a read waits for a region to catch up with the session.
    #[arg(long, default_value_t = SESSION_WAIT_MS_DEFAULT)]
    pub session_wait_ms: u64,
    /// How long a region has to answer a forwarded batch.
    #[arg(long, default_value_t = REQUEST_TIMEOUT_MS_DEFAULT)]
    pub request_timeout_ms: u64,
    /// Serve Prometheus metrics over HTTP on this address.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
}

fn parse_region(s: &str) -> Result<(String, String), String> {
    let (name, addr) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=HOST:PORT, got {s:?}"))?;
    if !valid_region_name(name) {
        return Err(format!(
            "invalid region name {name:?}: use 1 to 64 characters from a-z, 0-9, '-' and '_'"
        ));
    }
    if !addr.contains(':') {
        return Err(format!("expected HOST:PORT after '=', got {addr:?}"));
    }
    Ok((name.to_string(), addr.to_string()))
}

fn parse_rtt(s: &str) -> Result<(String, f64), String> {
    let (name, ms) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=MS, got {s:?}"))?;
    let ms: f64 = ms
        .parse()
        .map_err(|_| format!("expected a number of ms after '=', got {ms:?}"))?;
    if !(0.0..=meridian_wan::RTT_MS_MAX).contains(&ms) {
        return Err(format!(
            "round trip {ms} ms is outside 0..={} ms",
            meridian_wan::RTT_MS_MAX
        ));
    }
    Ok((name.to_string(), ms))
}

/// One region the router sends traffic to.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionAddr {
    pub name: String,
    /// `HOST:PORT` of its client listener.
    pub addr: String,
    /// Lower bound on its round trip, in ms.
    pub floor_ms: Option<f64>,
}

/// A checked router configuration.
#[derive(Clone, Debug)]
pub struct RouterConfig {
    pub listen: SocketAddr,
    pub regions: Vec<RegionAddr>,
    pub policy: Policy,
    pub session_wait: Duration,
    pub request_timeout: Duration,
    pub metrics: Option<SocketAddr>,
    pub tuning: Tuning,
}

impl RouterArgs {
    /// Checks what flags alone cannot: unique names, known hints, bounds.
    pub fn config(&self) -> anyhow::Result<RouterConfig> {
        if self.regions.len() > REGIONS_MAX {
            bail!("at most {REGIONS_MAX} --region flags");
        }
        let mut names: Vec<&str> = self.regions.iter().map(|(n, _)| n.as_str()).collect();
        names.sort();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            bail!("--region {} given twice", w[0]);
        }
        for (name, _) in &self.rtt {
            if !names.contains(&name.as_str()) {
                bail!("--rtt names {name:?}, which no --region gives");
            }
        }
        let matrix = RttMatrix::builtin();
        if let Some(near) = &self.near {
            let known = names.contains(&near.as_str()) || matrix.regions().contains(near);
            if !known {
                bail!(
                    "--near {near:?} is neither a --region nor in the latency matrix ({})",
                    matrix.regions().join(", ")
                );
            }
        }
        if self.session_wait_ms > SESSION_WAIT_MS_MAX {
            bail!("--session-wait-ms must be at most {SESSION_WAIT_MS_MAX}");
        }
        if self.request_timeout_ms == 0 || self.request_timeout_ms > REQUEST_TIMEOUT_MS_MAX {
            bail!("--request-timeout-ms must be 1 to {REQUEST_TIMEOUT_MS_MAX}");
        }
        let regions = self
            .regions
            .iter()
            .map(|(name, addr)| {
                let given = self.rtt.iter().rev().find(|(n, _)| n == name).map(|r| r.1);
                let near = self.near.as_ref().and_then(|n| {
                    if n == name {
                        Some(0.0)
                    } else {
                        matrix.rtt_ms(n, name)
                    }
                });
                RegionAddr {
                    name: name.clone(),
                    addr: addr.clone(),
                    floor_ms: given.or(near),
                }
            })
            .collect();
        Ok(RouterConfig {
            listen: self.listen,
            regions,
            policy: self.session,
            session_wait: Duration::from_millis(self.session_wait_ms),
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            metrics: self.metrics,
            tuning: Tuning::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        router: RouterArgs,
    }

    fn config(args: &[&str]) -> anyhow::Result<RouterConfig> {
        let cli = Cli::try_parse_from(std::iter::once("router").chain(args.iter().copied()))?;
        cli.router.config()
    }

    #[test]
    fn near_sets_floors_from_the_matrix_and_rtt_overrides() {
        let c = config(&[
            "--region",
            "eu-london=127.0.0.1:1",
            "--region",
            "eu-west=127.0.0.1:2",
            "--region",
            "us-east=127.0.0.1:3",
            "--near",
            "eu-london",
            "--rtt",
            "us-east=50",
        ])
        .unwrap();
        let floors: Vec<Option<f64>> = c.regions.iter().map(|r| r.floor_ms).collect();
        assert_eq!(floors, [Some(0.0), Some(11.3), Some(50.0)]);
        assert_eq!(c.policy, Policy::Strict);
        assert_eq!(
            c.session_wait,
            Duration::from_millis(SESSION_WAIT_MS_DEFAULT)
        );
    }

    #[test]
    fn bad_flags_are_refused() {
        assert!(config(&[]).is_err(), "no region");
        assert!(config(&["--region", "x"]).is_err());
        assert!(config(&["--region", "BAD=127.0.0.1:1"]).is_err());
        assert!(config(&["--region", "a=127.0.0.1:1", "--region", "a=127.0.0.1:2"]).is_err());
        assert!(config(&["--region", "a=127.0.0.1:1", "--rtt", "b=3"]).is_err());
        assert!(config(&["--region", "a=127.0.0.1:1", "--rtt", "a=-3"]).is_err());
        assert!(config(&["--region", "a=127.0.0.1:1", "--near", "mars"]).is_err());
        assert!(config(&["--region", "a=127.0.0.1:1", "--session", "sometimes"]).is_err());
        assert!(config(&["--region", "a=127.0.0.1:1", "--request-timeout-ms", "0"]).is_err());
        let ok = config(&["--region", "a=h:1", "--session", "available"]).unwrap();
        assert_eq!(ok.policy, Policy::Available);
        assert_eq!(ok.regions[0].floor_ms, None);
    }
}
