//! On-disk format: segment header and record frames.
//!
//! A segment file is a [`SEGMENT_HEADER_BYTES`] header followed by frames:
//!
//! ```text
//! header: magic "MRLG" | version u32 LE | first LSN u64 LE
//! frame:  len u32 LE | crc u32 LE | payload (len bytes)
//! crc  =  CRC-32 (IEEE) of payload ++ len u32 LE ++ LSN u64 LE
//! ```
//!
//! The LSN is not stored (it is the segment's first LSN plus the frame's
//! index) but it is covered by the CRC, so a frame read at the wrong position
//! fails its check, and a run of zero bytes never parses as a valid frame.

use crate::config::RECORD_BYTES_MAX;
use bytes::Bytes;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Segment file magic.
pub const SEGMENT_MAGIC: [u8; 4] = *b"MRLG";
/// Segment format version; bumped on any incompatible change.
pub const SEGMENT_VERSION: u32 = 1;
/// Size of the segment header, in bytes.
pub const SEGMENT_HEADER_BYTES: u64 = 16;
/// Size of a frame header (length and CRC), in bytes.
pub const FRAME_HEADER_BYTES: usize = 8;

/// CRC state after the payload; finish it with [`finish_crc`]. Split so the
/// payload is hashed before the append lock is taken (the LSN is only known
/// under it).
pub(crate) fn payload_hasher(payload: &[u8]) -> crc32fast::Hasher {
    let mut h = crc32fast::Hasher::new();
    h.update(payload);
    h
}

pub(crate) fn finish_crc(mut h: crc32fast::Hasher, len: u32, lsn: u64) -> u32 {
    h.update(&len.to_le_bytes());
    h.update(&lsn.to_le_bytes());
    h.finalize()
}

pub(crate) fn record_crc(payload: &[u8], lsn: u64) -> u32 {
    let len =
        u32::try_from(payload.len()).expect("payload length was checked against RECORD_BYTES_MAX");
    finish_crc(payload_hasher(payload), len, lsn)
}

pub(crate) fn encode_header(first_lsn: u64) -> [u8; SEGMENT_HEADER_BYTES as usize] {
    let mut h = [0u8; SEGMENT_HEADER_BYTES as usize];
    h[0..4].copy_from_slice(&SEGMENT_MAGIC);
    h[4..8].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
    h[8..16].copy_from_slice(&first_lsn.to_le_bytes());
    h
}

/// Returns the header's first LSN, or why the header is invalid.
pub(crate) fn decode_header(h: &[u8]) -> Result<u64, String> {
    if h.len() < SEGMENT_HEADER_BYTES as usize {
        return Err(format!(
            "header is {} bytes, expected {SEGMENT_HEADER_BYTES}",
            h.len()
        ));
    }
    if h[0..4] != SEGMENT_MAGIC {
        return Err("bad segment magic".into());
    }
    let version = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    if version != SEGMENT_VERSION {
        return Err(format!("unsupported segment version {version}"));
    }
    let mut lsn = [0u8; 8];
    lsn.copy_from_slice(&h[8..16]);
    Ok(u64::from_le_bytes(lsn))
}

/// Length field of the frame starting at `frame[0]`.
pub(crate) fn frame_len(frame: &[u8]) -> usize {
    u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize
}

/// One record read back from a segment.
pub(crate) struct Frame {
    pub lsn: u64,
    /// Byte offset of the frame header in the segment.
    pub offset: u64,
    pub payload: Bytes,
}

/// Why the next frame could not be read.
#[derive(Debug)]
pub(crate) enum FrameError {
    Io(io::Error),
    /// The file ends before the frame does (the usual torn write).
    Incomplete {
        offset: u64,
    },
    /// The frame is complete but wrong. `len` is its length field when that is
    /// plausible (so the next frame's position is known).
    Invalid {
        offset: u64,
        len: Option<usize>,
        reason: &'static str,
    },
}

/// Reads consecutive frames of one segment in [`crate::READ_CHUNK_BYTES`]
/// pieces with positioned reads; payloads are zero-copy slices of the chunk.
pub(crate) struct FrameCursor<'f> {
    file: &'f File,
    /// Offset of the next frame.
    off: u64,
    /// No frame may extend past this offset.
    end: u64,
    /// LSN of the next frame.
    lsn: u64,
    chunk: Bytes,
    chunk_off: u64,
}

impl<'f> FrameCursor<'f> {
    pub(crate) fn new(file: &'f File, off: u64, end: u64, lsn: u64) -> Self {
        Self {
            file,
            off,
            end,
            lsn,
            chunk: Bytes::new(),
            chunk_off: off,
        }
    }

    /// LSN of the next frame (one past the last one returned).
    pub(crate) fn lsn(&self) -> u64 {
        self.lsn
    }

    /// Reads the next frame; `Ok(None)` at `end`. With `verify` false the CRC
    /// is not checked (for frames being skipped over).
    pub(crate) fn next(&mut self, verify: bool) -> Result<Option<Frame>, FrameError> {
        assert!(self.off <= self.end, "frame cursor ran past its end");
        let remaining = self.end - self.off;
        if remaining == 0 {
            return Ok(None);
        }
        let offset = self.off;
        if remaining < FRAME_HEADER_BYTES as u64 {
            return Err(FrameError::Incomplete { offset });
        }
        let header = self.slice(FRAME_HEADER_BYTES).map_err(FrameError::Io)?;
        let len = frame_len(&header);
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len > RECORD_BYTES_MAX {
            return Err(FrameError::Invalid {
                offset,
                len: None,
                reason: "length exceeds RECORD_BYTES_MAX",
            });
        }
        let total = FRAME_HEADER_BYTES + len;
        if total as u64 > remaining {
            return Err(FrameError::Incomplete { offset });
        }
        let frame = self.slice(total).map_err(FrameError::Io)?;
        let payload = frame.slice(FRAME_HEADER_BYTES..);
        if verify && record_crc(&payload, self.lsn) != crc {
            return Err(FrameError::Invalid {
                offset,
                len: Some(len),
                reason: "checksum mismatch",
            });
        }
        let lsn = self.lsn;
        self.lsn += 1;
        self.off += total as u64;
        Ok(Some(Frame {
            lsn,
            offset,
            payload,
        }))
    }

    /// The `n` bytes at `self.off` (the caller checked they are before `end`),
    /// refilling the chunk when they are not all in it.
    fn slice(&mut self, n: usize) -> io::Result<Bytes> {
        let start = self.off.checked_sub(self.chunk_off).map(|s| s as usize);
        let Some(start) = start.filter(|s| s + n <= self.chunk.len()) else {
            let want = (self.end - self.off).min(n.max(crate::config::READ_CHUNK_BYTES) as u64);
            let mut buf = vec![0u8; want as usize];
            self.file.read_exact_at(&mut buf, self.off)?;
            self.chunk = Bytes::from(buf);
            self.chunk_off = self.off;
            return Ok(self.chunk.slice(0..n));
        };
        Ok(self.chunk.slice(start..start + n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_roundtrip_and_rejects_garbage() {
        let h = encode_header(42);
        assert_eq!(decode_header(&h), Ok(42));
        assert!(decode_header(&[0u8; 16]).is_err());
        assert!(decode_header(&h[..15]).is_err());
        let mut v = h;
        v[4] = 9;
        assert!(decode_header(&v).is_err());
    }

    #[test]
    fn zero_bytes_never_form_a_valid_frame() {
        // An all-zero frame header is len 0, crc 0: it must not check out.
        for lsn in [0, 1, 2, 1000, u64::MAX] {
            assert_ne!(record_crc(&[], lsn), 0);
        }
    }

    #[test]
    fn crc_covers_lsn_and_payload() {
        assert_ne!(record_crc(b"abc", 1), record_crc(b"abc", 2));
        assert_ne!(record_crc(b"abc", 1), record_crc(b"abd", 1));
        let split = finish_crc(payload_hasher(b"abc"), 3, 7);
        assert_eq!(split, record_crc(b"abc", 7));
    }
}
