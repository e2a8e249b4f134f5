//! Request framing: bytes from a client → one [`Request`] at a time.
//!
//! A request is either a RESP array of bulk strings
//! (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`, what every client library sends) or
//! an inline command line (`GET k\r\n`, what people type into telnet).
//! Like redis, a buffer starting with `*` is an array, anything else is
//! inline.
//!
//! Partial input is normal on a socket: the parsers return `Ok(None)`
//! ("incomplete, read more") and keep no state between calls, so the next
//! call rescans from the start of the request. The rescan touches only
//! the short `$<len>` headers (payloads are skipped by length), so a large
//! value arriving in many pieces costs O(pieces × args), not O(bytes²).
//! The server should still read in large chunks.
//!
//! ```
//! use bytes::BytesMut;
//! use meridian_resp::parse_request_bytes;
//!
//! let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n*1\r\n$4\r\nPI"[..]);
//! let get = parse_request_bytes(&mut buf).unwrap().unwrap();
//! assert_eq!(get.args, [&b"GET"[..], b"k"]);
//! let ping = parse_request_bytes(&mut buf).unwrap().unwrap();
//! assert_eq!(ping.args, [&b"PING"[..]]);
//! assert_eq!(parse_request_bytes(&mut buf).unwrap(), None); // incomplete
//! assert_eq!(&buf[..], b"*1\r\n$4\r\nPI"); // kept for the next read
//! ```

use bytes::{Buf, Bytes, BytesMut};

use crate::error::ProtocolError;
use crate::inline::split_inline;
use crate::number::parse_i64;

/// Largest bulk string a client may send, in bytes: 512 MiB, redis'
/// default `proto-max-bulk-len`. Bounds the memory one argument can take.
pub const BULK_BYTES_MAX: usize = 512 * 1024 * 1024;

/// Most arguments in one request array: 1 Mi, redis' historical
/// multibulk limit. Bounds the argument vector of one request.
pub const ARGS_MAX: usize = 1024 * 1024;

/// Longest inline command line, in bytes: 64 KiB, redis'
/// `PROTO_INLINE_MAX_SIZE`. Without it a client sending no newline would
/// make the server buffer (and rescan) without bound.
pub const INLINE_BYTES_MAX: usize = 64 * 1024;

/// Longest valid number text in a `*<n>`/`$<n>` header, in bytes:
/// `-9223372036854775808`. A longer header can never be valid, so we fail
/// as soon as we have seen that many bytes without `\r`.
const HEADER_DIGITS_MAX: usize = 20;

/// One client request: `args[0]` is the command name, as sent (any case).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The arguments, command name first.
    pub args: Vec<Bytes>,
}

impl Request {
    /// The command name, if there is one.
    pub fn name(&self) -> Option<&[u8]> {
        self.args.first().map(|a| &a[..])
    }
}

/// Parses one request from the start of `buf`.
///
/// Returns `Ok(None)` if `buf` does not yet hold a whole request, or
/// `Ok(Some((request, consumed)))`. Args are copied out of `buf`.
///
/// Input that redis silently skips — a blank inline line, `*0\r\n`,
/// `*-1\r\n` — is returned as a `Request` with **zero args**, so that the
/// consumed byte count is never lost; callers ignore such requests.
/// ([`parse_request_bytes`] skips them itself.)
pub fn parse_request(buf: &[u8]) -> Result<Option<(Request, usize)>, ProtocolError> {
    let Some(scanned) = scan(buf, |_, _| {})? else {
        return Ok(None);
    };
    Ok(Some(match scanned {
        Scanned::Empty { consumed } => (Request::default(), consumed),
        Scanned::Array { consumed, argc } => {
            // Copy only once the request is known to be complete, so a
            // partial request costs no copying however often it is retried.
            let mut args = Vec::with_capacity(argc);
            scan(&buf[..consumed], |start, end| {
                args.push(Bytes::copy_from_slice(&buf[start..end]));
            })?;
            (Request { args }, consumed)
        }
        Scanned::Inline { consumed, args } => (
            Request {
                args: args.into_iter().map(Bytes::from).collect(),
            },
            consumed,
        ),
    }))
}

/// Parses one request from the front of `buf`, removing its bytes, with
/// args as zero-copy slices of the received data. This is the server's
/// hot path.
///
/// Returns `Ok(None)` when no whole request is buffered; the partial
/// request stays in `buf`. Blank inline lines, `*0\r\n` and `*-1\r\n` are
/// removed and skipped (as redis does), so a returned request always has
/// at least one arg.
///
/// Each arg shares (and so keeps alive) the whole read chunk it came
/// from: copy values that outlive the request (e.g. stored in the
/// keyspace) with `Bytes::copy_from_slice`, or a 10-byte value may pin a
/// 64 KiB read buffer.
pub fn parse_request_bytes(buf: &mut BytesMut) -> Result<Option<Request>, ProtocolError> {
    loop {
        match scan(buf, |_, _| {})? {
            None => return Ok(None),
            Some(Scanned::Empty { consumed }) => buf.advance(consumed),
            Some(Scanned::Inline { consumed, args }) => {
                buf.advance(consumed);
                let args = args.into_iter().map(Bytes::from).collect();
                return Ok(Some(Request { args }));
            }
            Some(Scanned::Array { consumed, argc }) => {
                let frame = buf.split_to(consumed).freeze();
                let mut args = Vec::with_capacity(argc);
                // Second pass over the now-frozen frame: it was validated
                // above, so this only re-reads the short headers.
                scan(&frame, |start, end| args.push(frame.slice(start..end)))?;
                return Ok(Some(Request { args }));
            }
        }
    }
}

/// What [`scan`] found at the start of the buffer.
enum Scanned {
    /// Nothing to run (blank line, `*0`, `*-1`); skip `consumed` bytes.
    Empty { consumed: usize },
    /// A request array of `argc` bulk strings, reported via `on_arg`.
    Array { consumed: usize, argc: usize },
    /// An inline command; args are unescaped, hence owned.
    Inline { consumed: usize, args: Vec<Vec<u8>> },
}

/// Validates one request at the start of `buf`, calling `on_arg(start,
/// end)` with the byte range of each array element (only once the whole
/// array is known to be complete and valid is the result `Some`, but
/// `on_arg` may already have been called for a prefix).
fn scan(buf: &[u8], on_arg: impl FnMut(usize, usize)) -> Result<Option<Scanned>, ProtocolError> {
    match buf.first() {
        None => Ok(None),
        Some(b'*') => scan_array(buf, on_arg),
        Some(_) => scan_inline(buf),
    }
}

fn scan_array(
    buf: &[u8],
    mut on_arg: impl FnMut(usize, usize),
) -> Result<Option<Scanned>, ProtocolError> {
    let (count, mut pos) = match read_header(buf, 1) {
        Header::Incomplete => return Ok(None),
        Header::Invalid => return Err(ProtocolError::InvalidMultibulkLength),
        Header::Value(count, next) => (count, next),
    };
    if count <= 0 {
        return Ok(Some(Scanned::Empty { consumed: pos }));
    }
    let argc = usize::try_from(count)
        .ok()
        .filter(|&n| n <= ARGS_MAX)
        .ok_or(ProtocolError::InvalidMultibulkLength)?;
    for _ in 0..argc {
        match buf.get(pos) {
            None => return Ok(None),
            Some(b'$') => {}
            Some(&other) => return Err(ProtocolError::ExpectedDollar(other)),
        }
        let (len, start) = match read_header(buf, pos + 1) {
            Header::Incomplete => return Ok(None),
            Header::Invalid => return Err(ProtocolError::InvalidBulkLength),
            Header::Value(len, next) => (len, next),
        };
        let len = usize::try_from(len)
            .ok()
            .filter(|&n| n <= BULK_BYTES_MAX)
            .ok_or(ProtocolError::InvalidBulkLength)?;
        let end = start
            .checked_add(len)
            .ok_or(ProtocolError::InvalidBulkLength)?;
        match buf.get(end..end + 2) {
            None => return Ok(None),
            Some(b"\r\n") => {}
            Some(_) => return Err(ProtocolError::BulkNotTerminated),
        }
        on_arg(start, end);
        pos = end + 2;
    }
    Ok(Some(Scanned::Array {
        consumed: pos,
        argc,
    }))
}

fn scan_inline(buf: &[u8]) -> Result<Option<Scanned>, ProtocolError> {
    // Look for '\n' only as far as a legal line could reach, so a client
    // that never sends one costs at most INLINE_BYTES_MAX per call.
    let window = &buf[..buf.len().min(INLINE_BYTES_MAX + 1)];
    let Some(newline) = window.iter().position(|&b| b == b'\n') else {
        return if buf.len() > INLINE_BYTES_MAX {
            Err(ProtocolError::TooBigInline)
        } else {
            Ok(None)
        };
    };
    let line = &buf[..newline];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let args = split_inline(line)?;
    let consumed = newline + 1;
    Ok(Some(if args.is_empty() {
        Scanned::Empty { consumed }
    } else {
        Scanned::Inline { consumed, args }
    }))
}

/// Result of reading a `<number>\r\n` header.
enum Header {
    Incomplete,
    Invalid,
    /// The number and the position just after its `\r\n`.
    Value(i64, usize),
}

/// Reads the number and `\r\n` that start at `start` (just after the `*`
/// or `$` type byte).
fn read_header(buf: &[u8], start: usize) -> Header {
    let rest = buf.get(start..).unwrap_or_default();
    let window = &rest[..rest.len().min(HEADER_DIGITS_MAX + 1)];
    let Some(cr) = window.iter().position(|&b| b == b'\r') else {
        return if window.len() > HEADER_DIGITS_MAX {
            Header::Invalid
        } else {
            Header::Incomplete
        };
    };
    match rest.get(cr + 1) {
        None => Header::Incomplete,
        Some(b'\n') => match parse_i64(&rest[..cr]) {
            Some(n) => Header::Value(n, start + cr + 2),
            None => Header::Invalid,
        },
        Some(_) => Header::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args_of(buf: &[u8]) -> Vec<Vec<u8>> {
        let (req, used) = parse_request(buf).unwrap().unwrap();
        assert_eq!(used, buf.len());
        req.args.iter().map(|a| a.to_vec()).collect()
    }

    fn err_of(buf: &[u8]) -> ProtocolError {
        parse_request(buf).unwrap_err()
    }

    #[test]
    fn array_request() {
        assert_eq!(
            args_of(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"),
            vec![b"SET".to_vec(), b"k".to_vec(), b"v".to_vec()]
        );
        assert_eq!(args_of(b"*1\r\n$0\r\n\r\n"), vec![Vec::new()]);
        assert_eq!(args_of(b"*1\r\n$4\r\na\r\nb\r\n"), vec![b"a\r\nb".to_vec()]);
    }

    #[test]
    fn consumes_only_one_request() {
        let buf = b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n";
        let (req, used) = parse_request(buf).unwrap().unwrap();
        assert_eq!(used, 14);
        assert_eq!(req.name(), Some(&b"PING"[..]));
    }

    #[test]
    fn inline_request() {
        assert_eq!(args_of(b"PING\r\n"), vec![b"PING".to_vec()]);
        assert_eq!(
            args_of(b"SET k \"a b\"\n"),
            vec![b"SET".to_vec(), b"k".to_vec(), b"a b".to_vec()]
        );
    }

    #[test]
    fn skippable_input_gives_zero_args() {
        for buf in [&b"\r\n"[..], b"\n", b"   \r\n", b"*0\r\n", b"*-1\r\n"] {
            assert_eq!(args_of(buf), Vec::<Vec<u8>>::new());
        }
    }

    #[test]
    fn incomplete_prefixes() {
        let full = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
        for cut in 0..full.len() {
            assert_eq!(parse_request(&full[..cut]).unwrap(), None, "cut {cut}");
        }
        assert_eq!(parse_request(b"PING").unwrap(), None);
        assert_eq!(parse_request(b"PING\r").unwrap(), None);
    }

    #[test]
    fn multibulk_length_errors() {
        for bad in [
            &b"*x\r\n"[..],
            b"*\r\n",
            b"*+1\r\n",
            b"*01\r\n",
            b"*1 \r\n",
            b"*1\rx",
            b"*2000000\r\n",
            b"*1048577\r\n",
            b"*99999999999999999999\r\n",
            b"*111111111111111111111111",
        ] {
            assert_eq!(
                err_of(bad),
                ProtocolError::InvalidMultibulkLength,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // The limit itself is accepted (header only; no huge buffer).
        assert_eq!(parse_request(b"*1048576\r\n").unwrap(), None);
    }

    #[test]
    fn bulk_length_errors() {
        for bad in [
            &b"*1\r\n$x\r\n"[..],
            b"*1\r\n$-1\r\n",
            b"*1\r\n$\r\n",
            b"*1\r\n$600000000\r\n",
            b"*1\r\n$536870913\r\n",
            b"*1\r\n$1\rx",
            b"*1\r\n$0000000000000000000000",
        ] {
            assert_eq!(
                err_of(bad),
                ProtocolError::InvalidBulkLength,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(parse_request(b"*1\r\n$536870912\r\n").unwrap(), None);
    }

    #[test]
    fn expected_dollar() {
        assert_eq!(
            err_of(b"*1\r\nx3\r\nfoo\r\n"),
            ProtocolError::ExpectedDollar(b'x')
        );
        assert_eq!(
            err_of(b"*2\r\n$1\r\na\r\n:1\r\n"),
            ProtocolError::ExpectedDollar(b':')
        );
        assert_eq!(
            err_of(b"*1\r\nx").to_string(),
            "Protocol error: expected '$', got 'x'"
        );
    }

    #[test]
    fn bulk_must_end_with_crlf() {
        assert_eq!(
            err_of(b"*1\r\n$1\r\nab\r\n"),
            ProtocolError::BulkNotTerminated
        );
    }

    #[test]
    fn too_big_inline() {
        let mut line = vec![b'a'; INLINE_BYTES_MAX];
        assert_eq!(parse_request(&line).unwrap(), None);
        line.push(b'a');
        assert_eq!(err_of(&line), ProtocolError::TooBigInline);
        // A newline past the limit does not help.
        line.extend_from_slice(b"\r\n");
        assert_eq!(err_of(&line), ProtocolError::TooBigInline);
        // Exactly at the limit with its newline is fine.
        let mut ok = vec![b'a'; INLINE_BYTES_MAX];
        ok.push(b'\n');
        assert_eq!(args_of(&ok).len(), 1);
    }

    #[test]
    fn unbalanced_quotes_inline() {
        assert_eq!(err_of(b"SET k \"v\r\n"), ProtocolError::UnbalancedQuotes);
    }

    #[test]
    fn bytes_api_skips_blank_input_and_is_zero_copy() {
        let mut buf = BytesMut::from(&b"\r\n*0\r\n\n*1\r\n$4\r\nPING\r\n\r\n"[..]);
        let base = buf.as_ptr() as usize;
        let req = parse_request_bytes(&mut buf).unwrap().unwrap();
        assert_eq!(req.args, [&b"PING"[..]]);
        // The arg points into the original receive buffer.
        assert_eq!(req.args[0].as_ptr() as usize, base + 15);
        // The trailing blank line is consumed even with nothing after it.
        assert_eq!(parse_request_bytes(&mut buf).unwrap(), None);
        assert!(buf.is_empty());
    }

    #[test]
    fn bytes_api_reports_errors() {
        let mut buf = BytesMut::from(&b"*1\r\n$-5\r\n"[..]);
        assert_eq!(
            parse_request_bytes(&mut buf),
            Err(ProtocolError::InvalidBulkLength)
        );
    }
}
