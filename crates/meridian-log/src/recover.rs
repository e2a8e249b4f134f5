//! Opening an existing log: scan, verify, replay, repair a torn tail.
//!
//! Policy for damage found on open:
//! * A damaged frame at the end of the **last** segment is a torn write (the
//!   process or machine died mid-write, so the record was never acknowledged):
//!   it is truncated away and the number of dropped bytes is logged.
//! * A damaged frame anywhere else, meaning in an earlier segment, or in the
//!   last segment with a valid next frame right after it, is corruption of
//!   acknowledged data: `open` fails with [`LogError::Corrupt`] rather than
//!   silently dropping records that clients were told are durable. An operator
//!   must then restore or repair the directory.
//!
//! Limitation: a corrupted *length* field in the last segment hides where the
//! next frame starts, so it is indistinguishable from a torn write and is
//! truncated like one (with the dropped byte count logged).

use crate::error::LogError;
use crate::frame::{
    decode_header, encode_header, FrameCursor, FrameError, FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES,
};
use crate::segment::{self, SegmentMeta};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Result of scanning a log directory.
pub(crate) struct Recovered {
    pub segments: Vec<SegmentMeta>,
}

/// Scans every segment in `dir` in order, calling `replay` for each record;
/// creates the first segment of an empty log.
pub(crate) fn recover(
    dir: &Path,
    replay: &mut dyn FnMut(u64, &[u8]),
) -> Result<Recovered, LogError> {
    let names = segment::list(dir)?;
    if names.is_empty() {
        let (_, path) = segment::create(dir, 1, true)?;
        return Ok(Recovered {
            segments: vec![SegmentMeta::new(1, path)],
        });
    }
    let mut segments: Vec<SegmentMeta> = Vec::with_capacity(names.len());
    for (i, (first_lsn, path)) in names.iter().enumerate() {
        if let Some(prev) = segments.last() {
            if prev.next_lsn() != *first_lsn {
                return Err(LogError::corrupt(
                    path,
                    0,
                    format!(
                        "segment starts at LSN {first_lsn} but the previous one ends before LSN {} (gap or overlap)",
                        prev.next_lsn()
                    ),
                ));
            }
        }
        let is_last = i + 1 == names.len();
        segments.push(scan_segment(path, *first_lsn, is_last, replay)?);
    }
    Ok(Recovered { segments })
}

fn scan_segment(
    path: &Path,
    first_lsn: u64,
    is_last: bool,
    replay: &mut dyn FnMut(u64, &[u8]),
) -> Result<SegmentMeta, LogError> {
    let file = OpenOptions::new()
        .read(true)
        .write(is_last)
        .open(path)
        .map_err(|e| LogError::io("open", path, e))?;
    let file_len = file
        .metadata()
        .map_err(|e| LogError::io("stat", path, e))?
        .len();
    let mut meta = SegmentMeta::new(first_lsn, path.to_path_buf());

    let mut header = vec![0u8; file_len.min(SEGMENT_HEADER_BYTES) as usize];
    file.read_exact_at(&mut header, 0)
        .map_err(|e| LogError::io("read", path, e))?;
    match decode_header(&header) {
        Ok(lsn) if lsn == first_lsn => {}
        Ok(lsn) => {
            return Err(LogError::corrupt(
                path,
                0,
                format!("header says first LSN {lsn}, file name says {first_lsn}"),
            ))
        }
        // Torn creation of the newest segment: nothing in it was ever written.
        Err(reason) if is_last && file_len <= SEGMENT_HEADER_BYTES => {
            tracing::warn!(segment = %path.display(), %reason, "rewriting torn header of the last segment");
            rewrite_header(&file, path, first_lsn)?;
            return Ok(meta);
        }
        Err(reason) => return Err(LogError::corrupt(path, 0, reason)),
    }

    let mut cursor = FrameCursor::new(&file, SEGMENT_HEADER_BYTES, file_len, first_lsn);
    loop {
        match cursor.next(true) {
            Ok(Some(frame)) => {
                let end = frame.offset + (FRAME_HEADER_BYTES + frame.payload.len()) as u64;
                meta.note(frame.lsn, frame.offset, end);
                replay(frame.lsn, &frame.payload);
            }
            Ok(None) => return Ok(meta),
            Err(FrameError::Io(e)) => return Err(LogError::io("read", path, e)),
            Err(FrameError::Incomplete { offset }) if is_last => {
                truncate_tail(
                    &file,
                    path,
                    offset,
                    file_len,
                    cursor.lsn(),
                    "incomplete frame",
                )?;
                return Ok(meta);
            }
            Err(FrameError::Invalid {
                offset,
                len,
                reason,
            }) if is_last => {
                if let Some(len) = len {
                    let next = offset + (FRAME_HEADER_BYTES + len) as u64;
                    if valid_frame_at(&file, path, next, file_len, cursor.lsn() + 1)? {
                        return Err(LogError::corrupt(
                            path,
                            offset,
                            format!(
                                "{reason} in record LSN {} followed by a valid record: not a torn tail",
                                cursor.lsn()
                            ),
                        ));
                    }
                }
                truncate_tail(&file, path, offset, file_len, cursor.lsn(), reason)?;
                return Ok(meta);
            }
            Err(FrameError::Incomplete { offset }) => {
                return Err(LogError::corrupt(
                    path,
                    offset,
                    "incomplete frame in a sealed segment",
                ))
            }
            Err(FrameError::Invalid { offset, reason, .. }) => {
                return Err(LogError::corrupt(
                    path,
                    offset,
                    format!(
                        "{reason} in record LSN {} of a sealed segment",
                        cursor.lsn()
                    ),
                ))
            }
        }
    }
}

/// Whether a complete frame for `lsn` with a matching CRC starts at `offset`.
fn valid_frame_at(
    file: &File,
    path: &Path,
    offset: u64,
    file_len: u64,
    lsn: u64,
) -> Result<bool, LogError> {
    if offset >= file_len {
        return Ok(false);
    }
    let mut cursor = FrameCursor::new(file, offset, file_len, lsn);
    match cursor.next(true) {
        Ok(Some(_)) => Ok(true),
        Ok(None) | Err(FrameError::Incomplete { .. } | FrameError::Invalid { .. }) => Ok(false),
        Err(FrameError::Io(e)) => Err(LogError::io("read", path, e)),
    }
}

fn truncate_tail(
    file: &File,
    path: &Path,
    offset: u64,
    file_len: u64,
    lsn: u64,
    reason: &str,
) -> Result<(), LogError> {
    tracing::warn!(
        segment = %path.display(),
        offset,
        dropped_bytes = file_len - offset,
        first_dropped_lsn = lsn,
        reason,
        "truncating torn tail of the log"
    );
    file.set_len(offset)
        .map_err(|e| LogError::io("truncate", path, e))?;
    file.sync_all().map_err(|e| LogError::io("fsync", path, e))
}

fn rewrite_header(file: &File, path: &Path, first_lsn: u64) -> Result<(), LogError> {
    file.set_len(0)
        .map_err(|e| LogError::io("truncate", path, e))?;
    file.write_all_at(&encode_header(first_lsn), 0)
        .map_err(|e| LogError::io("write", path, e))?;
    file.sync_all().map_err(|e| LogError::io("fsync", path, e))
}
