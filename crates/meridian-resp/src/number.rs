//! Number ⇄ text conversions with redis semantics.
//!
//! Redis is strict when reading numbers (no `+`, no spaces, no leading
//! zeros) and has two ways of printing doubles; clients and test suites
//! compare these strings byte for byte, so we reproduce them exactly.
//!
//! ```
//! use meridian_resp::{format_double, format_long_double, parse_f64, parse_i64};
//!
//! assert_eq!(parse_i64(b"-42"), Some(-42));
//! assert_eq!(parse_i64(b"+42"), None);
//! assert_eq!(parse_f64(b"1.5e3"), Some(1500.0));
//! assert_eq!(format_double(1.0 / 3.0), "0.33333333333333331"); // %.17g
//! assert_eq!(format_long_double(10.5 + 0.1), "10.6"); // INCRBYFLOAT
//! ```

use std::fmt::{self, Write as _};

/// Significant digits of C's `%.17g`, the format redis uses for double
/// replies: 17 digits are enough to round-trip any `f64`.
const DOUBLE_DIGITS: usize = 17;

/// Decimal places redis' `INCRBYFLOAT` keeps (`"%.17Lf"`).
const LONG_DOUBLE_DECIMALS_MAX: usize = 17;

/// Bytes of stack buffer for one formatted double. The longest `%.17g`
/// output is `-1.2345678901234567e-308` (24 bytes); the intermediate
/// `{:.16e}` text has the same length.
const DOUBLE_TEXT_BYTES_MAX: usize = 32;

/// Parses a decimal integer exactly like redis' `string2ll`: optional `-`,
/// no `+`, no whitespace, no leading zeros (so `"-0"` and `"007"` are
/// rejected), and the value must fit an `i64`.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    match digits {
        [b'0'] if !negative => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    let mut magnitude: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(b - b'0'))?;
    }
    if negative {
        // -(2^63) is representable although +(2^63) is not.
        if magnitude > i64::MAX as u64 + 1 {
            None
        } else {
            Some((magnitude as i64).wrapping_neg())
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Parses a float like redis' `getDoubleFromObject` (`strtod` plus
/// checks): no leading whitespace, no trailing bytes, no NaN, and values
/// that overflow to infinity or underflow to zero are rejected.
/// `inf`/`+inf`/`-inf` (any case, also `infinity`) are accepted; callers
/// that forbid infinities (e.g. `INCRBYFLOAT`) check the result.
/// Unlike `strtod`, hexadecimal floats (`0x1p3`) are not accepted.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(s).ok()?;
    // Rust's parser already refuses surrounding whitespace and garbage.
    let value: f64 = text.parse().ok()?;
    if value.is_nan() {
        return None;
    }
    let unsigned = text.trim_start_matches(['+', '-']);
    let is_inf_literal =
        unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity");
    if value.is_infinite() && !is_inf_literal {
        return None; // overflow: strtod reports ERANGE
    }
    if value == 0.0 && mantissa_has_nonzero_digit(unsigned) {
        return None; // underflow: strtod reports ERANGE
    }
    Some(value)
}

/// Whether the mantissa (the part before any exponent) has a digit 1-9.
fn mantissa_has_nonzero_digit(s: &str) -> bool {
    s.bytes()
        .take_while(|b| !matches!(b, b'e' | b'E'))
        .any(|b| matches!(b, b'1'..=b'9'))
}

/// Formats a double like C's `printf("%.17g")`, which redis uses for
/// double replies (`ZSCORE`, `ZINCRBY`, RESP3 doubles): 17 significant
/// digits, trailing zeros removed, exponent form below 1e-4 or from 1e17.
/// Infinities are `inf`/`-inf` and NaN is `nan`, as in RESP3.
///
/// Note: redis 7.2+ switched to the shortest round-trip form (`1.1`
/// rather than `1.1000000000000001`); this follows the older, widely
/// tested `%.17g` output.
pub fn format_double(x: f64) -> String {
    let mut buf = DoubleBuf::new();
    format_double_into(x, &mut buf);
    buf.as_str().to_owned()
}

/// [`format_double`] without allocating, into a small stack buffer; the
/// reply encoder uses this on its hot path.
pub(crate) fn format_double_into(x: f64, out: &mut DoubleBuf) {
    if x.is_nan() {
        out.push_str("nan");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x > 0.0 { "inf" } else { "-inf" });
        return;
    }
    // Rust's `{:e}` rounds exactly (like glibc), giving e.g.
    // "-1.2345678901234567e-5": sign, 17 digits around a point, exponent.
    let mut sci = DoubleBuf::new();
    let _ = write!(sci, "{:.*e}", DOUBLE_DIGITS - 1, x);
    let text = sci.as_str();
    let (mantissa, exponent) = text.split_once('e').unwrap_or((text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let mut digits = [b'0'; DOUBLE_DIGITS];
    let mut count = 0;
    for b in mantissa.bytes().filter(u8::is_ascii_digit) {
        if let Some(slot) = digits.get_mut(count) {
            *slot = b;
            count += 1;
        }
    }
    // %g drops trailing zeros of the fraction (no `#` flag).
    let significant = digits.iter().rposition(|&d| d != b'0').map_or(1, |i| i + 1);
    let digits = &digits[..significant];

    if negative {
        out.push_str("-");
    }
    if !(-4..DOUBLE_DIGITS as i32).contains(&exponent) {
        out.push_bytes(&digits[..1]);
        if digits.len() > 1 {
            out.push_str(".");
            out.push_bytes(&digits[1..]);
        }
        let sign = if exponent < 0 { "-" } else { "+" };
        let _ = write!(out, "e{sign}{:02}", exponent.unsigned_abs());
    } else if exponent >= 0 {
        let int_len = exponent as usize + 1;
        for i in 0..int_len {
            out.push_bytes(&[digits.get(i).copied().unwrap_or(b'0')]);
        }
        if digits.len() > int_len {
            out.push_str(".");
            out.push_bytes(&digits[int_len..]);
        }
    } else {
        out.push_str("0.");
        for _ in 0..(-exponent - 1) {
            out.push_str("0");
        }
        out.push_bytes(digits);
    }
}

/// Formats the result of `INCRBYFLOAT`/`HINCRBYFLOAT` like redis'
/// `ld2string(LD_STR_HUMAN)`: plain decimal notation (never an exponent),
/// at most 17 decimals, trailing zeros and a trailing point removed, and
/// `-0` printed as `0`. E.g. `10.5 + 0.1` → `"10.6"`, `3.0e3` → `"3000"`,
/// `0.1 + 0.2` → `"0.30000000000000004"`.
///
/// Redis computes in 80-bit `long double`; with `f64` we print the
/// shortest text that reads back as the same `f64`, so results agree for
/// typical values but may differ in the last digits (redis prints `1/3`
/// as `0.33333333333333333`, we as `0.3333333333333333`).
pub fn format_long_double(x: f64) -> String {
    if x.is_nan() {
        return "nan".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    // `Display` for f64 is the shortest round-trip text, never exponent.
    let mut text = x.to_string();
    let decimals = text.split_once('.').map_or(0, |(_, frac)| frac.len());
    if decimals > LONG_DOUBLE_DECIMALS_MAX {
        text = format!("{:.*}", LONG_DOUBLE_DECIMALS_MAX, x);
        let trimmed = text.trim_end_matches('0').trim_end_matches('.').len();
        text.truncate(trimmed);
    }
    if text == "-0" {
        text = "0".to_owned();
    }
    text
}

/// A fixed-size stack buffer for one formatted double. Writes past its
/// capacity are dropped (and reported as `fmt::Error`), never a panic;
/// the capacity is sized so that cannot happen for any `f64`.
pub(crate) struct DoubleBuf {
    bytes: [u8; DOUBLE_TEXT_BYTES_MAX],
    len: usize,
}

impl DoubleBuf {
    pub(crate) fn new() -> Self {
        DoubleBuf {
            bytes: [0; DOUBLE_TEXT_BYTES_MAX],
            len: 0,
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn as_str(&self) -> &str {
        // Only ASCII is ever written.
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    fn push_str(&mut self, s: &str) {
        self.push_bytes(s.as_bytes());
    }

    fn push_bytes(&mut self, b: &[u8]) -> bool {
        let end = self.len + b.len();
        match self.bytes.get_mut(self.len..end) {
            Some(dst) => {
                dst.copy_from_slice(b);
                self.len = end;
                true
            }
            None => false,
        }
    }
}

impl fmt::Write for DoubleBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.push_bytes(s.as_bytes()) {
            Ok(())
        } else {
            Err(fmt::Error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_i64_is_strict_like_string2ll() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"123"), Some(123));
        assert_eq!(parse_i64(b"-123"), Some(-123));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"+1",
            b"-0",
            b"01",
            b"00",
            b" 1",
            b"1 ",
            b"1a",
            b"1.0",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"99999999999999999999999",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn parse_f64_like_redis() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-2"), Some(-2.0));
        assert_eq!(parse_f64(b"+2"), Some(2.0));
        assert_eq!(parse_f64(b"1e3"), Some(1000.0));
        assert_eq!(parse_f64(b".5"), Some(0.5));
        assert_eq!(parse_f64(b"0"), Some(0.0));
        assert_eq!(parse_f64(b"0e10"), Some(0.0));
        assert_eq!(parse_f64(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_f64(b"-INF"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"-infinity"), Some(f64::NEG_INFINITY));
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"1x",
            b"nan",
            b"NaN",
            b"1e400",
            b"-1e400",
            b"1e-400",
            b"abc",
            b"\xff",
        ] {
            assert_eq!(parse_f64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn format_double_matches_printf_17g() {
        // Expected strings produced by C printf("%.17g") (glibc).
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (1.1, "1.1000000000000001"),
            (0.1, "0.10000000000000001"),
            (1.0 / 3.0, "0.33333333333333331"),
            (2.0 / 3.0, "0.66666666666666663"),
            (100.0, "100"),
            (3000.0, "3000"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
            (1.5e-7, "1.4999999999999999e-07"),
            (1e100, "1e+100"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
            (5e-324, "4.9406564584124654e-324"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ];
        for &(x, want) in cases {
            assert_eq!(format_double(x), want, "{x:e}");
        }
    }

    #[test]
    fn format_double_round_trips() {
        for x in [0.1, 1.0 / 7.0, 6.02214076e23, -2.5e-300, 12345.678] {
            assert_eq!(format_double(x).parse::<f64>().ok(), Some(x));
        }
    }

    #[test]
    fn format_long_double_matches_incrbyfloat() {
        assert_eq!(format_long_double(10.5 + 0.1), "10.6"); // redis docs example
        assert_eq!(format_long_double(10.5), "10.5");
        assert_eq!(format_long_double(3.0e3), "3000");
        assert_eq!(format_long_double(5.0e3), "5000");
        assert_eq!(format_long_double(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_long_double(-5.0), "-5");
        assert_eq!(format_long_double(-0.0), "0");
        assert_eq!(format_long_double(1e-20), "0");
        assert_eq!(format_long_double(-1e-20), "0");
        assert_eq!(format_long_double(1.5e-10), "0.00000000015");
        assert_eq!(format_long_double(1e21), "1000000000000000000000");
        assert_eq!(format_long_double(f64::INFINITY), "inf");
    }
}
