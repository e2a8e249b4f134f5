//! Where control commands come from: the lines typed on stdin while the
//! demo runs, or a `--script FILE`.
//!
//! Stdin is read by a plain thread (a blocking read cannot be cancelled,
//! and a runtime task blocked on it would hold up the demo's exit) that
//! hands each line over a channel. End of input, a read error, or a stdin
//! that is closed or not something to read lines from (as in CI, where it
//! is often `/dev/null` or closed) just means no commands: the demo runs
//! on until `--duration` or Ctrl-C. A terminal is read only while the demo
//! is in its foreground, so `meridian demo &` is not stopped by SIGTTIN.

use anyhow::{bail, Context};
use std::collections::VecDeque;
use std::io::{BufRead, IsTerminal, Read};
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;

/// Longest command line read from stdin or a script, in bytes; longer
/// lines are refused (and skipped) rather than buffered without bound.
pub const LINE_BYTES_MAX: usize = 64 * 1024;

/// Largest `--script` file, in bytes.
pub const SCRIPT_BYTES_MAX: u64 = 1 << 20;

/// How often a demo started in the background checks whether it has been
/// brought to the foreground of its terminal.
const FOREGROUND_POLL: Duration = Duration::from_millis(500);

/// One line of input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// Where it came from (`stdin` or `FILE:N`) and its text.
    Text { at: String, text: String },
    /// A line longer than [`LINE_BYTES_MAX`] (skipped).
    TooLong { at: String },
    /// The script has no more lines: the demo stops.
    ScriptEnd,
}

/// The command source of one run.
pub enum Commands {
    /// Lines typed on stdin; `None` once stdin ended (no more commands).
    Stdin(Option<mpsc::UnboundedReceiver<Line>>),
    /// The non-blank lines of a script, in order.
    Script(VecDeque<Line>),
}

impl Commands {
    /// Reads stdin in a background thread (see the module doc).
    pub fn stdin() -> Commands {
        if !stdin_readable() {
            return Commands::Stdin(None);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let spawned = std::thread::Builder::new()
            .name("demo-stdin".into())
            .spawn(move || read_stdin(&tx));
        match spawned {
            Ok(_) => Commands::Stdin(Some(rx)),
            Err(e) => {
                tracing::warn!("cannot read commands from stdin: {e}");
                Commands::Stdin(None)
            }
        }
    }

    /// The lines of a script read with [`read_script`].
    pub fn script(lines: &[(usize, String)], path: &Path) -> Commands {
        let name = path.display();
        Commands::Script(
            lines
                .iter()
                .map(|(n, text)| Line::Text {
                    at: format!("{name}:{n}"),
                    text: text.clone(),
                })
                .collect(),
        )
    }

    /// Whether commands come from a terminal someone types at (which
    /// shows the commands already, so they are not echoed).
    pub fn is_terminal(&self) -> bool {
        matches!(self, Commands::Stdin(Some(_))) && std::io::stdin().is_terminal()
    }

    /// Whether commands can still come.
    pub fn is_open(&self) -> bool {
        !matches!(self, Commands::Stdin(None))
    }

    /// Whether commands come from a pipe, file or socket on stdin (not a
    /// terminal, nor a device such as `/dev/null`).
    pub fn is_piped(&self) -> bool {
        use std::os::unix::fs::FileTypeExt;
        matches!(self, Commands::Stdin(Some(_)))
            && std::fs::metadata("/proc/self/fd/0").is_ok_and(|m| {
                let t = m.file_type();
                t.is_fifo() || t.is_file() || t.is_socket()
            })
    }

    /// The next line; never returns once stdin has ended. Cancel-safe.
    pub async fn next(&mut self) -> Line {
        match self {
            Commands::Script(lines) => lines.pop_front().unwrap_or(Line::ScriptEnd),
            Commands::Stdin(rx) => {
                if let Some(r) = rx {
                    if let Some(line) = r.recv().await {
                        return line;
                    }
                }
                *rx = None;
                std::future::pending().await
            }
        }
    }
}

/// Reads a script: `(line number, text)` of every line that is not blank
/// or a `#` comment. Fails if the file is missing, too large, or not text.
pub fn read_script(path: &Path) -> anyhow::Result<Vec<(usize, String)>> {
    let name = path.display();
    let f = std::fs::File::open(path).with_context(|| format!("open --script {name}"))?;
    let mut bytes = Vec::new();
    f.take(SCRIPT_BYTES_MAX + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("read --script {name}"))?;
    if bytes.len() as u64 > SCRIPT_BYTES_MAX {
        bail!("--script {name} is larger than {SCRIPT_BYTES_MAX} bytes");
    }
    let text =
        String::from_utf8(bytes).with_context(|| format!("--script {name} is not UTF-8 text"))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.len() > LINE_BYTES_MAX {
            bail!(
                "--script {name}:{}: line longer than {LINE_BYTES_MAX} bytes",
                i + 1
            );
        }
        let t = line.trim();
        if !t.is_empty() && !t.starts_with('#') {
            out.push((i + 1, t.to_string()));
        }
    }
    Ok(out)
}

/// Whether fd 0 is something lines can be read from: a terminal, pipe,
/// file, character device (`/dev/null`) or socket. Anything else is left
/// alone. (A stdin closed when the demo started is `/dev/null` by now: the
/// Rust runtime reopens closed standard descriptors on it.)
fn stdin_readable() -> bool {
    match std::fs::metadata("/proc/self/fd/0") {
        Ok(m) => {
            use std::os::unix::fs::FileTypeExt;
            let t = m.file_type();
            t.is_fifo() || t.is_file() || t.is_char_device() || t.is_socket()
        }
        // No /proc (not Linux): read only a terminal.
        Err(_) => std::io::stdin().is_terminal(),
    }
}

fn read_stdin(tx: &mpsc::UnboundedSender<Line>) {
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    let mut buf = Vec::new();
    loop {
        while terminal && in_background() {
            if tx.is_closed() {
                return;
            }
            std::thread::sleep(FOREGROUND_POLL);
        }
        buf.clear();
        let mut lock = stdin.lock();
        let n = match (&mut lock)
            .take(LINE_BYTES_MAX as u64 + 1)
            .read_until(b'\n', &mut buf)
        {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let at = "stdin".to_string();
        let line = if n > LINE_BYTES_MAX && buf.last() != Some(&b'\n') {
            // Skip the rest of the long line.
            let mut rest = Vec::new();
            loop {
                rest.clear();
                match (&mut lock)
                    .take(LINE_BYTES_MAX as u64)
                    .read_until(b'\n', &mut rest)
                {
                    Ok(0) | Err(_) => break,
                    Ok(_) if rest.last() == Some(&b'\n') => break,
                    Ok(_) => {}
                }
            }
            Line::TooLong { at }
        } else {
            let text = String::from_utf8_lossy(&buf).trim().to_string();
            Line::Text { at, text }
        };
        drop(lock);
        if tx.send(line).is_err() {
            return;
        }
    }
}

/// Whether this process is in the background of its controlling terminal
/// (reading it would stop the process with SIGTTIN). From
/// `/proc/self/stat`: the process group (field 5) is not the terminal's
/// foreground group (field 8). False where that cannot be read.
fn in_background() -> bool {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return false;
    };
    background_in_stat(&stat).unwrap_or(false)
}

fn background_in_stat(stat: &str) -> Option<bool> {
    // The command name (field 2) is in parentheses and may hold anything.
    let (_, rest) = stat.rsplit_once(')')?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is the state (field 3): pgrp is field 5, tpgid field 8.
    let pgrp: i64 = f.get(2)?.parse().ok()?;
    let tpgid: i64 = f.get(5)?.parse().ok()?;
    Some(tpgid > 0 && tpgid != pgrp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_is_read_from_proc_stat() {
        let fg = "123 (meridian (x)) S 1 123 123 34816 123 4194304 0";
        let bg = "123 (meridian) S 1 123 123 34816 999 4194304 0";
        let no_tty = "123 (meridian) S 1 123 123 0 -1 4194304 0";
        assert_eq!(background_in_stat(fg), Some(false));
        assert_eq!(background_in_stat(bg), Some(true));
        assert_eq!(background_in_stat(no_tty), Some(false));
        assert_eq!(background_in_stat("garbage"), None);
    }

    #[test]
    fn scripts_skip_blanks_and_comments() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.txt");
        std::fs::write(&p, "# setup\ncut us-east\n\n  redis us-east SADD s x  \n").unwrap();
        let lines = read_script(&p).unwrap();
        assert_eq!(
            lines,
            [
                (2, "cut us-east".to_string()),
                (4, "redis us-east SADD s x".to_string())
            ]
        );
        assert!(read_script(&dir.path().join("missing")).is_err());
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        assert!(read_script(&p).is_err());
    }
}
