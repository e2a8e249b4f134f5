//! Minimal CSV reader for the project's small data files.
//!
//! Contract: the first non-blank line must equal the expected header;
//! fields are comma separated and trimmed; quoting is not supported (the
//! data files never need it); blank lines and lines starting with `#` are
//! skipped. Line numbers are 1-based and count every physical line.

use crate::WanError;

/// One data record: its 1-based line number and trimmed fields.
pub(crate) struct Record<'a> {
    pub line: usize,
    pub fields: Vec<&'a str>,
}

/// Splits `text` into records with exactly `header.len()` fields, after
/// checking the header line.
pub(crate) fn records<'a>(
    file: &'static str,
    text: &'a str,
    header: &[&str],
) -> Result<Vec<Record<'a>>, WanError> {
    let mut out = Vec::new();
    let mut saw_header = false;
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = trimmed.split(',').map(str::trim).collect();
        if !saw_header {
            if fields != header {
                return Err(parse_err(
                    file,
                    line,
                    format!("expected header `{}`, found `{trimmed}`", header.join(",")),
                ));
            }
            saw_header = true;
            continue;
        }
        if fields.len() != header.len() {
            return Err(parse_err(
                file,
                line,
                format!(
                    "expected {} fields ({}), found {}: `{trimmed}`",
                    header.len(),
                    header.join(","),
                    fields.len()
                ),
            ));
        }
        if let Some(pos) = fields.iter().position(|f| f.is_empty()) {
            return Err(parse_err(
                file,
                line,
                format!("field `{}` is empty", header[pos]),
            ));
        }
        out.push(Record { line, fields });
    }
    if !saw_header {
        return Err(parse_err(file, 1, "missing header line".to_string()));
    }
    Ok(out)
}

/// Parses a finite `f64` field, naming the field on failure.
pub(crate) fn number(
    file: &'static str,
    line: usize,
    name: &str,
    text: &str,
) -> Result<f64, WanError> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(parse_err(
            file,
            line,
            format!("{name} `{text}` is not a finite number"),
        )),
    }
}

/// Builds a [`WanError::Parse`].
pub(crate) fn parse_err(file: &'static str, line: usize, reason: String) -> WanError {
    WanError::Parse { file, line, reason }
}

/// Region names are identifiers: non-empty, ASCII letters, digits, `-`, `_`.
pub(crate) fn region_name(file: &'static str, line: usize, name: &str) -> Result<(), WanError> {
    let ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(parse_err(
            file,
            line,
            format!("region name `{name}` may only contain ASCII letters, digits, '-' and '_'"),
        ))
    }
}
