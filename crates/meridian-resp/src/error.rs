//! Protocol errors: malformed or over-limit bytes on the wire.
//!
//! Their `Display` text matches redis wording, so a server can answer
//! `-ERR <error>` and then close the connection, exactly as redis does
//! (after a protocol error the stream position is unknown, so the
//! connection cannot be resynchronised).
//!
//! ```
//! use meridian_resp::{parse_request, ProtocolError};
//!
//! let err = parse_request(b"*x\r\n").unwrap_err();
//! assert_eq!(err, ProtocolError::InvalidMultibulkLength);
//! assert_eq!(err.to_string(), "Protocol error: invalid multibulk length");
//! ```

use std::fmt;

/// Malformed or over-limit input, on either side of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// `*<n>` header that is not a strict integer, or more than
    /// [`ARGS_MAX`](crate::ARGS_MAX) elements.
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// `$<n>` header that is not a strict integer, negative in a request,
    /// or above [`BULK_BYTES_MAX`](crate::BULK_BYTES_MAX).
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// An element of a request array that is not a bulk string.
    #[error("Protocol error: expected '$', got '{}'", ByteChar(*.0))]
    ExpectedDollar(u8),
    /// A bulk string whose payload is not followed by `\r\n`. Redis
    /// silently skips two bytes here; we refuse, because accepting it
    /// would let a length mistake shift every later frame.
    #[error("Protocol error: expected '\\r\\n' after bulk string")]
    BulkNotTerminated,
    /// An inline command line longer than
    /// [`INLINE_BYTES_MAX`](crate::INLINE_BYTES_MAX).
    #[error("Protocol error: too big inline request")]
    TooBigInline,
    /// An inline command with an unterminated quote, or a closing quote
    /// not followed by a space.
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// A reply (client side) starting with an unknown type byte.
    #[error("Protocol error: unknown reply type '{}'", ByteChar(*.0))]
    UnknownReplyType(u8),
    /// A reply (client side) whose content does not fit its type; the
    /// text says which part.
    #[error("Protocol error: invalid {0} in reply")]
    InvalidReply(&'static str),
}

/// Shows a byte as redis' `%c` would, except that non-printable bytes are
/// escaped as `\xHH` so the message stays valid UTF-8 and one line.
struct ByteChar(u8);

impl fmt::Display for ByteChar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_ascii_graphic() || self.0 == b' ' {
            write!(f, "{}", self.0 as char)
        } else {
            write!(f, "\\x{:02x}", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_redis() {
        assert_eq!(
            ProtocolError::InvalidMultibulkLength.to_string(),
            "Protocol error: invalid multibulk length"
        );
        assert_eq!(
            ProtocolError::InvalidBulkLength.to_string(),
            "Protocol error: invalid bulk length"
        );
        assert_eq!(
            ProtocolError::ExpectedDollar(b'x').to_string(),
            "Protocol error: expected '$', got 'x'"
        );
        assert_eq!(
            ProtocolError::TooBigInline.to_string(),
            "Protocol error: too big inline request"
        );
        assert_eq!(
            ProtocolError::UnbalancedQuotes.to_string(),
            "Protocol error: unbalanced quotes in request"
        );
    }

    #[test]
    fn unprintable_bytes_are_escaped() {
        assert_eq!(
            ProtocolError::ExpectedDollar(b'\r').to_string(),
            "Protocol error: expected '$', got '\\x0d'"
        );
        assert_eq!(
            ProtocolError::UnknownReplyType(0xff).to_string(),
            "Protocol error: unknown reply type '\\xff'"
        );
    }
}
