//! Glob patterns as Redis matches them (`KEYS`, `SCAN MATCH`, `--siblings`,
//! `MERIDIAN.CONFLICTS KEY`): `*` any run, `?` any byte, `[abc]`, `[^a-z]`
//! classes with ranges, and `\` to escape. Matching is on bytes, case
//! sensitive, and runs in O(pattern x subject) time at worst (no
//! exponential backtracking).

/// True if `subject` matches `pattern`.
///
/// ```
/// use meridian_core::glob::glob_match;
/// assert!(glob_match(b"user:*", b"user:42"));
/// assert!(glob_match(b"h?llo", b"hallo"));
/// assert!(glob_match(b"h[^e]llo", b"hallo"));
/// assert!(!glob_match(b"h[a-b]llo", b"hello"));
/// ```
pub fn glob_match(pattern: &[u8], subject: &[u8]) -> bool {
    let (mut p, mut i) = (0, 0);
    // After a '*': where the pattern resumes, and where in the subject the
    // star's run ends now; on a mismatch the run grows by one.
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() {
            if pattern[p] == b'*' {
                while p < pattern.len() && pattern[p] == b'*' {
                    p += 1;
                }
                if p == pattern.len() {
                    return true;
                }
                star = Some((p, i));
                continue;
            }
            if i < subject.len() {
                let (ok, next) = match_one(pattern, p, subject[i]);
                if ok {
                    p = next;
                    i += 1;
                    continue;
                }
            }
        } else if i == subject.len() {
            return true;
        }
        match star {
            Some((sp, si)) if si < subject.len() => {
                star = Some((sp, si + 1));
                p = sp;
                i = si + 1;
            }
            _ => return false,
        }
    }
}

/// Matches one pattern token at `p` against byte `c`: whether it matched
/// and where the next token starts.
fn match_one(pattern: &[u8], p: usize, c: u8) -> (bool, usize) {
    match pattern[p] {
        b'?' => (true, p + 1),
        b'\\' if p + 1 < pattern.len() => (pattern[p + 1] == c, p + 2),
        b'[' => match_class(pattern, p + 1, c),
        other => (other == c, p + 1),
    }
}

fn match_class(pattern: &[u8], mut p: usize, c: u8) -> (bool, usize) {
    let negate = pattern.get(p) == Some(&b'^');
    if negate {
        p += 1;
    }
    let mut matched = false;
    while p < pattern.len() && pattern[p] != b']' {
        if pattern[p] == b'\\' && p + 1 < pattern.len() {
            matched |= pattern[p + 1] == c;
            p += 2;
        } else if p + 2 < pattern.len() && pattern[p + 1] == b'-' {
            let (a, b) = (
                pattern[p].min(pattern[p + 2]),
                pattern[p].max(pattern[p + 2]),
            );
            matched |= (a..=b).contains(&c);
            p += 3;
        } else {
            matched |= pattern[p] == c;
            p += 1;
        }
    }
    // Past the ']' (or the end, for an unclosed class, as Redis does).
    (matched != negate, (p + 1).min(pattern.len()))
}

#[cfg(test)]
mod tests {
    use super::glob_match as m;

    #[test]
    fn like_redis() {
        assert!(m(b"*", b""));
        assert!(m(b"*", b"anything"));
        assert!(m(b"a*b*c", b"aXXbYYc"));
        assert!(!m(b"a*b*c", b"aXXbYY"));
        assert!(m(b"a\\*", b"a*"));
        assert!(!m(b"a\\*", b"ab"));
        assert!(m(b"[a-c]x", b"bx"));
        assert!(m(b"[c-a]x", b"bx"));
        assert!(m(b"[^a]", b"b"));
        assert!(!m(b"[^a]", b"a"));
        assert!(m(b"[\\]]", b"]"));
        assert!(m(b"?", b"x"));
        assert!(!m(b"?", b""));
        assert!(m(b"user:*:name", b"user:1:name"));
        assert!(!m(b"", b"x"));
        assert!(m(b"", b""));
    }

    #[test]
    fn no_exponential_backtracking() {
        let subject = [b'a'; 200];
        assert!(!m(b"*a*a*a*a*a*a*a*a*a*a*b", &subject));
    }
}
