//! What the router does with each command, and the retry rule.
//!
//! When the region a request went to fails before answering it, the router
//! cannot tell whether it was applied. It then retries the command on the
//! next region only if doing so is harmless:
//!
//! | kind | commands | after a failure |
//! |---|---|---|
//! | [`Kind::Meta`] | PING ECHO INFO COMMAND TIME CLIENT (ID GETNAME INFO LIST...) MERIDIAN.VV MERIDIAN.LAG MERIDIAN.DIGEST MERIDIAN.SESSION MERIDIAN.WAITFOR MERIDIAN.CONFLICTS | retried; no session wait |
//! | [`Kind::Setup`] | HELLO AUTH SELECT CLIENT SETNAME/SETINFO | retried, and replayed on every new upstream connection |
//! | [`Kind::Read`] | GET MGET EXISTS STRLEN GETRANGE TTL PTTL EXPIRETIME PEXPIRETIME TYPE DBSIZE KEYS SCAN RANDOMKEY MERIDIAN.SIBLINGS, HGET HMGET HGETALL HLEN HEXISTS HKEYS HVALS HSTRLEN, SMEMBERS SISMEMBER SMISMEMBER SCARD SRANDMEMBER SINTER SUNION SDIFF, ZSCORE ZMSCORE ZRANGE* ZREVRANGE* ZCARD ZCOUNT ZRANK ZREVRANK, LRANGE LLEN LINDEX, *SCAN | retried; waits for the session |
//! | [`Kind::IdempotentWrite`] | SET (without NX or GET) SETEX PSETEX MSET SETRANGE DEL UNLINK EXPIRE PEXPIRE EXPIREAT PEXPIREAT PERSIST HSET HMSET HDEL SADD SREM ZADD (without INCR) ZREM LSET LTRIM FLUSHDB FLUSHALL | retried: applying it twice leaves the state applying it once leaves (the reply of the retry may differ, e.g. DEL's count) |
//! | [`Kind::Write`] | INCR INCRBY DECR DECRBY INCRBYFLOAT APPEND GETSET GETDEL GETEX SETNX, SET NX/GET, MSETNX, RENAME RENAMENX, MERIDIAN.RESOLVE, HINCRBY HINCRBYFLOAT HSETNX, ZINCRBY ZADD INCR, SPOP SMOVE, LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LINSERT LREM LMOVE RPOPLPUSH, and every command the router does not know | retried only when the router knows it was never sent; otherwise the client gets an error saying it may or may not have been applied |
//! | [`Kind::Refused`] | MULTI EXEC DISCARD WATCH UNWATCH; BLPOP BRPOP BRPOPLPUSH BLMOVE BLMPOP BZPOPMIN BZPOPMAX BZMPOP WAIT WAITAOF, XREAD/XREADGROUP with BLOCK; SUBSCRIBE and friends, MONITOR, SYNC, PSYNC, CLIENT TRACKING, CLIENT REPLY; SHUTDOWN | answered by the router with an error: these would tie the client to one region's connection across requests |
//! | [`Kind::Local`] | QUIT, `INFO router` | answered by the router |
//!
//! Unknown commands are forwarded (the region answers them, possibly with
//! "unknown command") and treated as non-idempotent writes that may read.

use bytes::Bytes;

/// How the router treats one command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Answered by the router itself.
    Local(Local),
    /// Answered with an error; the text says why.
    Refused(&'static str),
    /// Connection setup: forwarded, and replayed on a new upstream.
    Setup,
    /// Touches no data.
    Meta,
    /// Reads data.
    Read,
    /// Writes data; repeating it is harmless.
    IdempotentWrite,
    /// Writes data (or is unknown); repeating it is not harmless.
    Write,
}

/// Commands the router answers itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Local {
    Quit,
    InfoRouter,
}

const TRANSACTIONS: &str = "transactions (MULTI/EXEC/WATCH) are not supported through the router, which may move a connection between regions; connect to a region directly";
const BLOCKING: &str = "blocking commands are not supported through the router, which must see every reply within its request timeout to detect failures; connect to a region directly";
const PINNING: &str = "this command would pin the connection to one region (pub/sub, MONITOR, replication, tracking, CLIENT REPLY); connect to a region directly";
const ADMIN: &str = "SHUTDOWN must be sent to a region directly, not through the router";

const META: &[&str] = &[
    "command",
    "config",
    "echo",
    "info",
    "lastsave",
    "latency",
    "lolwut",
    "memory",
    "meridian.conflicts",
    "meridian.digest",
    "meridian.lag",
    "meridian.session",
    "meridian.vv",
    "meridian.waitfor",
    "ping",
    "role",
    "slowlog",
    "time",
];

const READS: &[&str] = &[
    "bitcount",
    "bitpos",
    "dbsize",
    "dump",
    "exists",
    "expiretime",
    "get",
    "getbit",
    "getrange",
    "hexists",
    "hget",
    "hgetall",
    "hkeys",
    "hlen",
    "hmget",
    "hrandfield",
    "hscan",
    "hstrlen",
    "hvals",
    "keys",
    "lindex",
    "llen",
    "lpos",
    "lrange",
    "meridian.siblings",
    "mget",
    "object",
    "pexpiretime",
    "pttl",
    "randomkey",
    "scan",
    "scard",
    "sdiff",
    "sinter",
    "sintercard",
    "sismember",
    "smembers",
    "smismember",
    "srandmember",
    "sscan",
    "strlen",
    "substr",
    "sunion",
    "touch",
    "ttl",
    "type",
    "xlen",
    "xrange",
    "xrevrange",
    "zcard",
    "zcount",
    "zlexcount",
    "zmscore",
    "zrandmember",
    "zrange",
    "zrangebylex",
    "zrangebyscore",
    "zrank",
    "zrevrange",
    "zrevrangebylex",
    "zrevrangebyscore",
    "zrevrank",
    "zscan",
    "zscore",
];

const IDEMPOTENT_WRITES: &[&str] = &[
    "del",
    "expire",
    "expireat",
    "flushall",
    "flushdb",
    "hdel",
    "hmset",
    "hset",
    "lset",
    "ltrim",
    "mset",
    "persist",
    "pexpire",
    "pexpireat",
    "psetex",
    "sadd",
    "setex",
    "setrange",
    "srem",
    "unlink",
    "zrem",
];

const TRANSACTION_CMDS: &[&str] = &["discard", "exec", "multi", "unwatch", "watch"];

const BLOCKING_CMDS: &[&str] = &[
    "blmove",
    "blmpop",
    "blpop",
    "brpop",
    "brpoplpush",
    "bzmpop",
    "bzpopmax",
    "bzpopmin",
    "wait",
    "waitaof",
];

const PINNING_CMDS: &[&str] = &[
    "monitor",
    "psubscribe",
    "psync",
    "punsubscribe",
    "replconf",
    "ssubscribe",
    "subscribe",
    "sunsubscribe",
    "sync",
    "unsubscribe",
];

const SETUP: &[&str] = &["auth", "hello", "select"];

/// Longest command name looked up, in bytes; longer names are unknown.
const NAME_BYTES_MAX: usize = 32;

/// Classifies a request; `args[0]` is the command name (any case).
pub fn classify(args: &[Bytes]) -> Kind {
    let Some(name) = lower(&args[0]) else {
        return Kind::Write;
    };
    let name = name.as_str();
    let has = |word: &str| {
        args[1..]
            .iter()
            .any(|a| a.eq_ignore_ascii_case(word.as_bytes()))
    };
    let is = |list: &[&str]| list.binary_search(&name).is_ok();
    match name {
        "quit" => Kind::Local(Local::Quit),
        "info" if args.len() == 2 && args[1].eq_ignore_ascii_case(b"router") => {
            Kind::Local(Local::InfoRouter)
        }
        "shutdown" => Kind::Refused(ADMIN),
        "client" => client(args),
        "set" if has("nx") || has("get") => Kind::Write,
        "set" => Kind::IdempotentWrite,
        "zadd" if has("incr") => Kind::Write,
        "zadd" => Kind::IdempotentWrite,
        "xread" | "xreadgroup" if has("block") => Kind::Refused(BLOCKING),
        "xread" => Kind::Read,
        _ if is(TRANSACTION_CMDS) => Kind::Refused(TRANSACTIONS),
        _ if is(BLOCKING_CMDS) => Kind::Refused(BLOCKING),
        _ if is(PINNING_CMDS) => Kind::Refused(PINNING),
        _ if is(SETUP) => Kind::Setup,
        _ if is(META) => Kind::Meta,
        _ if is(READS) => Kind::Read,
        _ if is(IDEMPOTENT_WRITES) => Kind::IdempotentWrite,
        _ => Kind::Write,
    }
}

fn client(args: &[Bytes]) -> Kind {
    let sub = args.get(1).and_then(|a| lower(a));
    match sub.as_deref() {
        Some("setname" | "setinfo") => Kind::Setup,
        Some("tracking" | "reply") => Kind::Refused(PINNING),
        _ => Kind::Meta,
    }
}

fn lower(name: &[u8]) -> Option<String> {
    if name.len() > NAME_BYTES_MAX {
        return None;
    }
    Some(String::from_utf8_lossy(name).to_ascii_lowercase())
}

impl Kind {
    /// Whether the command may be sent again after a failure that left
    /// unknown whether it was applied.
    pub fn retry_safe(self) -> bool {
        matches!(
            self,
            Kind::Meta | Kind::Setup | Kind::Read | Kind::IdempotentWrite
        )
    }

    /// Whether the session must be covered before it runs: it reads data
    /// (unknown commands may).
    pub fn reads_data(self) -> bool {
        matches!(self, Kind::Read | Kind::Write)
    }

    /// Whether it reads or writes data, so that the session token must be
    /// refreshed after it.
    pub fn touches_data(self) -> bool {
        matches!(self, Kind::Read | Kind::Write | Kind::IdempotentWrite)
    }

    /// Whether it is a write or unknown command that may not be repeated.
    pub fn unrepeatable(self) -> bool {
        self == Kind::Write
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(cmd: &str) -> Kind {
        let args: Vec<Bytes> = cmd
            .split(' ')
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect();
        classify(&args)
    }

    #[test]
    fn tables_are_sorted_for_binary_search() {
        for list in [
            META,
            READS,
            IDEMPOTENT_WRITES,
            TRANSACTION_CMDS,
            BLOCKING_CMDS,
            PINNING_CMDS,
            SETUP,
        ] {
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
        }
    }

    /// One line per case: the command, then what the router does with it.
    const CASES: &str = "
        GET k                 read
        get k                 read
        MGET a b              read
        SET k v               idempotent
        SET k v EX 10         idempotent
        SET k v nx            write
        SET k v GET           write
        ZADD z 1 a            idempotent
        ZADD z INCR 1 a       write
        DEL a b               idempotent
        INCR k                write
        APPEND k v            write
        GETSET k v            write
        NOSUCHCOMMAND x       write
        PING                  meta
        INFO                  meta
        INFO router           local
        INFO ROUTER           local
        INFO stats            meta
        QUIT                  local
        HELLO 3               setup
        CLIENT SETNAME x      setup
        CLIENT ID             meta
        CLIENT TRACKING on    refused
        CLIENT REPLY OFF      refused
        MULTI                 refused
        EXEC                  refused
        BLPOP l 0             refused
        XREAD BLOCK 0 STREAMS s 0  refused
        XREAD STREAMS s 0     read
        SUBSCRIBE c           refused
        SHUTDOWN              refused
        MERIDIAN.SESSION      meta
        MERIDIAN.WAITFOR t 5  meta
        MERIDIAN.SIBLINGS k   read
        MERIDIAN.RESOLVE k c v  write
        RENAME a b            write
        EXPIRETIME k          read
        HINCRBY h f 1         write
        HSET h f v            idempotent
        LPUSH l v             write
        ZINCRBY z 1 m         write
    ";

    #[test]
    fn classification_table() {
        for line in CASES.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let (cmd, want) = line.rsplit_once(' ').unwrap();
            let got = match kind(cmd.trim()) {
                Kind::Read => "read",
                Kind::IdempotentWrite => "idempotent",
                Kind::Write => "write",
                Kind::Meta => "meta",
                Kind::Setup => "setup",
                Kind::Local(_) => "local",
                Kind::Refused(_) => "refused",
            };
            assert_eq!(got, want, "{cmd}");
        }
    }

    #[test]
    fn retry_rule() {
        assert!(kind("GET k").retry_safe());
        assert!(kind("SET k v").retry_safe());
        assert!(!kind("INCR k").retry_safe());
        assert!(!kind("FOO").retry_safe());
        assert!(kind("FOO").reads_data() && kind("GET k").reads_data());
        assert!(!kind("SET k v").reads_data() && !kind("PING").touches_data());
        let long = Bytes::from(vec![b'a'; 100]);
        assert_eq!(classify(&[long]), Kind::Write);
    }
}
