//! What a failed run reports.

/// A run that broke a rule, with what is needed to replay it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("simulation seed {seed} failed at {at_ms} simulated ms: {violation}\n  replay: {replay}")]
pub struct SimFailure {
    pub seed: u64,
    /// Simulated milliseconds since the start of the run.
    pub at_ms: u64,
    /// Boxed, so that every `Result` of the event loop stays small.
    pub violation: Box<Violation>,
    /// One line of Rust that replays the run exactly.
    pub replay: String,
}

/// Which rule a run broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("bad configuration: {0}")]
    BadConfig(String),
    #[error("{region} refused op {dot}: {error}")]
    Receive {
        region: String,
        dot: String,
        error: String,
    },
    #[error("no quiescence: {0}")]
    NotQuiescent(String),
    #[error("{region} still holds {ops} ops waiting for their causes (vv {vv})")]
    Pending {
        region: String,
        ops: usize,
        vv: String,
    },
    #[error("{region} has version vector {vv}, expected {expected} (the writes made)")]
    VersionVector {
        region: String,
        vv: String,
        expected: String,
    },
    #[error("regions disagree on key {key}: {values}")]
    Diverged { key: String, values: String },
    #[error("digests differ though every key reads the same: {digests}")]
    Digest { digests: String },
    #[error("key {key} ({rule}): expected {expected}, got {values}")]
    Reference {
        key: String,
        rule: &'static str,
        expected: String,
        values: String,
    },
    #[error("replaying {region}'s log: {detail}")]
    Replay { region: String, detail: String },
}
