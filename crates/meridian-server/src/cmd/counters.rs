//! Counter commands. Every increment from every region counts: each region
//! adds to its own running total, and a key's value is its last-write-wins
//! string plus the increments no SET or DEL has seen.
//!
//! ```text
//! INCR key | DECR key                :new value
//! INCRBY key n | DECRBY key n        :new value
//! INCRBYFLOAT key f                  $new value
//! ```

use super::{CmdResult, Ctx};
use bytes::Bytes;
use meridian_core::num::{format_f64, parse_f64, parse_i64};
use meridian_core::Write;
use meridian_resp::{CommandError, Reply};

const NOT_INTEGER: &str = "ERR value is not an integer or out of range";

pub fn incr(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    incr_by(ctx, &args[1], 1)
}

pub fn decr(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    incr_by(ctx, &args[1], -1)
}

pub fn incrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let by = parse_i64(&args[2]).ok_or_else(|| CommandError::new(NOT_INTEGER))?;
    incr_by(ctx, &args[1], by)
}

pub fn decrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let by = parse_i64(&args[2])
        .and_then(i64::checked_neg)
        .ok_or_else(|| CommandError::new(NOT_INTEGER))?;
    incr_by(ctx, &args[1], by)
}

fn incr_by(ctx: &mut Ctx<'_>, key: &Bytes, by: i64) -> CmdResult {
    super::strings::check_sizes(key, b"")?;
    let current = match super::strings::string_value(ctx, key)? {
        None => 0,
        Some(v) => parse_i64(&v).ok_or_else(|| CommandError::new(NOT_INTEGER))?,
    };
    let new = current
        .checked_add(by)
        .ok_or_else(|| CommandError::new("ERR increment or decrement would overflow"))?;
    ctx.write(key.clone(), Write::IncrBy(by));
    Ok(Reply::integer(new))
}

pub fn incrbyfloat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    super::strings::check_sizes(key, b"")?;
    let by =
        parse_f64(&args[2]).ok_or_else(|| CommandError::new("ERR value is not a valid float"))?;
    let current = match super::strings::string_value(ctx, key)? {
        None => 0.0,
        Some(v) => {
            parse_f64(&v).ok_or_else(|| CommandError::new("ERR value is not a valid float"))?
        }
    };
    if !(current + by).is_finite() {
        return Err(CommandError::new(
            "ERR increment would produce NaN or Infinity",
        ));
    }
    ctx.write(key.clone(), Write::IncrByFloat(by));
    // Reply with what a GET now returns, so the two never disagree.
    let now = ctx
        .node
        .get(key, ctx.now_ms)
        .unwrap_or_else(|| Bytes::from(format_f64(current + by)));
    Ok(Reply::bulk(now))
}
