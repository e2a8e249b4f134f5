//! The reference model: what every key must read, computed from the
//! history of writes alone, independently of the core's data structures.
//!
//! It uses the causal past the simulator recorded for each write (what the
//! writing region's log held), not the `deps` the core put in the op, and
//! states each type's semantics directly:
//!
//! - a SET or DEL removes exactly the SETs and increments in its causal
//!   past; the SETs nothing removed are the register's values, and a
//!   reader sees the one with the greatest (HLC, region), unless it has
//!   expired;
//! - every increment no SET or DEL saw is added to the visible value
//!   (counters are exact: no increment lost, none counted twice).
//!
//! Integer results must match exactly. Float increments are summed here in
//! history order while the core sums per-region running totals, so float
//! results are compared with a relative tolerance.

use crate::region::Made;
use bytes::Bytes;
use meridian_core::num::{format_f64, parse_f64, parse_i64};
use meridian_core::OpBody;

/// Relative tolerance of float comparisons (see the module docs).
pub const FLOAT_TOLERANCE: f64 = 1e-9;

/// What a key must read.
#[derive(Clone, Debug, PartialEq)]
pub enum Expected {
    /// Exactly this (or nothing).
    Exact(Option<Bytes>),
    /// A number within the tolerance.
    Float(f64),
}

impl Expected {
    /// True if a region reading `got` agrees.
    pub fn matches(&self, got: Option<&[u8]>) -> bool {
        match self {
            Expected::Exact(want) => want.as_deref() == got,
            Expected::Float(want) => got
                .and_then(parse_f64)
                .is_some_and(|g| (g - want).abs() <= FLOAT_TOLERANCE * want.abs().max(1.0)),
        }
    }
}

/// The value of one key after every write in `history` (all writes to it,
/// in any order), read at `now_ms`.
pub fn expected(history: &[&Made], now_ms: u64) -> Expected {
    let removes = |w: &Made| {
        history.iter().any(|o| {
            o.op.dot != w.op.dot
                && matches!(o.op.body, OpBody::Set { .. } | OpBody::Del { .. })
                && o.saw(w.op.dot)
        })
    };
    let mut winner: Option<&Made> = None;
    let (mut int, mut float, mut n, mut nf) = (0i64, 0f64, 0u64, 0u64);
    for w in history {
        match &w.op.body {
            OpBody::Set { .. } if !removes(w) => {
                let key = |m: &Made| (m.op.hlc, m.op.dot.region);
                if winner.is_none_or(|b| key(b) < key(w)) {
                    winner = Some(w);
                }
            }
            OpBody::IncrInt { by } if !removes(w) => {
                int = int.wrapping_add(*by);
                n += 1;
            }
            OpBody::IncrFloat { by } if !removes(w) => {
                float += by;
                n += 1;
                nf += 1;
            }
            _ => {}
        }
    }
    let base = match winner.map(|w| &w.op.body) {
        Some(OpBody::Set {
            value,
            expire_at_ms,
            ..
        }) => {
            if expire_at_ms.is_some_and(|at| now_ms >= at) {
                return Expected::Exact(None);
            }
            Some(value.clone())
        }
        _ => None,
    };
    if n == 0 {
        return Expected::Exact(base);
    }
    if nf == 0 {
        let b = match &base {
            None => Some(0),
            Some(b) => parse_i64(b),
        };
        if let Some(b) = b {
            return Expected::Exact(Some(Bytes::from(b.wrapping_add(int).to_string())));
        }
    }
    let b = match &base {
        None => Some(0.0),
        Some(b) => parse_f64(b),
    };
    match b {
        Some(b) if nf == 0 => Expected::Exact(Some(Bytes::from(format_f64(b + int as f64)))),
        Some(b) => Expected::Float(b + int as f64 + float),
        // A non-numeric value wins over concurrent increments.
        None => Expected::Exact(base),
    }
}
