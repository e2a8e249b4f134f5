//! The command table: name, arity and key positions (as `COMMAND` reports
//! them, so that redis-cli and cluster-aware clients understand us), whether
//! it writes, and the function that runs it.

use super::{
    connection, counters, hashes, keys, lists, meridian, server, sets, strings, zsets, CmdResult,
    Ctx,
};
use bytes::Bytes;

/// One command.
pub struct Spec {
    /// Lower-case name.
    pub name: &'static str,
    /// Redis arity: exact argument count including the name if positive, a
    /// minimum if negative.
    pub arity: i32,
    pub write: bool,
    pub flags: &'static [&'static str],
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub run: fn(&mut Ctx<'_>, &[Bytes]) -> CmdResult,
}

impl Spec {
    /// True if `n` arguments (name included) fit the arity.
    pub fn arity_ok(&self, n: usize) -> bool {
        let n = n as i32;
        if self.arity >= 0 {
            n == self.arity
        } else {
            n >= -self.arity
        }
    }
}

const R: &[&str] = &["readonly", "fast"];
/// Read-only commands whose cost grows with the data (KEYS, SMEMBERS...).
const RS: &[&str] = &["readonly"];
const W: &[&str] = &["write", "denyoom", "fast"];
/// Writes whose cost grows with the data (FLUSHALL).
const WS: &[&str] = &["write"];
const C: &[&str] = &["fast", "loading", "stale"];
/// Administrative commands (MERIDIAN.SNAPSHOT, as Redis's SAVE).
const ADMIN: &[&str] = &["admin", "noscript"];

macro_rules! spec {
    ($name:literal, $arity:expr, $write:expr, $flags:expr, $f:expr, $l:expr, $s:expr, $run:path) => {
        Spec {
            name: $name,
            arity: $arity,
            write: $write,
            flags: $flags,
            first_key: $f,
            last_key: $l,
            step: $s,
            run: $run,
        }
    };
}

/// Every command, sorted by name.
pub static COMMANDS: &[Spec] = &[
    spec!("append", 3, true, W, 1, 1, 1, strings::append),
    spec!("client", -2, false, C, 0, 0, 0, connection::client),
    spec!("command", -1, false, C, 0, 0, 0, server::command),
    spec!("dbsize", 1, false, R, 0, 0, 0, keys::dbsize),
    spec!("decr", 2, true, W, 1, 1, 1, counters::decr),
    spec!("decrby", 3, true, W, 1, 1, 1, counters::decrby),
    spec!("del", -2, true, W, 1, -1, 1, keys::del),
    spec!("echo", 2, false, C, 0, 0, 0, connection::echo),
    spec!("exists", -2, false, R, 1, -1, 1, keys::exists),
    spec!("expire", -3, true, W, 1, 1, 1, keys::expire),
    spec!("expireat", -3, true, W, 1, 1, 1, keys::expireat),
    spec!("expiretime", 2, false, R, 1, 1, 1, keys::expiretime),
    spec!("flushall", -1, true, WS, 0, 0, 0, keys::flushall),
    spec!("flushdb", -1, true, WS, 0, 0, 0, keys::flushall),
    spec!("get", 2, false, R, 1, 1, 1, strings::get),
    spec!("getset", 3, true, W, 1, 1, 1, strings::getset),
    spec!("hdel", -3, true, W, 1, 1, 1, hashes::hdel),
    spec!("hello", -1, false, C, 0, 0, 0, connection::hello),
    spec!("hexists", 3, false, R, 1, 1, 1, hashes::hexists),
    spec!("hget", 3, false, R, 1, 1, 1, hashes::hget),
    spec!("hgetall", 2, false, RS, 1, 1, 1, hashes::hgetall),
    spec!("hincrby", 4, true, W, 1, 1, 1, hashes::hincrby),
    spec!("hincrbyfloat", 4, true, W, 1, 1, 1, hashes::hincrbyfloat),
    spec!("hkeys", 2, false, RS, 1, 1, 1, hashes::hkeys),
    spec!("hlen", 2, false, R, 1, 1, 1, hashes::hlen),
    spec!("hmget", -3, false, R, 1, 1, 1, hashes::hmget),
    spec!("hmset", -4, true, W, 1, 1, 1, hashes::hmset),
    spec!("hset", -4, true, W, 1, 1, 1, hashes::hset),
    spec!("hsetnx", 4, true, W, 1, 1, 1, hashes::hsetnx),
    spec!("hstrlen", 3, false, R, 1, 1, 1, hashes::hstrlen),
    spec!("hvals", 2, false, RS, 1, 1, 1, hashes::hvals),
    spec!("incr", 2, true, W, 1, 1, 1, counters::incr),
    spec!("incrby", 3, true, W, 1, 1, 1, counters::incrby),
    spec!("incrbyfloat", 3, true, W, 1, 1, 1, counters::incrbyfloat),
    spec!("info", -1, false, C, 0, 0, 0, server::info),
    spec!("keys", 2, false, RS, 0, 0, 0, keys::keys),
    spec!("lindex", 3, false, R, 1, 1, 1, lists::lindex),
    spec!("linsert", 5, true, W, 1, 1, 1, lists::linsert),
    spec!("llen", 2, false, R, 1, 1, 1, lists::llen),
    spec!("lpop", -2, true, W, 1, 1, 1, lists::lpop),
    spec!("lpush", -3, true, W, 1, 1, 1, lists::lpush),
    spec!("lpushx", -3, true, W, 1, 1, 1, lists::lpushx),
    spec!("lrange", 4, false, RS, 1, 1, 1, lists::lrange),
    spec!("lrem", 4, true, W, 1, 1, 1, lists::lrem),
    spec!("lset", 4, true, W, 1, 1, 1, lists::lset),
    spec!("ltrim", 4, true, W, 1, 1, 1, lists::ltrim),
    spec!(
        "meridian.conflicts",
        -1,
        false,
        R,
        0,
        0,
        0,
        meridian::conflicts
    ),
    spec!("meridian.digest", 1, false, R, 0, 0, 0, meridian::digest),
    spec!("meridian.lag", -1, false, C, 0, 0, 0, meridian::lag),
    spec!("meridian.resolve", 4, true, W, 1, 1, 1, meridian::resolve),
    spec!("meridian.session", 1, false, R, 0, 0, 0, meridian::session),
    spec!(
        "meridian.siblings",
        2,
        false,
        R,
        1,
        1,
        1,
        meridian::siblings
    ),
    spec!(
        "meridian.snapshot",
        1,
        false,
        ADMIN,
        0,
        0,
        0,
        meridian::snapshot
    ),
    spec!("meridian.vv", 1, false, R, 0, 0, 0, meridian::vv),
    spec!("meridian.waitfor", 3, false, R, 0, 0, 0, meridian::waitfor),
    spec!("mget", -2, false, R, 1, -1, 1, strings::mget),
    spec!("mset", -3, true, W, 1, -1, 2, strings::mset),
    spec!("persist", 2, true, W, 1, 1, 1, keys::persist),
    spec!("pexpire", -3, true, W, 1, 1, 1, keys::pexpire),
    spec!("pexpireat", -3, true, W, 1, 1, 1, keys::pexpireat),
    spec!("pexpiretime", 2, false, R, 1, 1, 1, keys::pexpiretime),
    spec!("ping", -1, false, C, 0, 0, 0, connection::ping),
    spec!("psetex", 4, true, W, 1, 1, 1, strings::setex),
    spec!("pttl", 2, false, R, 1, 1, 1, keys::pttl),
    spec!("quit", -1, false, C, 0, 0, 0, connection::quit),
    spec!("rename", 3, true, W, 1, 2, 1, keys::rename),
    spec!("renamenx", 3, true, W, 1, 2, 1, keys::rename),
    spec!("rpop", -2, true, W, 1, 1, 1, lists::rpop),
    spec!("rpush", -3, true, W, 1, 1, 1, lists::rpush),
    spec!("rpushx", -3, true, W, 1, 1, 1, lists::rpushx),
    spec!("sadd", -3, true, W, 1, 1, 1, sets::sadd),
    spec!("scan", -2, false, RS, 0, 0, 0, keys::scan),
    spec!("scard", 2, false, R, 1, 1, 1, sets::scard),
    spec!("sdiff", -2, false, RS, 1, -1, 1, sets::sdiff),
    spec!("select", 2, false, C, 0, 0, 0, connection::select),
    spec!("set", -3, true, W, 1, 1, 1, strings::set),
    spec!("setex", 4, true, W, 1, 1, 1, strings::setex),
    spec!("setnx", 3, true, W, 1, 1, 1, strings::setnx),
    spec!("sinter", -2, false, RS, 1, -1, 1, sets::sinter),
    spec!("sismember", 3, false, R, 1, 1, 1, sets::sismember),
    spec!("smembers", 2, false, RS, 1, 1, 1, sets::smembers),
    spec!("smismember", -3, false, R, 1, 1, 1, sets::smismember),
    spec!("spop", -2, true, W, 1, 1, 1, sets::spop),
    spec!("srandmember", -2, false, R, 1, 1, 1, sets::srandmember),
    spec!("srem", -3, true, W, 1, 1, 1, sets::srem),
    spec!("strlen", 2, false, R, 1, 1, 1, strings::strlen),
    spec!("sunion", -2, false, RS, 1, -1, 1, sets::sunion),
    spec!("ttl", 2, false, R, 1, 1, 1, keys::ttl),
    spec!("type", 2, false, R, 1, 1, 1, keys::type_),
    spec!("unlink", -2, true, W, 1, -1, 1, keys::del),
    spec!("zadd", -4, true, W, 1, 1, 1, zsets::zadd),
    spec!("zcard", 2, false, R, 1, 1, 1, zsets::zcard),
    spec!("zcount", 4, false, R, 1, 1, 1, zsets::zcount),
    spec!("zincrby", 4, true, W, 1, 1, 1, zsets::zincrby),
    spec!("zrange", -4, false, RS, 1, 1, 1, zsets::zrange),
    spec!(
        "zrangebyscore",
        -4,
        false,
        RS,
        1,
        1,
        1,
        zsets::zrangebyscore
    ),
    spec!("zrank", -3, false, R, 1, 1, 1, zsets::zrank),
    spec!("zrem", -3, true, W, 1, 1, 1, zsets::zrem),
    spec!("zrevrank", -3, false, R, 1, 1, 1, zsets::zrevrank),
    spec!("zscore", 3, false, R, 1, 1, 1, zsets::zscore),
];

/// Longest command name, for the case-folding buffer.
const NAME_BYTES_MAX: usize = 32;

/// Slots of the lookup index: a power of two, at least four times the
/// number of commands so that probes are short.
const INDEX_SLOTS: usize = 512;
const EMPTY: u16 = u16::MAX;

/// FNV-1a of a lower-case name: cheap on names of a few bytes.
fn name_hash(name: &[u8]) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    for b in name {
        h ^= *b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    (h ^ (h >> 15)) as usize
}

/// Open-addressing index from name to position in `COMMANDS`. Every request
/// looks its command up, so this is on the hottest path: one hash and
/// usually one comparison, where a binary search over ~100 names took seven.
fn index() -> &'static [u16; INDEX_SLOTS] {
    static INDEX: std::sync::OnceLock<[u16; INDEX_SLOTS]> = std::sync::OnceLock::new();
    INDEX.get_or_init(|| {
        assert!(COMMANDS.len() * 4 <= INDEX_SLOTS, "command index too small");
        let mut slots = [EMPTY; INDEX_SLOTS];
        for (i, spec) in COMMANDS.iter().enumerate() {
            let mut at = name_hash(spec.name.as_bytes()) & (INDEX_SLOTS - 1);
            while slots[at] != EMPTY {
                at = (at + 1) & (INDEX_SLOTS - 1);
            }
            slots[at] = i as u16;
        }
        slots
    })
}

/// Finds a command by name, in any case.
pub fn lookup(name: &[u8]) -> Option<&'static Spec> {
    if name.len() > NAME_BYTES_MAX {
        return None;
    }
    let mut buf = [0u8; NAME_BYTES_MAX];
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    let slots = index();
    let mut at = name_hash(lower) & (INDEX_SLOTS - 1);
    loop {
        let i = slots[at];
        if i == EMPTY {
            return None;
        }
        let spec = &COMMANDS[i as usize];
        if spec.name.as_bytes() == &*lower {
            return Some(spec);
        }
        at = (at + 1) & (INDEX_SLOTS - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_found_in_any_case() {
        assert!(COMMANDS.windows(2).all(|w| w[0].name < w[1].name));
        assert_eq!(lookup(b"GeT").map(|s| s.name), Some("get"));
        for spec in COMMANDS {
            assert!(std::ptr::eq(lookup(spec.name.as_bytes()).unwrap(), spec));
            let upper = spec.name.to_ascii_uppercase();
            assert!(std::ptr::eq(lookup(upper.as_bytes()).unwrap(), spec));
        }
        assert!(lookup(b"").is_none());
        assert!(lookup(b"nosuch").is_none());
        assert!(lookup(&[b'a'; 100]).is_none());
    }
}
