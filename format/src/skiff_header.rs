//! The fixed, uncompressed header of a Skiff v1 object (layout in docs/format.md).

use crate::cursor::Cursor;
use crate::error::{Area, FormatError, Place};
use crate::{Compression, Summary};

/// The first four bytes of every Skiff object: "SKFB". Never `00 00 00 00`, so never v0.
pub const MAGIC: [u8; 4] = *b"SKFB";
/// The format version this build writes and reads.
pub const VERSION: u16 = 1;
/// The header length this build writes.
pub const HEADER_LEN: usize = 76;
/// The most header bytes any Skiff object has: fetch this many (a ranged GET) for `summarize`.
pub const HEADER_LEN_MAX: usize = 256;

/// Everything a Skiff v1 header says about its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SkiffHeader {
    pub(crate) header_len: usize,
    pub(crate) compression: Compression,
    pub(crate) summary: Summary,
    /// Bytes stored after the header.
    pub(crate) body_len: u64,
    /// Bytes of the body once decompressed.
    pub(crate) raw_len: u64,
    /// CRC32C of the stored body bytes.
    pub(crate) body_crc: u32,
}

impl SkiffHeader {
    /// The header as written by this build (`HEADER_LEN` bytes).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let s = &self.summary;
        let mut out = Vec::with_capacity(HEADER_LEN);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&(HEADER_LEN as u16).to_be_bytes());
        out.extend_from_slice(&[self.compression.code(), 0, 0, 0]);
        for field in [s.first_offset, s.last_offset] {
            out.extend_from_slice(&field.to_be_bytes());
        }
        out.extend_from_slice(&s.record_count.to_be_bytes());
        for field in [s.min_timestamp, s.max_timestamp] {
            out.extend_from_slice(&field.to_be_bytes());
        }
        out.extend_from_slice(&self.body_len.to_be_bytes());
        out.extend_from_slice(&self.raw_len.to_be_bytes());
        out.extend_from_slice(&self.body_crc.to_be_bytes());
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_be_bytes());
        out
    }

    /// Reads and verifies the header at the start of `bytes` (which may be just a prefix of
    /// the object). The caller has checked the magic.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        let place = Place::SkiffHeader;
        let mut cur = Cursor::new(bytes, 0, Area::Object);
        cur.take(MAGIC.len(), "magic bytes", Place::FormatMarker)?;
        let version = cur.u16("version bytes", place)?;
        if version != VERSION {
            return Err(FormatError::UnsupportedVersion { version });
        }
        let header_len = usize::from(cur.u16("header length bytes", place)?);
        if !(HEADER_LEN..=HEADER_LEN_MAX).contains(&header_len) {
            return Err(cur.invalid(2, "header length", place, header_len as i64));
        }
        let crc_at = header_len - 4;
        if bytes.len() < header_len {
            return Err(FormatError::Truncated {
                area: Area::Object,
                position: bytes.len(),
                place,
                what: "header bytes",
                expected: header_len as u64,
                found: bytes.len(),
            });
        }
        let stored = u32::from_be_bytes([
            bytes[crc_at],
            bytes[crc_at + 1],
            bytes[crc_at + 2],
            bytes[crc_at + 3],
        ]);
        let computed = crc32c::crc32c(&bytes[..crc_at]);
        if stored != computed {
            return Err(FormatError::ChecksumMismatch {
                what: "Skiff header",
                stored,
                computed,
            });
        }
        let code = cur.u8("compression byte", place)?;
        let compression = Compression::from_code(code)
            .ok_or_else(|| cur.invalid(1, "compression code", place, i64::from(code)))?;
        for _ in 0..3 {
            let reserved = cur.u8("reserved bytes", place)?;
            if reserved != 0 {
                return Err(cur.invalid(1, "reserved byte", place, i64::from(reserved)));
            }
        }
        let summary = Summary {
            first_offset: cur.i64("first offset bytes", place)?,
            last_offset: cur.i64("last offset bytes", place)?,
            record_count: cur.u64("record count bytes", place)?,
            min_timestamp: cur.i64("min timestamp bytes", place)?,
            max_timestamp: cur.i64("max timestamp bytes", place)?,
        };
        let body_len = cur.u64("body length bytes", place)?;
        let raw_len = cur.u64("decompressed length bytes", place)?;
        let body_crc = cur.u32("body checksum bytes", place)?;
        Ok(SkiffHeader {
            header_len,
            compression,
            summary,
            body_len,
            raw_len,
            body_crc,
        })
    }
}
