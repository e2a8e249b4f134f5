//! List commands. A list is a sequence CRDT (RGA, see
//! `meridian_core::list`): concurrent inserts at the same place end up in
//! one agreed order in every region; a pop removes elements by identity, so
//! two regions popping concurrently may both return the same element
//! (at-least-once) and it is then gone once.
//!
//! ```text
//! LPUSH key element [element ...] | RPUSH ...   :new length
//! LPUSHX key element [...] | RPUSHX ...         :new length (0: no key)
//! LPOP key [count] | RPOP key [count]           $element | null, or array with a count
//! LRANGE key start stop                         array
//! LLEN key                                      :length
//! LINDEX key index                              $element | null
//! LINSERT key BEFORE|AFTER pivot element        :new length, -1 no pivot, 0 no key
//! LSET key index element                        +OK
//! LREM key count element                        :number removed
//! LTRIM key start stop                          +OK
//! ```
//!
//! LPUSH inserts at the head; RPUSH inserts after the last element this
//! region sees; LINSERT inserts right after the element before the pivot
//! (or after the pivot). LSET replaces the value by last-write-wins.

use super::{check_total, CmdResult, Ctx};
use bytes::Bytes;
use meridian_core::hlc::Hlc;
use meridian_core::list::{Elem, ElemId, List, LIST_ELEMS_MAX};
use meridian_core::num::parse_i64;
use meridian_core::{Kind, Write};
use meridian_resp::{CommandError, Reply};

/// The list at `key` and the cutoff to read it with.
fn list<'a>(ctx: &'a Ctx<'_>, key: &[u8]) -> Result<Option<(&'a List, Hlc)>, CommandError> {
    Ok(ctx
        .typed(key, Kind::List)?
        .and_then(|v| v.list().map(|l| (l, v.cutoff))))
}

fn visible(l: &List, c: Hlc) -> Vec<&Elem> {
    l.visible_at(c).collect()
}

fn int(b: &[u8]) -> Result<i64, CommandError> {
    parse_i64(b).ok_or_else(|| CommandError::new(meridian_resp::parse::NOT_AN_INTEGER))
}

/// Refuses a push that would take the list past its element bound.
fn check_room(l: Option<(&List, Hlc)>, n: usize) -> Result<(), CommandError> {
    let have = l.map_or(0, |(l, _)| l.elems().len());
    if have + n > LIST_ELEMS_MAX {
        return Err(CommandError::new(format!(
            "ERR list would hold more than {LIST_ELEMS_MAX} elements (removed ones count until collected)"
        )));
    }
    Ok(())
}

fn push(ctx: &mut Ctx<'_>, args: &[Bytes], left: bool, only_existing: bool) -> CmdResult {
    check_total(args)?;
    let (after, len) = {
        let l = list(ctx, &args[1])?;
        if only_existing && l.is_none() {
            return Ok(Reply::integer(0));
        }
        check_room(l, args.len() - 2)?;
        let len = l.map_or(0, |(l, c)| l.len_at(c));
        let after = match (left, l) {
            (true, _) | (false, None) => None,
            (false, Some((l, c))) => l.visible_at(c).next_back().map(|e| e.id),
        };
        (after, len)
    };
    let values: Vec<Bytes> = if left {
        args[2..].iter().rev().cloned().collect()
    } else {
        args[2..].to_vec()
    };
    let n = values.len();
    ctx.write(args[1].clone(), Write::ListInsert { after, values });
    Ok(Reply::integer((len + n) as i64))
}

pub fn lpush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    push(ctx, args, true, false)
}

pub fn rpush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    push(ctx, args, false, false)
}

pub fn lpushx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    push(ctx, args, true, true)
}

pub fn rpushx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    push(ctx, args, false, true)
}

fn pop(ctx: &mut Ctx<'_>, args: &[Bytes], left: bool) -> CmdResult {
    let count = match args.len() {
        2 => None,
        3 => {
            let n = parse_i64(&args[2])
                .filter(|n| *n >= 0)
                .ok_or_else(|| CommandError::new("ERR value is out of range, must be positive"))?;
            Some(n as usize)
        }
        _ => return Err(CommandError::new(meridian_resp::parse::SYNTAX_ERROR)),
    };
    let taken: Vec<(ElemId, Bytes)> = match list(ctx, &args[1])? {
        None => {
            return Ok(match count {
                None => Reply::Null,
                Some(_) => Reply::NullArray,
            })
        }
        Some((l, c)) => {
            let want = count.unwrap_or(1);
            let it = l.visible_at(c).map(|e| (e.id, e.value.clone()));
            if left {
                it.take(want).collect()
            } else {
                it.rev().take(want).collect()
            }
        }
    };
    if !taken.is_empty() {
        let ids = taken.iter().map(|(id, _)| *id).collect();
        ctx.write(args[1].clone(), Write::ListRemove { ids });
    }
    let mut values = taken.into_iter().map(|(_, v)| v);
    Ok(match count {
        None => Reply::bulk_or_null(values.next()),
        Some(_) => Reply::bulks(values),
    })
}

pub fn lpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    pop(ctx, args, true)
}

pub fn rpop(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    pop(ctx, args, false)
}

/// Redis's index normalisation for a range: (first, last) inclusive, or
/// `None` if empty.
fn span(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    let norm = |i: i64| if i < 0 { (len + i).max(0) } else { i };
    let (s, e) = (norm(start), norm(stop).min(len - 1));
    (s <= e && s < len).then_some((s as usize, e as usize))
}

pub fn lrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (start, stop) = (int(&args[2])?, int(&args[3])?);
    let Some((l, c)) = list(ctx, &args[1])? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let v = visible(l, c);
    Ok(match span(v.len(), start, stop) {
        None => Reply::Array(Vec::new()),
        Some((s, e)) => Reply::bulks(v[s..=e].iter().map(|e| e.value.clone())),
    })
}

pub fn llen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = list(ctx, &args[1])?.map_or(0, |(l, c)| l.len_at(c));
    Ok(Reply::integer(n as i64))
}

/// The element at Redis index `i` (negative from the end).
fn at(v: &[&Elem], i: i64) -> Option<usize> {
    let len = v.len() as i64;
    let i = if i < 0 { len + i } else { i };
    (0..len).contains(&i).then_some(i as usize)
}

pub fn lindex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let i = int(&args[2])?;
    let v = list(ctx, &args[1])?.and_then(|(l, c)| {
        let v = visible(l, c);
        at(&v, i).map(|p| v[p].value.clone())
    });
    Ok(Reply::bulk_or_null(v))
}

pub fn linsert(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    check_total(args)?;
    let before = if args[2].eq_ignore_ascii_case(b"before") {
        true
    } else if args[2].eq_ignore_ascii_case(b"after") {
        false
    } else {
        return Err(CommandError::new(meridian_resp::parse::SYNTAX_ERROR));
    };
    let (after, len) = {
        let Some((l, c)) = list(ctx, &args[1])? else {
            return Ok(Reply::integer(0));
        };
        check_room(Some((l, c)), 1)?;
        let v = visible(l, c);
        let Some(p) = v.iter().position(|e| e.value == args[3]) else {
            return Ok(Reply::integer(-1));
        };
        let after = match (before, p) {
            (false, _) => Some(v[p].id),
            (true, 0) => None,
            (true, _) => Some(v[p - 1].id),
        };
        (after, v.len())
    };
    ctx.write(
        args[1].clone(),
        Write::ListInsert {
            after,
            values: vec![args[4].clone()],
        },
    );
    Ok(Reply::integer(len as i64 + 1))
}

pub fn lset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    check_total(args)?;
    let i = int(&args[2])?;
    let id = {
        let Some((l, c)) = list(ctx, &args[1])? else {
            return Err(CommandError::new("ERR no such key"));
        };
        let v = visible(l, c);
        let p = at(&v, i).ok_or_else(|| CommandError::new("ERR index out of range"))?;
        v[p].id
    };
    ctx.write(
        args[1].clone(),
        Write::ListSet {
            id,
            value: args[3].clone(),
        },
    );
    Ok(Reply::ok())
}

pub fn lrem(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let count = int(&args[2])?;
    let ids: Vec<ElemId> = match list(ctx, &args[1])? {
        None => return Ok(Reply::integer(0)),
        Some((l, c)) => {
            let matching = l.visible_at(c).filter(|e| e.value == args[3]).map(|e| e.id);
            match count {
                0 => matching.collect(),
                n if n > 0 => matching.take(n as usize).collect(),
                n => matching.rev().take(n.unsigned_abs() as usize).collect(),
            }
        }
    };
    let n = ids.len();
    if n > 0 {
        ctx.write(args[1].clone(), Write::ListRemove { ids });
    }
    Ok(Reply::integer(n as i64))
}

pub fn ltrim(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (start, stop) = (int(&args[2])?, int(&args[3])?);
    let ids: Vec<ElemId> = match list(ctx, &args[1])? {
        None => return Ok(Reply::ok()),
        Some((l, c)) => {
            let v = visible(l, c);
            let keep = span(v.len(), start, stop);
            v.iter()
                .enumerate()
                .filter(|(i, _)| !keep.is_some_and(|(s, e)| (s..=e).contains(i)))
                .map(|(_, e)| e.id)
                .collect()
        }
    };
    if !ids.is_empty() {
        ctx.write(args[1].clone(), Write::ListRemove { ids });
    }
    Ok(Reply::ok())
}
