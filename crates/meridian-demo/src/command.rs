//! The demo's control commands, typed while it runs or read from
//! `--script FILE`: one command a line, parsed here (pure, so every typo
//! gets a one-line error before anything happens).

use anyhow::{anyhow, bail};
use std::time::Duration;

/// Longest `sleep`, in milliseconds (an hour).
pub const SLEEP_MS_MAX: u64 = 3_600_000;

/// Longest `wait`, in seconds (an hour).
pub const WAIT_S_MAX: u64 = 3_600;

/// Most words in one command line.
pub const WORDS_MAX: usize = 1_024;

/// What the commands do, printed by `help`.
pub const HELP: &str = "\
commands (REGION is a full name or its short name from the per-second line):
  status                 per region: up/down, digest, applied ops; converged or not; per link: cut or not, ops behind, lag
  cut REGION             isolate a region: cut every replication link to and from it
  cut A B                cut both links between A and B (a third region relays their ops after ~1 s)
  heal | heal REGION | heal A B
                         heal every link, the links of one region, or the two between A and B
  kill REGION            kill the region's server (SIGKILL)
  restart REGION         start a killed region again from its disk
  redis REGION CMD ARGS  send one command to a region and print the reply (quotes as in redis-cli)
  wait [SECONDS]         wait until every region has applied every op and all digests are equal (--rate 0)
  sleep MS               pause (scripts)
  help                   this list
  quit                   stop: heal and restart everything, check convergence, print the summary";

/// One parsed command; regions are indices into the plan's regions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Help,
    Status,
    Cut(Target),
    /// `None`: every link.
    Heal(Option<Target>),
    Kill(usize),
    Restart(usize),
    Redis {
        region: usize,
        args: Vec<String>,
    },
    /// `None`: the default wait (see `control`).
    Wait(Option<Duration>),
    Sleep(Duration),
    Quit,
}

/// What `cut` and `heal` act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Every link to and from the region.
    Region(usize),
    /// Both links between two regions.
    Pair(usize, usize),
}

/// Parses one line; `Ok(None)` for a blank line or a `#` comment.
/// `names` are the regions, `short` their short names (same order).
pub fn parse(line: &str, names: &[String], short: &[String]) -> anyhow::Result<Option<Command>> {
    let words = split_words(line)?;
    let Some((verb, rest)) = words.split_first() else {
        return Ok(None);
    };
    if verb.starts_with('#') {
        return Ok(None);
    }
    let region = |w: &str| find_region(w, names, short);
    let cmd = match (verb.to_ascii_lowercase().as_str(), rest) {
        ("help" | "?", []) => Command::Help,
        ("status", []) => Command::Status,
        ("quit" | "exit", []) => Command::Quit,
        ("cut", [r]) => Command::Cut(Target::Region(region(r)?)),
        ("cut", [a, b]) => Command::Cut(pair(region(a)?, region(b)?)?),
        ("heal", []) => Command::Heal(None),
        ("heal", [r]) => Command::Heal(Some(Target::Region(region(r)?))),
        ("heal", [a, b]) => Command::Heal(Some(pair(region(a)?, region(b)?)?)),
        ("kill", [r]) => Command::Kill(region(r)?),
        ("restart", [r]) => Command::Restart(region(r)?),
        ("redis", [r, cmd, more @ ..]) => Command::Redis {
            region: region(r)?,
            args: std::iter::once(cmd).chain(more).cloned().collect(),
        },
        ("wait", []) => Command::Wait(None),
        ("wait", [s]) => Command::Wait(Some(Duration::from_secs(number(
            "wait SECONDS",
            s,
            1,
            WAIT_S_MAX,
        )?))),
        ("sleep", [ms]) => Command::Sleep(Duration::from_millis(number(
            "sleep MS",
            ms,
            0,
            SLEEP_MS_MAX,
        )?)),
        ("help" | "?" | "status" | "quit" | "exit" | "heal", _) => {
            bail!("{verb} takes {}; try: help", arity(verb))
        }
        ("cut" | "kill" | "restart" | "redis" | "wait" | "sleep", _) => {
            bail!("usage: {}; try: help", usage(verb))
        }
        _ => bail!("unknown command {verb:?}; try: help"),
    };
    Ok(Some(cmd))
}

fn arity(verb: &str) -> &'static str {
    if verb.eq_ignore_ascii_case("heal") {
        "no region, one region or two"
    } else {
        "no arguments"
    }
}

fn usage(verb: &str) -> &'static str {
    match verb.to_ascii_lowercase().as_str() {
        "cut" => "cut REGION | cut A B",
        "kill" => "kill REGION",
        "restart" => "restart REGION",
        "redis" => "redis REGION COMMAND [ARGS...]",
        "wait" => "wait [SECONDS]",
        _ => "sleep MS",
    }
}

fn pair(a: usize, b: usize) -> anyhow::Result<Target> {
    if a == b {
        bail!("a link joins two different regions");
    }
    Ok(Target::Pair(a, b))
}

fn number(what: &str, s: &str, min: u64, max: u64) -> anyhow::Result<u64> {
    match s.parse::<u64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => bail!("{what}: {s:?} is not a whole number from {min} to {max}"),
    }
}

fn find_region(w: &str, names: &[String], short: &[String]) -> anyhow::Result<usize> {
    names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(w))
        .or_else(|| short.iter().position(|s| s.eq_ignore_ascii_case(w)))
        .ok_or_else(|| {
            let known: Vec<String> = names
                .iter()
                .zip(short)
                .map(|(n, s)| {
                    if n == s {
                        n.clone()
                    } else {
                        format!("{n} ({s})")
                    }
                })
                .collect();
            anyhow!("unknown region {w:?}: this demo runs {}", known.join(", "))
        })
}

/// Splits a line into words as `redis-cli` does: blanks separate words;
/// `"..."` takes `\"`, `\\`, `\n`, `\r`, `\t` and `\xHH` escapes; `'...'`
/// is literal except `\'`.
pub fn split_words(line: &str) -> anyhow::Result<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(words);
        }
        if words.len() == WORDS_MAX {
            bail!("more than {WORDS_MAX} words in one command");
        }
        let mut w = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
            match c {
                '"' => loop {
                    match chars.next() {
                        None => bail!("unterminated \" quote"),
                        Some('"') => break,
                        Some('\\') => w.push(escape(&mut chars)?),
                        Some(c) => w.push(c),
                    }
                },
                '\'' => loop {
                    match chars.next() {
                        None => bail!("unterminated ' quote"),
                        Some('\'') => break,
                        Some('\\') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            w.push('\'');
                        }
                        Some(c) => w.push(c),
                    }
                },
                c => w.push(c),
            }
        }
        words.push(w);
    }
}

fn escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> anyhow::Result<char> {
    Ok(match chars.next() {
        Some('n') => '\n',
        Some('r') => '\r',
        Some('t') => '\t',
        Some('a') => '\u{7}',
        Some('b') => '\u{8}',
        Some('x') => {
            let hex: String = chars.take(2).collect();
            match u8::from_str_radix(&hex, 16) {
                Ok(b) if hex.len() == 2 && b.is_ascii() => b as char,
                _ => bail!("\\x needs two hex digits below 80 (got {hex:?})"),
            }
        }
        Some(c) => c,
        None => bail!("unterminated \" quote"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> (Vec<String>, Vec<String>) {
        let n = ["us-east", "eu-west", "ap-southeast"]
            .map(String::from)
            .to_vec();
        let s = ["ue", "ew", "as"].map(String::from).to_vec();
        (n, s)
    }

    fn p(line: &str) -> anyhow::Result<Option<Command>> {
        let (n, s) = names();
        parse(line, &n, &s)
    }

    #[test]
    fn parses_every_command() {
        assert_eq!(p("  ").unwrap(), None);
        assert_eq!(p("# a comment").unwrap(), None);
        assert_eq!(p("status").unwrap(), Some(Command::Status));
        assert_eq!(
            p("cut eu-west").unwrap(),
            Some(Command::Cut(Target::Region(1)))
        );
        assert_eq!(
            p("cut ue AS").unwrap(),
            Some(Command::Cut(Target::Pair(0, 2)))
        );
        assert_eq!(p("heal").unwrap(), Some(Command::Heal(None)));
        assert_eq!(
            p("heal us-east").unwrap(),
            Some(Command::Heal(Some(Target::Region(0))))
        );
        assert_eq!(p("kill ew").unwrap(), Some(Command::Kill(1)));
        assert_eq!(p("restart eu-west").unwrap(), Some(Command::Restart(1)));
        assert_eq!(
            p("redis us-east SET k \"hello world\"").unwrap(),
            Some(Command::Redis {
                region: 0,
                args: vec!["SET".into(), "k".into(), "hello world".into()]
            })
        );
        assert_eq!(
            p("sleep 20").unwrap(),
            Some(Command::Sleep(Duration::from_millis(20)))
        );
        assert_eq!(p("wait").unwrap(), Some(Command::Wait(None)));
        assert_eq!(
            p("wait 5").unwrap(),
            Some(Command::Wait(Some(Duration::from_secs(5))))
        );
        assert_eq!(p("QUIT").unwrap(), Some(Command::Quit));
    }

    #[test]
    fn bad_input_gets_a_one_line_error() {
        let err = |l: &str| format!("{:#}", p(l).unwrap_err());
        assert!(
            err("cut mars").contains("us-east (ue)"),
            "{}",
            err("cut mars")
        );
        assert!(err("cut").contains("usage: cut REGION"));
        assert!(err("cut us-east us-east").contains("two different"));
        assert!(err("frobnicate").contains("unknown command"));
        assert!(err("sleep soon").contains("whole number"));
        assert!(err("sleep 99999999999").contains("whole number"));
        assert!(err("wait 0").contains("whole number"));
        assert!(err("redis us-east").contains("usage: redis"));
        assert!(err("status now").contains("no arguments"));
        assert!(err("redis ue GET \"k").contains("unterminated"));
        for l in ["cut mars", "frobnicate", "redis ue GET \"k"] {
            assert!(!err(l).contains('\n'), "{l}");
        }
    }

    #[test]
    fn words_split_like_redis_cli() {
        let w = split_words(r#"SET "a b\"c\x41" 'it\'s' plain"#).unwrap();
        assert_eq!(w, ["SET", "a b\"cA", "it's", "plain"]);
        assert_eq!(split_words("a\"b c\"d").unwrap(), ["ab cd"]);
        assert!(split_words("'open").is_err());
        assert!(split_words("\"\\x4\"").is_err());
        assert!(split_words("\"\\xff\"").is_err());
    }
}
