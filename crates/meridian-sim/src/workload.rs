//! The clients: random writes to a small key set.
//!
//! Keys are `k0`, `k1`, ... and come in three classes by index, so that every
//! run has keys the reference checks can judge on their own:
//!
//! - `i % 4 == 0`, **counter keys**: only INCRBY. Whatever the order, every
//!   region must end with the sum of all increments made anywhere.
//! - `i % 4 == 1`, **register keys**: only SET. Every region must end with the
//!   value of the SET with the greatest (HLC, region).
//! - otherwise, **mixed keys**: SET, DEL, INCRBY and INCRBYFLOAT, where the
//!   interesting merges happen (a SET concurrent with increments, a DEL
//!   concurrent with a SET). Only convergence is checked for them.
//!
//! Clients behave like the server does for real clients: DEL only of a key
//! that exists locally, INCRBY only on an absent or integer value,
//! INCRBYFLOAT only on an absent or numeric value.

use crate::rng::SimRng;
use bytes::Bytes;
use meridian_core::num::{parse_f64, parse_i64};
use meridian_core::{Node, Write};

/// Largest INCRBY step, either sign: small, so sums of millions of writes
/// stay far from the overflow the server would refuse.
pub const INCR_STEP_MAX: i64 = 9;

/// Largest integer a SET writes to a mixed key, either sign (numeric values
/// let later increments apply on top of them).
pub const SET_INT_MAX: i64 = 50;

/// Longest text value, in bytes: values only need to differ, not be large.
pub const TEXT_BYTES_MAX: u64 = 4;

/// The class of key `i` (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyClass {
    Counter,
    Register,
    Mixed,
}

impl KeyClass {
    pub fn of(i: usize) -> KeyClass {
        match i % 4 {
            0 => KeyClass::Counter,
            1 => KeyClass::Register,
            _ => KeyClass::Mixed,
        }
    }
}

/// The name of key `i`.
pub fn key_name(i: usize) -> Bytes {
    Bytes::from(format!("k{i}"))
}

/// Chooses writes and when they happen.
pub struct Workload {
    rng: SimRng,
    keys: Vec<Bytes>,
    /// Mean gap between two writes of one region, in microseconds.
    gap_us_mean: u64,
    /// Per region, when its next write happens, in µs since the start.
    next_us: Vec<u64>,
}

impl Workload {
    pub fn new(rng: SimRng, keys: usize, regions: usize, writes_per_sec: u64) -> Workload {
        let gap_us_mean = match writes_per_sec {
            0 => u64::MAX / 4,
            w => 1_000_000 / w,
        };
        Workload {
            rng,
            keys: (0..keys).map(key_name).collect(),
            gap_us_mean,
            next_us: vec![0; regions],
        }
    }

    /// Advances region `r`'s write clock and returns the ms offset of its
    /// next write. Gaps are uniform in `0..=2*mean`, so writes of different
    /// regions interleave irregularly and sometimes share a millisecond.
    pub fn next_write_ms(&mut self, r: usize) -> u64 {
        let gap = self.rng.range(0, self.gap_us_mean.saturating_mul(2));
        self.next_us[r] = self.next_us[r].saturating_add(gap);
        self.next_us[r] / 1000
    }

    /// A client write in the region of `node` at `now_ms`.
    pub fn next_write(&mut self, node: &Node, now_ms: u64) -> (Bytes, Write) {
        let i = self.rng.index(self.keys.len());
        let key = self.keys[i].clone();
        let write = match KeyClass::of(i) {
            KeyClass::Counter => Write::IncrBy(self.incr_step()),
            KeyClass::Register => self.set_text(),
            KeyClass::Mixed => self.mixed(node.get(&key, now_ms)),
        };
        (key, write)
    }

    fn mixed(&mut self, current: Option<Bytes>) -> Write {
        let int = current.as_ref().map_or(Some(0), |v| parse_i64(v));
        let float = current.as_ref().map_or(Some(0.0), |v| parse_f64(v));
        match self.rng.below(100) {
            0..=14 if current.is_some() => Write::Del,
            15..=49 => match int {
                Some(v) => {
                    let by = self.incr_step();
                    // The server refuses an increment that would overflow.
                    match v.checked_add(by) {
                        Some(_) => Write::IncrBy(by),
                        None => self.set_int(),
                    }
                }
                None => self.set_int(),
            },
            // Tenths are inexact in binary: sums must still agree bit for bit.
            50..=59 if float.is_some() => {
                Write::IncrByFloat(self.rng.range_i64(-99, 99) as f64 / 10.0)
            }
            60..=69 => self.set_text(),
            _ => self.set_int(),
        }
    }

    fn incr_step(&mut self) -> i64 {
        self.rng.range_i64(-INCR_STEP_MAX, INCR_STEP_MAX)
    }

    fn set_int(&mut self) -> Write {
        let v = self.rng.range_i64(-SET_INT_MAX, SET_INT_MAX);
        set(Bytes::from(v.to_string()))
    }

    fn set_text(&mut self) -> Write {
        let len = self.rng.range(1, TEXT_BYTES_MAX);
        let text: Vec<u8> = (0..len).map(|_| b'a' + self.rng.below(26) as u8).collect();
        set(Bytes::from(text))
    }
}

fn set(value: Bytes) -> Write {
    Write::Set {
        value,
        expire_at_ms: None,
    }
}
