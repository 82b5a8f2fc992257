//! Builds one backup object in memory, record by record (the backup's hot path).

use crate::compress::compress_into;
use crate::error::FormatError;
use crate::records;
use crate::skiff_header::{HEADER_LEN, SkiffHeader};
use crate::summary::Tally;
use crate::{Compression, Format, Record};

/// Bytes of each sample [`worth_compressing`] tries.
const SAMPLE_LEN: usize = 16 << 10;
/// Samples taken, spread over the body, so a body whose start differs from the rest is judged
/// by all of it.
const SAMPLES: usize = 4;
/// Largest compressed-to-raw ratio of the samples at which the body is still compressed: a body
/// that shrinks by less than a tenth is not worth the CPU, nor its reader's.
const WORTH_RATIO: f64 = 0.9;

/// Whether a body shrinks enough to compress it: a few samples are compressed with fast zstd,
/// which costs a small fraction of compressing the whole body. Small bodies are always
/// compressed.
fn worth_compressing(raw: &[u8]) -> bool {
    if raw.len() < 2 * SAMPLES * SAMPLE_LEN {
        return true;
    }
    let stride = (raw.len() - SAMPLE_LEN) / (SAMPLES - 1);
    let (mut sampled, mut packed) = (0usize, 0usize);
    for i in 0..SAMPLES {
        let sample = &raw[i * stride..i * stride + SAMPLE_LEN];
        match zstd::bulk::compress(sample, 1) {
            Ok(out) => packed += out.len(),
            Err(_) => return true,
        }
        sampled += sample.len();
    }
    (packed as f64) <= WORTH_RATIO * sampled as f64
}

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

    /// The object body. A Skiff v1 body is stored uncompressed, and its header says so, when it
    /// would not shrink (see `finish_skiff`) or its compressor fails (it writes to memory, so it
    /// should not).
    pub fn finish(self) -> Vec<u8> {
        match self.format {
            Format::InstaclustrV0 => self.buf,
            Format::SkiffV1 => self.finish_skiff(),
        }
    }

    /// Compresses the records and fills in the Skiff header. Records that would not shrink
    /// (random, encrypted or already compressed values) are stored as they are: compressing
    /// them cost the backup half its CPU for nothing (measured with random 1 KiB values: 9.6 s
    /// of worker CPU per GB before, 4.7 s/GB after).
    fn finish_skiff(self) -> Vec<u8> {
        let raw = &self.buf[HEADER_LEN..];
        let raw_len = raw.len() as u64;
        let compressed = match self.compression {
            Compression::None => None,
            _ if !worth_compressing(raw) => None,
            codec => {
                // Each codec reserves its own room for the output.
                let out = vec![0; HEADER_LEN];
                compress_into(codec, self.level, raw, out)
                    .ok()
                    .filter(|out| out.len() < self.buf.len())
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
