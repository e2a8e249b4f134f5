//! The command table: name, arity and key positions (as `COMMAND` reports
//! them, so that redis-cli and cluster-aware clients understand us), whether
//! it writes, and the function that runs it.

use super::{connection, counters, keys, meridian, server, strings, CmdResult, Ctx};
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
const W: &[&str] = &["write", "denyoom", "fast"];
const C: &[&str] = &["fast", "loading", "stale"];

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
    spec!("get", 2, false, R, 1, 1, 1, strings::get),
    spec!("getset", 3, true, W, 1, 1, 1, strings::getset),
    spec!("hello", -1, false, C, 0, 0, 0, connection::hello),
    spec!("incr", 2, true, W, 1, 1, 1, counters::incr),
    spec!("incrby", 3, true, W, 1, 1, 1, counters::incrby),
    spec!("incrbyfloat", 3, true, W, 1, 1, 1, counters::incrbyfloat),
    spec!("info", -1, false, C, 0, 0, 0, server::info),
    spec!("meridian.digest", 1, false, R, 0, 0, 0, meridian::digest),
    spec!("meridian.lag", -1, false, C, 0, 0, 0, meridian::lag),
    spec!("meridian.session", 1, false, R, 0, 0, 0, meridian::session),
    spec!("meridian.vv", 1, false, R, 0, 0, 0, meridian::vv),
    spec!("meridian.waitfor", 3, false, R, 0, 0, 0, meridian::waitfor),
    spec!("mget", -2, false, R, 1, -1, 1, strings::mget),
    spec!("mset", -3, true, W, 1, -1, 2, strings::mset),
    spec!("ping", -1, false, C, 0, 0, 0, connection::ping),
    spec!("pttl", 2, false, R, 1, 1, 1, keys::pttl),
    spec!("quit", -1, false, C, 0, 0, 0, connection::quit),
    spec!("select", 2, false, C, 0, 0, 0, connection::select),
    spec!("set", -3, true, W, 1, 1, 1, strings::set),
    spec!("strlen", 2, false, R, 1, 1, 1, strings::strlen),
    spec!("ttl", 2, false, R, 1, 1, 1, keys::ttl),
    spec!("unlink", -2, true, W, 1, -1, 1, keys::del),
];

/// Longest command name, for the case-folding buffer.
const NAME_BYTES_MAX: usize = 32;

/// Finds a command by name, in any case.
pub fn lookup(name: &[u8]) -> Option<&'static Spec> {
    if name.len() > NAME_BYTES_MAX {
        return None;
    }
    let mut buf = [0u8; NAME_BYTES_MAX];
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    COMMANDS
        .binary_search_by(|s| s.name.as_bytes().cmp(lower))
        .ok()
        .map(|i| &COMMANDS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_found_in_any_case() {
        assert!(COMMANDS.windows(2).all(|w| w[0].name < w[1].name));
        assert_eq!(lookup(b"GeT").map(|s| s.name), Some("get"));
        assert!(lookup(b"nosuch").is_none());
        assert!(lookup(&[b'a'; 100]).is_none());
    }
}
