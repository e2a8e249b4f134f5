//! Reply parsing for clients and tests: bytes from a server → [`Reply`].
//!
//! Handles every RESP2 and RESP3 type the encoder produces, plus blob
//! errors (`!`), which become [`Reply::Error`]. Attributes (`|`) and
//! streamed aggregates are not supported. Not a hot path: it rescans
//! from the start on every call and copies strings.
//!
//! ```
//! use meridian_resp::{parse_reply, Reply};
//!
//! let (reply, used) = parse_reply(b"*2\r\n:1\r\n$-1\r\n+rest").unwrap().unwrap();
//! assert_eq!(reply, Reply::Array(vec![Reply::Integer(1), Reply::Null]));
//! assert_eq!(used, 13);
//! assert_eq!(parse_reply(b"$5\r\nhel").unwrap(), None); // incomplete
//! ```

use bytes::Bytes;

use crate::error::ProtocolError;
use crate::frame::BULK_BYTES_MAX;
use crate::number::parse_i64;
use crate::reply::Reply;

/// Deepest nesting of aggregates accepted, in levels. Parsing recurses
/// once per level, so this bounds stack use on hostile input; real
/// replies nest only a few levels.
pub const REPLY_DEPTH_MAX: usize = 128;

/// Smallest encoding of one aggregate element, in bytes (`_\r\n`). Used
/// to cap pre-allocation by the bytes actually present, so a header like
/// `*999999999` cannot make us allocate gigabytes.
const ELEMENT_BYTES_MIN: usize = 3;

/// Parses one reply from the start of `buf`: `Ok(None)` if incomplete,
/// else the reply and the number of bytes it used.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, ProtocolError> {
    let mut parser = Parser { buf, pos: 0 };
    match parser.reply(0) {
        Ok(reply) => Ok(Some((reply, parser.pos))),
        Err(Stop::Incomplete) => Ok(None),
        Err(Stop::Invalid(e)) => Err(e),
    }
}

/// Why parsing stopped early.
enum Stop {
    Incomplete,
    Invalid(ProtocolError),
}

impl From<ProtocolError> for Stop {
    fn from(e: ProtocolError) -> Self {
        Stop::Invalid(e)
    }
}

struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn reply(&mut self, depth: usize) -> Result<Reply, Stop> {
        if depth > REPLY_DEPTH_MAX {
            return Err(ProtocolError::InvalidReply("nesting depth").into());
        }
        let kind = *self.buf.get(self.pos).ok_or(Stop::Incomplete)?;
        self.pos += 1;
        Ok(match kind {
            b'+' => Reply::Simple(self.text_line()?.into()),
            b'-' => Reply::Error(self.text_line()?.into()),
            b':' => Reply::Integer(self.integer("integer")?),
            b'(' => Reply::BigNumber(self.text_line()?),
            b'_' => {
                self.line()?;
                Reply::Null
            }
            b'#' => match self.line()? {
                b"t" => Reply::Bool(true),
                b"f" => Reply::Bool(false),
                _ => return Err(ProtocolError::InvalidReply("boolean").into()),
            },
            b',' => {
                let text = std::str::from_utf8(self.line()?).ok();
                let x = text.and_then(|t| t.parse::<f64>().ok());
                Reply::Double(x.ok_or(ProtocolError::InvalidReply("double"))?)
            }
            b'$' => match self.integer("bulk length")? {
                -1 => Reply::Null,
                len => Reply::Bulk(self.blob(len)?),
            },
            b'!' => {
                let len = self.integer("bulk length")?;
                Reply::Error(
                    String::from_utf8_lossy(&self.blob(len)?)
                        .into_owned()
                        .into(),
                )
            }
            b'=' => {
                let len = self.integer("bulk length")?;
                let blob = self.blob(len)?;
                match (blob.get(..3), blob.get(3)) {
                    (Some(format), Some(b':')) => Reply::Verbatim {
                        format: [format[0], format[1], format[2]],
                        text: blob.slice(4..),
                    },
                    _ => return Err(ProtocolError::InvalidReply("verbatim string").into()),
                }
            }
            b'*' => match self.integer("aggregate length")? {
                -1 => Reply::NullArray,
                n => Reply::Array(self.items(n, depth)?),
            },
            b'~' => {
                let n = self.integer("aggregate length")?;
                Reply::Set(self.items(n, depth)?)
            }
            b'>' => {
                let n = self.integer("aggregate length")?;
                Reply::Push(self.items(n, depth)?)
            }
            b'%' => {
                let n = self.integer("aggregate length")?;
                let n = self.count(n)?;
                let mut pairs = Vec::with_capacity(self.capacity(n.saturating_mul(2)) / 2);
                for _ in 0..n {
                    let key = self.reply(depth + 1)?;
                    let value = self.reply(depth + 1)?;
                    pairs.push((key, value));
                }
                Reply::Map(pairs)
            }
            other => return Err(ProtocolError::UnknownReplyType(other).into()),
        })
    }

    /// The bytes up to the next `\r\n`, consuming both.
    fn line(&mut self) -> Result<&[u8], Stop> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or(Stop::Incomplete)?;
        self.pos += end + 2;
        Ok(&rest[..end])
    }

    fn text_line(&mut self) -> Result<String, Stop> {
        Ok(String::from_utf8_lossy(self.line()?).into_owned())
    }

    fn integer(&mut self, what: &'static str) -> Result<i64, Stop> {
        Ok(parse_i64(self.line()?).ok_or(ProtocolError::InvalidReply(what))?)
    }

    /// `len` payload bytes followed by `\r\n`.
    fn blob(&mut self, len: i64) -> Result<Bytes, Stop> {
        let len = usize::try_from(len)
            .ok()
            .filter(|&n| n <= BULK_BYTES_MAX)
            .ok_or(ProtocolError::InvalidBulkLength)?;
        let end = self.pos.saturating_add(len);
        match self.buf.get(end..end.saturating_add(2)) {
            None => return Err(Stop::Incomplete),
            Some(b"\r\n") => {}
            Some(_) => return Err(ProtocolError::BulkNotTerminated.into()),
        }
        let data = Bytes::copy_from_slice(&self.buf[self.pos..end]);
        self.pos = end + 2;
        Ok(data)
    }

    fn count(&self, n: i64) -> Result<usize, Stop> {
        Ok(usize::try_from(n).map_err(|_| ProtocolError::InvalidReply("aggregate length"))?)
    }

    /// A safe pre-allocation for `n` elements given the bytes left.
    fn capacity(&self, n: usize) -> usize {
        n.min(self.buf.len().saturating_sub(self.pos) / ELEMENT_BYTES_MIN)
    }

    fn items(&mut self, n: i64, depth: usize) -> Result<Vec<Reply>, Stop> {
        let n = self.count(n)?;
        let mut items = Vec::with_capacity(self.capacity(n));
        for _ in 0..n {
            items.push(self.reply(depth + 1)?);
        }
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(buf: &[u8]) -> Reply {
        let (reply, used) = parse_reply(buf).unwrap().unwrap();
        assert_eq!(used, buf.len());
        reply
    }

    #[test]
    fn resp3_types() {
        assert_eq!(parse(b"_\r\n"), Reply::Null);
        assert_eq!(parse(b"#t\r\n"), Reply::Bool(true));
        assert_eq!(parse(b",-inf\r\n"), Reply::Double(f64::NEG_INFINITY));
        assert!(matches!(parse(b",nan\r\n"), Reply::Double(x) if x.is_nan()));
        assert_eq!(parse(b"(123\r\n"), Reply::BigNumber("123".into()));
        assert_eq!(parse(b"!3\r\nERR\r\n"), Reply::error("ERR"));
        assert_eq!(
            parse(b"=8\r\ntxt:a\r\nb\r\n"),
            Reply::Verbatim {
                format: *b"txt",
                text: Bytes::from_static(b"a\r\nb")
            }
        );
        assert_eq!(
            parse(b"%1\r\n+k\r\n~1\r\n:2\r\n"),
            Reply::Map(vec![(
                Reply::simple("k"),
                Reply::Set(vec![Reply::Integer(2)])
            )])
        );
        assert_eq!(
            parse(b">1\r\n+m\r\n"),
            Reply::Push(vec![Reply::simple("m")])
        );
    }

    #[test]
    fn resp2_nulls() {
        assert_eq!(parse(b"$-1\r\n"), Reply::Null);
        assert_eq!(parse(b"*-1\r\n"), Reply::NullArray);
    }

    #[test]
    fn incomplete() {
        let full = b"*2\r\n$3\r\nabc\r\n%1\r\n:1\r\n#f\r\n";
        assert_eq!(parse(full).to_bytes(crate::Protocol::Resp3), &full[..]);
        for cut in 0..full.len() {
            assert_eq!(parse_reply(&full[..cut]).unwrap(), None, "cut {cut}");
        }
    }

    #[test]
    fn invalid() {
        assert_eq!(
            parse_reply(b"?\r\n").unwrap_err(),
            ProtocolError::UnknownReplyType(b'?')
        );
        assert_eq!(
            parse_reply(b":x\r\n").unwrap_err(),
            ProtocolError::InvalidReply("integer")
        );
        assert_eq!(
            parse_reply(b"$-2\r\n").unwrap_err(),
            ProtocolError::InvalidBulkLength
        );
        assert_eq!(
            parse_reply(b"*-2\r\n").unwrap_err(),
            ProtocolError::InvalidReply("aggregate length")
        );
        assert_eq!(
            parse_reply(b"#x\r\n").unwrap_err(),
            ProtocolError::InvalidReply("boolean")
        );
        assert_eq!(
            parse_reply(b"=2\r\nab\r\n").unwrap_err(),
            ProtocolError::InvalidReply("verbatim string")
        );
        assert_eq!(
            parse_reply(b"$1\r\nab\r\n").unwrap_err(),
            ProtocolError::BulkNotTerminated
        );
    }

    #[test]
    fn huge_header_does_not_allocate_or_fail_early() {
        assert_eq!(parse_reply(b"*999999999999\r\n:1\r\n").unwrap(), None);
    }

    #[test]
    fn depth_is_limited() {
        let deep = "*1\r\n".repeat(REPLY_DEPTH_MAX + 2);
        assert_eq!(
            parse_reply(deep.as_bytes()).unwrap_err(),
            ProtocolError::InvalidReply("nesting depth")
        );
        let ok = format!("{}:1\r\n", "*1\r\n".repeat(REPLY_DEPTH_MAX));
        assert!(parse_reply(ok.as_bytes()).unwrap().is_some());
    }
}
