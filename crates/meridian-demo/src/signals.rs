//! Ctrl-C and SIGTERM, as one awaitable stop request.

use tokio::signal::unix::{signal, Signal, SignalKind};

/// Stop requests from the terminal (SIGINT) or a supervisor (SIGTERM).
/// Once created, those signals no longer kill the demo outright: it stops
/// the workload, reports, and stops its servers itself.
pub struct Signals {
    int: Signal,
    term: Signal,
}

impl Signals {
    pub fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    /// Waits for the next stop request.
    pub async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}
