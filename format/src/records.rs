//! The record layout both formats share: Instaclustr v0's, which Skiff v1 prefixes with an
//! attributes byte.

use crate::cursor::Cursor;
use crate::error::{FormatError, Place};
use crate::{Header, Record, TimestampType};

/// Bytes of a v0 record before its key: offset, timestamp, key, value and header-count fields.
const FIXED_LEN: usize = 8 + 8 + 4 + 4 + 4;
/// Smallest encoded header: its key and value length fields.
const MIN_HEADER_LEN: usize = 4 + 4;
/// Attribute bits Skiff v1 uses for the timestamp type; the others must be zero.
const TIMESTAMP_TYPE_MASK: u8 = 0b11;

/// Fails when a field cannot be stored in a 32-bit length.
pub(crate) fn check_sizes(record: &Record) -> Result<(), FormatError> {
    let too_large = |field: &'static str, len: usize| {
        if i32::try_from(len).is_ok() {
            Ok(())
        } else {
            Err(FormatError::FieldTooLarge {
                offset: record.offset,
                field,
                len,
            })
        }
    };
    too_large("key", record.key.as_ref().map_or(0, Vec::len))?;
    too_large("value", record.value.as_ref().map_or(0, Vec::len))?;
    too_large("header count", record.headers.len())?;
    for header in &record.headers {
        too_large("header key", header.key.len())?;
        too_large("header value", header.value.as_ref().map_or(0, Vec::len))?;
    }
    Ok(())
}

/// Bytes `record` takes in v0 layout (add one for Skiff v1's attributes byte).
pub(crate) fn encoded_len(record: &Record) -> usize {
    let opt = |v: &Option<Vec<u8>>| v.as_ref().map_or(0, Vec::len);
    FIXED_LEN
        + opt(&record.key)
        + opt(&record.value)
        + record
            .headers
            .iter()
            .map(|h| MIN_HEADER_LEN + h.key.len() + opt(&h.value))
            .sum::<usize>()
}

/// Appends `record` in v0 layout, preceded by Skiff v1's attributes byte when `attributes` is set.
/// Sizes must have passed `check_sizes`.
pub(crate) fn encode(buf: &mut Vec<u8>, record: &Record, attributes: bool) {
    buf.reserve(encoded_len(record) + usize::from(attributes));
    if attributes {
        buf.push(record.timestamp_type.code());
    }
    buf.extend_from_slice(&record.offset.to_be_bytes());
    buf.extend_from_slice(&record.timestamp.to_be_bytes());
    put_len(buf, record.key.as_deref());
    put_len(buf, record.value.as_deref());
    buf.extend_from_slice(&(record.headers.len() as i32).to_be_bytes());
    if let Some(key) = &record.key {
        buf.extend_from_slice(key);
    }
    if let Some(value) = &record.value {
        buf.extend_from_slice(value);
    }
    for header in &record.headers {
        buf.extend_from_slice(&(header.key.len() as i32).to_be_bytes());
        buf.extend_from_slice(header.key.as_bytes());
        put_len(buf, header.value.as_deref());
        if let Some(value) = &header.value {
            buf.extend_from_slice(value);
        }
    }
}

/// Appends a length field: the length, or -1 for null.
fn put_len(buf: &mut Vec<u8>, bytes: Option<&[u8]>) {
    let len = bytes.map_or(-1, |b| b.len() as i32);
    buf.extend_from_slice(&len.to_be_bytes());
}

/// Reads the record at the cursor; `attributes` says whether a Skiff v1 attributes byte leads it.
pub(crate) fn decode(
    cur: &mut Cursor<'_>,
    index: usize,
    attributes: bool,
) -> Result<Record, FormatError> {
    let mut place = Place::Record {
        index,
        offset: None,
    };
    let stored_type = if attributes {
        let byte = cur.u8("attributes byte", place)?;
        let code = byte & TIMESTAMP_TYPE_MASK;
        match TimestampType::from_code(code) {
            Some(kind) if byte == code => Some(kind),
            _ => return Err(cur.invalid(1, "attributes byte", place, i64::from(byte))),
        }
    } else {
        None
    };
    let offset = cur.i64("offset bytes", place)?;
    place = Place::Record {
        index,
        offset: Some(offset),
    };
    let timestamp = cur.i64("timestamp bytes", place)?;
    let key_len = read_len(cur, "key length", place)?;
    let value_len = read_len(cur, "value length", place)?;
    let header_count = cur.i32("header count bytes", place)?;
    let header_count = usize::try_from(header_count)
        .map_err(|_| cur.invalid(4, "header count", place, i64::from(header_count)))?;
    let key = read_bytes(cur, key_len, "key bytes", place)?;
    let value = read_bytes(cur, value_len, "value bytes", place)?;
    let mut headers = Vec::with_capacity(header_count.min(cur.remaining() / MIN_HEADER_LEN));
    for header in 0..header_count {
        headers.push(decode_header(
            cur,
            Place::RecordHeader {
                index,
                offset,
                header,
            },
        )?);
    }
    Ok(Record {
        offset,
        timestamp,
        timestamp_type: stored_type.unwrap_or(v0_timestamp_type(timestamp)),
        key,
        value,
        headers,
    })
}

/// The type a v0 record's timestamp gets: v0 does not store it, and Instaclustr's restore
/// produced every timestamp as a producer timestamp; -1 (or any negative) means none, as in Kafka.
fn v0_timestamp_type(timestamp: i64) -> TimestampType {
    if timestamp >= 0 {
        TimestampType::CreateTime
    } else {
        TimestampType::NotAvailable
    }
}

/// Reads one record header.
fn decode_header(cur: &mut Cursor<'_>, place: Place) -> Result<Header, FormatError> {
    let key_len = match read_len(cur, "header key length", place)? {
        Some(len) => len,
        None => return Err(cur.invalid(4, "header key length", place, -1)),
    };
    let key_position = cur.position();
    let key_bytes = cur.take(key_len, "header key bytes", place)?;
    let key = std::str::from_utf8(key_bytes)
        .map_err(|source| FormatError::InvalidHeaderKey {
            area: cur.area(),
            position: key_position,
            place,
            source,
        })?
        .to_owned();
    let value_len = read_len(cur, "header value length", place)?;
    let value = read_bytes(cur, value_len, "header value bytes", place)?;
    Ok(Header { key, value })
}

/// Reads a length field: `None` for -1 (null), an error for other negative values.
fn read_len(
    cur: &mut Cursor<'_>,
    what: &'static str,
    place: Place,
) -> Result<Option<usize>, FormatError> {
    let len = cur.i32(what, place)?;
    if len == -1 {
        return Ok(None);
    }
    usize::try_from(len)
        .map(Some)
        .map_err(|_| cur.invalid(4, what, place, i64::from(len)))
}

/// Reads `len` bytes when the field is not null.
fn read_bytes(
    cur: &mut Cursor<'_>,
    len: Option<usize>,
    what: &'static str,
    place: Place,
) -> Result<Option<Vec<u8>>, FormatError> {
    len.map(|len| cur.take(len, what, place).map(<[u8]>::to_vec))
        .transpose()
}
