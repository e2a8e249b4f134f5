//! String commands. Strings are last-write-wins registers on the hybrid
//! logical clock; a value replaced concurrently counts as a conflict.
//!
//! ```text
//! SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]
//! GET key                   $value | null
//! GETSET key value          $old | null
//! MGET key [key ...]        array of $value | null
//! MSET key value [key value ...]   +OK (each key is its own replicated write)
//! APPEND key value          :new length
//! STRLEN key                :length
//! ```

use super::{CmdResult, Ctx};
use bytes::{Bytes, BytesMut};
use meridian_core::op::{KEY_BYTES_MAX, VALUE_BYTES_MAX};
use meridian_core::{Kind, Write};
use meridian_resp::{Args, CommandError, Reply};

/// Refuses keys and values over the limits every region can carry.
pub fn check_sizes(key: &[u8], value: &[u8]) -> Result<(), CommandError> {
    if key.len() > KEY_BYTES_MAX {
        return Err(CommandError::new(format!(
            "ERR key is {} bytes; the limit is {KEY_BYTES_MAX}",
            key.len()
        )));
    }
    if value.len() > VALUE_BYTES_MAX {
        return Err(CommandError::new(format!(
            "ERR string exceeds maximum allowed size ({VALUE_BYTES_MAX} bytes)"
        )));
    }
    Ok(())
}

/// The string value of `key`; `None` if it holds nothing; WRONGTYPE if it
/// holds another type.
pub fn string_value(ctx: &Ctx<'_>, key: &[u8]) -> Result<Option<Bytes>, CommandError> {
    match ctx.node.get(key, ctx.now_ms) {
        Some(v) => Ok(Some(v)),
        // A miss: nothing there, or another type.
        None => ctx.typed(key, Kind::String).map(|_| None),
    }
}

/// The deadline of `key` if it has one still ahead.
pub fn deadline(ctx: &Ctx<'_>, key: &[u8]) -> Option<u64> {
    ctx.node
        .keys()
        .get(key)
        .and_then(|s| s.deadline())
        .filter(|at| *at > ctx.now_ms)
}

pub fn get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Reply::bulk_or_null(string_value(ctx, &args[1])?))
}

pub fn mget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Reply::Array(
        args[1..]
            .iter()
            .map(|k| Reply::bulk_or_null(ctx.node.get(k, ctx.now_ms)))
            .collect(),
    ))
}

pub fn strlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let len = string_value(ctx, &args[1])?.map_or(0, |v| v.len());
    Ok(Reply::integer(len as i64))
}

#[derive(PartialEq)]
enum Cond {
    Always,
    Nx,
    Xx,
}

enum Ttl {
    None,
    At(u64),
    Keep,
}

pub fn set(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut a = Args::new(args);
    let key = a.next_bytes()?.clone();
    let value = a.next_bytes()?.clone();
    check_sizes(&key, &value)?;
    let mut cond = Cond::Always;
    let mut get = false;
    let mut ttl = Ttl::None;
    let syntax = || CommandError::new(meridian_resp::parse::SYNTAX_ERROR);
    while a.remaining() > 0 {
        let opt = a.next_bytes()?.to_ascii_uppercase();
        match opt.as_slice() {
            b"NX" if cond == Cond::Always => cond = Cond::Nx,
            b"XX" if cond == Cond::Always => cond = Cond::Xx,
            b"GET" => get = true,
            b"KEEPTTL" if matches!(ttl, Ttl::None) => ttl = Ttl::Keep,
            b"EX" | b"PX" | b"EXAT" | b"PXAT" if matches!(ttl, Ttl::None) => {
                let n = a.next_i64()?;
                let at = expire_at(ctx.now_ms, &opt, n)
                    .ok_or_else(|| CommandError::new("ERR invalid expire time in 'set' command"))?;
                ttl = Ttl::At(at);
            }
            _ => return Err(syntax()),
        }
    }
    // Only NX, XX, GET and KEEPTTL need the current value; plain SET, the
    // hot path, skips the lookup. SET replaces a key of any type, but SET
    // GET of another type is WRONGTYPE, as in Redis.
    let old = if get { string_value(ctx, &key)? } else { None };
    let exists = match cond {
        Cond::Always => false,
        _ => ctx.node.exists(&key, ctx.now_ms),
    };
    let proceed = match cond {
        Cond::Always => true,
        Cond::Nx => !exists,
        Cond::Xx => exists,
    };
    if proceed {
        let expire_at_ms = match ttl {
            Ttl::None => None,
            Ttl::At(at) => Some(at),
            Ttl::Keep => deadline(ctx, &key),
        };
        ctx.write(
            key,
            Write::Set {
                value,
                expire_at_ms,
            },
        );
    }
    Ok(match (get, proceed) {
        (true, _) => Reply::bulk_or_null(old),
        (false, true) => Reply::ok(),
        (false, false) => Reply::Null,
    })
}

/// The absolute expiry time for `EX n`, `PX n`, `EXAT n` or `PXAT n`, or
/// `None` if it is not positive or overflows.
fn expire_at(now_ms: u64, unit: &[u8], n: i64) -> Option<u64> {
    if n <= 0 {
        return None;
    }
    let n = n as u64;
    match unit {
        b"EX" => now_ms.checked_add(n.checked_mul(1000)?),
        b"PX" => now_ms.checked_add(n),
        b"EXAT" => n.checked_mul(1000),
        _ => Some(n),
    }
}

/// SETNX key value: SET key value NX, replying 1 if it set the key, else 0.
pub fn setnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    check_sizes(&args[1], &args[2])?;
    if ctx.node.exists(&args[1], ctx.now_ms) {
        return Ok(Reply::integer(0));
    }
    ctx.write(
        args[1].clone(),
        Write::Set {
            value: args[2].clone(),
            expire_at_ms: None,
        },
    );
    Ok(Reply::integer(1))
}

/// SETEX key seconds value and PSETEX key milliseconds value: SET with
/// EX or PX.
pub fn setex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (unit, name): (&[u8], &str) = if args[0].eq_ignore_ascii_case(b"psetex") {
        (b"PX", "psetex")
    } else {
        (b"EX", "setex")
    };
    check_sizes(&args[1], &args[3])?;
    let n = meridian_resp::number::parse_i64(&args[2])
        .ok_or_else(|| CommandError::new(meridian_resp::parse::NOT_AN_INTEGER))?;
    let at = expire_at(ctx.now_ms, unit, n)
        .ok_or_else(|| CommandError::new(format!("ERR invalid expire time in '{name}' command")))?;
    ctx.write(
        args[1].clone(),
        Write::Set {
            value: args[3].clone(),
            expire_at_ms: Some(at),
        },
    );
    Ok(Reply::ok())
}

pub fn getset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    check_sizes(&args[1], &args[2])?;
    let old = string_value(ctx, &args[1])?;
    ctx.write(
        args[1].clone(),
        Write::Set {
            value: args[2].clone(),
            expire_at_ms: None,
        },
    );
    Ok(Reply::bulk_or_null(old))
}

pub fn mset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() % 2 != 1 {
        return Err(CommandError::new(meridian_resp::wrong_args("mset")));
    }
    for pair in args[1..].chunks(2) {
        check_sizes(&pair[0], &pair[1])?;
    }
    for pair in args[1..].chunks(2) {
        ctx.write(
            pair[0].clone(),
            Write::Set {
                value: pair[1].clone(),
                expire_at_ms: None,
            },
        );
    }
    Ok(Reply::ok())
}

pub fn append(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let visible = string_value(ctx, &args[1])?;
    let expire_at_ms = match visible {
        Some(_) => deadline(ctx, &args[1]),
        None => None,
    };
    let old = visible.unwrap_or_default();
    if old.len() + args[2].len() > VALUE_BYTES_MAX {
        return Err(CommandError::new(format!(
            "ERR string exceeds maximum allowed size ({VALUE_BYTES_MAX} bytes)"
        )));
    }
    check_sizes(&args[1], b"")?;
    let mut value = BytesMut::with_capacity(old.len() + args[2].len());
    value.extend_from_slice(&old);
    value.extend_from_slice(&args[2]);
    let len = value.len();
    ctx.write(
        args[1].clone(),
        Write::Set {
            value: value.freeze(),
            expire_at_ms,
        },
    );
    Ok(Reply::integer(len as i64))
}
