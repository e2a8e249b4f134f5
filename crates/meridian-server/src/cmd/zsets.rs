//! Sorted-set commands. Membership is add-wins (a ZADD or ZINCRBY
//! concurrent with a ZREM of the same member survives it); a member's score
//! is its last-written ZADD score (last-write-wins, losers in the conflict
//! log) plus every ZINCRBY that ZADD had not seen, so increments all count.
//!
//! ```text
//! ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...]
//!                                 :added (or changed with CH) | $score with INCR
//! ZREM key member [member ...]    :number removed
//! ZINCRBY key increment member    $new score
//! ZSCORE key member               $score | null
//! ZCARD key                       :count
//! ZRANK key member [WITHSCORE] | ZREVRANK key member [WITHSCORE]
//!                                 :rank | null (| [rank, score])
//! ZRANGE key start stop [BYSCORE] [REV] [LIMIT offset count] [WITHSCORES]
//! ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]
//! ZCOUNT key min max              :count
//! ```
//!
//! Score bounds take `-inf`, `+inf` and a `(` prefix for exclusive. BYLEX
//! is not supported.

use super::{check_total, CmdResult, Ctx};
use bytes::Bytes;
use meridian_core::hlc::Hlc;
use meridian_core::zset::{score_text, Score, ZSet};
use meridian_core::{FieldWrite, Kind, Write};
use meridian_resp::parse::parse_f64;
use meridian_resp::{Args, CommandError, Protocol, Reply};

const NOT_FLOAT: &str = "ERR value is not a valid float";
const MIN_MAX_NOT_FLOAT: &str = "ERR min or max is not a float";

/// The sorted set at `key` and the cutoff to read it with.
fn zset<'a>(ctx: &'a Ctx<'_>, key: &[u8]) -> Result<Option<(&'a ZSet, Hlc)>, CommandError> {
    Ok(ctx
        .typed(key, Kind::ZSet)?
        .and_then(|v| v.zset().map(|z| (z, v.cutoff))))
}

/// Members in order, as (score, member): the index itself without a
/// cutoff, a computed list within an expiry window.
fn ordered(z: &ZSet, cutoff: Hlc) -> Vec<(f64, Bytes)> {
    if cutoff == Hlc(0) {
        z.index().iter().map(|(s, m)| (s.0, m.clone())).collect()
    } else {
        z.ordered_at(cutoff)
            .into_iter()
            .map(|(s, m)| (s.0, m))
            .collect()
    }
}

fn write(ctx: &mut Ctx<'_>, key: &Bytes, writes: Vec<(Bytes, FieldWrite)>) {
    if !writes.is_empty() {
        ctx.write(
            key.clone(),
            Write::Fields {
                kind: Kind::ZSet,
                writes,
            },
        );
    }
}

pub fn zadd(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut a = Args::new(args);
    let key = a.next_bytes()?.clone();
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
        (false, false, false, false, false, false);
    loop {
        if a.next_keyword_ci("NX") {
            nx = true;
        } else if a.next_keyword_ci("XX") {
            xx = true;
        } else if a.next_keyword_ci("GT") {
            gt = true;
        } else if a.next_keyword_ci("LT") {
            lt = true;
        } else if a.next_keyword_ci("CH") {
            ch = true;
        } else if a.next_keyword_ci("INCR") {
            incr = true;
        } else {
            break;
        }
    }
    let rest = a.rest();
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(CommandError::new(meridian_resp::parse::SYNTAX_ERROR));
    }
    if nx && xx {
        return Err(CommandError::new(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (gt || lt) && nx || (gt && lt) {
        return Err(CommandError::new(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if incr && rest.len() > 2 {
        return Err(CommandError::new(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let pairs: Vec<(f64, Bytes)> = rest
        .chunks(2)
        .map(|p| {
            parse_f64(&p[0])
                .map(|s| (s, p[1].clone()))
                .ok_or_else(|| CommandError::new(NOT_FLOAT))
        })
        .collect::<Result<_, _>>()?;
    check_total(args)?;
    let (mut added, mut changed) = (0, 0);
    let mut writes = Vec::new();
    let mut result = None;
    {
        let z = zset(ctx, &key)?;
        let mut seen: Vec<(Bytes, f64)> = Vec::new();
        for (score, member) in pairs {
            // A member named twice sees its own first write.
            let cur = seen
                .iter()
                .rev()
                .find(|(m, _)| *m == member)
                .map(|(_, s)| *s)
                .or_else(|| z.and_then(|(z, c)| z.score_at(&member, c)));
            if (nx && cur.is_some()) || (xx && cur.is_none()) {
                continue;
            }
            let new = if incr {
                cur.unwrap_or(0.0) + score
            } else {
                score
            };
            if new.is_nan() {
                return Err(CommandError::new(
                    "ERR resulting score is not a number (NaN)",
                ));
            }
            if let Some(c) = cur {
                if (gt && new <= c) || (lt && new >= c) {
                    continue;
                }
                if new == c {
                    result = Some(new);
                    continue;
                }
                changed += 1;
            } else {
                added += 1;
            }
            result = Some(new);
            seen.push((member.clone(), new));
            let w = if incr {
                FieldWrite::IncrByFloat(score)
            } else {
                FieldWrite::Set(score_text(new))
            };
            writes.push((member, w));
        }
    }
    write(ctx, &key, writes);
    if incr {
        return Ok(result.map_or(Reply::Null, Reply::Double));
    }
    Ok(Reply::integer(if ch { added + changed } else { added }))
}

pub fn zincrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    check_total(args)?;
    let by = parse_f64(&args[2]).ok_or_else(|| CommandError::new(NOT_FLOAT))?;
    let cur = zset(ctx, &args[1])?.and_then(|(z, c)| z.score_at(&args[3], c));
    let new = cur.unwrap_or(0.0) + by;
    if new.is_nan() {
        return Err(CommandError::new(
            "ERR resulting score is not a number (NaN)",
        ));
    }
    write(
        ctx,
        &args[1],
        vec![(args[3].clone(), FieldWrite::IncrByFloat(by))],
    );
    let now = zset(ctx, &args[1])?
        .and_then(|(z, c)| z.score_at(&args[3], c))
        .unwrap_or(new);
    Ok(Reply::Double(now))
}

pub fn zrem(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut gone: Vec<Bytes> = match zset(ctx, &args[1])? {
        None => return Ok(Reply::integer(0)),
        Some((z, c)) => args[2..]
            .iter()
            .filter(|m| z.score_at(m, c).is_some())
            .cloned()
            .collect(),
    };
    gone.sort();
    gone.dedup();
    let n = gone.len();
    write(
        ctx,
        &args[1],
        gone.into_iter().map(|m| (m, FieldWrite::Del)).collect(),
    );
    Ok(Reply::integer(n as i64))
}

pub fn zscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let s = zset(ctx, &args[1])?.and_then(|(z, c)| z.score_at(&args[2], c));
    Ok(s.map_or(Reply::Null, Reply::Double))
}

pub fn zcard(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = zset(ctx, &args[1])?.map_or(0, |(z, c)| z.fields().len_at(c));
    Ok(Reply::integer(n as i64))
}

fn rank(ctx: &mut Ctx<'_>, args: &[Bytes], rev: bool) -> CmdResult {
    let with_score = match args.len() {
        3 => false,
        4 if args[3].eq_ignore_ascii_case(b"withscore") => true,
        _ => return Err(CommandError::new(meridian_resp::parse::SYNTAX_ERROR)),
    };
    let Some((z, c)) = zset(ctx, &args[1])? else {
        return Ok(Reply::Null);
    };
    let all = ordered(z, c);
    let Some(pos) = all.iter().position(|(_, m)| *m == args[2]) else {
        return Ok(Reply::Null);
    };
    let r = if rev { all.len() - 1 - pos } else { pos };
    Ok(if with_score {
        Reply::Array(vec![Reply::integer(r as i64), Reply::Double(all[pos].0)])
    } else {
        Reply::integer(r as i64)
    })
}

pub fn zrank(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    rank(ctx, args, false)
}

pub fn zrevrank(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    rank(ctx, args, true)
}

/// One end of a score range.
#[derive(Clone, Copy)]
struct Bound {
    value: f64,
    exclusive: bool,
}

impl Bound {
    fn parse(b: &[u8]) -> Result<Bound, CommandError> {
        let (exclusive, text) = match b.first() {
            Some(b'(') => (true, &b[1..]),
            _ => (false, b),
        };
        let value = parse_f64(text).ok_or_else(|| CommandError::new(MIN_MAX_NOT_FLOAT))?;
        Ok(Bound { value, exclusive })
    }
    fn below(self, s: f64) -> bool {
        if self.exclusive {
            self.value < s
        } else {
            self.value <= s
        }
    }
    fn above(self, s: f64) -> bool {
        if self.exclusive {
            s < self.value
        } else {
            s <= self.value
        }
    }
}

/// The reply of a range: members, with their scores if asked (pairs in
/// RESP3, flat in RESP2, as Redis does).
fn range_reply(items: Vec<(f64, Bytes)>, with_scores: bool, proto: Protocol) -> Reply {
    if !with_scores {
        return Reply::bulks(items.into_iter().map(|(_, m)| m));
    }
    match proto {
        Protocol::Resp3 => Reply::Array(
            items
                .into_iter()
                .map(|(s, m)| Reply::Array(vec![Reply::bulk(m), Reply::Double(s)]))
                .collect(),
        ),
        Protocol::Resp2 => Reply::Array(
            items
                .into_iter()
                .flat_map(|(s, m)| [Reply::bulk(m), Reply::Double(s)])
                .collect(),
        ),
    }
}

/// A range request, parsed.
struct Range {
    by_score: bool,
    rev: bool,
    limit: Option<(i64, i64)>,
    with_scores: bool,
}

fn parse_limit(a: &mut Args<'_>) -> Result<(i64, i64), CommandError> {
    let off = a.next_i64()?;
    let count = a.next_i64()?;
    Ok((off, count))
}

pub fn zrange(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut a = Args::new(args);
    let key = a.next_bytes()?.clone();
    let start = a.next_bytes()?.clone();
    let stop = a.next_bytes()?.clone();
    let mut r = Range {
        by_score: false,
        rev: false,
        limit: None,
        with_scores: false,
    };
    while a.remaining() > 0 {
        if a.next_keyword_ci("BYSCORE") {
            r.by_score = true;
        } else if a.next_keyword_ci("BYLEX") {
            return Err(CommandError::new("ERR BYLEX is not supported by Meridian"));
        } else if a.next_keyword_ci("REV") {
            r.rev = true;
        } else if a.next_keyword_ci("LIMIT") {
            r.limit = Some(parse_limit(&mut a)?);
        } else if a.next_keyword_ci("WITHSCORES") {
            r.with_scores = true;
        } else {
            return Err(CommandError::new(meridian_resp::parse::SYNTAX_ERROR));
        }
    }
    if r.limit.is_some() && !r.by_score {
        return Err(CommandError::new(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if r.by_score {
        // With REV the first bound is the maximum.
        let (min, max) = if r.rev { (stop, start) } else { (start, stop) };
        return by_score(ctx, &key, &min, &max, &r);
    }
    let parse = |b: &Bytes| {
        meridian_core::num::parse_i64(b)
            .ok_or_else(|| CommandError::new(meridian_resp::parse::NOT_AN_INTEGER))
    };
    let (start, stop) = (parse(&start)?, parse(&stop)?);
    let Some((z, c)) = zset(ctx, &key)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let mut all = ordered(z, c);
    if r.rev {
        all.reverse();
    }
    let len = all.len() as i64;
    let norm = |i: i64| if i < 0 { (len + i).max(0) } else { i };
    let (s, e) = (norm(start), norm(stop).min(len - 1));
    if s > e || s >= len {
        return Ok(Reply::Array(Vec::new()));
    }
    let items = all[s as usize..=e as usize].to_vec();
    Ok(range_reply(items, r.with_scores, ctx.conn.proto))
}

fn by_score(ctx: &mut Ctx<'_>, key: &[u8], min: &[u8], max: &[u8], r: &Range) -> CmdResult {
    let (min, max) = (Bound::parse(min)?, Bound::parse(max)?);
    let Some((z, c)) = zset(ctx, key)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let mut items: Vec<(f64, Bytes)> = if c == Hlc(0) {
        z.index()
            .range((Score::new(min.value), Bytes::new())..)
            .take_while(|(s, _)| max.above(s.0))
            .filter(|(s, _)| min.below(s.0))
            .map(|(s, m)| (s.0, m.clone()))
            .collect()
    } else {
        ordered(z, c)
            .into_iter()
            .filter(|(s, _)| min.below(*s) && max.above(*s))
            .collect()
    };
    if r.rev {
        items.reverse();
    }
    if let Some((off, count)) = r.limit {
        if off < 0 {
            return Ok(Reply::Array(Vec::new()));
        }
        let it = items.into_iter().skip(off as usize);
        items = if count < 0 {
            it.collect()
        } else {
            it.take(count as usize).collect()
        };
    }
    Ok(range_reply(items, r.with_scores, ctx.conn.proto))
}

pub fn zrangebyscore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut a = Args::new(args);
    let key = a.next_bytes()?.clone();
    let min = a.next_bytes()?.clone();
    let max = a.next_bytes()?.clone();
    let mut r = Range {
        by_score: true,
        rev: false,
        limit: None,
        with_scores: false,
    };
    while a.remaining() > 0 {
        if a.next_keyword_ci("WITHSCORES") {
            r.with_scores = true;
        } else if a.next_keyword_ci("LIMIT") {
            r.limit = Some(parse_limit(&mut a)?);
        } else {
            return Err(CommandError::new(meridian_resp::parse::SYNTAX_ERROR));
        }
    }
    by_score(ctx, &key, &min, &max, &r)
}

pub fn zcount(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (min, max) = (Bound::parse(&args[2])?, Bound::parse(&args[3])?);
    let n = match zset(ctx, &args[1])? {
        None => 0,
        Some((z, c)) => ordered(z, c)
            .iter()
            .filter(|(s, _)| min.below(*s) && max.above(*s))
            .count(),
    };
    Ok(Reply::integer(n as i64))
}
