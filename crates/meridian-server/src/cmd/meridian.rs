//! Meridian's own commands.
//!
//! ```text
//! MERIDIAN.DIGEST           $hex digest of the whole keyspace (equal in two
//!                           regions exactly when their states are identical)
//! MERIDIAN.VV               array of [region, seq] pairs: what this region has applied
//! MERIDIAN.LAG [RESET]      per origin region: count, last, p50, p99, max (ms)
//! ```

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
