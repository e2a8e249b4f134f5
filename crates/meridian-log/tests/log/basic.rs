use super::*;
use meridian_log::{FsyncPolicy, LogError, RECORD_BYTES_MAX};

#[tokio::test]
async fn append_wait_reopen_replays_in_order_and_lsns_continue() {
    let dir = tempfile::tempdir().unwrap();
    let first: Vec<Vec<u8>> = (0..100).map(|i| rec(1, i)).collect();
    {
        let (log, seen) = open(cfg(dir.path(), FsyncPolicy::Always));
        assert!(seen.is_empty());
        assert_eq!(
            (log.last_lsn(), log.durable_lsn(), log.first_lsn()),
            (0, 0, 1)
        );
        let lsns: Vec<u64> = first.iter().map(|r| log.append(r).unwrap()).collect();
        assert_eq!(lsns, (1..=100).collect::<Vec<_>>());
        log.wait_durable(100).await.unwrap();
        assert_eq!(log.durable_lsn(), 100);
        assert_eq!(
            owned(log.read_from(1, usize::MAX, usize::MAX).unwrap()),
            numbered(1, &first)
        );
    }
    let (log, seen) = open(cfg(dir.path(), FsyncPolicy::Always));
    assert_eq!(seen, numbered(1, &first));
    assert_eq!((log.last_lsn(), log.durable_lsn()), (100, 100));
    // After reopen (empty tail) reads come from disk.
    assert_eq!(
        owned(log.read_from(37, usize::MAX, usize::MAX).unwrap()),
        numbered(37, &first[36..])
    );
    let more: Vec<Vec<u8>> = (100..150).map(|i| rec(1, i)).collect();
    for (i, r) in more.iter().enumerate() {
        assert_eq!(log.append(r).unwrap(), 101 + i as u64);
    }
    log.wait_durable(150).await.unwrap();
    drop(log);
    let mut all = first.clone();
    all.extend(more);
    assert_eq!(
        replay(cfg(dir.path(), FsyncPolicy::Always)),
        numbered(1, &all)
    );
}

#[test]
fn close_and_drop_keep_every_appended_record_for_every_policy() {
    for policy in [FsyncPolicy::Always, FsyncPolicy::EverySec, FsyncPolicy::No] {
        let dir = tempfile::tempdir().unwrap();
        let records: Vec<Vec<u8>> = (0..20_000).map(|i| rec(2, i)).collect();
        let (log, _) = open(cfg(dir.path(), policy));
        for r in &records {
            log.append(r).unwrap();
        }
        log.close().unwrap(); // no wait_durable: close must flush
        assert_eq!(log.durable_lsn(), 20_000);
        assert!(matches!(log.append(b"late"), Err(LogError::Closed)));
        assert!(log.stats().fsyncs >= 1, "{policy}: close must fsync");
        drop(log);
        assert_eq!(
            replay(cfg(dir.path(), policy)),
            numbered(1, &records),
            "{policy}"
        );

        // Drop alone (no explicit close) also flushes.
        let (log, _) = open(cfg(dir.path(), policy));
        log.append(b"dropped, not closed").unwrap();
        drop(log);
        let seen = replay(cfg(dir.path(), policy));
        assert_eq!(
            seen.last().unwrap(),
            &(20_001, b"dropped, not closed".to_vec())
        );
    }
}

#[test]
fn fsync_policy_parses_and_displays() {
    for (s, p) in [
        ("always", FsyncPolicy::Always),
        ("EverySec", FsyncPolicy::EverySec),
        ("no", FsyncPolicy::No),
    ] {
        assert_eq!(s.parse::<FsyncPolicy>().unwrap(), p);
        assert_eq!(p.to_string().parse::<FsyncPolicy>().unwrap(), p);
    }
    assert!(matches!(
        "sometimes".parse::<FsyncPolicy>(),
        Err(LogError::Config(_))
    ));
}

#[tokio::test]
async fn rejects_bad_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(cfg(dir.path(), FsyncPolicy::No));
    let big = vec![0u8; RECORD_BYTES_MAX + 1];
    assert!(matches!(
        log.append(&big),
        Err(LogError::RecordTooLarge { .. })
    ));
    assert_eq!(log.last_lsn(), 0, "a rejected record takes no LSN");
    assert!(matches!(
        log.wait_durable(1).await,
        Err(LogError::NotAppended { lsn: 1, last: 0 })
    ));
    assert_eq!(log.append(&[]).unwrap(), 1, "empty records are allowed");
    log.wait_durable(1).await.unwrap();
    assert!(
        log.read_from(2, 10, 10).unwrap().is_empty(),
        "beyond durable reads nothing"
    );
    assert_eq!(owned(log.read_from(1, 10, 10).unwrap()), vec![(1, vec![])]);
    assert!(log.read_from(1, 0, 10).unwrap().is_empty());

    // A second writer on the same directory is refused.
    assert!(matches!(
        Log::open(cfg(dir.path(), FsyncPolicy::No), |_, _| {}),
        Err(LogError::Locked(_))
    ));
    let mut tiny = cfg(dir.path(), FsyncPolicy::No);
    tiny.segment_bytes_max = 10;
    drop(log);
    assert!(matches!(
        Log::open(tiny, |_, _| {}),
        Err(LogError::Config(_))
    ));
}

#[test]
fn fsync_counts_follow_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(cfg(dir.path(), FsyncPolicy::Always));
    append_each_durable(&log, &[b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    let s = log.stats();
    assert_eq!(s.write_batches, 3);
    assert!(s.fsyncs >= 3, "always: one fsync per batch, got {s:?}");

    // Without a replication link following syncs, the policy's schedule:
    // `no` never fsyncs before close...
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(cfg(dir.path(), FsyncPolicy::No));
    append_each_durable(&log, &[b"a".to_vec(), b"b".to_vec()]);
    std::thread::sleep(std::time::Duration::from_millis(1200));
    assert_eq!(log.stats().fsyncs, 0, "no: never fsync before close");

    // ...and `everysec` fsyncs idle unsynced data within about a second.
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(cfg(dir.path(), FsyncPolicy::EverySec));
    append_each_durable(&log, &[b"a".to_vec()]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while log.stats().fsyncs == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "everysec never fsynced idle data"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[tokio::test]
async fn subscribe_sees_durable_lsn_advance() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(cfg(dir.path(), FsyncPolicy::EverySec));
    let mut rx = log.subscribe();
    assert_eq!(*rx.borrow_and_update(), 0);
    for i in 0..10 {
        log.append(&rec(3, i)).unwrap();
    }
    let got = *rx.wait_for(|&d| d >= 10).await.unwrap();
    assert_eq!(got, 10);
}
