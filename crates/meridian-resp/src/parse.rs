//! Request args → typed command arguments (like mini-redis' `Parse`).
//!
//! [`Args`] is a cursor over a request's args that produces redis' exact
//! error replies: a missing argument is "wrong number of arguments", a bad
//! number is "value is not an integer or out of range", leftovers are
//! "syntax error". Errors are [`CommandError`], whose text is the full
//! redis message; it converts into [`Reply::Error`].
//!
//! ```
//! use bytes::Bytes;
//! use meridian_resp::parse::Args;
//!
//! // SET key value EX 10
//! let req: Vec<Bytes> = ["SET", "key", "value", "ex", "10"].map(Bytes::from).to_vec();
//! let mut args = Args::new(&req);
//! let key = args.next_bytes()?;
//! let value = args.next_bytes()?;
//! let mut ttl = None;
//! if args.next_keyword_ci("EX") {
//!     ttl = Some(args.next_i64()?);
//! }
//! args.finish()?;
//! assert_eq!((&key[..], &value[..], ttl), (&b"key"[..], &b"value"[..], Some(10)));
//!
//! let short: Vec<Bytes> = ["GET"].map(Bytes::from).to_vec();
//! let err = Args::new(&short).next_bytes().unwrap_err();
//! assert_eq!(err.to_string(), "ERR wrong number of arguments for 'get' command");
//! # Ok::<(), meridian_resp::CommandError>(())
//! ```

use bytes::Bytes;

use crate::reply::Reply;

pub use crate::number::{parse_f64, parse_i64};

/// Redis' reply to a malformed integer argument.
pub const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";
/// Redis' reply to a malformed float argument.
pub const NOT_A_FLOAT: &str = "ERR value is not a valid float";
/// Redis' reply to unexpected or unknown trailing arguments.
pub const SYNTAX_ERROR: &str = "ERR syntax error";

/// A command failed before or while running; the string is the complete
/// redis error message, code included (e.g. `ERR syntax error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CommandError(pub String);

impl CommandError {
    /// An error with the given full message.
    pub fn new(msg: impl Into<String>) -> Self {
        CommandError(msg.into())
    }
}

impl From<CommandError> for Reply {
    fn from(e: CommandError) -> Reply {
        Reply::Error(e.0.into())
    }
}

/// `ERR wrong number of arguments for '<cmd>' command`, with the command
/// name lowercased as redis prints it.
pub fn wrong_args(cmd: &str) -> String {
    format!(
        "ERR wrong number of arguments for '{}' command",
        cmd.to_ascii_lowercase()
    )
}

/// A cursor over one request's args. `args[0]` is the command name; the
/// cursor starts after it, and the name is used in arity errors.
#[derive(Debug, Clone)]
pub struct Args<'a> {
    args: &'a [Bytes],
    pos: usize,
}

impl<'a> Args<'a> {
    /// A cursor over `args` (command name first), positioned after the
    /// name.
    pub fn new(args: &'a [Bytes]) -> Self {
        Args {
            args,
            pos: args.len().min(1),
        }
    }

    /// The command name as sent (any case); empty if there are no args.
    pub fn command(&self) -> &'a [u8] {
        self.args.first().map_or(&[][..], |a| &a[..])
    }

    /// The error for a missing argument: wrong number of arguments.
    pub fn arity_error(&self) -> CommandError {
        CommandError(wrong_args(&String::from_utf8_lossy(self.command())))
    }

    /// The next arg as bytes (cheap to clone: it shares the request
    /// buffer). Keys and values should use this: redis strings are binary.
    pub fn next_bytes(&mut self) -> Result<&'a Bytes, CommandError> {
        let arg = self.args.get(self.pos).ok_or_else(|| self.arity_error())?;
        self.pos += 1;
        Ok(arg)
    }

    /// The next arg as text, invalid UTF-8 replaced by U+FFFD. Meant for
    /// keywords and messages, not keys or values.
    pub fn next_string(&mut self) -> Result<String, CommandError> {
        Ok(String::from_utf8_lossy(self.next_bytes()?).into_owned())
    }

    /// The next arg as a strict integer (see [`parse_i64`]).
    pub fn next_i64(&mut self) -> Result<i64, CommandError> {
        parse_i64(self.next_bytes()?).ok_or_else(|| CommandError::new(NOT_AN_INTEGER))
    }

    /// The next arg as a float (see [`parse_f64`]; infinities pass).
    pub fn next_f64(&mut self) -> Result<f64, CommandError> {
        parse_f64(self.next_bytes()?).ok_or_else(|| CommandError::new(NOT_A_FLOAT))
    }

    /// Whether the next arg equals `keyword`, ignoring ASCII case. Does
    /// not consume it.
    pub fn peek_keyword_ci(&self, keyword: &str) -> bool {
        self.args
            .get(self.pos)
            .is_some_and(|a| a.eq_ignore_ascii_case(keyword.as_bytes()))
    }

    /// Consumes the next arg if it equals `keyword` (ASCII case
    /// insensitive) and says whether it did.
    pub fn next_keyword_ci(&mut self, keyword: &str) -> bool {
        let found = self.peek_keyword_ci(keyword);
        if found {
            self.pos += 1;
        }
        found
    }

    /// How many args are left.
    pub fn remaining(&self) -> usize {
        self.args.len() - self.pos
    }

    /// All remaining args, consuming them.
    pub fn rest(&mut self) -> &'a [Bytes] {
        let rest = &self.args[self.pos..];
        self.pos = self.args.len();
        rest
    }

    /// Succeeds only if every arg was consumed; otherwise `ERR syntax
    /// error`, as redis answers unexpected trailing options.
    pub fn finish(&self) -> Result<(), CommandError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(CommandError::new(SYNTAX_ERROR))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(args: &[&str]) -> Vec<Bytes> {
        args.iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect()
    }

    #[test]
    fn wrong_args_lowercases() {
        assert_eq!(
            wrong_args("GET"),
            "ERR wrong number of arguments for 'get' command"
        );
    }

    #[test]
    fn cursor_basics() {
        let r = req(&["INCRBY", "k", "5", "1.5", "extra"]);
        let mut a = Args::new(&r);
        assert_eq!(a.command(), b"INCRBY");
        assert_eq!(a.remaining(), 4);
        assert_eq!(a.next_string().unwrap(), "k");
        assert_eq!(a.next_i64().unwrap(), 5);
        assert_eq!(a.next_f64().unwrap(), 1.5);
        assert_eq!(a.finish(), Err(CommandError::new("ERR syntax error")));
        assert_eq!(a.rest(), &r[4..]);
        assert_eq!(a.finish(), Ok(()));
        assert_eq!(
            a.next_bytes().unwrap_err().to_string(),
            "ERR wrong number of arguments for 'incrby' command"
        );
    }

    #[test]
    fn number_errors() {
        let r = req(&["X", "+1", "abc", " 1"]);
        let mut a = Args::new(&r);
        assert_eq!(a.next_i64().unwrap_err().0, NOT_AN_INTEGER);
        assert_eq!(a.next_f64().unwrap_err().0, NOT_A_FLOAT);
        assert_eq!(a.next_f64().unwrap_err().0, NOT_A_FLOAT);
    }

    #[test]
    fn keywords() {
        let r = req(&["SET", "nx", "Ex"]);
        let mut a = Args::new(&r);
        assert!(a.peek_keyword_ci("NX"));
        assert!(a.peek_keyword_ci("NX")); // peek does not consume
        assert!(!a.next_keyword_ci("XX"));
        assert!(a.next_keyword_ci("NX"));
        assert!(a.next_keyword_ci("EX"));
        assert!(!a.peek_keyword_ci("EX")); // nothing left
        assert!(a.finish().is_ok());
    }

    #[test]
    fn empty_request_does_not_panic() {
        let mut a = Args::new(&[]);
        assert_eq!(a.remaining(), 0);
        assert_eq!(
            a.next_bytes().unwrap_err().0,
            "ERR wrong number of arguments for '' command"
        );
    }

    #[test]
    fn command_error_into_reply() {
        let reply: Reply = CommandError::new(SYNTAX_ERROR).into();
        assert_eq!(reply, Reply::error("ERR syntax error"));
    }
}
