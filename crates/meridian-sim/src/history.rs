//! The history of a run: every event processed, folded into a hash, and
//! optionally written out as text.
//!
//! Two runs with equal history hashes processed the same events at the
//! same simulated times with the same ops in every message: that is what
//! "a seed replays byte for byte" is checked against. The hash is FNV-1a
//! (64-bit), owned here for the reason `SimRng` is: a hash that changes
//! with a dependency's version would make old hashes meaningless.

use crate::events::{Event, Msg};
use crate::faults::Action;
use std::fmt::Write as _;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Most trace lines kept. A trace is for reading a short, shrunk history;
/// a long run's would not fit in a terminal anyway.
pub const TRACE_LINES_MAX: usize = 1_000_000;

/// The hash of a run so far, and its text if asked for.
pub struct History {
    hash: u64,
    trace: Option<Vec<String>>,
}

impl History {
    pub fn new(trace: bool) -> History {
        History {
            hash: FNV_OFFSET,
            trace: trace.then(Vec::new),
        }
    }

    /// The hash so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// The trace lines, if tracing.
    pub fn lines(&self) -> Option<&[String]> {
        self.trace.as_deref()
    }

    fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.hash = (self.hash ^ x as u64).wrapping_mul(FNV_PRIME);
        }
    }

    fn num(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }

    /// True if the history is also written out as text.
    pub fn tracing(&self) -> bool {
        self.trace.is_some()
    }

    /// Folds one event in; `line` describes it for the trace.
    pub fn event(&mut self, at_ms: u64, event: &Event, line: Option<String>) {
        self.num(at_ms);
        match event {
            Event::Write { region } => self.fold(1, &[*region as u64]),
            Event::Deliver { link, epoch, msg } => {
                self.fold(2, &[*link as u64, *epoch, msg.tag() as u64]);
                match msg {
                    Msg::Batch(ops) => {
                        for op in ops {
                            self.num(op.dot.region.0 as u64);
                            self.num(op.dot.seq);
                            self.num(op.hlc.0);
                        }
                    }
                    Msg::Welcome(vv) | Msg::Ack(vv) | Msg::Offer(vv) => {
                        for &s in vv.as_slice() {
                            self.num(s);
                        }
                    }
                    // Its length and what it holds, not its bytes: the core
                    // encodes keys in its hash maps' order, which differs
                    // between processes.
                    Msg::Snapshot(snap) => {
                        self.num(snap.bytes.len() as u64);
                        for &s in &snap.seen {
                            self.num(s);
                        }
                    }
                    _ => {}
                }
            }
            Event::Dial { link } => self.fold(3, &[*link as u64]),
            Event::Closed { link, epoch } => self.fold(4, &[*link as u64, *epoch]),
            Event::HandshakeTimeout { link, epoch } => self.fold(5, &[*link as u64, *epoch]),
            Event::Silence {
                link,
                epoch,
                since_ms,
            } => self.fold(6, &[*link as u64, *epoch, *since_ms]),
            Event::AckTick { link, epoch } => self.fold(7, &[*link as u64, *epoch]),
            Event::RelayTick { link, epoch } => self.fold(8, &[*link as u64, *epoch]),
            Event::Retry { link, epoch } => self.fold(9, &[*link as u64, *epoch]),
            Event::Sync { region, life } => self.fold(10, &[*region as u64, *life]),
            Event::Maintain { region, life } => self.fold(14, &[*region as u64, *life]),
            Event::Fault(step) => {
                let (tag, a, b, c) = match step.action {
                    Action::Cut { from, to } => (0, from as u64, to as u64, 0),
                    Action::Heal { from, to } => (1, from as u64, to as u64, 0),
                    Action::SpikeOn { from, to, extra_ms } => (2, from as u64, to as u64, extra_ms),
                    Action::SpikeOff { from, to, extra_ms } => {
                        (3, from as u64, to as u64, extra_ms)
                    }
                    Action::Crash { region, power } => (4, region as u64, power as u64, 0),
                    Action::Restart { region } => (5, region as u64, 0, 0),
                    Action::Clock { region, delta_ms } => (6, region as u64, delta_ms as u64, 0),
                    Action::LongDown { region } => (7, region as u64, 0, 0),
                    Action::LongUp { region } => (8, region as u64, 0, 0),
                };
                self.fold(11, &[tag, a, b, c]);
            }
            Event::Heal => self.fold(12, &[]),
            Event::Deadline { round } => self.fold(13, &[*round as u64]),
        }
        if let (Some(lines), Some(line)) = (&mut self.trace, line) {
            if lines.len() < TRACE_LINES_MAX {
                let mut text = String::new();
                let at = at_ms.saturating_sub(crate::world::START_MS);
                let _ = write!(text, "{at:>9} {line}");
                lines.push(text);
            }
        }
    }

    /// Folds in something that is not an event (a write's op, a crash's cut).
    pub fn note(&mut self, values: &[u64], line: Option<String>) {
        self.fold(99, values);
        if let (Some(lines), Some(line)) = (&mut self.trace, line) {
            if lines.len() < TRACE_LINES_MAX {
                lines.push(format!("{:>9}   {line}", ""));
            }
        }
    }

    fn fold(&mut self, tag: u8, values: &[u64]) {
        self.bytes(&[tag]);
        for &v in values {
            self.num(v);
        }
    }
}
