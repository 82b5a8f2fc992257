//! Errors that say what is wrong and where, so a restore can report a bad object precisely.

use std::fmt;

use crate::Compression;

/// Why an object (or a prefix of one) could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The first bytes match no known format.
    #[error(
        "unknown format: first bytes {first_bytes} are neither Instaclustr v0 (00 00 00 00) nor Skiff (53 4b 46 42, \"SKFB\")"
    )]
    UnknownFormat {
        /// Up to eight leading bytes in hex.
        first_bytes: String,
    },
    /// A Skiff object of a version this build cannot read.
    #[error("unsupported Skiff format version {version} at byte 4 (this build reads version 1)")]
    UnsupportedVersion {
        /// The version found.
        version: u16,
    },
    /// The data ends before a field does.
    #[error(
        "{area} truncated at byte {position} inside {place}: expected {expected} {what}, found {found}"
    )]
    Truncated {
        /// The byte sequence the position counts in.
        area: Area,
        /// Where the missing field starts.
        position: usize,
        /// The structure being read.
        place: Place,
        /// The field, e.g. "value bytes".
        what: &'static str,
        /// Bytes the field needs.
        expected: u64,
        /// Bytes that were left.
        found: usize,
    },
    /// Bytes follow where the object should end.
    #[error("{area} has {extra} unexpected bytes from byte {position} on, after {place}")]
    TrailingBytes {
        /// The byte sequence the position counts in.
        area: Area,
        /// Where the unexpected bytes start.
        position: usize,
        /// What was read last.
        place: Place,
        /// How many bytes are left over.
        extra: usize,
    },
    /// A field holds a value no writer produces (a negative length, an unknown code, ...).
    #[error("invalid {what} {value} at byte {position} of the {area} inside {place}")]
    InvalidField {
        /// The byte sequence the position counts in.
        area: Area,
        /// Where the field starts.
        position: usize,
        /// The structure being read.
        place: Place,
        /// The field, e.g. "value length".
        what: &'static str,
        /// The value found.
        value: i64,
    },
    /// A header key is not UTF-8.
    #[error("header key at byte {position} of the {area} inside {place} is not UTF-8: {source}")]
    InvalidHeaderKey {
        /// The byte sequence the position counts in.
        area: Area,
        /// Where the key starts.
        position: usize,
        /// The header being read.
        place: Place,
        /// What the UTF-8 check found.
        source: std::str::Utf8Error,
    },
    /// Stored and computed CRC32C differ: the object was damaged after it was written.
    #[error("checksum mismatch in the {what}: stored crc32c {stored:08x}, computed {computed:08x}")]
    ChecksumMismatch {
        /// "Skiff header" or "body".
        what: &'static str,
        /// The checksum the object carries.
        stored: u32,
        /// The checksum of the bytes as read.
        computed: u32,
    },
    /// The compressed body is not a valid stream.
    #[error("the {compression} body does not decompress: {source}")]
    Decompress {
        /// The compression the header names.
        compression: Compression,
        /// The decoder's error.
        source: std::io::Error,
    },
    /// The header's summary disagrees with the records.
    #[error("summary mismatch: the Skiff header says {field} {stored}, the body has {found}")]
    SummaryMismatch {
        /// The summary field.
        field: &'static str,
        /// The value in the header.
        stored: i128,
        /// The value computed from the records.
        found: i128,
    },
    /// A field is too large for the format's 32-bit lengths (Kafka cannot produce such a record).
    #[error(
        "record at offset {offset}: the {field} is {len} bytes, more than a backup object can store ({max})",
        max = i32::MAX
    )]
    FieldTooLarge {
        /// The record's offset.
        offset: i64,
        /// "key", "value", "header key" or "header value".
        field: &'static str,
        /// The field's length.
        len: usize,
    },
    /// A record pushed out of order.
    #[error(
        "record offset {found} does not follow offset {previous}: offsets in an object must increase"
    )]
    OffsetNotIncreasing {
        /// The last offset in the object.
        previous: i64,
        /// The offset pushed.
        found: i64,
    },
}

/// The byte sequence an error's position counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// The object as stored.
    Object,
    /// A Skiff v1 body after decompression (positions start at its first byte).
    DecompressedBody,
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Area::Object => "object",
            Area::DecompressedBody => "decompressed body",
        })
    }
}

/// The structure an error occurred in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The leading bytes that name the format.
    FormatMarker,
    /// The Skiff v1 header.
    SkiffHeader,
    /// The Skiff v1 body as stored.
    Body,
    /// A record; `offset` once it has been read.
    Record {
        /// 0-based position of the record in the object.
        index: usize,
        /// The record's offset, when read.
        offset: Option<i64>,
    },
    /// A header of a record.
    RecordHeader {
        /// 0-based position of the record in the object.
        index: usize,
        /// The record's offset.
        offset: i64,
        /// 0-based position of the header in the record.
        header: usize,
    },
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::FormatMarker => f.write_str("the format marker"),
            Place::SkiffHeader => f.write_str("the Skiff header"),
            Place::Body => f.write_str("the body"),
            Place::Record {
                index,
                offset: Some(offset),
            } => write!(f, "record {index} (offset {offset})"),
            Place::Record {
                index,
                offset: None,
            } => write!(f, "record {index}"),
            Place::RecordHeader {
                index,
                offset,
                header,
            } => write!(f, "header {header} of record {index} (offset {offset})"),
        }
    }
}
