//! The Redis wire protocol (RESP2 and RESP3) for Meridian.
//!
//! Layers, as in tokio's mini-redis:
//!
//! - [`frame`]: client bytes → [`Request`] (RESP arrays and inline
//!   commands), with `Ok(None)` for "need more bytes" and
//!   [`ProtocolError`] for malformed or over-limit input.
//! - [`parse`]: a request's args → typed arguments via [`Args`], with
//!   redis' exact error messages.
//! - [`reply`]: [`Reply`] values and their encoding for either protocol.
//! - [`client`]: server bytes → [`Reply`], for clients and tests.
//!
//! Helpers: [`inline`] splits telnet-style command lines like redis'
//! `sdssplitargs`; [`number`] reads and prints numbers exactly as redis
//! does; [`error`] holds [`ProtocolError`], whose texts are redis' own.
//!
//! ```
//! use bytes::BytesMut;
//! use meridian_resp::{encode, parse_request_bytes, Args, Protocol, Reply};
//!
//! let mut input = BytesMut::from(&b"*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n"[..]);
//! let request = parse_request_bytes(&mut input)?.expect("a whole request");
//! let mut args = Args::new(&request.args);
//! assert!(request.name().unwrap().eq_ignore_ascii_case(b"echo"));
//! let message = args.next_bytes().unwrap().clone();
//! args.finish().unwrap();
//!
//! let mut output = BytesMut::new();
//! encode(&Reply::Bulk(message), Protocol::Resp2, &mut output);
//! assert_eq!(&output[..], b"$2\r\nhi\r\n");
//! # Ok::<(), meridian_resp::ProtocolError>(())
//! ```

#![warn(missing_docs)]

pub mod client;
pub mod error;
pub mod frame;
pub mod inline;
pub mod number;
pub mod parse;
pub mod reply;

pub use client::parse_reply;
pub use error::ProtocolError;
pub use frame::{
    parse_request, parse_request_bytes, Request, ARGS_MAX, BULK_BYTES_MAX, INLINE_BYTES_MAX,
};
pub use number::{format_double, format_long_double, parse_f64, parse_i64};
pub use parse::{wrong_args, Args, CommandError};
pub use reply::{encode, Protocol, Reply};
