//! The in-memory tail of recent durable records, and read-result collection.

use crate::frame::{frame_len, FRAME_HEADER_BYTES};
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

/// Memory charged per record for its offset entry, in bytes.
const OFFSET_BYTES: usize = std::mem::size_of::<u32>();

/// Batches are copied into shared chunks of this size rather than one
/// allocation each: the server writes thousands of small batches a second,
/// and an allocation (with fresh pages) per batch cost more than the copy.
/// A chunk lives while any batch in it does, so the tail's memory is at
/// most `bytes_max` plus two chunks.
const CHUNK_BYTES: usize = 1024 * 1024;

/// Recent write batches, oldest first, contiguous in LSN. Whole batches are
/// kept (one allocation each, records are zero-copy slices of it) and evicted
/// from the front once more than `bytes_max` bytes are held.
pub(crate) struct Tail {
    batches: VecDeque<TailBatch>,
    bytes: usize,
    records: usize,
    bytes_max: usize,
    /// Where the next batches are copied (see [`CHUNK_BYTES`]).
    chunk: BytesMut,
}

struct TailBatch {
    first_lsn: u64,
    /// The batch exactly as written to disk (frames).
    data: Bytes,
    /// Offset of each frame in `data`.
    offsets: Vec<u32>,
}

impl TailBatch {
    fn bytes(&self) -> usize {
        self.data.len() + self.offsets.len() * OFFSET_BYTES
    }
}

impl Tail {
    pub(crate) fn new(bytes_max: usize) -> Self {
        Self {
            batches: VecDeque::new(),
            bytes: 0,
            records: 0,
            bytes_max,
            chunk: BytesMut::new(),
        }
    }

    /// Bytes held (frames plus offsets). Never more than `bytes_max`.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn records(&self) -> usize {
        self.records
    }

    /// Oldest LSN held.
    pub(crate) fn first_lsn(&self) -> Option<u64> {
        self.batches.front().map(|b| b.first_lsn)
    }

    /// Adds a just-written batch (frames in `data`, frame offsets in `offsets`).
    pub(crate) fn push(&mut self, first_lsn: u64, data: &[u8], offsets: &[u32]) {
        if let Some(last) = self.batches.back() {
            assert_eq!(
                last.first_lsn + last.offsets.len() as u64,
                first_lsn,
                "tail batches must be contiguous"
            );
        }
        let size = data.len() + offsets.len() * OFFSET_BYTES;
        if size > self.bytes_max {
            // Cannot hold it; drop everything so the tail stays contiguous.
            self.batches.clear();
            self.bytes = 0;
            self.records = 0;
            return;
        }
        let data = self.copy(data);
        self.batches.push_back(TailBatch {
            first_lsn,
            data,
            offsets: offsets.to_vec(),
        });
        self.bytes += size;
        self.records += offsets.len();
        while self.bytes > self.bytes_max {
            let old = self.batches.pop_front().expect("bytes > 0 implies a batch");
            self.bytes -= old.bytes();
            self.records -= old.offsets.len();
        }
        assert!(self.bytes <= self.bytes_max);
    }

    /// `data` as a slice of the current chunk (a new one when it is full).
    fn copy(&mut self, data: &[u8]) -> Bytes {
        if self.chunk.capacity() - self.chunk.len() < data.len() {
            self.chunk = BytesMut::with_capacity(CHUNK_BYTES.max(data.len()));
        }
        self.chunk.extend_from_slice(data);
        self.chunk.split().freeze()
    }

    /// Collects records from `from` (which must be >= `first_lsn()`) up to
    /// `durable`; returns the next LSN not collected.
    pub(crate) fn read(&self, from: u64, durable: u64, out: &mut Collector) -> u64 {
        let first = self
            .first_lsn()
            .expect("caller checked the tail holds `from`");
        assert!(from >= first, "tail read below the tail");
        let mut next = from;
        let start = self.batches.partition_point(|b| b.first_lsn <= from) - 1;
        for batch in self.batches.iter().skip(start) {
            assert!(batch.first_lsn <= next, "tail batches must be contiguous");
            let skip = (next - batch.first_lsn) as usize;
            for &off in batch.offsets.iter().skip(skip) {
                if next > durable {
                    return next;
                }
                let off = off as usize;
                let len = frame_len(&batch.data[off..]);
                let start = off + FRAME_HEADER_BYTES;
                if !out.push(next, || batch.data.slice(start..start + len), len) {
                    return next;
                }
                next += 1;
            }
        }
        next
    }
}

/// Accumulates read results within a record and byte budget.
pub(crate) struct Collector {
    pub out: Vec<(u64, Bytes)>,
    bytes: usize,
    records_max: usize,
    bytes_max: usize,
    full: bool,
}

impl Collector {
    pub(crate) fn new(records_max: usize, bytes_max: usize) -> Self {
        Self {
            out: Vec::new(),
            bytes: 0,
            records_max,
            bytes_max,
            full: records_max == 0,
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.full
    }

    /// Takes a record of `len` payload bytes if it fits the budget (the first
    /// record always fits the byte budget, so a large record cannot stall a
    /// reader). Returns false, and stays full, once the budget is spent.
    pub(crate) fn push(&mut self, lsn: u64, payload: impl FnOnce() -> Bytes, len: usize) -> bool {
        if self.full || (!self.out.is_empty() && self.bytes + len > self.bytes_max) {
            self.full = true;
            return false;
        }
        if let Some(&(prev, _)) = self.out.last() {
            assert_eq!(prev + 1, lsn, "read results must be consecutive");
        }
        self.out.push((lsn, payload()));
        self.bytes += len;
        if self.out.len() >= self.records_max || self.bytes >= self.bytes_max {
            self.full = true;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(first: u64, n: usize, len: usize) -> (Vec<u8>, Vec<u32>) {
        let mut data = Vec::new();
        let mut offsets = Vec::new();
        for i in 0..n {
            offsets.push(data.len() as u32);
            data.extend_from_slice(&(len as u32).to_le_bytes());
            data.extend_from_slice(&[0; 4]);
            data.extend(std::iter::repeat_n((first as usize + i) as u8, len));
        }
        (data, offsets)
    }

    #[test]
    fn evicts_oldest_batches_and_reads_across_batches() {
        let mut t = Tail::new(100);
        for b in 0..10u64 {
            let (d, o) = batch(1 + b * 2, 2, 10); // 2 * (8 + 10) + 8 = 44 bytes
            t.push(1 + b * 2, &d, &o);
            assert!(t.bytes() <= 100);
        }
        assert_eq!(t.records(), 4);
        assert_eq!(t.first_lsn(), Some(17));
        let mut c = Collector::new(10, 1000);
        assert_eq!(t.read(18, 19, &mut c), 20);
        let lsns: Vec<u64> = c.out.iter().map(|(l, _)| *l).collect();
        assert_eq!(lsns, vec![18, 19]);
        assert_eq!(&c.out[0].1[..], &[18u8; 10][..]);
    }

    #[test]
    fn oversized_batch_empties_the_tail() {
        let mut t = Tail::new(50);
        let (d, o) = batch(1, 1, 10);
        t.push(1, &d, &o);
        let (d, o) = batch(2, 5, 10);
        t.push(2, &d, &o);
        assert_eq!(t.first_lsn(), None);
        assert_eq!(t.bytes(), 0);
    }

    #[test]
    fn collector_budget() {
        let mut c = Collector::new(3, 25);
        assert!(c.push(1, || Bytes::from_static(&[0; 30]), 30)); // first always fits
        assert!(c.is_full());
        let mut c = Collector::new(3, 25);
        assert!(c.push(1, || Bytes::from_static(&[0; 10]), 10));
        assert!(c.push(2, || Bytes::from_static(&[0; 10]), 10));
        assert!(!c.push(3, || Bytes::from_static(&[0; 10]), 10));
        assert_eq!(c.out.len(), 2);
    }
}
