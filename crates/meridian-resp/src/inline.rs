//! Splitting an inline command line (`SET k "hello world"`) into args.
//!
//! This is redis' `sdssplitargs`, byte for byte: args are separated by
//! spaces/tabs; double quotes allow `\n \r \t \b \a \\ \" \xHH` escapes;
//! single quotes are literal except `\'`; a closing quote must be followed
//! by whitespace or the end of the line. Telnet users and `redis-cli`
//! scripts rely on these exact rules.
//!
//! ```
//! use meridian_resp::inline::split_inline;
//!
//! let args = split_inline(br#"SET k "a\x41\n" 'it\'s'"#).unwrap();
//! assert_eq!(args, vec![b"SET".to_vec(), b"k".to_vec(), b"aA\n".to_vec(), b"it's".to_vec()]);
//! ```

use crate::error::ProtocolError;

/// Splits one inline line (without its line terminator) into arguments.
///
/// A NUL byte ends the line, as in redis (which works on C strings).
/// An empty or all-blank line gives no arguments.
pub fn split_inline(line: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
    let line = match line.iter().position(|&b| b == 0) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let mut args = Vec::new();
    let mut p = 0;
    loop {
        while line.get(p).is_some_and(|&b| is_space(b)) {
            p += 1;
        }
        if p >= line.len() {
            return Ok(args);
        }
        let (arg, next) = split_one(line, p)?;
        args.push(arg);
        p = next;
    }
}

/// Reads one argument starting at `p` (not whitespace); returns it and
/// the position after it.
fn split_one(line: &[u8], mut p: usize) -> Result<(Vec<u8>, usize), ProtocolError> {
    #[derive(PartialEq)]
    enum State {
        Bare,
        Double,
        Single,
    }
    let mut state = State::Bare;
    let mut current = Vec::new();
    loop {
        let Some(&c) = line.get(p) else {
            return if state == State::Bare {
                Ok((current, p))
            } else {
                Err(ProtocolError::UnbalancedQuotes)
            };
        };
        match state {
            State::Double => match (c, line.get(p + 1).copied()) {
                (b'\\', Some(b'x')) => match hex_byte(line.get(p + 2..p + 4)) {
                    Some(byte) => {
                        current.push(byte);
                        p += 3;
                    }
                    None => {
                        current.push(b'x');
                        p += 1;
                    }
                },
                (b'\\', Some(escaped)) => {
                    current.push(match escaped {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                    p += 1;
                }
                (b'"', after) => {
                    closing_quote_ok(after)?;
                    return Ok((current, p + 1));
                }
                _ => current.push(c),
            },
            State::Single => match (c, line.get(p + 1).copied()) {
                (b'\\', Some(b'\'')) => {
                    current.push(b'\'');
                    p += 1;
                }
                (b'\'', after) => {
                    closing_quote_ok(after)?;
                    return Ok((current, p + 1));
                }
                _ => current.push(c),
            },
            State::Bare => match c {
                b' ' | b'\n' | b'\r' | b'\t' => return Ok((current, p)),
                b'"' => state = State::Double,
                b'\'' => state = State::Single,
                _ => current.push(c),
            },
        }
        p += 1;
    }
}

/// Redis requires whitespace (or the end) right after a closing quote, so
/// `"a"b` is an error rather than a silent `ab`.
fn closing_quote_ok(after: Option<u8>) -> Result<(), ProtocolError> {
    match after {
        Some(b) if !is_space(b) => Err(ProtocolError::UnbalancedQuotes),
        _ => Ok(()),
    }
}

/// C `isspace` in the "C" locale, used to skip blanks between args.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Decodes two hex digits, if both are present and valid.
fn hex_byte(pair: Option<&[u8]>) -> Option<u8> {
    let [hi, lo] = pair? else { return None };
    let hi = (*hi as char).to_digit(16)?;
    let lo = (*lo as char).to_digit(16)?;
    u8::try_from(hi * 16 + lo).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &[u8]) -> Result<Vec<Vec<u8>>, ProtocolError> {
        split_inline(line)
    }

    fn args(v: &[&[u8]]) -> Vec<Vec<u8>> {
        v.iter().map(|a| a.to_vec()).collect()
    }

    #[test]
    fn bare_words() {
        assert_eq!(split(b"PING").unwrap(), args(&[b"PING"]));
        assert_eq!(
            split(b"  SET\tk   v  ").unwrap(),
            args(&[b"SET", b"k", b"v"])
        );
        assert_eq!(split(b"").unwrap(), args(&[]));
        assert_eq!(split(b" \t \x0b").unwrap(), args(&[]));
    }

    #[test]
    fn double_quotes_and_escapes() {
        assert_eq!(
            split(br#"SET "hello world" "a\"b\\c""#).unwrap(),
            args(&[b"SET", b"hello world", b"a\"b\\c"])
        );
        assert_eq!(
            split(br#""\n\r\t\b\a\q""#).unwrap(),
            args(&[b"\n\r\t\x08\x07q"])
        );
        assert_eq!(split(br#""\x41\xff\x4""#).unwrap(), args(&[b"A\xffx4"]));
        assert_eq!(split(br#""""#).unwrap(), args(&[b""]));
        // A quote may open in the middle of a word, as in redis.
        assert_eq!(split(br#"a"b c""#).unwrap(), args(&[b"ab c"]));
    }

    #[test]
    fn single_quotes_are_literal() {
        assert_eq!(
            split(br#"'a\nb' 'it\'s'"#).unwrap(),
            args(&[b"a\\nb", b"it's"])
        );
    }

    #[test]
    fn unbalanced_quotes() {
        for bad in [
            &br#"SET "abc"#[..],
            br#"'abc"#,
            br#""abc"x"#,
            br#"'abc'x"#,
            br#""abc\"#,
        ] {
            assert_eq!(
                split(bad),
                Err(ProtocolError::UnbalancedQuotes),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn nul_ends_the_line() {
        assert_eq!(split(b"GET a\0b c").unwrap(), args(&[b"GET", b"a"]));
        assert_eq!(split(b"\"ab\0\""), Err(ProtocolError::UnbalancedQuotes));
    }
}
