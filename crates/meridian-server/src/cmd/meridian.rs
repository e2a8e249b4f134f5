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
//! ```
//!
//! A session token is `v1:` followed by `region=seq` pairs, e.g.
//! `v1:eu-london=1042,us-east=77`. It is the region's version vector when it
//! was issued, which covers all the connection has seen (a slightly later
//! point than strictly needed, never an earlier one). A client that moves to
//! another region passes it to `MERIDIAN.WAITFOR` there before reading, and
//! so never reads older data than it already saw.

use super::{CmdResult, Ctx};
use bytes::Bytes;
use meridian_resp::{CommandError, Reply};

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
    ctx.wait = Some(super::Wait {
        vv,
        timeout: std::time::Duration::from_millis(ms as u64),
    });
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
