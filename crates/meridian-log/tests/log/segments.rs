use super::*;
use meridian_log::{FsyncPolicy, LogError};

fn tiny(dir: &Path, policy: FsyncPolicy) -> LogConfig {
    let mut c = cfg(dir, policy);
    c.segment_bytes_max = 300;
    c.tail_bytes_max = 0;
    c
}

#[test]
fn rotation_reads_across_segments_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<Vec<u8>> = (0..200).map(|i| rec(20, i)).collect();
    let (log, _) = open(tiny(dir.path(), FsyncPolicy::EverySec));
    append_each_durable(&log, &records);
    // Closing joins the writer (so any rotation has happened); reads and
    // truncation still work on a closed log.
    log.close().unwrap();

    // Segment names are the zero-padded first LSN of each segment.
    let segs = segment_files(dir.path());
    assert!(segs.len() > 20, "{} segments", segs.len());
    assert_eq!(segs[0].file_name().unwrap(), "00000000000000000001.log");
    assert_eq!(log.stats().segments, segs.len());
    let firsts: Vec<u64> = segs
        .iter()
        .map(|p| p.file_stem().unwrap().to_str().unwrap().parse().unwrap())
        .collect();

    // With no tail, everything comes from disk, across segment boundaries.
    assert_eq!(log.stats().tail_records, 0);
    assert_eq!(
        owned(log.read_from(1, usize::MAX, usize::MAX).unwrap()),
        numbered(1, &records)
    );
    for from in [1, 2, 50, 99, 100, 101, 150, 199, 200] {
        let got = owned(log.read_from(from, 7, usize::MAX).unwrap());
        let end = (from as usize - 1 + 7).min(200);
        assert_eq!(
            got,
            numbered(from, &records[from as usize - 1..end]),
            "from {from}"
        );
    }
    for &f in &firsts[1..] {
        let got = owned(log.read_from(f - 1, 2, usize::MAX).unwrap());
        assert_eq!(
            got,
            numbered(f - 1, &records[f as usize - 2..f as usize]),
            "boundary {f}"
        );
    }
    assert!(log.read_from(201, 10, 1000).unwrap().is_empty());

    // The byte budget: stop before exceeding it, but always one record.
    let got = log.read_from(10, usize::MAX, 300).unwrap();
    let total: usize = got.iter().map(|(_, b)| b.len()).sum();
    assert!(total <= 300 || got.len() == 1);
    let next_len = records[10 - 1 + got.len()].len();
    assert!(
        total + next_len >= 300,
        "stopped early: {total} + {next_len}"
    );
    assert_eq!(log.read_from(10, usize::MAX, 0).unwrap().len(), 1);

    // Truncate: whole segments strictly below LSN 100 go.
    log.truncate_before(100).unwrap();
    let kept_first = *firsts.iter().filter(|&&f| f <= 100).max().unwrap();
    assert_eq!(log.first_lsn(), kept_first);
    assert_eq!(
        segment_files(dir.path()).len(),
        firsts.iter().filter(|&&f| f >= kept_first).count()
    );
    assert!(matches!(
        log.read_from(kept_first - 1, 10, 1000),
        Err(LogError::Truncated { requested, first }) if requested == kept_first - 1 && first == kept_first
    ));
    assert!(matches!(
        log.read_from(1, 10, 1000),
        Err(LogError::Truncated { .. })
    ));
    assert_eq!(
        owned(log.read_from(kept_first, usize::MAX, usize::MAX).unwrap()),
        numbered(kept_first, &records[kept_first as usize - 1..])
    );
    // Truncating past the end keeps the active segment.
    log.truncate_before(u64::MAX).unwrap();
    assert_eq!(segment_files(dir.path()).len(), 1);
    assert_eq!(log.stats().segments, 1);
    let active_first = log.first_lsn();
    drop(log);

    // Reopen: replay starts at the oldest retained LSN; LSNs continue.
    let (log, seen) = open(tiny(dir.path(), FsyncPolicy::EverySec));
    assert_eq!(
        seen,
        numbered(active_first, &records[active_first as usize - 1..])
    );
    assert_eq!(log.first_lsn(), active_first);
    assert_eq!(log.append(b"next").unwrap(), 201);
}

#[test]
fn tail_stays_bounded_and_disk_serves_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path(), FsyncPolicy::No);
    c.tail_bytes_max = 4096;
    c.segment_bytes_max = 64 * 1024;
    let records: Vec<Vec<u8>> = (0..20_000).map(|i| rec(21, i)).collect();
    let (log, _) = open(c);
    for chunk in records.chunks(10) {
        for r in chunk {
            log.append(r).unwrap();
        }
        block_on(log.wait_durable(log.last_lsn())).unwrap();
        let s = log.stats();
        assert!(s.tail_bytes <= 4096, "{s:?}");
    }
    let s = log.stats();
    assert!(s.tail_records > 0 && s.tail_records < 200, "{s:?}");
    assert!(s.segments > 10, "{s:?}");
    assert_eq!(
        owned(log.read_from(1, usize::MAX, usize::MAX).unwrap()),
        numbered(1, &records)
    );
    // A read that starts on disk and runs into the tail.
    let from = 20_000 - s.tail_records as u64 - 50;
    assert_eq!(
        owned(log.read_from(from, usize::MAX, usize::MAX).unwrap()),
        numbered(from, &records[from as usize - 1..])
    );
    // Paged reading, as a replication link does.
    let mut next = 1;
    let mut got = Vec::new();
    while next <= 20_000 {
        let page = log.read_from(next, 1000, 16 * 1024).unwrap();
        assert!(!page.is_empty());
        next = page.last().unwrap().0 + 1;
        got.extend(owned(page));
    }
    assert_eq!(got, numbered(1, &records));
}

#[test]
fn sparse_index_seeks_within_large_segments() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<Vec<u8>> = (0..30_000).map(|i| rec(22, i)).collect();
    {
        let (log, _) = open(cfg(dir.path(), FsyncPolicy::No));
        for r in &records {
            log.append(r).unwrap();
        }
    }
    let (log, _) = open(cfg(dir.path(), FsyncPolicy::No)); // empty tail
    assert_eq!(segment_files(dir.path()).len(), 1);
    for from in [1u64, 2, 1234, 15_000, 29_999, 30_000] {
        let got = owned(log.read_from(from, 3, usize::MAX).unwrap());
        let end = (from as usize + 2).min(30_000);
        assert_eq!(
            got,
            numbered(from, &records[from as usize - 1..end]),
            "from {from}"
        );
    }
}

/// `end_segment` marks where a snapshot ends, whatever was written or is
/// pending around it, and `truncate_before(mark + 1)` then deletes exactly
/// the records up to the mark.
#[test]
fn end_segment_lets_truncation_stop_exactly_at_the_mark() {
    for policy in [FsyncPolicy::Always, FsyncPolicy::EverySec, FsyncPolicy::No] {
        let dir = tempfile::tempdir().unwrap();
        let records: Vec<Vec<u8>> = (0..60).map(|i| rec(23, i)).collect();
        let (log, _) = open(cfg(dir.path(), policy));
        // Written before the mark.
        append_each_durable(&log, &records[..10]);
        assert_eq!(log.end_segment(), 10);
        // Pending when the mark is acted on: one batch split at the mark.
        for r in &records[10..20] {
            log.append(r).unwrap();
        }
        let mark = log.end_segment();
        assert_eq!(mark, 20);
        for r in &records[20..30] {
            log.append(r).unwrap();
        }
        log.write_now().unwrap();
        assert_eq!(log.durable_lsn(), 30);
        log.truncate_before(mark + 1).unwrap();
        assert_eq!(log.first_lsn(), 21, "{policy}");
        assert!(matches!(
            log.read_from(20, 10, 1000),
            Err(LogError::Truncated { first: 21, .. })
        ));
        // A mark with nothing after it: the next record starts a segment.
        let mark = log.end_segment();
        assert_eq!(mark, 30);
        log.truncate_before(mark + 1).unwrap();
        assert_eq!(log.first_lsn(), 31, "{policy}");
        // Marking an empty active segment again changes nothing.
        log.end_segment();
        log.truncate_before(31).unwrap();
        assert_eq!(log.first_lsn(), 31);
        append_each_durable(&log, &records[30..]);
        assert_eq!(
            owned(log.read_from(31, usize::MAX, usize::MAX).unwrap()),
            numbered(31, &records[30..])
        );
        drop(log);
        // Reopen: the retained records, LSNs continue.
        let (log, seen) = open(cfg(dir.path(), policy));
        assert_eq!(seen, numbered(31, &records[30..]));
        assert_eq!(log.first_lsn(), 31);
        assert_eq!(log.append(b"next").unwrap(), 61);
    }
}
