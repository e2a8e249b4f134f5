use super::*;
use meridian_log::FsyncPolicy;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// Record content that names its writer, so results can be attributed.
fn tagged(thread: u64, seq: u64, seed: u64) -> Vec<u8> {
    let mut r = thread.to_le_bytes().to_vec();
    r.extend_from_slice(&seq.to_le_bytes());
    r.extend(rec(seed, thread * 1_000_000 + seq));
    r
}

fn run_concurrent(seed: u64, policy: FsyncPolicy, segment_bytes_max: u64, tail_bytes_max: usize) {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 1500;
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path(), policy);
    c.segment_bytes_max = segment_bytes_max;
    c.tail_bytes_max = tail_bytes_max;
    let (log, _) = open(c.clone());

    // A reader streams records as they become durable, like a replication link.
    let reader = {
        let log = log.clone();
        std::thread::spawn(move || {
            let total = THREADS * PER_THREAD;
            let mut rx = log.subscribe();
            let mut got = Vec::new();
            let mut next = 1;
            while next <= total {
                let page = log.read_from(next, 97, 4096).unwrap();
                if page.is_empty() {
                    block_on(rx.changed()).unwrap();
                    continue;
                }
                next = page.last().unwrap().0 + 1;
                got.extend(owned(page));
            }
            got
        })
    };

    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                block_on(async {
                    let mut mine = Vec::new();
                    for seq in 0..PER_THREAD {
                        let r = tagged(t, seq, seed);
                        let lsn = log.append(&r).unwrap();
                        // Wait on a varying subset, like clients replying.
                        if (seq + seed).is_multiple_of(t + 2) {
                            log.wait_durable(lsn).await.unwrap();
                            assert!(log.durable_lsn() >= lsn);
                        }
                        mine.push((lsn, r));
                    }
                    mine
                })
            })
        })
        .collect();

    let mut by_lsn = BTreeMap::new();
    for w in writers {
        let mine = w.join().unwrap();
        assert!(
            mine.windows(2).all(|p| p[0].0 < p[1].0),
            "a thread's LSNs increase"
        );
        for (lsn, r) in mine {
            assert!(
                by_lsn.insert(lsn, r).is_none(),
                "LSN {lsn} handed out twice"
            );
        }
    }
    let total = THREADS * PER_THREAD;
    assert_eq!(
        by_lsn.keys().copied().collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
    let expect: Vec<(u64, Vec<u8>)> = by_lsn.into_iter().collect();
    assert_eq!(reader.join().unwrap(), expect, "streamed records");
    drop(log);
    assert_eq!(
        replay(c),
        expect,
        "replayed records (seed {seed}, {policy})"
    );
}

#[test]
fn concurrent_appenders_get_consecutive_lsns_and_replay_matches() {
    run_concurrent(1, FsyncPolicy::EverySec, 64 * 1024 * 1024, 64 * 1024 * 1024);
    run_concurrent(2, FsyncPolicy::Always, 8 * 1024, 16 * 1024);
    run_concurrent(3, FsyncPolicy::No, 2 * 1024, 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any records, any segment size, any split into durable batches:
    /// reopening replays exactly what was appended, and reads agree.
    #[test]
    fn replay_and_reads_match_appends(
        records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..120),
        segment_bytes_max in 64u64..2048,
        tail_bytes_max in 0usize..2048,
        batch in 1usize..20,
        reopen_at in 0usize..120,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg(dir.path(), FsyncPolicy::No);
        c.segment_bytes_max = segment_bytes_max;
        c.tail_bytes_max = tail_bytes_max;
        let (mut log, _) = open(c.clone());
        for (i, chunk) in records.chunks(batch).enumerate() {
            if i == reopen_at {
                drop(log);
                let (l, seen) = open(c.clone());
                prop_assert_eq!(seen, numbered(1, &records[..i * batch]));
                log = l;
            }
            for r in chunk {
                log.append(r).unwrap();
            }
            block_on(log.wait_durable(log.last_lsn())).unwrap();
        }
        for from in [1, records.len() as u64 / 2 + 1, records.len() as u64] {
            let got = owned(log.read_from(from, usize::MAX, usize::MAX).unwrap());
            prop_assert_eq!(got, numbered(from, &records[from as usize - 1..]));
        }
        drop(log);
        prop_assert_eq!(replay(c), numbered(1, &records));
    }
}
