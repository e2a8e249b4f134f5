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

/// The write an op carries: an expiry op (`OpBody::Expired`) wraps the
/// write that found the key expired.
fn inner(body: &OpBody) -> &OpBody {
    match body {
        OpBody::Expired { then: Some(t), .. } => t,
        b => b,
    }
}

/// The value of one key after every write in `history` (all writes to it,
/// in any order), read at `now_ms`.
///
/// Expiry (see `meridian_core::expiry`): a deadline set by a SET PX
/// survives unless a later SET, DEL or expiry op saw it; the key's deadline
/// is the latest surviving one. Once it has passed, and below every expiry
/// op's deadline (the floor), values written earlier (by HLC) are hidden; a
/// counter counts as written at its newest increment. An expiry op also
/// removes the increments it saw of a counter that was hidden where it was
/// made.
pub fn expected(history: &[&Made], now_ms: u64) -> Expected {
    let removes = |w: &Made| {
        history.iter().any(|o| {
            o.op.dot != w.op.dot
                && matches!(inner(&o.op.body), OpBody::Set { .. } | OpBody::Del { .. })
                && o.saw(w.op.dot)
        })
    };
    let expiry_at = |o: &Made| match &o.op.body {
        OpBody::Expired { at_ms, .. } => Some(*at_ms),
        _ => None,
    };
    let is_incr = |o: &Made| {
        matches!(
            inner(&o.op.body),
            OpBody::IncrInt { .. } | OpBody::IncrFloat { .. }
        )
    };
    // An expiry op removes what it saw of a counter hidden at its origin.
    let expired_counter = |w: &Made| {
        history.iter().any(|x| {
            let Some(at) = expiry_at(x) else {
                return false;
            };
            if !x.saw(w.op.dot) || x.op.dot == w.op.dot {
                return false;
            }
            let floor = history
                .iter()
                .filter(|y| y.op.dot != x.op.dot && x.saw(y.op.dot))
                .filter_map(|y| expiry_at(y))
                .max()
                .unwrap_or(0);
            let cutoff = meridian_core::Hlc::new(at.max(floor), 0);
            let last = history
                .iter()
                .filter(|i| is_incr(i) && x.saw(i.op.dot) && i.op.dot != x.op.dot)
                .map(|i| i.op.hlc)
                .max();
            last.is_some_and(|l| l < cutoff)
        })
    };
    let deadline = history
        .iter()
        .filter_map(|w| match inner(&w.op.body) {
            OpBody::Set {
                expire_at_ms: Some(at),
                ..
            } => Some((w, *at)),
            _ => None,
        })
        .filter(|(w, _)| {
            !history.iter().any(|o| {
                o.op.dot != w.op.dot
                    && matches!(
                        o.op.body,
                        OpBody::Set { .. } | OpBody::Del { .. } | OpBody::Expired { .. }
                    )
                    && o.saw(w.op.dot)
            })
        })
        .map(|(_, at)| at)
        .max();
    let floor = history
        .iter()
        .filter_map(|o| expiry_at(o))
        .max()
        .unwrap_or(0);
    let passed = deadline.filter(|d| *d <= now_ms).unwrap_or(0);
    let cutoff = meridian_core::Hlc::new(floor.max(passed), 0);
    let counter_last = history
        .iter()
        .filter(|i| is_incr(i))
        .map(|i| i.op.hlc)
        .max();
    let counter_visible = counter_last.is_some_and(|l| l >= cutoff);
    let mut winner: Option<&Made> = None;
    let (mut int, mut float, mut n, mut nf) = (0i64, 0f64, 0u64, 0u64);
    for w in history {
        match inner(&w.op.body) {
            OpBody::Set { .. } if !removes(w) && w.op.hlc >= cutoff => {
                let key = |m: &Made| (m.op.hlc, m.op.dot.region);
                if winner.is_none_or(|b| key(b) < key(w)) {
                    winner = Some(w);
                }
            }
            OpBody::IncrInt { by } if counter_visible && !removes(w) && !expired_counter(w) => {
                int = int.wrapping_add(*by);
                n += 1;
            }
            OpBody::IncrFloat { by } if counter_visible && !removes(w) && !expired_counter(w) => {
                float += by;
                n += 1;
                nf += 1;
            }
            _ => {}
        }
    }
    let base = match winner.map(|w| inner(&w.op.body)) {
        Some(OpBody::Set { value, .. }) => Some(value.clone()),
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
