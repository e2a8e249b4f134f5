//! Carrying out the control commands of [`crate::command`] on a running
//! world: cutting and healing replication links, killing and restarting
//! regions, sending a command to a region, waiting for convergence, and
//! the `status` report.

use crate::command::{Command, Target, HELP};
use crate::measure;
use crate::out::Out;
use crate::probe::{self, REQUEST_TIMEOUT};
use crate::reply;
use crate::signals::Signals;
use crate::world::World;
use anyhow::{anyhow, bail};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;
use tokio::time::Instant;

/// How often `wait` compares the regions' version vectors.
const WAIT_POLL: Duration = Duration::from_millis(50);

/// Characters of a digest shown by `status` and `wait`.
const DIGEST_SHOWN: usize = 12;

/// What the session does after a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Continue,
    /// `quit`: stop as if `--duration` had passed.
    Quit,
    /// Ctrl-C or SIGTERM arrived while the command ran.
    Interrupted,
}

/// Runs commands on one world.
pub struct Control {
    names: Vec<String>,
    short: Vec<String>,
    started: Instant,
    /// Longest `wait` without SECONDS.
    wait_default: Duration,
    /// A workload is writing (`--rate` above 0).
    workload: bool,
}

impl Control {
    pub fn new(
        names: &[String],
        short: &[String],
        wait_default: Duration,
        workload: bool,
    ) -> Control {
        Control {
            names: names.to_vec(),
            short: short.to_vec(),
            started: Instant::now(),
            wait_default,
            workload,
        }
    }

    /// Carries out `cmd`, printing what it did. An error is a command that
    /// could not be done (a killed region asked, a wait that timed out);
    /// the world is unchanged by a failed command, except a restart that
    /// failed (the region stays down).
    pub async fn run(
        &self,
        cmd: Command,
        out: &Out,
        world: &mut World,
        signals: &mut Signals,
    ) -> anyhow::Result<Outcome> {
        match cmd {
            Command::Help => out.say(HELP),
            Command::Status => out.say(&self.status(world).await),
            Command::Cut(t) => out.say(&self.cut(world, t)?),
            Command::Heal(t) => out.say(&self.heal(world, t)?),
            Command::Kill(i) => {
                if world.is_killed(i) {
                    bail!(
                        "{} is already down; restart it with: restart {}",
                        self.names[i],
                        self.names[i]
                    );
                }
                world.kill_region(i);
                out.say(&format!(
                    "killed {} (SIGKILL); its data stays on disk: restart {} brings it back",
                    self.names[i], self.names[i]
                ));
            }
            Command::Restart(i) => {
                if !world.is_killed(i) {
                    bail!(
                        "{} is running; kill it first: kill {}",
                        self.names[i],
                        self.names[i]
                    );
                }
                let t = Instant::now();
                tokio::select! {
                    r = world.restart_region(i) => r?,
                    _ = signals.recv() => return Ok(Outcome::Interrupted),
                }
                out.say(&format!(
                    "restarted {} from its disk: answering after {} ms; its links reconnect within ~2 s",
                    self.names[i],
                    t.elapsed().as_millis()
                ));
            }
            Command::Redis { region, args } => {
                let text = self.redis(world, region, &args).await?;
                out.say(&text);
            }
            Command::Wait(limit) => {
                let limit = limit.unwrap_or(self.wait_default);
                return self.wait(world, out, signals, limit).await;
            }
            Command::Sleep(d) => {
                tokio::select! {
                    _ = tokio::time::sleep(d) => {}
                    _ = signals.recv() => return Ok(Outcome::Interrupted),
                }
            }
            Command::Quit => return Ok(Outcome::Quit),
        }
        Ok(Outcome::Continue)
    }

    /// Directed links `(from, to)` a target covers.
    fn links(&self, t: Target) -> Vec<(usize, usize)> {
        let n = self.names.len();
        match t {
            Target::Region(r) => (0..n)
                .filter(|o| *o != r)
                .flat_map(|o| [(r, o), (o, r)])
                .collect(),
            Target::Pair(a, b) => vec![(a, b), (b, a)],
        }
    }

    fn cut(&self, world: &World, t: Target) -> anyhow::Result<String> {
        let links = self.links(t);
        let newly = links.iter().filter(|(f, t)| !world.is_cut(*f, *t)).count();
        for (f, to) in &links {
            world.cut_link(*f, *to)?;
        }
        let mut s = match t {
            Target::Region(r) => format!(
                "cut: {} is isolated ({} links to and from it cut, {newly} of them newly); writes there and elsewhere stay apart until heal",
                self.names[r],
                links.len()
            ),
            Target::Pair(a, b) => format!(
                "cut: {} <-> {} (2 links, {newly} of them newly)",
                self.names[a], self.names[b]
            ),
        };
        if matches!(t, Target::Pair(..)) && self.names.len() > 2 {
            s.push_str("; other regions relay their ops after ~1 s (cut REGION isolates one)");
        }
        Ok(s)
    }

    fn heal(&self, world: &World, t: Option<Target>) -> anyhow::Result<String> {
        let before = world.cut_links();
        let links: Vec<(usize, usize)> = match t {
            None => before.clone(),
            Some(t) => self.links(t),
        };
        let healed = links.iter().filter(|l| before.contains(l)).count();
        for (f, to) in &links {
            world.heal_link(*f, *to)?;
        }
        if healed == 0 {
            return Ok("heal: nothing was cut there".to_string());
        }
        let left = world.cut_links().len();
        let mut s = format!(
            "healed {healed} link(s); replication resumes as the regions reconnect (within ~2 s)"
        );
        if left > 0 {
            let _ = write!(s, "; {left} link(s) still cut");
        }
        Ok(s)
    }

    /// `region> ARGS` and the reply, as redis-cli prints it.
    async fn redis(&self, world: &mut World, i: usize, args: &[String]) -> anyhow::Result<String> {
        if world.is_killed(i) {
            bail!(
                "{} is down; restart it first: restart {}",
                self.names[i],
                self.names[i]
            );
        }
        let Some((name, rest)) = args.split_first() else {
            bail!("redis: no command given");
        };
        let mut cmd = redis::cmd(name);
        for a in rest {
            cmd.arg(a);
        }
        let conn = world
            .conns
            .get_mut(i)
            .ok_or_else(|| anyhow!("no connection to region {i}"))?;
        let sent = cmd.query_async::<redis::Value>(conn);
        let lines = match tokio::time::timeout(REQUEST_TIMEOUT, sent).await {
            Err(_) => bail!(
                "{} did not answer within {REQUEST_TIMEOUT:?}",
                self.names[i]
            ),
            Ok(Ok(v)) => reply::reply_lines(&v),
            Ok(Err(e)) => match reply::error_line(&e) {
                Some(l) => vec![l],
                None => bail!("{}: {e}", self.names[i]),
            },
        };
        let shown: Vec<String> = args.iter().map(|a| show_arg(a)).collect();
        Ok(format!(
            "{}> {}\n{}",
            self.names[i],
            shown.join(" "),
            lines.join("\n")
        ))
    }

    /// Waits until every region has applied every op, then checks that
    /// every digest is equal.
    async fn wait(
        &self,
        world: &mut World,
        out: &Out,
        signals: &mut Signals,
        limit: Duration,
    ) -> anyhow::Result<Outcome> {
        if self.workload {
            bail!("wait: the workload keeps writing, so the regions are never all equal; use status, or run with --rate 0");
        }
        if let Some(k) = world.killed().first() {
            bail!(
                "wait: the regions cannot converge while {} is down; restart it first",
                self.names[*k]
            );
        }
        let cut = world.cut_links();
        if let Some(r) = unreachable(self.names.len(), &cut) {
            bail!(
                "wait: the regions cannot converge while the cut links keep {} apart; heal first",
                self.names[r]
            );
        }
        let started = Instant::now();
        let mut last_report = started;
        loop {
            world.check_alive()?;
            let vvs = vvs(world).await?;
            let missing = measure::ops_missing(&vvs);
            if missing == 0 {
                break;
            }
            if started.elapsed() > limit {
                bail!("wait: {missing} op(s) still not applied everywhere after {limit:?}");
            }
            if last_report.elapsed() >= Duration::from_secs(1) {
                last_report = Instant::now();
                out.say(&format!(
                    "waiting: {missing} op(s) not yet applied everywhere"
                ));
            }
            tokio::select! {
                _ = tokio::time::sleep(WAIT_POLL) => {}
                _ = signals.recv() => return Ok(Outcome::Interrupted),
            }
        }
        let digests = measure::digests(world).await?;
        let first = digests.values().next().cloned().unwrap_or_default();
        if digests.values().any(|d| *d != first) {
            bail!(
                "wait: every op is applied everywhere but the states differ: {}",
                show_digests(&digests)
            );
        }
        out.say(&format!(
            "converged after {} ms: all {} regions applied every op and hold identical state (digest {})",
            started.elapsed().as_millis(),
            self.names.len(),
            short_digest(&first)
        ));
        Ok(Outcome::Continue)
    }

    /// The `status` report.
    async fn status(&self, world: &mut World) -> String {
        let n = self.names.len();
        let killed = world.killed();
        let cut = world.cut_links();
        let mut digests: BTreeMap<String, String> = BTreeMap::new();
        let mut vvs: Vec<BTreeMap<String, u64>> = Vec::new();
        let mut vv_of: Vec<Option<BTreeMap<String, u64>>> = vec![None; n];
        let mut peers: Vec<BTreeMap<String, BTreeMap<String, String>>> = vec![BTreeMap::new(); n];
        let mut rows = Vec::new();
        let addrs: Vec<String> = world.regions.iter().map(|r| r.listen.to_string()).collect();
        for i in 0..n {
            let name = &self.names[i];
            if killed.contains(&i) {
                rows.push(format!("  {name:<14} {:<6} {:<21} -", "DOWN", addrs[i]));
                continue;
            }
            let conn = &mut world.conns[i];
            let asked = async {
                let info = probe::info(conn, "replication").await?;
                let vv = probe::vv(conn).await?;
                let digest = probe::digest(conn).await?;
                anyhow::Ok((info, vv, digest))
            };
            match asked.await {
                Ok((info, vv, digest)) => {
                    peers[i] = probe::peer_fields(&info).into_iter().collect();
                    let applied: Vec<String> = vv.iter().map(|(r, s)| format!("{r}={s}")).collect();
                    rows.push(format!(
                        "  {name:<14} {:<6} {:<21} {:<w$}  {}",
                        "up",
                        addrs[i],
                        short_digest(&digest),
                        applied.join(" "),
                        w = DIGEST_SHOWN
                    ));
                    let vv: BTreeMap<String, u64> = vv.into_iter().collect();
                    vv_of[i] = Some(vv.clone());
                    vvs.push(vv);
                    digests.insert(name.clone(), digest);
                }
                Err(e) => rows.push(format!(
                    "  {name:<14} {:<6} {:<21} no answer: {e:#}",
                    "?", addrs[i]
                )),
            }
        }
        let mut s = format!(
            "status after {} s{}\n",
            self.started.elapsed().as_secs(),
            crate::report::faults(&self.short, &cut, &killed)
        );
        let _ = writeln!(
            s,
            "  {:<14} {:<6} {:<21} {:<w$}  applied ops per origin (MERIDIAN.VV)",
            "region",
            "state",
            "client address",
            "digest",
            w = DIGEST_SHOWN
        );
        for r in rows {
            let _ = writeln!(s, "{r}");
        }
        let _ = writeln!(s, "  converged: {}", self.verdict(&vvs, &digests, &killed));
        let _ = writeln!(
            s,
            "  {:<30} {:<5} {:<11} {:>9} {:>10}  lag last/p99 ms",
            "link from->to", "wan", "link", "unapplied", "ops_behind"
        );
        for f in 0..n {
            for t in (0..n).filter(|t| *t != f) {
                let (fname, tname) = (&self.names[f], &self.names[t]);
                let out_side = peers[f].get(tname);
                let in_side = peers[t].get(fname);
                let field = |m: Option<&BTreeMap<String, String>>, k: &str| {
                    m.and_then(|m| m.get(k))
                        .cloned()
                        .unwrap_or_else(|| "-".into())
                };
                let lag = match in_side {
                    Some(_) => format!(
                        "{}/{}",
                        field(in_side, "lag_ms"),
                        field(in_side, "lag_p99_ms")
                    ),
                    None => "-".into(),
                };
                let unapplied = match (&vv_of[f], &vv_of[t]) {
                    (Some(a), Some(b)) => {
                        let own = a.get(fname).copied().unwrap_or(0);
                        own.saturating_sub(b.get(fname).copied().unwrap_or(0))
                            .to_string()
                    }
                    _ => "-".into(),
                };
                let _ = writeln!(
                    s,
                    "  {:<30} {:<5} {:<11} {:>9} {:>10}  {lag}",
                    format!("{fname}->{tname}"),
                    if cut.contains(&(f, t)) { "CUT" } else { "up" },
                    field(out_side, "link"),
                    unapplied,
                    field(out_side, "ops_behind"),
                );
            }
        }
        s.push_str(
            "  (wan: the emulated link; link: its state as the sender sees it; unapplied: the \
             sender's own ops not yet applied by the receiver, from MERIDIAN.VV; ops_behind: \
             the sender's ops the receiver has not acknowledged, from INFO replication; lag: \
             of the sender's ops applied by the receiver, last and p99 since start)",
        );
        s
    }

    fn verdict(
        &self,
        vvs: &[BTreeMap<String, u64>],
        digests: &BTreeMap<String, String>,
        killed: &[usize],
    ) -> String {
        let missing = measure::ops_missing(vvs);
        let first = digests.values().next();
        let same = digests.values().all(|d| Some(d) == first);
        let scope = if killed.is_empty() {
            String::new()
        } else {
            let k: Vec<&str> = killed.iter().map(|i| self.names[*i].as_str()).collect();
            format!(" (among the running regions; {} down)", k.join(", "))
        };
        if missing == 0 && same {
            format!(
                "yes{scope}: identical state (digest {})",
                first.map(|d| short_digest(d)).unwrap_or_default()
            )
        } else if missing > 0 {
            format!(
                "no{scope}: {missing} op(s) not yet applied everywhere; digests {}",
                show_digests(digests)
            )
        } else {
            format!(
                "NO{scope}: every op applied but the states differ: {}",
                show_digests(digests)
            )
        }
    }
}

/// Every region's version vector, as maps.
async fn vvs(world: &mut World) -> anyhow::Result<Vec<BTreeMap<String, u64>>> {
    let mut out = Vec::new();
    for (r, conn) in world.regions.iter().zip(world.conns.iter_mut()) {
        let vv = probe::vv(conn)
            .await
            .map_err(|e| e.context(format!("MERIDIAN.VV on {}", r.region)))?;
        out.push(vv.into_iter().collect());
    }
    Ok(out)
}

/// A region that cannot reach some other region, or be reached, over the
/// links not cut (ops are relayed, so any path will do); `None` if every
/// region reaches every other.
pub fn unreachable(n: usize, cut: &[(usize, usize)]) -> Option<usize> {
    let up = |f: usize, t: usize| f != t && !cut.contains(&(f, t));
    let reach = |forward: bool| {
        let mut seen = vec![false; n];
        let mut stack = vec![0];
        while let Some(v) = stack.pop() {
            if std::mem::replace(&mut seen[v], true) {
                continue;
            }
            let next = (0..n).filter(|w| if forward { up(v, *w) } else { up(*w, v) });
            stack.extend(next);
        }
        seen
    };
    if n == 0 {
        return None;
    }
    let (fwd, back) = (reach(true), reach(false));
    (0..n).find(|i| !fwd[*i] || !back[*i])
}

fn short_digest(d: &str) -> String {
    d.chars().take(DIGEST_SHOWN).collect()
}

fn show_digests(d: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = d
        .iter()
        .map(|(r, d)| format!("{r} {}", short_digest(d)))
        .collect();
    parts.join(", ")
}

/// An argument as typed: quoted if it needs to be.
fn show_arg(a: &str) -> String {
    let plain = !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\'' && c != '\\');
    if plain {
        a.to_string()
    } else {
        reply::lines(&redis::Value::BulkString(a.as_bytes().to_vec())).join("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reachability_follows_uncut_links() {
        assert_eq!(unreachable(3, &[]), None);
        // eu isolated.
        let iso = [(1, 0), (0, 1), (1, 2), (2, 1)];
        assert_eq!(unreachable(3, &iso), Some(1));
        // Only us<->eu cut: ap relays.
        assert_eq!(unreachable(3, &[(0, 1), (1, 0)]), None);
        // Two regions, one direction cut.
        assert_eq!(unreachable(2, &[(0, 1)]), Some(1));
    }

    #[test]
    fn arguments_are_shown_as_typed() {
        assert_eq!(show_arg("SET"), "SET");
        assert_eq!(show_arg("hello world"), "\"hello world\"");
        assert_eq!(show_arg(""), "\"\"");
    }
}
