//! Backup object formats: pure readers and writers of the objects Skiff's S3 sink writes and
//! its restore source reads, with no I/O.
//!
//! Two formats: Instaclustr's "version 0" (written byte for byte when asked, always read) and
//! Skiff v1 (compression, checksums, timestamp types and a summary header for point-in-time
//! restores). `docs/format.md` specifies both, and the key layout.

mod compress;
mod cursor;
mod decode;
mod error;
mod key;
mod names;
mod record;
mod records;
mod skiff_header;
mod summary;
mod writer;

pub use decode::{DecodedObject, decode, detect_format, summarize};
pub use error::{Area, FormatError, Place};
pub use key::{ObjectKey, normalize_prefix, object_key, parse_object_key};
pub use names::{Compression, Format, UnknownNameError};
pub use record::{Header, Record, TimestampType};
pub use skiff_header::{HEADER_LEN, HEADER_LEN_MAX, MAGIC, VERSION};
pub use summary::Summary;
pub use writer::ObjectWriter;
