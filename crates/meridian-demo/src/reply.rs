//! Replies printed the way `redis-cli` prints them, for the demo's
//! `redis REGION ...` command: `(integer) 1`, `"text"`, `(nil)`, numbered
//! arrays with nested ones indented.

use redis::Value;

/// The lines `redis-cli` would print for `v`.
pub fn lines(v: &Value) -> Vec<String> {
    match v {
        Value::Nil => vec!["(nil)".into()],
        Value::Int(i) => vec![format!("(integer) {i}")],
        Value::BulkString(b) => vec![quote(b)],
        Value::SimpleString(s) => vec![s.clone()],
        Value::Okay => vec!["OK".into()],
        Value::Double(d) => vec![format!("(double) {d}")],
        Value::Boolean(b) => vec![format!("({})", if *b { "true" } else { "false" })],
        Value::VerbatimString { text, .. } => vec![quote(text.as_bytes())],
        Value::Array(items) | Value::Set(items) | Value::Push { data: items, .. } => {
            numbered(items.iter().map(lines).collect(), ")", "(empty array)")
        }
        Value::Map(pairs) => numbered(
            pairs
                .iter()
                .map(|(k, v)| {
                    let mut l = lines(v);
                    let key = lines(k).join(" ");
                    if let Some(first) = l.first_mut() {
                        *first = format!("{key} => {first}");
                    }
                    l
                })
                .collect(),
            "#",
            "(empty hash)",
        ),
        Value::Attribute { data, .. } => lines(data),
        Value::ServerError(e) => vec![match e.details() {
            Some(d) => format!("(error) {} {d}", e.code()),
            None => format!("(error) {}", e.code()),
        }],
        other => vec![format!("{other:?}")],
    }
}

/// The lines for a whole reply: as [`lines`], except that a bulk string of
/// several lines (INFO, CLIENT LIST, MERIDIAN.CONFLICTS' text) is printed
/// as it is, one line per line, as `redis-cli` prints those replies.
pub fn reply_lines(v: &Value) -> Vec<String> {
    match v {
        Value::BulkString(b) if b.contains(&b'\n') => String::from_utf8_lossy(b)
            .lines()
            .map(str::to_string)
            .collect(),
        _ => lines(v),
    }
}

/// An error reply (`WRONGTYPE ...`) as `redis-cli` prints it, or `None`
/// if `e` is not a reply from the server (a dropped connection, say).
pub fn error_line(e: &redis::RedisError) -> Option<String> {
    let code = e.code()?;
    Some(match e.detail() {
        Some(d) => format!("(error) {code} {d}"),
        None => format!("(error) {code}"),
    })
}

/// `1) first`, `2) second`, ... with nested lines indented under their
/// item, as `redis-cli` does.
fn numbered(items: Vec<Vec<String>>, mark: &str, empty: &str) -> Vec<String> {
    if items.is_empty() {
        return vec![empty.to_string()];
    }
    let width = items.len().to_string().len();
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let prefix = format!("{:>width$}{mark} ", i + 1);
        let pad = " ".repeat(prefix.len());
        for (j, line) in item.into_iter().enumerate() {
            let p = if j == 0 { &prefix } else { &pad };
            out.push(format!("{p}{line}"));
        }
    }
    out
}

/// A bulk string in double quotes, escaped as `redis-cli` does.
fn quote(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() + 2);
    s.push('"');
    for &c in b {
        match c {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x07 => s.push_str("\\a"),
            0x08 => s.push_str("\\b"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn scalars_print_like_redis_cli() {
        assert_eq!(lines(&Value::Int(1)), ["(integer) 1"]);
        assert_eq!(lines(&Value::Nil), ["(nil)"]);
        assert_eq!(lines(&Value::Okay), ["OK"]);
        assert_eq!(lines(&bulk("hola")), ["\"hola\""]);
        assert_eq!(lines(&bulk("a\"b\n\u{1}")), ["\"a\\\"b\\n\\x01\""]);
        assert_eq!(lines(&Value::Array(vec![])), ["(empty array)"]);
        // A whole reply of several lines (INFO) is printed raw.
        let info = bulk("# Server\r\nredis_version:7.2.0\r\n");
        assert_eq!(reply_lines(&info), ["# Server", "redis_version:7.2.0"]);
        assert_eq!(reply_lines(&bulk("hola")), ["\"hola\""]);
    }

    #[test]
    fn nested_arrays_are_numbered_and_indented() {
        let v = Value::Array(vec![
            bulk("email"),
            Value::Array(vec![bulk("a"), Value::Int(2)]),
        ]);
        assert_eq!(
            lines(&v),
            ["1) \"email\"", "2) 1) \"a\"", "   2) (integer) 2"]
        );
        let ten = Value::Array((0..10).map(Value::Int).collect());
        let l = lines(&ten);
        assert_eq!(
            (l[0].as_str(), l[9].as_str()),
            (" 1) (integer) 0", "10) (integer) 9")
        );
        let m = Value::Map(vec![(bulk("key"), bulk("greeting"))]);
        assert_eq!(lines(&m), ["1# \"key\" => \"greeting\""]);
    }
}
