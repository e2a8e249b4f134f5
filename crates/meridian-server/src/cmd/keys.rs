//! Keyspace commands.
//!
//! ```text
//! DEL key [key ...] | UNLINK key [key ...]   :number removed
//! EXISTS key [key ...]                       :number existing (repeats count)
//! TYPE key                                   +string|hash|set|zset|list|none
//! KEYS pattern                               array of keys
//! SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]   [cursor, keys]
//! DBSIZE                                     :number of keys
//! FLUSHALL [ASYNC|SYNC] | FLUSHDB [ASYNC|SYNC]   +OK
//! EXPIRE key seconds [NX|XX|GT|LT]           :1 set, :0 not (no key, or the condition failed)
//! PEXPIRE key ms [...] | EXPIREAT key unix-s [...] | PEXPIREAT key unix-ms [...]
//! PERSIST key                                :1 if a TTL was removed (written whenever the key exists)
//! TTL key | PTTL key                         :-2 no key, -1 no expiry, else time left
//! EXPIRETIME key | PEXPIRETIME key           :-2 no key, -1 no expiry, else the deadline
//! RENAME key newkey | RENAMENX key newkey    refused (see below)
//! ```
//!
//! DEL is an observed remove: it removes what this region had seen of the
//! key, of every type; a concurrent write in another region survives it.
//! FLUSHALL is a DEL of every key this region sees, with the same rule.
//!
//! Expiry (see `meridian_core::expiry`): concurrent EXPIREs keep the latest
//! deadline, PERSIST beats any concurrent TTL (so PERSIST of an existing key
//! is written even when no TTL is visible here: a concurrent EXPIRE may still
//! be on its way). An EXPIRE whose deadline is
//! already past deletes the key, as in Redis.
//!
//! RENAME is refused: it is a DEL of one key and a write of another, and a
//! write to the old key concurrent with it in another region would survive
//! the DEL and split the data between two keys. An application that needs it
//! copies the value and deletes the old key, and so decides what a
//! concurrent writer should see.
//!
//! SCAN orders keys by a fixed hash of their name; the cursor is the next
//! hash to look at. Every key present for the whole scan is returned exactly
//! once; each call costs a pass over the keyspace, so a full scan of n keys
//! with COUNT c costs n*n/c steps (use a large COUNT on large keyspaces).

use super::{CmdResult, Ctx};
use bytes::Bytes;
use meridian_core::{Kind, Write};
use meridian_resp::{Args, CommandError, Reply};

/// Most keys one SCAN call returns when asked for more (its COUNT).
pub const SCAN_COUNT_MAX: usize = 100_000;

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

pub fn type_(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Reply::simple(
        ctx.view(&args[1]).map_or("none", |v| v.kind.name()),
    ))
}

fn parse_kind(name: &[u8]) -> Result<Kind, CommandError> {
    Kind::ALL
        .into_iter()
        .find(|k| k.name().as_bytes().eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            CommandError::new(format!(
                "ERR unknown type name '{}'",
                String::from_utf8_lossy(name)
            ))
        })
}

pub fn keys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut keys: Vec<Bytes> = ctx
        .node
        .keys()
        .matching(ctx.now_ms, Some(&args[1]), None)
        .cloned()
        .collect();
    keys.sort();
    Ok(Reply::bulks(keys))
}

pub fn scan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut a = Args::new(args);
    let cursor = a.next_bytes()?;
    let cursor: u64 = std::str::from_utf8(cursor)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| CommandError::new("ERR invalid cursor"))?;
    let mut pattern = None;
    let mut count = 10usize;
    let mut kind = None;
    while a.remaining() > 0 {
        if a.next_keyword_ci("MATCH") {
            pattern = Some(a.next_bytes()?.clone());
        } else if a.next_keyword_ci("COUNT") {
            let n = a.next_i64()?;
            if n < 1 {
                return Err(CommandError::new(meridian_resp::parse::SYNTAX_ERROR));
            }
            count = (n as usize).min(SCAN_COUNT_MAX);
        } else if a.next_keyword_ci("TYPE") {
            kind = Some(parse_kind(a.next_bytes()?)?);
        } else {
            return Err(CommandError::new(meridian_resp::parse::SYNTAX_ERROR));
        }
    }
    let page = ctx
        .node
        .keys()
        .scan(ctx.now_ms, cursor, count, pattern.as_deref(), kind);
    Ok(Reply::Array(vec![
        Reply::bulk(Bytes::from(page.next.to_string())),
        Reply::bulks(page.keys),
    ]))
}

pub fn flushall(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    match args.get(1) {
        None => {}
        Some(a) if a.eq_ignore_ascii_case(b"async") || a.eq_ignore_ascii_case(b"sync") => {}
        Some(_) => return Err(CommandError::new(meridian_resp::parse::SYNTAX_ERROR)),
    }
    if args.len() > 2 {
        return Err(CommandError::new(meridian_resp::parse::SYNTAX_ERROR));
    }
    let keys: Vec<Bytes> = ctx
        .node
        .keys()
        .matching(ctx.now_ms, None, None)
        .cloned()
        .collect();
    for key in keys {
        ctx.write(key, Write::Del);
    }
    Ok(Reply::ok())
}

pub fn rename(_ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    Err(CommandError::new(
        "ERR RENAME is not supported in an active-active database: a write to the old key \
         in another region would survive the rename and split the data; copy the value and DEL \
         the old key instead",
    ))
}

/// Time to the deadline in ms: -2 no key, -1 no deadline ahead.
fn ttl_ms(ctx: &Ctx<'_>, key: &[u8]) -> i64 {
    if !ctx.node.exists(key, ctx.now_ms) {
        return -2;
    }
    match super::strings::deadline(ctx, key) {
        None => -1,
        Some(at) => (at - ctx.now_ms) as i64,
    }
}

pub fn ttl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let ms = ttl_ms(ctx, &args[1]);
    Ok(Reply::integer(if ms < 0 { ms } else { (ms + 500) / 1000 }))
}

pub fn pttl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Reply::integer(ttl_ms(ctx, &args[1])))
}

fn expiretime_ms(ctx: &Ctx<'_>, key: &[u8]) -> i64 {
    if !ctx.node.exists(key, ctx.now_ms) {
        return -2;
    }
    super::strings::deadline(ctx, key).map_or(-1, |at| at as i64)
}

pub fn expiretime(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let ms = expiretime_ms(ctx, &args[1]);
    Ok(Reply::integer(if ms < 0 { ms } else { ms / 1000 }))
}

pub fn pexpiretime(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Reply::integer(expiretime_ms(ctx, &args[1])))
}

/// How an EXPIRE-family argument reads.
#[derive(Clone, Copy)]
enum Unit {
    Seconds,
    Millis,
    UnixSeconds,
    UnixMillis,
}

fn expire_generic(ctx: &mut Ctx<'_>, args: &[Bytes], unit: Unit) -> CmdResult {
    let mut a = Args::new(args);
    let key = a.next_bytes()?.clone();
    let n = a.next_i64()?;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    while a.remaining() > 0 {
        let opt = a.next_bytes()?.to_ascii_uppercase();
        match opt.as_slice() {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"GT" => gt = true,
            b"LT" => lt = true,
            _ => {
                return Err(CommandError::new(format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(&opt)
                )))
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CommandError::new(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(CommandError::new(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    let now = ctx.now_ms as i128;
    let at: i128 = match unit {
        Unit::Seconds => now + n as i128 * 1000,
        Unit::Millis => now + n as i128,
        Unit::UnixSeconds => n as i128 * 1000,
        Unit::UnixMillis => n as i128,
    };
    let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
    if !(i64::MIN as i128..=i64::MAX as i128).contains(&at) {
        return Err(CommandError::new(format!(
            "ERR invalid expire time in '{name}' command"
        )));
    }
    if !ctx.node.exists(&key, ctx.now_ms) {
        return Ok(Reply::integer(0));
    }
    let current = super::strings::deadline(ctx, &key);
    let ok = match current {
        None => !xx && !gt,
        Some(cur) => !nx && (!gt || at > cur as i128) && (!lt || at < cur as i128),
    };
    if !ok {
        return Ok(Reply::integer(0));
    }
    if at <= now {
        // A deadline already past deletes the key, as in Redis.
        ctx.write(key, Write::Del);
    } else {
        ctx.write(
            key,
            Write::Expire {
                at_ms: Some(at as u64),
            },
        );
    }
    Ok(Reply::integer(1))
}

pub fn expire(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, Unit::Seconds)
}

pub fn pexpire(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, Unit::Millis)
}

pub fn expireat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, Unit::UnixSeconds)
}

pub fn pexpireat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, Unit::UnixMillis)
}

pub fn persist(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    if !ctx.node.exists(key, ctx.now_ms) {
        return Ok(Reply::integer(0));
    }
    // Written even when no TTL is visible here (the reply is then 0, as in
    // Redis): an EXPIRE in another region may be on its way, and PERSIST
    // beats every TTL it has not seen, whatever the arrival order.
    let had_ttl = super::strings::deadline(ctx, key).is_some();
    ctx.write(key.clone(), Write::Expire { at_ms: None });
    Ok(Reply::integer(i64::from(had_ttl)))
}
