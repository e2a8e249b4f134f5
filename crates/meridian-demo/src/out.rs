//! Where the demo's human-readable lines go.
//!
//! With `--json`, stdout carries only the final JSON object, so every
//! human line goes to stderr; otherwise they go to stdout.

use std::io::Write;

/// The demo's console.
#[derive(Clone, Copy, Debug)]
pub struct Out {
    json: bool,
}

impl Out {
    pub fn new(json: bool) -> Out {
        Out { json }
    }

    /// Prints one human-readable line (or several, joined by newlines).
    pub fn say(&self, line: &str) {
        // A closed stdout/stderr (e.g. `| head`) must not abort the demo
        // before it stops its servers, so write errors are ignored.
        if self.json {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        } else {
            let mut o = std::io::stdout().lock();
            let _ = writeln!(o, "{line}");
            let _ = o.flush();
        }
    }

    /// Prints the final JSON object as the last line of stdout.
    pub fn json(&self, value: &str) {
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{value}");
        let _ = o.flush();
    }
}
