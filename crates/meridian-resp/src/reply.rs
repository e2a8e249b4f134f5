//! Replies and their encoding in RESP2 and RESP3.
//!
//! Command implementations build a [`Reply`]; the connection encodes it in
//! the protocol version the client chose with `HELLO`. RESP3-only types
//! degrade to their RESP2 equivalents the way redis does (maps become flat
//! arrays, doubles become bulk strings, booleans become 1/0).
//!
//! ```
//! use bytes::BytesMut;
//! use meridian_resp::{encode, Protocol, Reply};
//!
//! let reply = Reply::Map(vec![(Reply::bulk("score"), Reply::Double(1.5))]);
//! let mut out = BytesMut::new();
//! encode(&reply, Protocol::Resp2, &mut out);
//! assert_eq!(&out[..], b"*2\r\n$5\r\nscore\r\n$3\r\n1.5\r\n");
//! out.clear();
//! encode(&reply, Protocol::Resp3, &mut out);
//! assert_eq!(&out[..], b"%1\r\n$5\r\nscore\r\n,1.5\r\n");
//! ```

use std::borrow::Cow;

use bytes::{BufMut, Bytes, BytesMut};

use crate::number::{format_double_into, DoubleBuf};

/// The protocol version a connection speaks (chosen by `HELLO 2|3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// RESP2, the default for new connections.
    #[default]
    Resp2,
    /// RESP3, after `HELLO 3`.
    Resp3,
}

impl Protocol {
    /// The protocol for a `HELLO <version>` argument, if supported.
    pub fn from_version(version: i64) -> Option<Protocol> {
        match version {
            2 => Some(Protocol::Resp2),
            3 => Some(Protocol::Resp3),
            _ => None,
        }
    }
}

/// One reply value (possibly nested).
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Status line, e.g. `OK`. `\r`/`\n` are encoded as spaces.
    Simple(Cow<'static, str>),
    /// Error line, the full message including its code, e.g.
    /// `ERR unknown command 'foo'` or `WRONGTYPE Operation against ...`.
    /// The encoder adds only the `-`; `\r`/`\n` are encoded as spaces.
    Error(Cow<'static, str>),
    /// Signed 64-bit integer.
    Integer(i64),
    /// Binary-safe string.
    Bulk(Bytes),
    /// Missing value (`$-1` in RESP2, `_` in RESP3), e.g. `GET` of no key.
    Null,
    /// Ordered list.
    Array(Vec<Reply>),
    /// Missing list (`*-1` in RESP2, `_` in RESP3), e.g. a `BLPOP` timeout.
    NullArray,
    /// Key/value pairs; a flat array of 2n items in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// Unordered collection; an array in RESP2.
    Set(Vec<Reply>),
    /// Out-of-band message (pub/sub); an array in RESP2.
    Push(Vec<Reply>),
    /// Floating point; a bulk string formatted by
    /// [`format_double`](crate::format_double) in RESP2.
    Double(f64),
    /// Boolean; integer 1/0 in RESP2.
    Bool(bool),
    /// Text with a 3-byte format tag such as `txt` or `mkd` (e.g. `INFO`
    /// in RESP3); the bare text as a bulk string in RESP2.
    Verbatim {
        /// Format tag, e.g. `*b"txt"`.
        format: [u8; 3],
        /// The text.
        text: Bytes,
    },
    /// Arbitrary-precision integer as decimal text; a bulk string in RESP2.
    BigNumber(String),
}

impl Reply {
    /// `+OK`.
    pub fn ok() -> Reply {
        Reply::Simple(Cow::Borrowed("OK"))
    }

    /// A status reply such as `PONG` or `QUEUED`.
    pub fn simple(s: impl Into<Cow<'static, str>>) -> Reply {
        Reply::Simple(s.into())
    }

    /// An error reply; `msg` is the full message with its code, e.g.
    /// `"ERR syntax error"`.
    pub fn error(msg: impl Into<Cow<'static, str>>) -> Reply {
        Reply::Error(msg.into())
    }

    /// A bulk string.
    pub fn bulk(b: impl Into<Bytes>) -> Reply {
        Reply::Bulk(b.into())
    }

    /// A bulk string, or [`Reply::Null`] for `None` (e.g. `GET`).
    pub fn bulk_or_null(b: Option<impl Into<Bytes>>) -> Reply {
        b.map_or(Reply::Null, Reply::bulk)
    }

    /// An integer.
    pub fn integer(n: i64) -> Reply {
        Reply::Integer(n)
    }

    /// An array of bulk strings.
    pub fn bulks<B: Into<Bytes>>(items: impl IntoIterator<Item = B>) -> Reply {
        Reply::Array(items.into_iter().map(Reply::bulk).collect())
    }

    /// A `txt` verbatim string.
    pub fn verbatim_text(text: impl Into<Bytes>) -> Reply {
        Reply::Verbatim {
            format: *b"txt",
            text: text.into(),
        }
    }

    /// Encodes into a fresh buffer (convenience for tests and tools).
    pub fn to_bytes(&self, proto: Protocol) -> Bytes {
        let mut out = BytesMut::new();
        encode(self, proto, &mut out);
        out.freeze()
    }
}

impl From<i64> for Reply {
    fn from(n: i64) -> Reply {
        Reply::Integer(n)
    }
}

impl From<Bytes> for Reply {
    fn from(b: Bytes) -> Reply {
        Reply::Bulk(b)
    }
}

/// Appends the wire encoding of `reply` to `out`.
pub fn encode(reply: &Reply, proto: Protocol, out: &mut BytesMut) {
    let resp3 = proto == Protocol::Resp3;
    match reply {
        Reply::Simple(s) => put_line(out, b'+', s.as_bytes()),
        Reply::Error(s) => put_line(out, b'-', s.as_bytes()),
        Reply::Integer(n) => put_header(out, b':', *n),
        Reply::Bulk(b) => put_bulk(out, b'$', b),
        Reply::Null if resp3 => out.put_slice(b"_\r\n"),
        Reply::Null => out.put_slice(b"$-1\r\n"),
        Reply::NullArray if resp3 => out.put_slice(b"_\r\n"),
        Reply::NullArray => out.put_slice(b"*-1\r\n"),
        Reply::Array(items) => put_aggregate(out, b'*', items, proto),
        Reply::Set(items) => put_aggregate(out, if resp3 { b'~' } else { b'*' }, items, proto),
        Reply::Push(items) => put_aggregate(out, if resp3 { b'>' } else { b'*' }, items, proto),
        Reply::Map(pairs) => {
            if resp3 {
                put_header(out, b'%', len_i64(pairs.len()));
            } else {
                put_header(out, b'*', len_i64(pairs.len()).saturating_mul(2));
            }
            for (key, value) in pairs {
                encode(key, proto, out);
                encode(value, proto, out);
            }
        }
        Reply::Double(x) => {
            let mut text = DoubleBuf::new();
            format_double_into(*x, &mut text);
            if resp3 {
                put_line(out, b',', text.as_bytes());
            } else {
                put_bulk(out, b'$', text.as_bytes());
            }
        }
        Reply::Bool(b) if resp3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Reply::Bool(b) => put_header(out, b':', i64::from(*b)),
        Reply::Verbatim { format, text } if resp3 => {
            put_header(out, b'=', len_i64(text.len()).saturating_add(4));
            out.reserve(text.len() + 6);
            out.put_slice(format);
            out.put_u8(b':');
            out.put_slice(text);
            out.put_slice(b"\r\n");
        }
        Reply::Verbatim { text, .. } => put_bulk(out, b'$', text),
        Reply::BigNumber(n) if resp3 => put_line(out, b'(', n.as_bytes()),
        Reply::BigNumber(n) => put_bulk(out, b'$', n.as_bytes()),
    }
}

fn put_aggregate(out: &mut BytesMut, kind: u8, items: &[Reply], proto: Protocol) {
    put_header(out, kind, len_i64(items.len()));
    for item in items {
        encode(item, proto, out);
    }
}

/// `<kind><n>\r\n`, the shape of integers and all length headers.
fn put_header(out: &mut BytesMut, kind: u8, n: i64) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(n).as_bytes();
    out.reserve(digits.len() + 3);
    out.put_u8(kind);
    out.put_slice(digits);
    out.put_slice(b"\r\n");
}

/// `<kind><len>\r\n<data>\r\n`.
fn put_bulk(out: &mut BytesMut, kind: u8, data: &[u8]) {
    put_header(out, kind, len_i64(data.len()));
    out.reserve(data.len() + 2);
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

/// `<kind><text>\r\n`, with CR/LF in `text` replaced by spaces: a line
/// type cannot carry them, and letting them through would let an error
/// message (which may echo client input) forge extra replies.
fn put_line(out: &mut BytesMut, kind: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(kind);
    if text.iter().any(|&b| b == b'\r' || b == b'\n') {
        out.extend(text.iter().map(|&b| match b {
            b'\r' | b'\n' => b' ',
            other => other,
        }));
    } else {
        out.put_slice(text);
    }
    out.put_slice(b"\r\n");
}

/// Lengths always fit (a Vec cannot exceed isize::MAX elements).
fn len_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(reply: &Reply, proto: Protocol) -> Vec<u8> {
        reply.to_bytes(proto).to_vec()
    }

    fn both(reply: Reply, resp2: &[u8], resp3: &[u8]) {
        assert_eq!(enc(&reply, Protocol::Resp2), resp2, "RESP2 {reply:?}");
        assert_eq!(enc(&reply, Protocol::Resp3), resp3, "RESP3 {reply:?}");
    }

    #[test]
    fn scalars() {
        both(Reply::ok(), b"+OK\r\n", b"+OK\r\n");
        both(
            Reply::error("ERR unknown command 'foo'"),
            b"-ERR unknown command 'foo'\r\n",
            b"-ERR unknown command 'foo'\r\n",
        );
        both(Reply::integer(-42), b":-42\r\n", b":-42\r\n");
        both(
            Reply::Integer(i64::MIN),
            b":-9223372036854775808\r\n",
            b":-9223372036854775808\r\n",
        );
        both(Reply::bulk("hi"), b"$2\r\nhi\r\n", b"$2\r\nhi\r\n");
        both(Reply::bulk(""), b"$0\r\n\r\n", b"$0\r\n\r\n");
        both(Reply::Null, b"$-1\r\n", b"_\r\n");
        both(Reply::NullArray, b"*-1\r\n", b"_\r\n");
        both(Reply::Bool(true), b":1\r\n", b"#t\r\n");
        both(Reply::Bool(false), b":0\r\n", b"#f\r\n");
        both(
            Reply::BigNumber("12345678901234567890".into()),
            b"$20\r\n12345678901234567890\r\n",
            b"(12345678901234567890\r\n",
        );
    }

    #[test]
    fn doubles() {
        both(Reply::Double(1.5), b"$3\r\n1.5\r\n", b",1.5\r\n");
        both(
            Reply::Double(0.1),
            b"$19\r\n0.10000000000000001\r\n",
            b",0.10000000000000001\r\n",
        );
        both(Reply::Double(f64::INFINITY), b"$3\r\ninf\r\n", b",inf\r\n");
        both(
            Reply::Double(f64::NEG_INFINITY),
            b"$4\r\n-inf\r\n",
            b",-inf\r\n",
        );
        both(Reply::Double(f64::NAN), b"$3\r\nnan\r\n", b",nan\r\n");
        both(
            Reply::Double(1e300),
            b"$23\r\n1.0000000000000001e+300\r\n",
            b",1.0000000000000001e+300\r\n",
        );
    }

    #[test]
    fn aggregates() {
        both(
            Reply::Array(vec![Reply::integer(1), Reply::bulks(["a"])]),
            b"*2\r\n:1\r\n*1\r\n$1\r\na\r\n",
            b"*2\r\n:1\r\n*1\r\n$1\r\na\r\n",
        );
        both(
            Reply::Map(vec![(Reply::bulk("k"), Reply::Integer(1))]),
            b"*2\r\n$1\r\nk\r\n:1\r\n",
            b"%1\r\n$1\r\nk\r\n:1\r\n",
        );
        both(
            Reply::Set(vec![Reply::bulk("x")]),
            b"*1\r\n$1\r\nx\r\n",
            b"~1\r\n$1\r\nx\r\n",
        );
        both(
            Reply::Push(vec![Reply::bulk("message")]),
            b"*1\r\n$7\r\nmessage\r\n",
            b">1\r\n$7\r\nmessage\r\n",
        );
        both(Reply::Array(vec![]), b"*0\r\n", b"*0\r\n");
    }

    #[test]
    fn verbatim() {
        both(
            Reply::verbatim_text("Some string"),
            b"$11\r\nSome string\r\n",
            b"=15\r\ntxt:Some string\r\n",
        );
    }

    #[test]
    fn line_types_cannot_break_framing() {
        both(
            Reply::error("ERR bad\r\n+OK"),
            b"-ERR bad  +OK\r\n",
            b"-ERR bad  +OK\r\n",
        );
        both(Reply::simple("a\nb"), b"+a b\r\n", b"+a b\r\n");
    }

    #[test]
    fn encoder_appends() {
        let mut out = BytesMut::from(&b"xyz"[..]);
        encode(&Reply::ok(), Protocol::Resp2, &mut out);
        assert_eq!(&out[..], b"xyz+OK\r\n");
    }

    #[test]
    fn protocol_from_version() {
        assert_eq!(Protocol::from_version(2), Some(Protocol::Resp2));
        assert_eq!(Protocol::from_version(3), Some(Protocol::Resp3));
        assert_eq!(Protocol::from_version(4), None);
    }
}
