//! Segment files: naming, listing, creation and the in-memory index.

use crate::config::SPARSE_INDEX_INTERVAL_BYTES;
use crate::error::LogError;
use crate::frame::{encode_header, SEGMENT_HEADER_BYTES};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Digits in a segment file name: the first LSN, zero-padded so names sort
/// in LSN order (20 digits hold any u64).
pub const SEGMENT_NAME_DIGITS: usize = 20;

/// Suffix of segment files.
pub const SEGMENT_SUFFIX: &str = ".log";

/// What the log knows about one segment file.
#[derive(Debug, Clone)]
pub(crate) struct SegmentMeta {
    pub first_lsn: u64,
    pub path: PathBuf,
    /// Bytes of valid content (header plus whole written frames).
    pub bytes: u64,
    /// Records in the segment.
    pub records: u64,
    /// Sparse index: (lsn, offset) pairs, ascending, the first at the header end.
    index: Vec<(u64, u64)>,
}

impl SegmentMeta {
    pub(crate) fn new(first_lsn: u64, path: PathBuf) -> Self {
        Self {
            first_lsn,
            path,
            bytes: SEGMENT_HEADER_BYTES,
            records: 0,
            index: vec![(first_lsn, SEGMENT_HEADER_BYTES)],
        }
    }

    /// LSN after the segment's last record.
    pub(crate) fn next_lsn(&self) -> u64 {
        self.first_lsn + self.records
    }

    /// Records that the frame for `lsn` starts at `offset` and that the
    /// segment now ends at `end`. Frames must be noted in order.
    pub(crate) fn note(&mut self, lsn: u64, offset: u64, end: u64) {
        assert_eq!(
            lsn,
            self.next_lsn(),
            "segment frames must be noted in LSN order"
        );
        assert_eq!(offset, self.bytes, "segment frames must be contiguous");
        assert!(end > offset, "a frame has a header");
        let (_, last_offset) = *self.index.last().expect("index starts non-empty");
        if offset - last_offset >= SPARSE_INDEX_INTERVAL_BYTES {
            self.index.push((lsn, offset));
        }
        self.records += 1;
        self.bytes = end;
    }

    /// The closest indexed (lsn, offset) at or before `lsn`.
    pub(crate) fn seek(&self, lsn: u64) -> (u64, u64) {
        let i = self.index.partition_point(|&(l, _)| l <= lsn);
        self.index[i.saturating_sub(1)]
    }
}

pub(crate) fn segment_path(dir: &Path, first_lsn: u64) -> PathBuf {
    dir.join(format!(
        "{first_lsn:0width$}{SEGMENT_SUFFIX}",
        width = SEGMENT_NAME_DIGITS
    ))
}

fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != SEGMENT_NAME_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Segment files in `dir` as (first LSN, path), in LSN order. Other files are
/// ignored.
pub(crate) fn list(dir: &Path) -> Result<Vec<(u64, PathBuf)>, LogError> {
    let mut out = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| LogError::io("read_dir", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| LogError::io("read_dir", dir, e))?;
        let name = entry.file_name();
        if let Some(lsn) = name.to_str().and_then(parse_name) {
            out.push((lsn, entry.path()));
        }
    }
    out.sort_unstable_by_key(|&(lsn, _)| lsn);
    Ok(out)
}

/// Creates the segment starting at `first_lsn` with its header written, open
/// for appending. With `sync`, the file and the directory entry are fsynced so
/// the new segment survives power loss.
pub(crate) fn create(dir: &Path, first_lsn: u64, sync: bool) -> Result<(File, PathBuf), LogError> {
    let path = segment_path(dir, first_lsn);
    let mut file = OpenOptions::new()
        .append(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| LogError::io("create", &path, e))?;
    file.write_all(&encode_header(first_lsn))
        .map_err(|e| LogError::io("write", &path, e))?;
    if sync {
        file.sync_all()
            .map_err(|e| LogError::io("fsync", &path, e))?;
        sync_dir(dir)?;
    }
    Ok((file, path))
}

/// fsyncs a directory so created or removed entries are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| LogError::io("fsync dir", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_and_parse() {
        let p = segment_path(Path::new("/x"), 1);
        assert_eq!(p, Path::new("/x/00000000000000000001.log"));
        assert_eq!(parse_name("00000000000000000001.log"), Some(1));
        assert_eq!(parse_name(&format!("{:020}.log", u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_name("0001.log"), None);
        assert_eq!(parse_name("0000000000000000000a.log"), None);
        assert_eq!(parse_name("00000000000000000001.tmp"), None);
    }

    #[test]
    fn sparse_index_seeks_to_nearest_entry_before() {
        let mut m = SegmentMeta::new(10, PathBuf::from("x"));
        let frame = 1000u64;
        let mut off = SEGMENT_HEADER_BYTES;
        for lsn in 10..1000 {
            m.note(lsn, off, off + frame);
            off += frame;
        }
        assert_eq!(m.seek(10), (10, SEGMENT_HEADER_BYTES));
        for lsn in [10, 11, 77, 500, 999, 5000] {
            let (l, o) = m.seek(lsn);
            assert!(l <= lsn);
            assert_eq!(o, SEGMENT_HEADER_BYTES + (l - 10) * frame);
            assert!(lsn.min(999) - l <= SPARSE_INDEX_INTERVAL_BYTES / frame + 1);
        }
        assert_eq!(m.next_lsn(), 1000);
    }
}
