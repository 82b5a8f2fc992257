//! Reading whole objects and object headers, whatever format wrote them.

use crate::compress::decompress;
use crate::cursor::Cursor;
use crate::error::{Area, FormatError, Place};
use crate::records;
use crate::skiff_header::{MAGIC, SkiffHeader};
use crate::summary::Tally;
use crate::{Compression, Format, Record, Summary};

/// Bytes that name an object's format: v0's version field or Skiff's magic.
const MARKER_LEN: usize = 4;
/// Instaclustr's version field for format 0.
const V0_MARKER: [u8; MARKER_LEN] = [0, 0, 0, 0];

/// What a decoded object holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedObject {
    /// The format the object was written in.
    pub format: Format,
    /// Its records, in stored order.
    pub records: Vec<Record>,
    /// The verified summary (Skiff v1 only).
    pub summary: Option<Summary>,
}

/// The format named by an object's first bytes, so callers can tell objects apart cheaply.
pub fn detect_format(prefix: &[u8]) -> Result<Format, FormatError> {
    let Some(marker) = prefix.first_chunk::<MARKER_LEN>() else {
        return Err(FormatError::Truncated {
            area: Area::Object,
            position: 0,
            place: Place::FormatMarker,
            what: "format marker bytes",
            expected: MARKER_LEN as u64,
            found: prefix.len(),
        });
    };
    match *marker {
        V0_MARKER => Ok(Format::InstaclustrV0),
        MAGIC => Ok(Format::SkiffV1),
        _ => Err(FormatError::UnknownFormat {
            first_bytes: prefix
                .iter()
                .take(8)
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" "),
        }),
    }
}

/// Decodes a whole object, detecting its format from the first bytes and verifying every
/// checksum, length and summary field it carries.
pub fn decode(body: &[u8]) -> Result<DecodedObject, FormatError> {
    match detect_format(body)? {
        Format::InstaclustrV0 => {
            let cur = Cursor::new(&body[MARKER_LEN..], MARKER_LEN, Area::Object);
            let (records, _) = read_records(cur, false)?;
            Ok(DecodedObject {
                format: Format::InstaclustrV0,
                records,
                summary: None,
            })
        }
        Format::SkiffV1 => decode_skiff(body),
    }
}

/// The summary of an object from its first bytes (at least `HEADER_LEN_MAX` of them, or the
/// whole object when it is shorter): `None` for Instaclustr v0, which has no summary.
pub fn summarize(body_prefix: &[u8]) -> Result<Option<Summary>, FormatError> {
    match detect_format(body_prefix)? {
        Format::InstaclustrV0 => Ok(None),
        Format::SkiffV1 => SkiffHeader::parse(body_prefix).map(|header| Some(header.summary)),
    }
}

/// Decodes and verifies a Skiff v1 object.
fn decode_skiff(body: &[u8]) -> Result<DecodedObject, FormatError> {
    let header = SkiffHeader::parse(body)?;
    let stored = &body[header.header_len..];
    let stored_len = stored.len() as u64;
    if stored_len < header.body_len {
        return Err(FormatError::Truncated {
            area: Area::Object,
            position: body.len(),
            place: Place::Body,
            what: "body bytes",
            expected: header.body_len,
            found: stored.len(),
        });
    }
    if stored_len > header.body_len {
        return Err(FormatError::TrailingBytes {
            area: Area::Object,
            position: header.header_len + header.body_len as usize,
            place: Place::Body,
            extra: (stored_len - header.body_len) as usize,
        });
    }
    let computed = crc32c::crc32c(stored);
    if computed != header.body_crc {
        return Err(FormatError::ChecksumMismatch {
            what: "body",
            stored: header.body_crc,
            computed,
        });
    }
    let decompressed;
    let cur = match header.compression {
        Compression::None => Cursor::new(stored, header.header_len, Area::Object),
        codec => {
            decompressed = decompress(codec, stored, header.raw_len)?;
            Cursor::new(&decompressed, 0, Area::DecompressedBody)
        }
    };
    check(
        "decompressed length",
        header.raw_len,
        cur.remaining() as u64,
    )?;
    let (records, tally) = read_records(cur, true)?;
    let found = tally.summary();
    let stored = header.summary;
    check("record count", stored.record_count, found.record_count)?;
    check("first offset", stored.first_offset, found.first_offset)?;
    check("last offset", stored.last_offset, found.last_offset)?;
    check("min timestamp", stored.min_timestamp, found.min_timestamp)?;
    check("max timestamp", stored.max_timestamp, found.max_timestamp)?;
    Ok(DecodedObject {
        format: Format::SkiffV1,
        records,
        summary: Some(stored),
    })
}

/// Fails when a header field disagrees with what the body holds.
fn check<T: Into<i128> + PartialEq>(
    field: &'static str,
    stored: T,
    found: T,
) -> Result<(), FormatError> {
    if stored == found {
        Ok(())
    } else {
        Err(FormatError::SummaryMismatch {
            field,
            stored: stored.into(),
            found: found.into(),
        })
    }
}

/// Reads records until the cursor is exhausted.
fn read_records(
    mut cur: Cursor<'_>,
    attributes: bool,
) -> Result<(Vec<Record>, Tally), FormatError> {
    let mut records = Vec::new();
    let mut tally = Tally::default();
    while cur.remaining() > 0 {
        let record = records::decode(&mut cur, records.len(), attributes)?;
        tally.add(record.offset, record.timestamp);
        records.push(record);
    }
    Ok((records, tally))
}
