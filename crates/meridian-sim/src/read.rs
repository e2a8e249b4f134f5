//! What a client reads of a key in one region, through the same readers the
//! server's commands use (TYPE, GET, MERIDIAN.SIBLINGS, HGETALL, SMEMBERS,
//! ZRANGE WITHSCORES, LRANGE, PEXPIRETIME): the observation the
//! convergence and reference checkers compare.

use crate::reference::Read;
use bytes::Bytes;
use meridian_core::hlc::Hlc;
use meridian_core::{Kind, Node};

/// What a client of `node` reads of `key` at `now_ms`.
pub fn read(node: &Node, key: &[u8], now_ms: u64) -> Read {
    let mut out = Read {
        deadline: node.keys().get(key).and_then(|s| s.deadline()),
        ..Read::default()
    };
    let Some(v) = node.view(key, now_ms) else {
        return out;
    };
    out.kind = Some(v.kind);
    let c = v.cutoff;
    match v.kind {
        Kind::String => {
            out.string = v.string();
            out.siblings = v
                .state
                .string()
                .siblings(c)
                .into_iter()
                .map(|e| (e.dot, e.value.clone()))
                .collect();
        }
        Kind::Hash => {
            if let Some(h) = v.hash() {
                let mut e: Vec<(Bytes, Bytes)> = h
                    .iter_at(c)
                    .filter_map(|(f, s)| s.read_at(c).map(|v| (f.clone(), v)))
                    .collect();
                e.sort();
                out.hash = e;
            }
        }
        Kind::Set => {
            if let Some(s) = v.set() {
                let mut m: Vec<Bytes> = s.iter_at(c).map(|(m, _)| m.clone()).collect();
                m.sort();
                out.set = m;
            }
        }
        Kind::ZSet => {
            if let Some(z) = v.zset() {
                // ZRANGE reads the score index, or computes the order
                // within an expiry window.
                out.zset = if c == Hlc(0) {
                    z.index().iter().map(|(s, m)| (s.0, m.clone())).collect()
                } else {
                    z.ordered_at(c).into_iter().map(|(s, m)| (s.0, m)).collect()
                };
            }
        }
        Kind::List => {
            if let Some(l) = v.list() {
                out.list = l.visible_at(c).map(|e| e.value.clone()).collect();
            }
        }
    }
    out
}
