//! Reading the world's state: lag per link, conflicts, counters, and the
//! wait for every region to have applied every op.

use crate::out::Out;
use crate::probe::{self, LagRow};
use crate::signals::Signals;
use crate::world::World;
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// How often the end-of-run wait compares version vectors.
pub const CONVERGE_POLL: Duration = Duration::from_millis(50);

/// Longest wait for replication to finish after the workload stops, on
/// top of the largest injected delay: applying what is in flight takes
/// milliseconds, so this much means a link is stuck.
pub const CONVERGE_TIMEOUT_BASE: Duration = Duration::from_secs(30);

/// Lag of one directed link, by region index.
#[derive(Clone, Debug)]
pub struct LinkRow {
    pub from: usize,
    pub to: usize,
    pub lag: LagRow,
}

/// Link `A->B` is row A of `MERIDIAN.LAG` asked in region B. Sorted by
/// `(from, to)`. Regions killed on purpose are not asked (links into them
/// have no row).
pub async fn lag_per_link(world: &mut World) -> anyhow::Result<Vec<LinkRow>> {
    let names: Vec<String> = world.regions.iter().map(|r| r.region.clone()).collect();
    let killed = world.killed();
    let mut out = Vec::new();
    for (to, conn) in world.conns.iter_mut().enumerate() {
        if killed.contains(&to) {
            continue;
        }
        let rows = probe::lag(conn)
            .await
            .with_context(|| format!("MERIDIAN.LAG on {}", names[to]))?;
        for lag in rows {
            if let Some(from) = names.iter().position(|n| *n == lag.origin) {
                out.push(LinkRow { from, to, lag });
            }
        }
    }
    out.sort_by_key(|r| (r.from, r.to));
    Ok(out)
}

/// `MERIDIAN.LAG RESET` everywhere, so start-up does not count.
pub async fn reset_lag(world: &mut World) -> anyhow::Result<()> {
    for (r, conn) in world.regions.iter().zip(world.conns.iter_mut()) {
        probe::lag_reset(conn)
            .await
            .with_context(|| format!("MERIDIAN.LAG RESET on {}", r.region))?;
    }
    Ok(())
}

/// Sum over regions of `conflicts` in INFO stats.
pub async fn conflicts(world: &mut World) -> anyhow::Result<u64> {
    let mut sum = 0;
    for (r, conn) in world.regions.iter().zip(world.conns.iter_mut()) {
        let info = probe::info(conn, "stats").await?;
        let n = probe::info_field(&info, "conflicts")
            .and_then(|v| v.parse::<u64>().ok())
            .with_context(|| format!("INFO stats on {} has no conflicts:N line", r.region))?;
        sum += n;
    }
    Ok(sum)
}

/// Per region, the sum of the values of `keys` (missing keys count 0).
pub async fn sums(world: &mut World, keys: &[String]) -> anyhow::Result<BTreeMap<String, i64>> {
    let mut out = BTreeMap::new();
    for (r, conn) in world.regions.iter().zip(world.conns.iter_mut()) {
        let values: Vec<Option<i64>> = probe::query(conn, redis::cmd("MGET").arg(keys))
            .await
            .with_context(|| format!("MGET counters on {}", r.region))?;
        out.insert(r.region.clone(), values.into_iter().flatten().sum());
    }
    Ok(out)
}

/// `MERIDIAN.DIGEST` per region.
pub async fn digests(world: &mut World) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (r, conn) in world.regions.iter().zip(world.conns.iter_mut()) {
        let d = probe::digest(conn)
            .await
            .with_context(|| format!("MERIDIAN.DIGEST on {}", r.region))?;
        out.insert(r.region.clone(), d);
    }
    Ok(out)
}

/// Ops some region has applied that another has not, from their version
/// vectors: 0 exactly when all are equal.
pub fn ops_missing(vvs: &[BTreeMap<String, u64>]) -> u64 {
    let mut max: BTreeMap<&str, u64> = BTreeMap::new();
    for vv in vvs {
        for (origin, seq) in vv {
            let m = max.entry(origin.as_str()).or_default();
            *m = (*m).max(*seq);
        }
    }
    vvs.iter()
        .map(|vv| {
            max.iter()
                .map(|(o, m)| m - vv.get(*o).copied().unwrap_or(0).min(*m))
                .sum::<u64>()
        })
        .sum()
}

/// Waits until every region has applied every op (equal `MERIDIAN.VV`),
/// printing progress each second. Returns how long that took, or `None`
/// after `limit`. A second stop request gives up with an error.
pub async fn await_same_vv(
    world: &mut World,
    out: &Out,
    signals: &mut Signals,
    limit: Duration,
) -> anyhow::Result<Option<Duration>> {
    let started = Instant::now();
    let mut last_report = started;
    loop {
        world.check_alive()?;
        let mut vvs = Vec::new();
        for (r, conn) in world.regions.iter().zip(world.conns.iter_mut()) {
            let vv = probe::vv(conn)
                .await
                .with_context(|| format!("MERIDIAN.VV on {}", r.region))?;
            vvs.push(vv.into_iter().collect::<BTreeMap<_, _>>());
        }
        let missing = ops_missing(&vvs);
        if missing == 0 {
            return Ok(Some(started.elapsed()));
        }
        if started.elapsed() > limit {
            out.say(&format!(
                "gave up waiting after {limit:?}: {missing} ops still not applied everywhere"
            ));
            return Ok(None);
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            out.say(&format!(
                "waiting for replication to finish: {missing} ops not yet applied everywhere"
            ));
        }
        tokio::select! {
            _ = tokio::time::sleep(CONVERGE_POLL) => {}
            _ = signals.recv() => bail!("interrupted again while waiting for the regions to converge"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vv(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn counts_ops_missing_anywhere() {
        let same = [vv(&[("a", 3), ("b", 2)]), vv(&[("a", 3), ("b", 2)])];
        assert_eq!(ops_missing(&same), 0);
        let behind = [vv(&[("a", 3), ("b", 2)]), vv(&[("a", 1), ("b", 5)])];
        // The second lacks 2 of a's ops, the first 3 of b's.
        assert_eq!(ops_missing(&behind), 5);
        assert_eq!(ops_missing(&[vv(&[("a", 1)]), vv(&[])]), 1);
    }
}
