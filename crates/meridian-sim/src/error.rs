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
    /// The command that replays the run exactly.
    pub replay: String,
    /// The history hash up to the failure (see [`crate::history`]).
    pub history: u64,
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
    #[error("livelock: {0}")]
    Livelock(String),
    #[error("liveness: round {round} not settled {bound_ms} ms after healing: {detail}")]
    Liveness {
        round: u32,
        bound_ms: u64,
        detail: String,
    },
    #[error("{region} still holds {ops} ops waiting for their causes (vv {vv})")]
    Pending {
        region: String,
        ops: usize,
        vv: String,
    },
    #[error("{region} has version vector {vv}, expected {expected} (the writes that survive)")]
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
    #[error("durability: {0}")]
    Durability(String),
    #[error("causality: {0}")]
    Causality(String),
    #[error("sequence number reused after power loss: {0}")]
    SeqReuse(String),
    #[error("memory not back to its bound at a quiescent point: {0}")]
    Memory(String),
}

impl Violation {
    /// A short name of the rule, for summaries and shrinking.
    pub fn rule(&self) -> &'static str {
        match self {
            Violation::BadConfig(_) => "config",
            Violation::Receive { .. } => "receive",
            Violation::Livelock(_) => "livelock",
            Violation::Liveness { .. } => "liveness",
            Violation::Pending { .. } | Violation::VersionVector { .. } => "delivery",
            Violation::Diverged { .. } | Violation::Digest { .. } => "convergence",
            Violation::Reference { .. } => "reference",
            Violation::Replay { .. } => "replay",
            Violation::Durability(_) => "durability",
            Violation::Causality(_) => "causality",
            Violation::SeqReuse(_) => "seq-reuse",
            Violation::Memory(_) => "memory",
        }
    }
}
