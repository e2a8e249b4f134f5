use super::*;
use meridian_log::{FsyncPolicy, LogError};

#[tokio::test]
async fn failed_write_poisons_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(cfg(dir.path(), FsyncPolicy::Always));
    for i in 0..5 {
        log.append(&rec(30, i)).unwrap();
    }
    log.wait_durable(5).await.unwrap();

    log.inject_write_failure();
    let lsn = log.append(b"never written").unwrap();
    assert_eq!(lsn, 6);
    let err = log.wait_durable(6).await.unwrap_err();
    assert!(
        matches!(err, LogError::Poisoned(ref m) if m.contains("injected")),
        "{err}"
    );
    assert!(matches!(log.append(b"refused"), Err(LogError::Poisoned(_))));
    assert_eq!(log.durable_lsn(), 5);
    assert!(log.stats().poisoned);
    // Durable records are still readable.
    assert_eq!(log.read_from(1, 100, usize::MAX).unwrap().len(), 5);
    assert!(matches!(log.close(), Err(LogError::Poisoned(_))));
    drop(log);

    // What was durable survives; the failed record never existed.
    let (log, seen) = open(cfg(dir.path(), FsyncPolicy::Always));
    let expect: Vec<Vec<u8>> = (0..5).map(|i| rec(30, i)).collect();
    assert_eq!(seen, numbered(1, &expect));
    assert_eq!(log.append(b"after restart").unwrap(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_are_released_by_poison() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(cfg(dir.path(), FsyncPolicy::Always));
    log.inject_write_failure();
    let mut waiters = Vec::new();
    for i in 0..50 {
        // The writer fails fast, so later appends may already be refused.
        let lsn = match log.append(&rec(31, i)) {
            Ok(lsn) => lsn,
            Err(LogError::Poisoned(_)) => break,
            Err(e) => panic!("{e}"),
        };
        let log = log.clone();
        waiters.push(tokio::spawn(async move { log.wait_durable(lsn).await }));
    }
    assert!(!waiters.is_empty());
    for w in waiters {
        let r = tokio::time::timeout(std::time::Duration::from_secs(5), w)
            .await
            .expect("waiter hung")
            .unwrap();
        assert!(matches!(r, Err(LogError::Poisoned(_))));
    }
}
