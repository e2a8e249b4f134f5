//! Hash commands. Each field is a register with a counter: concurrent HSETs
//! of one field are read by last-write-wins (the loser goes to the conflict
//! log), HINCRBY increments all count, and an HSET or HINCRBY concurrent
//! with an HDEL of the same field, or with a DEL of the key, survives it.
//!
//! ```text
//! HSET key field value [field value ...]    :number of fields added
//! HMSET key field value [field value ...]   +OK
//! HSETNX key field value                    :1 set, :0 field exists
//! HGET key field                            $value | null
//! HMGET key field [field ...]               array of $value | null
//! HDEL key field [field ...]                :number removed
//! HGETALL key                               map field -> value (by field)
//! HLEN key | HSTRLEN key field              :count | :length
//! HEXISTS key field                         :1 | :0
//! HKEYS key | HVALS key                     array (by field)
//! HINCRBY key field n                       :new value
//! HINCRBYFLOAT key field f                  $new value
//! ```

use super::{check_total, CmdResult, Ctx};
use bytes::Bytes;
use meridian_core::fields::Fields;
use meridian_core::hlc::Hlc;
use meridian_core::num::{format_f64, parse_f64, parse_i64};
use meridian_core::{FieldWrite, Kind, Write};
use meridian_resp::{CommandError, Reply};

/// The hash at `key` and the cutoff to read it with (WRONGTYPE if another
/// type; `None` if no key).
fn hash<'a>(ctx: &'a Ctx<'_>, key: &[u8]) -> Result<Option<(&'a Fields, Hlc)>, CommandError> {
    Ok(ctx
        .typed(key, Kind::Hash)?
        .and_then(|v| v.hash().map(|h| (h, v.cutoff))))
}

fn pairs(args: &[Bytes], name: &str) -> Result<Vec<(Bytes, FieldWrite)>, CommandError> {
    if args.len() < 4 || !args.len().is_multiple_of(2) {
        return Err(CommandError::new(meridian_resp::wrong_args(name)));
    }
    check_total(args)?;
    Ok(args[2..]
        .chunks(2)
        .map(|p| (p[0].clone(), FieldWrite::Set(p[1].clone())))
        .collect())
}

pub fn hset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let writes = pairs(args, "hset")?;
    let added = {
        let h = hash(ctx, &args[1])?;
        let mut fields: Vec<&Bytes> = writes.iter().map(|(f, _)| f).collect();
        fields.sort();
        fields.dedup();
        fields
            .iter()
            .filter(|f| !h.is_some_and(|(h, c)| h.contains_at(f, c)))
            .count()
    };
    ctx.write(
        args[1].clone(),
        Write::Fields {
            kind: Kind::Hash,
            writes,
        },
    );
    Ok(Reply::integer(added as i64))
}

pub fn hmset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    hset(ctx, args).map(|_| Reply::ok())
}

pub fn hsetnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    check_total(args)?;
    if hash(ctx, &args[1])?.is_some_and(|(h, c)| h.contains_at(&args[2], c)) {
        return Ok(Reply::integer(0));
    }
    ctx.write(
        args[1].clone(),
        Write::Fields {
            kind: Kind::Hash,
            writes: vec![(args[2].clone(), FieldWrite::Set(args[3].clone()))],
        },
    );
    Ok(Reply::integer(1))
}

pub fn hget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let v = hash(ctx, &args[1])?.and_then(|(h, c)| h.read_at(&args[2], c));
    Ok(Reply::bulk_or_null(v))
}

pub fn hmget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let h = hash(ctx, &args[1])?;
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|f| Reply::bulk_or_null(h.and_then(|(h, c)| h.read_at(f, c))))
            .collect(),
    ))
}

pub fn hdel(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut fields: Vec<Bytes> = match hash(ctx, &args[1])? {
        None => return Ok(Reply::integer(0)),
        Some((h, c)) => args[2..]
            .iter()
            .filter(|f| h.contains_at(f, c))
            .cloned()
            .collect(),
    };
    fields.sort();
    fields.dedup();
    if fields.is_empty() {
        return Ok(Reply::integer(0));
    }
    let n = fields.len();
    ctx.write(
        args[1].clone(),
        Write::Fields {
            kind: Kind::Hash,
            writes: fields.into_iter().map(|f| (f, FieldWrite::Del)).collect(),
        },
    );
    Ok(Reply::integer(n as i64))
}

/// The visible (field, value) pairs, by field.
fn entries(h: &Fields, cutoff: Hlc) -> Vec<(Bytes, Bytes)> {
    let mut v: Vec<(Bytes, Bytes)> = h
        .iter_at(cutoff)
        .filter_map(|(f, s)| s.read_at(cutoff).map(|v| (f.clone(), v)))
        .collect();
    v.sort();
    v
}

pub fn hgetall(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let e = hash(ctx, &args[1])?.map_or_else(Vec::new, |(h, c)| entries(h, c));
    Ok(Reply::Map(
        e.into_iter()
            .map(|(f, v)| (Reply::bulk(f), Reply::bulk(v)))
            .collect(),
    ))
}

pub fn hkeys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let e = hash(ctx, &args[1])?.map_or_else(Vec::new, |(h, c)| entries(h, c));
    Ok(Reply::bulks(e.into_iter().map(|(f, _)| f)))
}

pub fn hvals(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let e = hash(ctx, &args[1])?.map_or_else(Vec::new, |(h, c)| entries(h, c));
    Ok(Reply::bulks(e.into_iter().map(|(_, v)| v)))
}

pub fn hlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = hash(ctx, &args[1])?.map_or(0, |(h, c)| h.len_at(c));
    Ok(Reply::integer(n as i64))
}

pub fn hstrlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = hash(ctx, &args[1])?
        .and_then(|(h, c)| h.read_at(&args[2], c))
        .map_or(0, |v| v.len());
    Ok(Reply::integer(n as i64))
}

pub fn hexists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let yes = hash(ctx, &args[1])?.is_some_and(|(h, c)| h.contains_at(&args[2], c));
    Ok(Reply::integer(yes as i64))
}

pub fn hincrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    check_total(args)?;
    let by = parse_i64(&args[3])
        .ok_or_else(|| CommandError::new(meridian_resp::parse::NOT_AN_INTEGER))?;
    let current = match hash(ctx, &args[1])?.and_then(|(h, c)| h.read_at(&args[2], c)) {
        None => 0,
        Some(v) => {
            parse_i64(&v).ok_or_else(|| CommandError::new("ERR hash value is not an integer"))?
        }
    };
    let new = current
        .checked_add(by)
        .ok_or_else(|| CommandError::new("ERR increment or decrement would overflow"))?;
    ctx.write(
        args[1].clone(),
        Write::Fields {
            kind: Kind::Hash,
            writes: vec![(args[2].clone(), FieldWrite::IncrBy(by))],
        },
    );
    Ok(Reply::integer(new))
}

pub fn hincrbyfloat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    check_total(args)?;
    let by =
        parse_f64(&args[3]).ok_or_else(|| CommandError::new(meridian_resp::parse::NOT_A_FLOAT))?;
    let current = match hash(ctx, &args[1])?.and_then(|(h, c)| h.read_at(&args[2], c)) {
        None => 0.0,
        Some(v) => {
            parse_f64(&v).ok_or_else(|| CommandError::new("ERR hash value is not a float"))?
        }
    };
    if !(current + by).is_finite() {
        return Err(CommandError::new(
            "ERR increment would produce NaN or Infinity",
        ));
    }
    ctx.write(
        args[1].clone(),
        Write::Fields {
            kind: Kind::Hash,
            writes: vec![(args[2].clone(), FieldWrite::IncrByFloat(by))],
        },
    );
    let now = hash(ctx, &args[1])?
        .and_then(|(h, c)| h.read_at(&args[2], c))
        .unwrap_or_else(|| Bytes::from(format_f64(current + by)));
    Ok(Reply::bulk(now))
}
