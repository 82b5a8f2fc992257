//! Builds one backup object in memory, record by record (the backup's hot path).

use crate::compress::compress_into;
use crate::error::FormatError;
use crate::records;
use crate::skiff_header::{HEADER_LEN, SkiffHeader};
use crate::summary::Tally;
use crate::{Compression, Format, Record};

/// Builds one object in memory, record by record: records are encoded straight into one
/// growing buffer (no per-record allocation), compressed once in `finish`.
#[derive(Debug)]
pub struct ObjectWriter {
    format: Format,
    compression: Compression,
    /// Compression level (zstd, gzip); the codec's default when `None`.
    level: Option<i32>,
    /// The object so far: v0's version field or room for the Skiff header, then the records.
    buf: Vec<u8>,
    tally: Tally,
    first: Option<i64>,
    last: Option<i64>,
}

impl ObjectWriter {
    /// An empty object; `compression` is ignored for Instaclustr v0, which has none.
    pub fn new(format: Format, compression: Compression) -> Self {
        Self::with_capacity(format, compression, 0)
    }

    /// An empty object with room for `bytes` of encoded records, to avoid regrowing the buffer
    /// when the flush size is known.
    pub fn with_capacity(format: Format, compression: Compression, bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(bytes.saturating_add(HEADER_LEN));
        match format {
            Format::InstaclustrV0 => buf.extend_from_slice(&0i32.to_be_bytes()),
            Format::SkiffV1 => buf.resize(HEADER_LEN, 0),
        }
        ObjectWriter {
            format,
            compression,
            level: None,
            buf,
            tally: Tally::default(),
            first: None,
            last: None,
        }
    }

    /// Compresses at `level` (zstd 1–19, gzip 1–9) instead of the codec's default: lower is
    /// faster, higher is smaller. Ignored by lz4 and by uncompressed objects.
    pub fn with_level(mut self, level: Option<i32>) -> Self {
        self.level = level;
        self
    }

    /// Appends a record. Records must come in increasing offset order, as they do from one
    /// Kafka partition; this is not checked (use `try_push` for that), and out-of-order
    /// records are still stored so nothing is lost.
    ///
    /// # Panics
    /// If a key, value or header is 2 GiB or larger, which no Kafka record can be (its sizes
    /// are 32-bit on the wire); `try_push` returns an error instead.
    pub fn push(&mut self, record: &Record) {
        if let Err(error) = records::check_sizes(record) {
            panic!("{error}");
        }
        self.append(record);
    }

    /// Appends a record after checking that its offset follows the last one and that every
    /// field fits the format; on error the object is unchanged.
    pub fn try_push(&mut self, record: &Record) -> Result<(), FormatError> {
        if let Some(previous) = self.last
            && record.offset <= previous
        {
            return Err(FormatError::OffsetNotIncreasing {
                previous,
                found: record.offset,
            });
        }
        records::check_sizes(record)?;
        self.append(record);
        Ok(())
    }

    /// Encodes a checked record into the buffer.
    fn append(&mut self, record: &Record) {
        records::encode(&mut self.buf, record, self.format == Format::SkiffV1);
        self.tally.add(record.offset, record.timestamp);
        self.first.get_or_insert(record.offset);
        self.last = Some(record.offset);
    }

    /// Records pushed so far.
    pub fn record_count(&self) -> usize {
        self.tally.summary().record_count as usize
    }

    /// Bytes buffered so far, before compression (header included), for size-based flushing.
    pub fn encoded_len(&self) -> usize {
        self.buf.len()
    }

    /// Offset of the first record pushed, for the object key.
    pub fn first_offset(&self) -> Option<i64> {
        self.first
    }

    /// Offset of the last record pushed, for the object key.
    pub fn last_offset(&self) -> Option<i64> {
        self.last
    }

    /// The format being written.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The object body. A Skiff v1 body whose compressor fails (it writes to memory, so it
    /// should not) is stored uncompressed, and its header says so.
    pub fn finish(self) -> Vec<u8> {
        match self.format {
            Format::InstaclustrV0 => self.buf,
            Format::SkiffV1 => self.finish_skiff(),
        }
    }

    /// Compresses the records and fills in the Skiff header.
    fn finish_skiff(self) -> Vec<u8> {
        let raw = &self.buf[HEADER_LEN..];
        let raw_len = raw.len() as u64;
        let compressed = match self.compression {
            Compression::None => None,
            codec => {
                let mut out = Vec::with_capacity(HEADER_LEN + raw.len() / 2);
                out.resize(HEADER_LEN, 0);
                compress_into(codec, self.level, raw, out)
                    .ok()
                    .map(|out| (codec, out))
            }
        };
        let (compression, mut out) = compressed.unwrap_or((Compression::None, self.buf));
        let body = &out[HEADER_LEN..];
        let header = SkiffHeader {
            header_len: HEADER_LEN,
            compression,
            summary: self.tally.summary(),
            body_len: body.len() as u64,
            raw_len,
            body_crc: crc32c::crc32c(body),
        };
        out[..HEADER_LEN].copy_from_slice(&header.encode());
        out
    }
}
