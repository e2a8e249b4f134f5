use super::*;
use meridian_log::{FsyncPolicy, LogError};
use std::fs::{self, OpenOptions};

fn write_log(dir: &Path, records: &[Vec<u8>]) {
    let (log, _) = open(cfg(dir, FsyncPolicy::No));
    for r in records {
        log.append(r).unwrap();
    }
    log.close().unwrap();
}

fn flip_byte(path: &Path, offset: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset as usize] ^= 0x40;
    fs::write(path, bytes).unwrap();
}

#[test]
fn torn_tail_at_every_offset_is_truncated_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let mut records: Vec<Vec<u8>> = (0..4).map(|i| rec(10, i)).collect();
    records.push(b"the last record, which a crash tears apart".to_vec());
    write_log(dir.path(), &records);
    let [seg] = segment_files(dir.path()).try_into().unwrap();
    let original = fs::read(&seg).unwrap();
    let last_start = original.len() - (8 + records[4].len());

    for cut in last_start..original.len() {
        fs::write(&seg, &original[..cut]).unwrap();
        let (log, seen) = open(cfg(dir.path(), FsyncPolicy::No));
        assert_eq!(seen, numbered(1, &records[..4]), "cut at {cut}");
        assert_eq!(log.durable_lsn(), 4, "cut at {cut}");
        assert_eq!(
            fs::metadata(&seg).unwrap().len(),
            last_start as u64,
            "truncated at {cut}"
        );
        let lsn = log.append(b"after the crash").unwrap();
        assert_eq!(lsn, 5, "cut at {cut}");
        log.close().unwrap();
        drop(log);
        let mut expect = numbered(1, &records[..4]);
        expect.push((5, b"after the crash".to_vec()));
        assert_eq!(
            replay(cfg(dir.path(), FsyncPolicy::No)),
            expect,
            "cut at {cut}"
        );
    }
}

#[test]
fn bad_checksum_on_the_last_record_or_trailing_zeros_are_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<Vec<u8>> = (0..5).map(|i| rec(11, i)).collect();
    write_log(dir.path(), &records);
    let [seg] = segment_files(dir.path()).try_into().unwrap();
    let len = fs::metadata(&seg).unwrap().len();

    // Zeros after the last record (a file extended but never written).
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(len + 4096).unwrap();
    drop(f);
    assert_eq!(
        replay(cfg(dir.path(), FsyncPolicy::No)),
        numbered(1, &records)
    );
    assert_eq!(fs::metadata(&seg).unwrap().len(), len);

    // A flipped payload byte in the very last record.
    flip_byte(&seg, len - 1);
    assert_eq!(
        replay(cfg(dir.path(), FsyncPolicy::No)),
        numbered(1, &records[..4])
    );
}

/// Corruption of a record that is followed by valid records cannot be a torn
/// write: those records were acknowledged. `open` refuses rather than silently
/// dropping them.
#[test]
fn corruption_in_the_middle_of_the_last_segment_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<Vec<u8>> = (0..5).map(|_| vec![7u8; 50]).collect();
    write_log(dir.path(), &records);
    let [seg] = segment_files(dir.path()).try_into().unwrap();
    let before = fs::read(&seg).unwrap();
    // Record 2 (LSN 2) starts after the 16-byte header and one 58-byte frame.
    flip_byte(&seg, 16 + 58 + 8 + 20);
    let err = Log::open(cfg(dir.path(), FsyncPolicy::No), |_, _| {})
        .err()
        .expect("must fail");
    assert!(matches!(err, LogError::Corrupt { offset: 74, .. }), "{err}");
    assert_eq!(
        fs::read(&seg).unwrap().len(),
        before.len(),
        "nothing truncated"
    );
}

#[test]
fn corruption_in_an_earlier_segment_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path(), FsyncPolicy::No);
    c.segment_bytes_max = 100;
    let records: Vec<Vec<u8>> = (0..10).map(|i| rec(12, i)).collect();
    let (log, _) = open(c.clone());
    append_each_durable(&log, &records);
    drop(log);
    let segs = segment_files(dir.path());
    assert!(segs.len() >= 3);

    // Damage the last byte of the first segment (its last record's payload).
    let len = fs::metadata(&segs[0]).unwrap().len();
    flip_byte(&segs[0], len - 1);
    let err = Log::open(c.clone(), |_, _| {}).err().expect("must fail");
    assert!(matches!(err, LogError::Corrupt { .. }), "{err}");
    flip_byte(&segs[0], len - 1);

    // A torn (short) earlier segment is also corruption, not a torn tail.
    let bytes = fs::read(&segs[1]).unwrap();
    fs::write(&segs[1], &bytes[..bytes.len() - 1]).unwrap();
    assert!(matches!(
        Log::open(c.clone(), |_, _| {}),
        Err(LogError::Corrupt { .. })
    ));
    fs::write(&segs[1], &bytes).unwrap();

    // A missing middle segment is a gap.
    fs::remove_file(&segs[1]).unwrap();
    assert!(matches!(
        Log::open(c, |_, _| {}),
        Err(LogError::Corrupt { .. })
    ));
}

#[test]
fn torn_header_of_a_fresh_last_segment_is_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<Vec<u8>> = (0..3).map(|i| rec(13, i)).collect();
    write_log(dir.path(), &records);
    // As if the process died while creating the next segment.
    let next = dir.path().join("00000000000000000004.log");
    fs::write(&next, b"MRL").unwrap();
    let (log, seen) = open(cfg(dir.path(), FsyncPolicy::No));
    assert_eq!(seen, numbered(1, &records));
    assert_eq!(log.append(b"x").unwrap(), 4);
    drop(log);
    assert_eq!(replay(cfg(dir.path(), FsyncPolicy::No)).len(), 4);
}
