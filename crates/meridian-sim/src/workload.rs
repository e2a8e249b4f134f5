//! The clients: random pipelines of writes to a small key set, over every
//! kind of write the server makes (`meridian-server/src/cmd`): SET (with
//! and without an expiry, as SET EX/PX, GETSET, MSET), APPEND (a SET of the
//! longer value, keeping the expiry), DEL, INCRBY and INCRBYFLOAT.
//!
//! Keys are `k0`, `k1`, ... and come in three classes by index, so that every
//! run has keys whose expected value is obvious as well as keys where the
//! interesting merges happen. The reference model (see `reference.rs`)
//! judges all of them; the first two classes also get the simple rules the
//! issue states.
//!
//! - `i % 4 == 0`, **counter keys**: only INCRBY. Every region must end with
//!   the sum of every increment made anywhere.
//! - `i % 4 == 1`, **register keys**: only SET. Every region must end with
//!   the value of the SET with the greatest (HLC, region).
//! - otherwise, **mixed keys**: everything, including a SET concurrent with
//!   increments and a DEL concurrent with a SET.
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

/// Longest value APPEND grows, in bytes: keeps values small in long runs.
pub const APPEND_BYTES_MAX: usize = 32;

/// Shortest and longest expiry a SET PX sets, in ms: some expire within a
/// round trip, some outlive the run.
pub const TTL_MS_MIN: u64 = 50;
pub const TTL_MS_MAX: u64 = 5_000;

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

/// The class of a key by name.
pub fn class_of(key: &[u8]) -> Option<KeyClass> {
    let i: usize = std::str::from_utf8(key.strip_prefix(b"k")?)
        .ok()?
        .parse()
        .ok()?;
    Some(KeyClass::of(i))
}

/// Chooses writes and when they happen.
pub struct Workload {
    rng: SimRng,
    keys: Vec<Bytes>,
    pipeline_max: usize,
    /// Mean gap between two pipelines of one region, in microseconds.
    gap_us_mean: u64,
}

impl Workload {
    /// Clients writing `writes_per_sec` ops per region on average, in
    /// pipelines of up to `pipeline_max`.
    pub fn new(rng: SimRng, keys: usize, writes_per_sec: u64, pipeline_max: usize) -> Workload {
        let per_pipeline = (1 + pipeline_max as u64).div_ceil(2).max(1);
        let gap_us_mean = match writes_per_sec {
            0 => u64::MAX / 4,
            w => 1_000_000 * per_pipeline / w,
        };
        Workload {
            rng,
            keys: (0..keys).map(key_name).collect(),
            pipeline_max,
            gap_us_mean,
        }
    }

    /// The gap before a region's next pipeline, in µs: uniform in
    /// `0..=2*mean`, so regions interleave irregularly and sometimes share
    /// a millisecond.
    pub fn next_gap_us(&mut self) -> u64 {
        self.rng.range(0, self.gap_us_mean.saturating_mul(2))
    }

    /// How many writes the next pipeline sends: one half the time.
    pub fn pipeline_len(&mut self) -> usize {
        if self.pipeline_max == 1 || self.rng.chance(0.5) {
            1
        } else {
            self.rng.range(2, self.pipeline_max as u64) as usize
        }
    }

    /// A client write in the region of `node`, whose clock reads `now_ms`.
    pub fn next_write(&mut self, node: &Node, now_ms: u64) -> (Bytes, Write) {
        let i = self.rng.index(self.keys.len());
        let key = self.keys[i].clone();
        let write = match KeyClass::of(i) {
            KeyClass::Counter => Write::IncrBy(self.incr_step()),
            KeyClass::Register => set(self.text(), None),
            KeyClass::Mixed => self.mixed(node, &key, now_ms),
        };
        (key, write)
    }

    fn mixed(&mut self, node: &Node, key: &[u8], now_ms: u64) -> Write {
        let current = node.get(key, now_ms);
        let int = current.as_ref().map_or(Some(0), |v| parse_i64(v));
        let float = current.as_ref().map_or(Some(0.0), |v| parse_f64(v));
        match self.rng.below(100) {
            0..=11 if current.is_some() => Write::Del,
            12..=44 => match int.and_then(|v| v.checked_add(INCR_STEP_MAX)) {
                // The server refuses an increment that would overflow.
                Some(_) => Write::IncrBy(self.incr_step()),
                None => self.set_int(),
            },
            // Tenths are inexact in binary: sums must still agree bit for bit.
            45..=54 if float.is_some() => {
                Write::IncrByFloat(self.rng.range_i64(-99, 99) as f64 / 10.0)
            }
            55..=62 => set(self.text(), None),
            63..=70 => {
                let ttl = self.rng.range(TTL_MS_MIN, TTL_MS_MAX);
                set(self.text(), Some(now_ms + ttl))
            }
            71..=78 => self.append(node, key, current, now_ms),
            _ => self.set_int(),
        }
    }

    /// APPEND as the server makes it: a SET of the longer value that keeps
    /// the key's expiry.
    fn append(&mut self, node: &Node, key: &[u8], current: Option<Bytes>, now_ms: u64) -> Write {
        let mut value = current.map(|v| v.to_vec()).unwrap_or_default();
        if value.len() >= APPEND_BYTES_MAX {
            value.clear();
        }
        value.extend_from_slice(&self.text());
        let expire = node
            .keys()
            .get(key)
            .and_then(|s| s.expire_at_ms())
            .filter(|&at| at > now_ms);
        set(Bytes::from(value), expire)
    }

    fn incr_step(&mut self) -> i64 {
        self.rng.range_i64(-INCR_STEP_MAX, INCR_STEP_MAX)
    }

    fn set_int(&mut self) -> Write {
        let v = self.rng.range_i64(-SET_INT_MAX, SET_INT_MAX);
        set(Bytes::from(v.to_string()), None)
    }

    fn text(&mut self) -> Bytes {
        let len = self.rng.range(1, TEXT_BYTES_MAX);
        let text: Vec<u8> = (0..len).map(|_| b'a' + self.rng.below(26) as u8).collect();
        Bytes::from(text)
    }
}

fn set(value: Bytes, expire_at_ms: Option<u64>) -> Write {
    Write::Set {
        value,
        expire_at_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_by_name() {
        assert_eq!(class_of(b"k4"), Some(KeyClass::Counter));
        assert_eq!(class_of(b"k5"), Some(KeyClass::Register));
        assert_eq!(class_of(b"k6"), Some(KeyClass::Mixed));
        assert_eq!(class_of(b"x"), None);
    }
}
