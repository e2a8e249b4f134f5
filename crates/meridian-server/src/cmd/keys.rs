//! Keyspace commands.
//!
//! ```text
//! DEL key [key ...] | UNLINK key [key ...]   :number removed
//! EXISTS key [key ...]                       :number existing (repeats count)
//! DBSIZE                                     :number of keys
//! TTL key | PTTL key                         :-2 no key, -1 no expiry, else time left
//! ```
//!
//! DEL is an observed remove: it removes what this region had seen of the
//! key; a concurrent write in another region survives it.

use super::{CmdResult, Ctx};
use bytes::Bytes;
use meridian_core::Write;
use meridian_resp::Reply;

pub fn del(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut removed = 0;
    for key in &args[1..] {
        if ctx.node.exists(key, ctx.now_ms) {
            ctx.write(key.clone(), Write::Del);
            removed += 1;
        }
    }
    Ok(Reply::integer(removed))
}

pub fn exists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = args[1..]
        .iter()
        .filter(|k| ctx.node.exists(k, ctx.now_ms))
        .count();
    Ok(Reply::integer(n as i64))
}

pub fn dbsize(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Ok(Reply::integer(ctx.node.keys().live_keys() as i64))
}

fn ttl_ms(ctx: &Ctx<'_>, key: &[u8]) -> i64 {
    if !ctx.node.exists(key, ctx.now_ms) {
        return -2;
    }
    match ctx.node.keys().get(key).and_then(|s| s.expire_at_ms()) {
        None => -1,
        Some(at) => at.saturating_sub(ctx.now_ms) as i64,
    }
}

pub fn ttl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let ms = ttl_ms(ctx, &args[1]);
    Ok(Reply::integer(if ms < 0 { ms } else { (ms + 500) / 1000 }))
}

pub fn pttl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Reply::integer(ttl_ms(ctx, &args[1])))
}
