//! Property tests: framing under arbitrary splits, encode/parse round
//! trips, and "never panics" on arbitrary input.

use bytes::{Bytes, BytesMut};
use meridian_resp::inline::split_inline;
use meridian_resp::{
    encode, format_double, parse_i64, parse_reply, parse_request, parse_request_bytes, Protocol,
    ProtocolError, Reply, Request,
};
use proptest::prelude::*;

// ---------- request framing ----------

fn resp_array(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Inline form of arbitrary args: each arg double-quoted, with every
/// non-alphanumeric byte written as `\xHH`.
fn inline_line(args: &[Vec<u8>], crlf: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.push(b'"');
        for &b in a {
            if b.is_ascii_alphanumeric() {
                out.push(b);
            } else {
                out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
            }
        }
        out.push(b'"');
    }
    out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
    out
}

fn arg() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..24),
        Just(b"\r\n".to_vec()),
        Just(b"$3\r\n*1\r\n".to_vec()),
    ]
}

fn args() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(arg(), 1..5)
}

/// How one request is written on the wire.
#[derive(Debug, Clone)]
enum Wire {
    Array,
    Inline { crlf: bool },
}

/// A stream of requests, with blank lines and `*0` mixed in, plus the
/// args the server must see.
fn stream() -> impl Strategy<Value = (Vec<u8>, Vec<Vec<Vec<u8>>>)> {
    let item = (
        args(),
        prop_oneof![
            Just(Wire::Array),
            any::<bool>().prop_map(|crlf| Wire::Inline { crlf })
        ],
        prop_oneof![
            4 => Just(&b""[..]),
            1 => Just(&b"\r\n"[..]),
            1 => Just(&b"*0\r\n"[..]),
            1 => Just(&b"*-1\r\n"[..]),
            1 => Just(&b"  \t\n"[..]),
        ],
    );
    proptest::collection::vec(item, 0..8).prop_map(|items| {
        let mut bytes = Vec::new();
        let mut expected = Vec::new();
        for (args, wire, filler) in items {
            bytes.extend_from_slice(filler);
            match wire {
                Wire::Array => bytes.extend(resp_array(&args)),
                Wire::Inline { crlf } => bytes.extend(inline_line(&args, crlf)),
            }
            expected.push(args);
        }
        (bytes, expected)
    })
}

fn to_vecs(req: &Request) -> Vec<Vec<u8>> {
    req.args.iter().map(|a| a.to_vec()).collect()
}

/// Feeds `input` in the given chunk sizes (cycled), draining requests
/// after each chunk.
fn feed_chunked(input: &[u8], chunks: &[usize]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut pos = 0;
    let mut sizes = chunks.iter().cycle();
    while pos < input.len() {
        let n = (*sizes.next().unwrap_or(&1)).max(1).min(input.len() - pos);
        buf.extend_from_slice(&input[pos..pos + n]);
        pos += n;
        while let Some(req) = parse_request_bytes(&mut buf)? {
            assert!(!req.args.is_empty(), "bytes API must skip empty requests");
            out.push(to_vecs(&req));
        }
    }
    assert!(buf.is_empty(), "left over: {:?}", &buf[..]);
    Ok(out)
}

/// All requests of a complete buffer via the slice API, skipping
/// zero-arg ones; also returns the error (if any) and bytes left.
fn drain_slice(input: &[u8]) -> (Vec<Vec<Vec<u8>>>, Option<ProtocolError>, usize) {
    let mut pos = 0;
    let mut out = Vec::new();
    loop {
        match parse_request(&input[pos..]) {
            Ok(Some((req, used))) => {
                assert!(used > 0 && used <= input.len() - pos);
                pos += used;
                if !req.args.is_empty() {
                    out.push(to_vecs(&req));
                }
            }
            Ok(None) => return (out, None, input.len() - pos),
            Err(e) => return (out, Some(e), input.len() - pos),
        }
    }
}

/// Same via the `BytesMut` API.
fn drain_bytes(input: &[u8]) -> (Vec<Vec<Vec<u8>>>, Option<ProtocolError>, usize) {
    let mut buf = BytesMut::from(input);
    let mut out = Vec::new();
    loop {
        match parse_request_bytes(&mut buf) {
            Ok(Some(req)) => out.push(to_vecs(&req)),
            Ok(None) => return (out, None, buf.len()),
            Err(e) => return (out, Some(e), buf.len()),
        }
    }
}

proptest! {
    #[test]
    fn encoded_args_parse_back_exactly(args in args(), tail in proptest::collection::vec(any::<u8>(), 0..8)) {
        let wire = resp_array(&args);
        let mut buf = wire.clone();
        buf.extend_from_slice(&tail);
        let (req, used) = parse_request(&buf).unwrap().unwrap();
        prop_assert_eq!(used, wire.len());
        prop_assert_eq!(to_vecs(&req), args.clone());

        let mut bytes = BytesMut::from(&buf[..]);
        let req = parse_request_bytes(&mut bytes).unwrap().unwrap();
        prop_assert_eq!(to_vecs(&req), args);
        prop_assert_eq!(&bytes[..], &tail[..]);
    }

    #[test]
    fn every_strict_prefix_is_incomplete(args in args()) {
        let wire = resp_array(&args);
        for cut in 0..wire.len() {
            prop_assert_eq!(parse_request(&wire[..cut]), Ok(None));
        }
    }

    #[test]
    fn inline_quoting_round_trips(args in args()) {
        let line = inline_line(&args, true);
        let parsed = split_inline(&line[..line.len() - 2]).unwrap();
        prop_assert_eq!(&parsed, &args);
        let (req, used) = parse_request(&line).unwrap().unwrap();
        prop_assert_eq!(used, line.len());
        prop_assert_eq!(to_vecs(&req), args);
    }

    #[test]
    fn byte_at_a_time_equals_all_at_once((input, expected) in stream()) {
        let (all, err, left) = drain_bytes(&input);
        prop_assert_eq!(err, None);
        prop_assert_eq!(left, 0);
        prop_assert_eq!(&all, &expected);
        prop_assert_eq!(feed_chunked(&input, &[1]).unwrap(), expected.clone());
        let (slice, err, left) = drain_slice(&input);
        prop_assert_eq!((slice, err, left), (expected, None, 0));
    }

    #[test]
    fn random_chunks_equal_all_at_once(
        (input, expected) in stream(),
        chunks in proptest::collection::vec(1usize..40, 1..10),
    ) {
        prop_assert_eq!(feed_chunked(&input, &chunks).unwrap(), expected);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_apis_agree(
        prefix in prop_oneof![
            Just(&b""[..]), Just(&b"*"[..]), Just(&b"*2\r\n"[..]),
            Just(&b"*1\r\n$"[..]), Just(&b"*2\r\n$3\r\nGET\r\n"[..]), Just(&b"\""[..]),
        ],
        body in proptest::collection::vec(
            prop_oneof![any::<u8>(), Just(b'\r'), Just(b'\n'), Just(b'$'), Just(b'*'),
                        Just(b'"'), Just(b'\''), Just(b'\\'), Just(b'1')],
            0..300),
    ) {
        let mut input = prefix.to_vec();
        input.extend(body);
        prop_assert_eq!(drain_slice(&input), drain_bytes(&input));
        let _ = parse_reply(&input);
    }
}

// ---------- replies ----------

fn leaf() -> impl Strategy<Value = Reply> {
    prop_oneof![
        "[^\r\n]{0,12}".prop_map(Reply::simple),
        "[A-Z]{1,5} [^\r\n]{0,12}".prop_map(Reply::error),
        any::<i64>().prop_map(Reply::Integer),
        proptest::collection::vec(any::<u8>(), 0..20).prop_map(Reply::bulk),
        Just(Reply::Null),
        Just(Reply::NullArray),
        prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(-0.0),
            (-1e6f64..1e6)
        ]
        .prop_map(Reply::Double),
        any::<bool>().prop_map(Reply::Bool),
        (
            any::<[u8; 3]>(),
            proptest::collection::vec(any::<u8>(), 0..20)
        )
            .prop_map(|(format, text)| Reply::Verbatim {
                format,
                text: text.into()
            }),
        "-?[1-9][0-9]{0,30}".prop_map(Reply::BigNumber),
    ]
}

fn reply() -> impl Strategy<Value = Reply> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Reply::Array),
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Reply::Set),
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Reply::Push),
            proptest::collection::vec((inner.clone(), inner), 0..4).prop_map(Reply::Map),
        ]
    })
}

/// What a RESP3 encoding parses back as: only the two nulls merge.
fn resp3_shape(r: &Reply) -> Reply {
    match r {
        Reply::NullArray => Reply::Null,
        Reply::Array(v) => Reply::Array(v.iter().map(resp3_shape).collect()),
        Reply::Set(v) => Reply::Set(v.iter().map(resp3_shape).collect()),
        Reply::Push(v) => Reply::Push(v.iter().map(resp3_shape).collect()),
        Reply::Map(v) => Reply::Map(
            v.iter()
                .map(|(k, v)| (resp3_shape(k), resp3_shape(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// What a RESP2 encoding parses back as.
fn resp2_shape(r: &Reply) -> Reply {
    match r {
        Reply::Array(v) | Reply::Set(v) | Reply::Push(v) => {
            Reply::Array(v.iter().map(resp2_shape).collect())
        }
        Reply::Map(v) => Reply::Array(
            v.iter()
                .flat_map(|(k, v)| [resp2_shape(k), resp2_shape(v)])
                .collect(),
        ),
        Reply::Double(x) => Reply::bulk(format_double(*x)),
        Reply::Bool(b) => Reply::Integer(i64::from(*b)),
        Reply::Verbatim { text, .. } => Reply::Bulk(text.clone()),
        Reply::BigNumber(n) => Reply::bulk(n.clone()),
        other => other.clone(),
    }
}

/// Structural equality where doubles compare bitwise and any NaN equals
/// any NaN (the wire spells them all `nan`).
fn same(a: &Reply, b: &Reply) -> bool {
    fn all(a: &[Reply], b: &[Reply]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
    }
    match (a, b) {
        (Reply::Double(x), Reply::Double(y)) => {
            (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits()
        }
        (Reply::Array(x), Reply::Array(y))
        | (Reply::Set(x), Reply::Set(y))
        | (Reply::Push(x), Reply::Push(y)) => all(x, y),
        (Reply::Map(x), Reply::Map(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((k1, v1), (k2, v2))| same(k1, k2) && same(v1, v2))
        }
        _ => a == b,
    }
}

fn round_trip(r: &Reply, proto: Protocol) -> Reply {
    let mut out = BytesMut::from(&b"garbage"[..]);
    let start = out.len();
    encode(r, proto, &mut out);
    out.extend_from_slice(b"+next\r\n");
    let (parsed, used) = parse_reply(&out[start..]).unwrap().unwrap();
    assert_eq!(used, out.len() - start - 7, "consumed exactly one reply");
    // Every strict prefix of an encoding is incomplete, never an error.
    let wire = &out[start..start + used];
    for cut in 0..wire.len() {
        assert_eq!(parse_reply(&wire[..cut]), Ok(None), "cut {cut}");
    }
    parsed
}

proptest! {
    #[test]
    fn resp3_round_trip(r in reply()) {
        let back = round_trip(&r, Protocol::Resp3);
        prop_assert!(same(&back, &resp3_shape(&r)), "{:?} -> {:?}", r, back);
    }

    #[test]
    fn resp2_round_trip(r in reply()) {
        let back = round_trip(&r, Protocol::Resp2);
        prop_assert!(same(&back, &resp2_shape(&r)), "{:?} -> {:?}", r, back);
    }

    #[test]
    fn line_replies_never_break_framing(s in "\\PC{0,20}|[\r\n a]{0,10}") {
        let r = Reply::error(s.clone());
        let wire = r.to_bytes(Protocol::Resp2);
        let (back, used) = parse_reply(&wire).unwrap().unwrap();
        prop_assert_eq!(used, wire.len());
        prop_assert_eq!(back, Reply::error(s.replace(['\r', '\n'], " ")));
    }

    #[test]
    fn format_double_round_trips(x in any::<f64>()) {
        let text = format_double(x);
        let back: f64 = text.parse().unwrap();
        prop_assert!((x.is_nan() && back.is_nan()) || back.to_bits() == x.to_bits(), "{}", text);
    }

    #[test]
    fn parse_i64_accepts_exactly_canonical_text(n in any::<i64>(), junk in "[-+ 0-9a]{0,4}") {
        prop_assert_eq!(parse_i64(n.to_string().as_bytes()), Some(n));
        let text = format!("{junk}{n}");
        let canonical = text.parse::<i64>().ok().filter(|v| v.to_string() == text);
        prop_assert_eq!(parse_i64(text.as_bytes()), canonical);
    }
}

#[test]
fn bulk_payload_is_a_slice_of_the_input() {
    let mut buf = BytesMut::from(&resp_array(&[b"SET".to_vec(), vec![7; 1000]])[..]);
    let base = buf.as_ptr() as usize;
    let req = parse_request_bytes(&mut buf).unwrap().unwrap();
    let v: &Bytes = &req.args[1];
    assert_eq!(v.as_ptr() as usize, base + 4 + 4 + 5 + 7);
}
