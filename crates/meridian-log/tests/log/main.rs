//! Integration tests for meridian-log, one binary (to keep link time down).

mod basic;
mod concurrency;
mod poison;
mod segments;
mod synced;
mod torn;

use meridian_log::{FsyncPolicy, Log, LogConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A config with small, test-friendly sizes.
pub fn cfg(dir: &Path, fsync: FsyncPolicy) -> LogConfig {
    LogConfig::new(dir, fsync)
}

/// Opens the log and returns it with everything replayed.
pub fn open(cfg: LogConfig) -> (Arc<Log>, Vec<(u64, Vec<u8>)>) {
    let mut seen = Vec::new();
    let log = Log::open(cfg, |lsn, rec| seen.push((lsn, rec.to_vec()))).expect("open log");
    (log, seen)
}

/// Replays the log in `cfg.dir` and closes it again.
pub fn replay(cfg: LogConfig) -> Vec<(u64, Vec<u8>)> {
    let (log, seen) = open(cfg);
    log.close().expect("close");
    seen
}

/// Deterministic record `i` of stream `seed`: 0..=200 bytes of mixed content.
pub fn rec(seed: u64, i: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i.wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let len = (next() % 201) as usize;
    (0..len).map(|_| next() as u8).collect()
}

/// Blocks on a future from synchronous test code.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// Appends `records` one durable batch at a time (each waits), so a tiny
/// `segment_bytes_max` yields many segments.
pub fn append_each_durable(log: &Log, records: &[Vec<u8>]) -> Vec<u64> {
    block_on(async {
        let mut lsns = Vec::new();
        for r in records {
            let lsn = log.append(r).expect("append");
            log.wait_durable(lsn).await.expect("durable");
            lsns.push(lsn);
        }
        lsns
    })
}

/// Segment files in `dir`, sorted.
pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

/// `(lsn, record)` pairs numbered from `first`.
pub fn numbered(first: u64, records: &[Vec<u8>]) -> Vec<(u64, Vec<u8>)> {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| (first + i as u64, r.clone()))
        .collect()
}

/// Converts a read_from result for comparison.
pub fn owned(v: Vec<(u64, bytes::Bytes)>) -> Vec<(u64, Vec<u8>)> {
    v.into_iter().map(|(l, b)| (l, b.to_vec())).collect()
}
