//! Meridian's own commands.
//!
//! ```text
//! MERIDIAN.DIGEST           $hex digest of the whole keyspace (equal in two
//!                           regions exactly when their states are identical)
//! MERIDIAN.VV               array of [region, seq] pairs: what this region has applied
//! MERIDIAN.LAG [RESET]      per origin region: count, last, p50, p99, max (ms)
//! MERIDIAN.SESSION          $token: a causal point covering everything this
//!                           connection has written or read here
//! MERIDIAN.WAITFOR token ms :1 once this region has applied everything the
//!                           token covers, :0 if `ms` passed first
//! MERIDIAN.CONFLICTS [COUNT n] [KEY pattern]
//!                           recent conflict-log entries, newest first (each
//!                           a map: id, key, field, reason, why, and for the
//!                           winner and the loser: type, value, truncated,
//!                           region, clock)
//! MERIDIAN.SIBLINGS key     [context, [value ...]]: every concurrent value of
//!                           a key configured with --siblings, last-write-wins
//!                           winner first, and a causal context
//! MERIDIAN.RESOLVE key context value
//!                           +OK: replaces exactly the values the context
//!                           covers with `value`; a value written concurrently
//!                           with the resolve stays as a sibling
//! MERIDIAN.SNAPSHOT         +snapshot lsn=N bytes=N pause_ms=F write_ms=F
//!                           truncated=N log_first_lsn=N [kept: why]: writes
//!                           a snapshot of the state to the data directory now
//!                           and truncates the log behind it if every peer
//!                           has acknowledged it or is left behind (INFO
//!                           persistence shows the same figures)
//! ```
//!
//! Conflict-log entry ids are consecutive in a region, so a gap between two
//! entries shows entries dropped to keep the log bounded (INFO stats counts
//! them as `conflicts_dropped`). A sibling context is `ctx1:` followed by
//! `region=seq` pairs: the newest write it covers from each region.
//!
//! A session token is `v1:` followed by `region=seq` pairs, e.g.
//! `v1:eu-london=1042,us-east=77`. It is the region's version vector when it
//! was issued, which covers all the connection has seen (a slightly later
//! point than strictly needed, never an earlier one). A client that moves to
//! another region passes it to `MERIDIAN.WAITFOR` there before reading, and
//! so never reads older data than it already saw.

use super::{CmdResult, Ctx};
use bytes::Bytes;
use meridian_core::conflict::{Conflict, Side, CONFLICT_LOG_ENTRIES_MAX};
use meridian_core::glob::glob_match;
use meridian_core::{Kind, Regions, VersionVector, Write};
use meridian_resp::{Args, CommandError, Reply};

pub fn digest(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Ok(Reply::bulk(Bytes::from(ctx.node.digest())))
}

pub fn vv(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let regions = ctx.node.regions();
    Ok(Reply::Array(
        regions
            .ids()
            .map(|id| {
                Reply::Array(vec![
                    Reply::bulk(Bytes::copy_from_slice(regions.name(id).as_bytes())),
                    Reply::integer(ctx.node.vv().get(id) as i64),
                ])
            })
            .collect(),
    ))
}

pub fn lag(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut lag = ctx.shared.lag.lock();
    match args.len() {
        1 => {}
        2 if args[1].eq_ignore_ascii_case(b"reset") => {
            lag.iter_mut().for_each(|l| l.reset());
            return Ok(Reply::ok());
        }
        _ => return Err(CommandError::new(meridian_resp::parse::SYNTAX_ERROR)),
    }
    let regions = ctx.node.regions();
    let me = ctx.node.me();
    Ok(Reply::Array(
        regions
            .ids()
            .filter(|id| *id != me)
            .map(|id| {
                let s = lag.get(id.index()).map(|l| l.summary()).unwrap_or_default();
                Reply::Array(vec![
                    Reply::bulk(Bytes::copy_from_slice(regions.name(id).as_bytes())),
                    Reply::integer(s.count as i64),
                    Reply::Double(s.last_ms),
                    Reply::Double(s.p50_ms),
                    Reply::Double(s.p99_ms),
                    Reply::Double(s.max_ms),
                ])
            })
            .collect(),
    ))
}

/// Longest MERIDIAN.WAITFOR timeout, in milliseconds: a client that needs
/// longer should retry; a connection is held for the whole wait.
pub const WAITFOR_MS_MAX: i64 = 60_000;

pub fn session(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Ok(Reply::bulk(Bytes::from(encode_token(
        ctx.node.regions(),
        ctx.node.vv(),
    ))))
}

pub fn waitfor(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let vv = decode_token(ctx.node.regions(), &args[1])?;
    let ms = meridian_core::num::parse_i64(&args[2])
        .filter(|ms| (0..=WAITFOR_MS_MAX).contains(ms))
        .ok_or_else(|| {
            CommandError::new(format!(
                "ERR timeout must be an integer from 0 to {WAITFOR_MS_MAX} milliseconds"
            ))
        })?;
    if ctx.node.vv().dominates(&vv) {
        return Ok(Reply::integer(1));
    }
    ctx.wait = Some(super::Wait::Applied {
        vv,
        timeout: std::time::Duration::from_millis(ms as u64),
    });
    Ok(Reply::Null)
}

/// MERIDIAN.SNAPSHOT: the connection writes a snapshot once the pipeline
/// has let go of the state lock (see `crate::snapshot::take`).
pub fn snapshot(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    ctx.wait = Some(super::Wait::Snapshot);
    Ok(Reply::Null)
}

/// Encodes a version vector as a session token.
pub fn encode_token(regions: &meridian_core::Regions, vv: &meridian_core::VersionVector) -> String {
    let parts: Vec<String> = regions
        .ids()
        .filter(|id| vv.get(*id) > 0)
        .map(|id| format!("{}={}", regions.name(id), vv.get(id)))
        .collect();
    format!("v1:{}", parts.join(","))
}

/// Decodes a session token; every region it names must be in the cluster.
pub fn decode_token(
    regions: &meridian_core::Regions,
    token: &[u8],
) -> Result<meridian_core::VersionVector, CommandError> {
    let bad = || CommandError::new("ERR invalid session token (expected v1:region=seq,...)");
    let text = std::str::from_utf8(token).map_err(|_| bad())?;
    let body = text.strip_prefix("v1:").ok_or_else(bad)?;
    let mut vv = meridian_core::VersionVector::new(regions.len());
    for part in body.split(',').filter(|p| !p.is_empty()) {
        let (name, seq) = part.split_once('=').ok_or_else(bad)?;
        let id = regions.id(name).map_err(|_| {
            CommandError::new(format!("ERR session token names unknown region '{name}'"))
        })?;
        let seq: u64 = seq.parse().map_err(|_| bad())?;
        vv.set(id, seq);
    }
    Ok(vv)
}

/// Entries MERIDIAN.CONFLICTS returns without COUNT.
pub const CONFLICTS_COUNT_DEFAULT: usize = 10;

fn side_fields(regions: &Regions, prefix: &str, s: &Side, out: &mut Vec<(Reply, Reply)>) {
    let name = |n: &str| Reply::bulk(Bytes::from(format!("{prefix}_{n}")));
    out.push((name("type"), Reply::bulk(s.kind.name())));
    out.push((name("value"), Reply::bulk(s.value.clone())));
    out.push((name("truncated"), Reply::Bool(s.truncated)));
    out.push((
        name("region"),
        Reply::bulk(Bytes::copy_from_slice(regions.name(s.region).as_bytes())),
    ));
    out.push((name("clock"), Reply::bulk(Bytes::from(s.hlc.to_string()))));
}

fn conflict_reply(regions: &Regions, c: &Conflict) -> Reply {
    let s = |t: &'static str| Reply::bulk(t);
    let mut m = vec![
        (s("id"), Reply::integer(c.id as i64)),
        (s("key"), Reply::bulk(c.key.clone())),
        (s("field"), Reply::bulk_or_null(c.field.clone())),
        (s("reason"), s(reason_name(c.reason))),
        (s("why"), s(c.reason.text())),
    ];
    side_fields(regions, "winner", &c.winner, &mut m);
    side_fields(regions, "loser", &c.loser, &mut m);
    Reply::Map(m)
}

fn reason_name(r: meridian_core::conflict::Reason) -> &'static str {
    use meridian_core::conflict::Reason::*;
    match r {
        LaterClock => "later-clock",
        SameClockLaterRegion => "same-clock-later-region",
        TypeClash => "type-clash",
        SiblingFold => "sibling-fold",
    }
}

pub fn conflicts(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut a = Args::new(args);
    let mut count = CONFLICTS_COUNT_DEFAULT;
    let mut pattern = None;
    while a.remaining() > 0 {
        if a.next_keyword_ci("COUNT") {
            let n = a.next_i64()?;
            if n < 0 {
                return Err(CommandError::new("ERR COUNT must be positive"));
            }
            count = (n as usize).min(CONFLICT_LOG_ENTRIES_MAX);
        } else if a.next_keyword_ci("KEY") {
            pattern = Some(a.next_bytes()?.clone());
        } else {
            return Err(CommandError::new(meridian_resp::parse::SYNTAX_ERROR));
        }
    }
    let regions = ctx.node.regions();
    let entries = ctx
        .node
        .conflicts()
        .entries()
        .rev()
        .filter(|c| pattern.as_ref().is_none_or(|p| glob_match(p, &c.key)))
        .take(count)
        .map(|c| conflict_reply(regions, c))
        .collect();
    Ok(Reply::Array(entries))
}

/// Encodes a sibling context: per region, the newest write it covers.
pub fn encode_context(regions: &Regions, vv: &VersionVector) -> String {
    let parts: Vec<String> = regions
        .ids()
        .filter(|id| vv.get(*id) > 0)
        .map(|id| format!("{}={}", regions.name(id), vv.get(id)))
        .collect();
    format!("ctx1:{}", parts.join(","))
}

/// Decodes a sibling context.
pub fn decode_context(regions: &Regions, ctx: &[u8]) -> Result<VersionVector, CommandError> {
    let bad = || CommandError::new("ERR invalid sibling context (expected ctx1:region=seq,...)");
    let text = std::str::from_utf8(ctx).map_err(|_| bad())?;
    let body = text.strip_prefix("ctx1:").ok_or_else(bad)?;
    let mut vv = VersionVector::new(regions.len());
    for part in body.split(',').filter(|p| !p.is_empty()) {
        let (name, seq) = part.split_once('=').ok_or_else(bad)?;
        let id = regions.id(name).map_err(|_| {
            CommandError::new(format!("ERR sibling context names unknown region '{name}'"))
        })?;
        vv.set(id, seq.parse().map_err(|_| bad())?);
    }
    Ok(vv)
}

fn check_sibling(ctx: &Ctx<'_>, key: &[u8]) -> Result<(), CommandError> {
    if !ctx.node.is_sibling(key) {
        return Err(CommandError::new(
            "ERR key does not match any --siblings pattern: its concurrent values are resolved \
             by last-write-wins",
        ));
    }
    Ok(())
}

pub fn siblings(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    check_sibling(ctx, &args[1])?;
    let regions = ctx.node.regions();
    let mut vv = VersionVector::new(regions.len());
    let mut values = Vec::new();
    if let Some(v) = ctx.typed(&args[1], Kind::String)? {
        for e in v.state.string().siblings(v.cutoff) {
            if e.dot.seq > vv.get(e.dot.region) {
                vv.set(e.dot.region, e.dot.seq);
            }
            values.push(Reply::bulk(e.value.clone()));
        }
    }
    Ok(Reply::Array(vec![
        Reply::bulk(Bytes::from(encode_context(regions, &vv))),
        Reply::Array(values),
    ]))
}

pub fn resolve(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    check_sibling(ctx, &args[1])?;
    super::strings::check_sizes(&args[1], &args[3])?;
    let context = decode_context(ctx.node.regions(), &args[2])?;
    ctx.typed(&args[1], Kind::String)?;
    ctx.write(
        args[1].clone(),
        Write::Resolve {
            context,
            value: args[3].clone(),
        },
    );
    Ok(Reply::ok())
}
