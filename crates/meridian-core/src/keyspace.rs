//! The keyspace: every key's replicated state, and applying ops to it.

use crate::glob::glob_match;
use crate::key::{KeyState, Recorder, View};
use crate::op::{Kind, Op, OpBody};
use crate::vv::Dot;
use bytes::Bytes;
use hashbrown::{HashMap, HashSet};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, VecDeque};
use std::hash::Hasher;

/// All keys of one region.
#[derive(Default)]
pub struct Keyspace {
    map: HashMap<Bytes, KeyState>,
    /// Keys whose state holds something visible (ignoring expiry); DBSIZE.
    live: usize,
    regions: usize,
    /// Keys with a deadline, by deadline: what the expiry sweep looks at.
    volatile: BTreeSet<(u64, Bytes)>,
    /// Keys reduced to an expiry floor, with the op that set it: dropped
    /// once every region has seen that op.
    tombstones: VecDeque<(Dot, Bytes)>,
    /// Keys whose list keeps tombstones, with where the next collection
    /// pass over it starts (see [`crate::list::List::collect`]), in turn.
    list_gc: VecDeque<(Bytes, usize)>,
    /// The keys in `list_gc`.
    list_gc_queued: HashSet<Bytes>,
}

/// What one [`Keyspace::collect_list_tombstones`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListGc {
    /// Elements looked at or moved.
    pub work: usize,
    /// List tombstones dropped.
    pub dropped: usize,
}

/// One page of a SCAN.
pub struct ScanPage {
    /// The cursor for the next page; 0 when the scan is complete.
    pub next: u64,
    pub keys: Vec<Bytes>,
}

/// The hash that orders keys for SCAN: fixed, so that a cursor means the
/// same thing across calls and restarts.
fn scan_hash(key: &[u8]) -> u64 {
    let mut h = Fnv::default();
    h.write(key);
    // 0 is the cursor that starts and ends a scan; no key hashes to it.
    h.finish().max(1)
}

/// FNV-1a: small, fixed, good enough to spread keys over the cursor space.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        // A final mix so that keys differing in their last bytes spread out.
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

impl Keyspace {
    /// An empty keyspace for a cluster of `regions` regions.
    pub fn new(regions: usize) -> Keyspace {
        Keyspace {
            regions,
            ..Keyspace::default()
        }
    }

    /// The state of `key`, if any.
    pub fn get(&self, key: &[u8]) -> Option<&KeyState> {
        self.map.get(key)
    }

    /// `key` as a reader sees it at `now_ms`, if it holds anything.
    pub fn view(&self, key: &[u8], now_ms: u64) -> Option<View<'_>> {
        self.map.get(key).and_then(|s| s.view(now_ms))
    }

    /// Number of keys holding a value (expired keys count until an expiry
    /// op removes them, as in Redis).
    pub fn live_keys(&self) -> usize {
        self.live
    }

    /// Number of key states kept, including tombstones.
    pub fn states(&self) -> usize {
        self.map.len()
    }

    /// Number of keys with a deadline.
    pub fn volatile_keys(&self) -> usize {
        self.volatile.len()
    }

    /// Keys with a deadline at or before `until_ms`, earliest first.
    pub fn deadlines_until(&self, until_ms: u64) -> impl Iterator<Item = (u64, &Bytes)> {
        self.volatile
            .range(..(until_ms.saturating_add(1), Bytes::new()))
            .map(|(at, k)| (*at, k))
    }

    /// Applies one op. Ops must arrive in causal order (the node ensures it).
    pub fn apply(&mut self, op: &Op, rec: &mut Recorder<'_>) {
        let state = match &op.body {
            OpBody::Del { .. } => match self.map.get_mut(&op.key) {
                Some(s) => s,
                // Nothing here to remove: the op only removed what its
                // origin had seen, which we cannot hold either.
                None => return,
            },
            // An expiry op (even the sweep's, which writes nothing) also
            // raises the key's floor, which values written concurrently
            // before the deadline must meet when they arrive: it is kept
            // even where the key has no state (a concurrent DEL removed it,
            // or its tombstone was collected), as a tombstone.
            _ => self.map.entry(op.key.clone()).or_default(),
        };
        let was_live = state.has_content();
        let was_deadline = state.deadline();
        state.apply(op, self.regions, rec);
        let is_live = state.has_content();
        let is_deadline = state.deadline();
        let removable = state.is_removable();
        let floor_only = state.is_floor_only();
        match (was_live, is_live) {
            (false, true) => self.live += 1,
            (true, false) => self.live -= 1,
            _ => {}
        }
        if was_deadline != is_deadline {
            if let Some(at) = was_deadline {
                self.volatile.remove(&(at, op.key.clone()));
            }
            if let Some(at) = is_deadline {
                self.volatile.insert((at, op.key.clone()));
            }
        }
        let list_tombstones = state.list_tombstones() > 0;
        if list_tombstones && !self.list_gc_queued.contains(&op.key) {
            self.list_gc_queued.insert(op.key.clone());
            self.list_gc.push_back((op.key.clone(), 0));
        }
        if removable {
            self.map.remove(&op.key);
        } else if floor_only {
            let dot = state
                .expiry()
                .and_then(|e| e.floor_dot())
                .expect("a floor has the dot that set it");
            self.tombstones.push_back((dot, op.key.clone()));
        }
    }

    /// Drops expiry tombstones whose floor every region has seen
    /// (`stable(dot)`), oldest first, at most `max`; returns how many.
    pub fn collect_tombstones(&mut self, max: usize, stable: impl Fn(Dot) -> bool) -> usize {
        let mut dropped = 0;
        for _ in 0..max {
            let Some((dot, _)) = self.tombstones.front() else {
                break;
            };
            if !stable(*dot) {
                break;
            }
            let (dot, key) = self.tombstones.pop_front().expect("front exists");
            let still = self.map.get(&key).is_some_and(|s| {
                s.is_floor_only() && s.expiry().and_then(|e| e.floor_dot()) == Some(dot)
            });
            if still {
                self.map.remove(&key);
                dropped += 1;
            }
        }
        dropped
    }

    /// Drops list tombstones that are stable (`stable` holds for the dots of
    /// the ops that inserted and removed them) and have no descendant left
    /// (see [`crate::list`]), taking the lists that keep some in turn,
    /// each from where its last pass stopped, until about `work_max`
    /// elements were looked at or moved or every such list had one pass.
    /// A key left with nothing is dropped as applying an op would drop it;
    /// one left with only an expiry floor joins the expiry tombstones.
    pub fn collect_list_tombstones(
        &mut self,
        work_max: usize,
        stable: impl Fn(Dot) -> bool,
    ) -> ListGc {
        let mut done = ListGc::default();
        for _ in 0..self.list_gc.len() {
            if done.work >= work_max {
                break;
            }
            let Some((key, cursor)) = self.list_gc.pop_front() else {
                break;
            };
            let Some(state) = self.map.get_mut(&key) else {
                self.list_gc_queued.remove(&key);
                continue;
            };
            let c = state.collect_list(cursor, work_max - done.work, &stable);
            // An empty pass (the list shrank under the cursor) still counts,
            // so that a call ends.
            done.work += c.work.max(1);
            done.dropped += c.dropped;
            if state.is_removable() {
                self.map.remove(&key);
                self.list_gc_queued.remove(&key);
                continue;
            }
            if state.is_floor_only() {
                if let Some(dot) = state.expiry().and_then(|e| e.floor_dot()) {
                    self.tombstones.push_back((dot, key.clone()));
                }
            }
            if state.list_tombstones() > 0 {
                self.list_gc.push_back((key, c.cursor));
            } else {
                self.list_gc_queued.remove(&key);
            }
        }
        done
    }

    /// Number of list tombstones kept, over every list (a pass over the
    /// keyspace: for tests and tools).
    pub fn list_tombstones(&self) -> usize {
        self.map.values().map(KeyState::list_tombstones).sum()
    }

    /// Number of expiry tombstones waiting to be collected (some may have
    /// been written to since).
    pub fn tombstones(&self) -> usize {
        self.tombstones.len()
    }

    /// Keys visible at `now_ms` that match `pattern` (all if `None`) and are
    /// of `kind` (any if `None`), in no particular order.
    pub fn matching<'a>(
        &'a self,
        now_ms: u64,
        pattern: Option<&'a [u8]>,
        kind: Option<Kind>,
    ) -> impl Iterator<Item = &'a Bytes> + 'a {
        self.map.iter().filter_map(move |(k, s)| {
            if pattern.is_some_and(|p| !glob_match(p, k)) {
                return None;
            }
            let v = s.view(now_ms)?;
            kind.is_none_or(|want| v.kind == want).then_some(k)
        })
    }

    /// One page of a SCAN from `cursor`: about `count` keys whose scan hash
    /// is at least `cursor`, in hash order, filtered by `pattern` and
    /// `kind`. A key present for the whole scan is returned exactly once.
    /// Each page costs a pass over the keyspace (see the SCAN command doc).
    pub fn scan(
        &self,
        now_ms: u64,
        cursor: u64,
        count: usize,
        pattern: Option<&[u8]>,
        kind: Option<Kind>,
    ) -> ScanPage {
        let count = count.max(1);
        // The `count` smallest hashes >= cursor (a max-heap of the best).
        let mut best: std::collections::BinaryHeap<(u64, &Bytes)> = Default::default();
        for k in self.map.keys() {
            let h = scan_hash(k);
            if h < cursor {
                continue;
            }
            if best.len() < count {
                best.push((h, k));
            } else if best.peek().is_some_and(|(top, _)| h < *top) {
                best.pop();
                best.push((h, k));
            }
        }
        let full = best.len() == count;
        let mut page: Vec<(u64, &Bytes)> = best.into_vec();
        page.sort();
        let mut next = match (full, page.last()) {
            (true, Some((h, _))) => h.saturating_add(1),
            _ => 0,
        };
        // Keys sharing the last hash must all be in this page: take them.
        if next != 0 {
            let last = next - 1;
            for k in self.map.keys() {
                if scan_hash(k) == last && !page.iter().any(|(_, p)| *p == k) {
                    page.push((last, k));
                }
            }
            if last == u64::MAX {
                next = 0;
            }
        }
        let keys = page
            .into_iter()
            .map(|(_, k)| k)
            .filter(|k| pattern.is_none_or(|p| glob_match(p, k)))
            .filter(|k| {
                self.map[*k]
                    .view(now_ms)
                    .is_some_and(|v| kind.is_none_or(|want| v.kind == want))
            })
            .cloned()
            .collect();
        ScanPage { next, keys }
    }

    /// A digest of the whole keyspace, equal in two regions exactly when their
    /// states are byte-identical in canonical form. Tombstones are left out
    /// (keys reduced to an expiry floor, removed list elements, keys that
    /// keep only those): each region collects them when they are stable
    /// there, at different times (see [`KeyState::is_collectable`]).
    pub fn digest(&self) -> String {
        let mut keys: Vec<&Bytes> = self
            .map
            .iter()
            .filter(|(_, s)| !s.is_collectable())
            .map(|(k, _)| k)
            .collect();
        keys.sort();
        let mut h = Sha256::new();
        let mut buf = Vec::new();
        for k in keys {
            buf.clear();
            buf.extend_from_slice(&(k.len() as u64).to_le_bytes());
            buf.extend_from_slice(k);
            self.map[k].canonical(&mut buf);
            h.update(&buf);
        }
        let out = h.finalize();
        out[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Puts back one key decoded from a snapshot (see [`crate::snapshot`]),
    /// with its derived parts rebuilt and the keyspace's indexes (live
    /// count, deadlines, tombstones to collect) updated. A key already held
    /// is replaced.
    pub fn restore(&mut self, key: Bytes, mut state: KeyState) {
        state.restored();
        if let Some(old) = self.map.remove(&key) {
            if old.has_content() {
                self.live -= 1;
            }
            if let Some(at) = old.deadline() {
                self.volatile.remove(&(at, key.clone()));
            }
        }
        if state.is_removable() {
            return;
        }
        if state.has_content() {
            self.live += 1;
        }
        if let Some(at) = state.deadline() {
            self.volatile.insert((at, key.clone()));
        }
        if state.is_floor_only() {
            if let Some(dot) = state.expiry().and_then(|e| e.floor_dot()) {
                self.tombstones.push_back((dot, key.clone()));
            }
        }
        if state.list_tombstones() > 0 && self.list_gc_queued.insert(key.clone()) {
            self.list_gc.push_back((key.clone(), 0));
        }
        self.map.insert(key, state);
    }

    /// Iterates over all key states, in no particular order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&Bytes, &KeyState)> {
        self.map.iter()
    }
}
