//! The keyspace: every key's replicated state, and applying ops to it.

use crate::op::{Op, OpBody};
use crate::string::{Applied, StringState};
use bytes::Bytes;
use hashbrown::HashMap;
use sha2::{Digest, Sha256};

/// All keys of one region.
#[derive(Default)]
pub struct Keyspace {
    map: HashMap<Bytes, StringState>,
    /// Keys whose state holds something visible (ignoring expiry); DBSIZE.
    live: usize,
    regions: usize,
}

impl Keyspace {
    /// An empty keyspace for a cluster of `regions` regions.
    pub fn new(regions: usize) -> Keyspace {
        Keyspace {
            map: HashMap::new(),
            live: 0,
            regions,
        }
    }

    /// The state of `key`, if any.
    pub fn get(&self, key: &[u8]) -> Option<&StringState> {
        self.map.get(key)
    }

    /// Number of keys holding a value (expired keys count until they are
    /// removed, as in Redis).
    pub fn live_keys(&self) -> usize {
        self.live
    }

    /// Number of key states kept, including counter tombstones.
    pub fn states(&self) -> usize {
        self.map.len()
    }

    /// Applies one op. Ops must arrive in causal order (the node ensures it).
    pub fn apply(&mut self, op: &Op) -> Applied {
        let state = match &op.body {
            OpBody::Del { .. } => match self.map.get_mut(&op.key) {
                Some(s) => s,
                // Nothing here to remove: the DEL only removed what its
                // origin had seen, which we cannot hold either.
                None => return Applied::default(),
            },
            _ => self.map.entry(op.key.clone()).or_default(),
        };
        let was_live = state.has_content();
        let applied = match &op.body {
            OpBody::Set {
                value,
                expire_at_ms,
                counts,
            } => state.apply_set(
                op.dot,
                op.hlc,
                &op.deps,
                value.clone(),
                *expire_at_ms,
                counts.as_deref(),
            ),
            OpBody::Del { counts } => state.apply_del(&op.deps, counts.as_deref()),
            OpBody::IncrInt { by } => {
                state.apply_incr(op.dot.region.index(), self.regions, *by, None)
            }
            OpBody::IncrFloat { by } => {
                state.apply_incr(op.dot.region.index(), self.regions, 0, Some(*by))
            }
        };
        let is_live = state.has_content();
        let removable = state.is_removable();
        match (was_live, is_live) {
            (false, true) => self.live += 1,
            (true, false) => self.live -= 1,
            _ => {}
        }
        if removable {
            self.map.remove(&op.key);
        }
        applied
    }

    /// A digest of the whole keyspace, equal in two regions exactly when their
    /// states are byte-identical in canonical form.
    pub fn digest(&self) -> String {
        let mut keys: Vec<&Bytes> = self.map.keys().collect();
        keys.sort();
        let mut h = Sha256::new();
        let mut buf = Vec::new();
        for k in keys {
            buf.clear();
            buf.extend_from_slice(&(k.len() as u64).to_le_bytes());
            buf.extend_from_slice(k);
            if let Some(s) = self.map.get(k) {
                s.canonical(&mut buf);
            }
            h.update(&buf);
        }
        let out = h.finalize();
        out[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Iterates over all key states, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&Bytes, &StringState)> {
        self.map.iter()
    }
}
