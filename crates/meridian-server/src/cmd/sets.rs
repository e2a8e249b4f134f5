//! Set commands. A set is an add-wins observed-remove set: an SREM removes
//! the additions of a member its region had seen, so an SADD of the same
//! member concurrent with it survives, and a member is in the set exactly
//! when some SADD of it was seen by no SREM (or DEL) yet.
//!
//! ```text
//! SADD key member [member ...]        :number added
//! SREM key member [member ...]        :number removed
//! SMEMBERS key                        set of members (sorted)
//! SISMEMBER key member                :1 | :0
//! SMISMEMBER key member [member ...]  array of :1 | :0
//! SCARD key                           :count
//! SPOP key [count]                    $member | null, or array with a count
//! SRANDMEMBER key [count]             $member | null, or array with a count
//!                                     (negative count: may repeat)
//! SINTER key [key ...] | SUNION key [key ...] | SDIFF key [key ...]   set
//! ```
//!
//! SPOP removes what it returns with an SREM; two regions popping at once
//! may return the same member (each removes its own view of it).

use super::{check_total, CmdResult, Ctx};
use bytes::Bytes;
use meridian_core::fields::Fields;
use meridian_core::hlc::Hlc;
use meridian_core::num::parse_i64;
use meridian_core::{FieldWrite, Kind, Write};
use meridian_resp::{CommandError, Reply};
use rand::seq::SliceRandom;
use rand::Rng;
use std::collections::BTreeSet;

/// The set at `key` and the cutoff to read it with.
fn set<'a>(ctx: &'a Ctx<'_>, key: &[u8]) -> Result<Option<(&'a Fields, Hlc)>, CommandError> {
    Ok(ctx
        .typed(key, Kind::Set)?
        .and_then(|v| v.set().map(|s| (s, v.cutoff))))
}

/// The members of the set at `key`, sorted (empty if no key).
fn members(ctx: &Ctx<'_>, key: &[u8]) -> Result<Vec<Bytes>, CommandError> {
    let mut v: Vec<Bytes> = match set(ctx, key)? {
        None => Vec::new(),
        Some((s, c)) => s.iter_at(c).map(|(m, _)| m.clone()).collect(),
    };
    v.sort();
    Ok(v)
}

fn write(ctx: &mut Ctx<'_>, key: &Bytes, members: Vec<Bytes>, w: FieldWrite) {
    ctx.write(
        key.clone(),
        Write::Fields {
            kind: Kind::Set,
            writes: members.into_iter().map(|m| (m, w.clone())).collect(),
        },
    );
}

pub fn sadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    check_total(args)?;
    let mut new: Vec<Bytes> = {
        let s = set(ctx, &args[1])?;
        args[2..]
            .iter()
            .filter(|m| !s.is_some_and(|(s, c)| s.contains_at(m, c)))
            .cloned()
            .collect()
    };
    new.sort();
    new.dedup();
    let n = new.len();
    // Members already present are written too: the SADD is then seen by
    // later removals, as Redis users expect an SADD to "touch" the member.
    let mut all: Vec<Bytes> = args[2..].to_vec();
    all.sort();
    all.dedup();
    write(ctx, &args[1], all, FieldWrite::Set(Bytes::new()));
    Ok(Reply::integer(n as i64))
}

pub fn srem(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut gone: Vec<Bytes> = match set(ctx, &args[1])? {
        None => return Ok(Reply::integer(0)),
        Some((s, c)) => args[2..]
            .iter()
            .filter(|m| s.contains_at(m, c))
            .cloned()
            .collect(),
    };
    gone.sort();
    gone.dedup();
    let n = gone.len();
    if n > 0 {
        write(ctx, &args[1], gone, FieldWrite::Del);
    }
    Ok(Reply::integer(n as i64))
}

pub fn smembers(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Ok(set_reply(members(ctx, &args[1])?))
}

fn set_reply(members: impl IntoIterator<Item = Bytes>) -> Reply {
    Reply::Set(members.into_iter().map(Reply::bulk).collect())
}

pub fn sismember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let yes = set(ctx, &args[1])?.is_some_and(|(s, c)| s.contains_at(&args[2], c));
    Ok(Reply::integer(yes as i64))
}

pub fn smismember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let s = set(ctx, &args[1])?;
    Ok(Reply::Array(
        args[2..]
            .iter()
            .map(|m| Reply::integer(s.is_some_and(|(s, c)| s.contains_at(m, c)) as i64))
            .collect(),
    ))
}

pub fn scard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = set(ctx, &args[1])?.map_or(0, |(s, c)| s.len_at(c));
    Ok(Reply::integer(n as i64))
}

/// The optional count argument of SPOP and SRANDMEMBER.
fn count_arg(args: &[Bytes], allow_negative: bool) -> Result<Option<i64>, CommandError> {
    match args.len() {
        2 => Ok(None),
        3 => {
            let n = parse_i64(&args[2])
                .ok_or_else(|| CommandError::new("ERR value is out of range, must be positive"))?;
            if n < 0 && !allow_negative {
                return Err(CommandError::new(
                    "ERR value is out of range, must be positive",
                ));
            }
            Ok(Some(n))
        }
        _ => Err(CommandError::new(meridian_resp::parse::SYNTAX_ERROR)),
    }
}

pub fn spop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let count = count_arg(args, false)?;
    let mut all = members(ctx, &args[1])?;
    let want = count.unwrap_or(1) as usize;
    all.shuffle(&mut rand::thread_rng());
    all.truncate(want);
    if !all.is_empty() {
        write(ctx, &args[1], all.clone(), FieldWrite::Del);
    }
    Ok(match count {
        None => Reply::bulk_or_null(all.into_iter().next()),
        Some(_) => set_reply(all),
    })
}

pub fn srandmember(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let count = count_arg(args, true)?;
    let all = members(ctx, &args[1])?;
    let mut rng = rand::thread_rng();
    Ok(match count {
        None => Reply::bulk_or_null(all.choose(&mut rng).cloned()),
        Some(n) if n >= 0 => {
            let mut all = all;
            all.shuffle(&mut rng);
            all.truncate(n as usize);
            Reply::bulks(all)
        }
        Some(n) if all.is_empty() => {
            let _ = n;
            Reply::Array(Vec::new())
        }
        Some(n) => Reply::bulks(
            (0..n.unsigned_abs().min(super::keys::SCAN_COUNT_MAX as u64))
                .map(|_| all[rng.gen_range(0..all.len())].clone()),
        ),
    })
}

fn sets_of(ctx: &Ctx<'_>, keys: &[Bytes]) -> Result<Vec<BTreeSet<Bytes>>, CommandError> {
    keys.iter()
        .map(|k| members(ctx, k).map(|m| m.into_iter().collect()))
        .collect()
}

pub fn sinter(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sets = sets_of(ctx, &args[1..])?;
    let mut it = sets.into_iter();
    let first = it.next().unwrap_or_default();
    let out = it.fold(first, |acc, s| acc.intersection(&s).cloned().collect());
    Ok(set_reply(out))
}

pub fn sunion(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let out: BTreeSet<Bytes> = sets_of(ctx, &args[1..])?.into_iter().flatten().collect();
    Ok(set_reply(out))
}

pub fn sdiff(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sets = sets_of(ctx, &args[1..])?;
    let mut it = sets.into_iter();
    let first = it.next().unwrap_or_default();
    let out = it.fold(first, |acc, s| acc.difference(&s).cloned().collect());
    Ok(set_reply(out))
}
