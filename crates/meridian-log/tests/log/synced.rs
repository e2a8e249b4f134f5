//! The synced watermark: what replication may ship.

use super::*;
use meridian_log::{FsyncPolicy, LogError, EVERYSEC_INTERVAL_MS};
use std::time::{Duration, Instant};

/// While fsyncs are held, written records are durable but not synced:
/// reads for shipping stop at the synced watermark and `wait_synced` waits;
/// once fsyncs resume, both move on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_for_shipping_stops_at_synced() {
    for policy in [FsyncPolicy::EverySec, FsyncPolicy::No] {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = open(cfg(dir.path(), policy));
        log.set_replicated();
        let first: Vec<Vec<u8>> = (0..5).map(|i| rec(40, i)).collect();
        for r in &first {
            log.append(r).unwrap();
        }
        log.wait_synced(5).await.unwrap();
        assert_eq!((log.durable_lsn(), log.synced_lsn()), (5, 5), "{policy}");

        log.hold_syncs(true);
        let more: Vec<Vec<u8>> = (5..12).map(|i| rec(40, i)).collect();
        for r in &more {
            log.append(r).unwrap();
        }
        log.wait_durable(12).await.unwrap();
        let mut all = first.clone();
        all.extend(more);
        assert_eq!(log.synced_lsn(), 5, "{policy}: held fsyncs");
        assert_eq!(log.stats().synced_lsn, 5);
        assert_eq!(
            owned(log.read_from(1, usize::MAX, usize::MAX).unwrap()),
            numbered(1, &all),
            "{policy}: read_from reads what is written"
        );
        assert_eq!(
            owned(log.read_synced_from(1, usize::MAX, usize::MAX).unwrap()),
            numbered(1, &first),
            "{policy}: shipping stops at synced"
        );
        assert!(log.read_synced_from(6, 10, 1000).unwrap().is_empty());
        let mut rx = log.subscribe_synced();
        assert_eq!(*rx.borrow_and_update(), 5);
        assert!(
            tokio::time::timeout(Duration::from_millis(100), log.wait_synced(12))
                .await
                .is_err(),
            "{policy}: wait_synced returned while fsyncs were held"
        );

        log.hold_syncs(false);
        log.wait_synced(12).await.unwrap();
        assert_eq!(*rx.wait_for(|&s| s >= 12).await.unwrap(), 12);
        assert_eq!(
            owned(log.read_synced_from(6, usize::MAX, usize::MAX).unwrap()),
            numbered(6, &all[5..]),
            "{policy}"
        );
    }
}

/// Under every policy, the synced watermark never passes the written one,
/// while many writers append and a reader ships synced records; and it
/// catches up without waiting for anyone.
#[test]
fn synced_never_passes_written() {
    for policy in [FsyncPolicy::Always, FsyncPolicy::EverySec, FsyncPolicy::No] {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(dir.path(), policy);
        c.segment_bytes_max = 4 * 1024;
        c.tail_bytes_max = 8 * 1024;
        let (log, _) = open(c);
        log.set_replicated();
        const TOTAL: u64 = 4_000;
        let shipper = {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut rx = log.subscribe_synced();
                let mut next = 1;
                let mut got = Vec::new();
                while next <= TOTAL {
                    let page = log.read_synced_from(next, 61, 2048).unwrap();
                    // Read synced first: both only grow.
                    let synced = log.synced_lsn();
                    let durable = log.durable_lsn();
                    assert!(
                        synced <= durable,
                        "{policy}: synced {synced} > written {durable}"
                    );
                    if let Some(&(last, _)) = page.last() {
                        assert!(
                            last <= synced,
                            "{policy}: shipped {last} beyond synced {synced}"
                        );
                        next = last + 1;
                        got.extend(owned(page));
                    } else {
                        block_on(rx.changed()).unwrap();
                    }
                }
                got
            })
        };
        let writers: Vec<_> = (0..2u64)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    block_on(async {
                        for i in 0..TOTAL / 2 {
                            let lsn = log.append(&rec(41 + t, i)).unwrap();
                            if i % 7 == 0 {
                                log.wait_durable(lsn).await.unwrap();
                            }
                            let (s, d) = (log.synced_lsn(), log.durable_lsn());
                            assert!(s <= d, "{policy}: synced {s} > written {d}");
                        }
                    })
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        // Nobody waits for the fsync: the writer thread does it on its own.
        block_on(log.wait_synced(TOTAL)).unwrap();
        let got = shipper.join().unwrap();
        assert_eq!(got.len() as u64, TOTAL);
        assert!(got.iter().enumerate().all(|(i, (l, _))| *l == i as u64 + 1));
        assert_eq!(log.synced_lsn(), TOTAL);
    }
}

/// Under `everysec` (and `no`) the fsync follows the write at once, not
/// once a second: replication is not held back by the client policy.
#[tokio::test]
async fn fsync_follows_writes_promptly_whatever_the_policy() {
    for policy in [FsyncPolicy::EverySec, FsyncPolicy::No] {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = open(cfg(dir.path(), policy));
        log.set_replicated();
        let mut slowest = Duration::ZERO;
        for i in 0..5 {
            let lsn = log.append(&rec(43, i)).unwrap();
            log.wait_durable(lsn).await.unwrap();
            let start = Instant::now();
            let mut rx = log.subscribe_synced();
            rx.wait_for(|&s| s >= lsn).await.unwrap();
            slowest = slowest.max(start.elapsed());
        }
        assert!(
            slowest < Duration::from_millis(EVERYSEC_INTERVAL_MS / 2),
            "{policy}: a written record waited {slowest:?} for its fsync"
        );
        assert!(log.stats().fsyncs >= 1);
    }
}

/// Recovered records count as synced (open fsyncs them), and `wait_synced`
/// refuses what was never appended.
#[tokio::test]
async fn reopened_log_is_synced_and_wait_synced_checks_its_argument() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (log, _) = open(cfg(dir.path(), FsyncPolicy::EverySec));
        log.set_replicated();
        log.hold_syncs(true);
        for i in 0..10 {
            log.append(&rec(44, i)).unwrap();
        }
        log.wait_durable(10).await.unwrap();
        assert!(log.synced_lsn() < 10);
        // Close fsyncs anyway.
        log.close().unwrap();
        assert_eq!(log.synced_lsn(), 10);
    }
    let (log, seen) = open(cfg(dir.path(), FsyncPolicy::EverySec));
    log.set_replicated();
    assert_eq!(seen.len(), 10);
    assert_eq!((log.durable_lsn(), log.synced_lsn()), (10, 10));
    assert_eq!(log.read_synced_from(1, 100, usize::MAX).unwrap().len(), 10);
    log.wait_synced(10).await.unwrap();
    assert!(matches!(
        log.wait_synced(11).await,
        Err(LogError::NotAppended { lsn: 11, last: 10 })
    ));
}

/// A failed write fails `wait_synced` (under `everysec` the caller's own
/// inline write fails; under `always` the waiter is released by the poison).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_synced_is_released_by_poison() {
    for policy in [FsyncPolicy::Always, FsyncPolicy::EverySec] {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = open(cfg(dir.path(), policy));
        log.set_replicated();
        log.append(b"ok").unwrap();
        log.wait_synced(1).await.unwrap();
        log.inject_write_failure();
        let lsn = log.append(b"never written").unwrap();
        let r = tokio::time::timeout(Duration::from_secs(5), log.wait_synced(lsn))
            .await
            .expect("waiter hung");
        match (policy, r) {
            (FsyncPolicy::Always, Err(LogError::Poisoned(_))) => {}
            (FsyncPolicy::EverySec, Err(LogError::Io { .. })) => {}
            (p, r) => panic!("{p}: {r:?}"),
        }
        assert!(log.is_poisoned());
        assert_eq!(log.synced_lsn(), 1);
    }
}

/// Without replication peers (nothing to ship) the policy's own schedule
/// applies: `everysec` fsyncs about once a second, `no` leaves writeback to
/// the OS; declaring peers makes the fsync prompt.
#[tokio::test]
async fn without_a_link_the_policy_schedule_applies() {
    for policy in [FsyncPolicy::EverySec, FsyncPolicy::No] {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = open(cfg(dir.path(), policy));
        // Written right after open: within the second of the open's fsync.
        let lsn = log.append(&rec(44, 0)).unwrap();
        log.wait_durable(lsn).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            log.synced_lsn() < lsn,
            "{policy}: fsynced within 200 ms without peers"
        );
        if policy == FsyncPolicy::EverySec {
            tokio::time::sleep(Duration::from_millis(EVERYSEC_INTERVAL_MS + 500)).await;
            assert!(
                log.synced_lsn() >= lsn,
                "{policy}: not fsynced after a second"
            );
        } else {
            let start = Instant::now();
            log.set_replicated();
            log.wait_synced(lsn).await.unwrap();
            assert!(
                start.elapsed() < Duration::from_millis(EVERYSEC_INTERVAL_MS / 2),
                "{policy}: set_replicated did not make the fsync prompt"
            );
        }
    }
}
