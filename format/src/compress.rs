//! Body compression for Skiff v1, in each codec's standard stream format so a body cut out of an
//! object can be inspected with the `zstd`, `lz4` or `gzip` command-line tools.

use std::io::{self, Read, Write};

use crate::Compression;
use crate::error::FormatError;

/// Zstandard level when none is given: the library default, a good ratio at hundreds of MB/s.
pub const ZSTD_DEFAULT_LEVEL: i32 = 3;
/// Gzip level when none is given (zlib's default).
pub const GZIP_DEFAULT_LEVEL: i32 = 6;
/// Most bytes reserved up front for a decompressed body, whatever its header claims.
const MAX_PREALLOCATION: usize = 64 << 20;

/// Appends `raw` compressed with `compression` to `out`, at `level` (zstd and gzip; the codec's
/// default when `None`; out-of-range levels are clamped by the codec).
pub(crate) fn compress_into(
    compression: Compression,
    level: Option<i32>,
    raw: &[u8],
    mut out: Vec<u8>,
) -> io::Result<Vec<u8>> {
    match compression {
        Compression::None => {
            out.extend_from_slice(raw);
            Ok(out)
        }
        Compression::Zstd => {
            let level = level.unwrap_or(ZSTD_DEFAULT_LEVEL);
            let mut encoder = zstd::stream::write::Encoder::new(out, level)?;
            encoder.set_pledged_src_size(Some(raw.len() as u64))?;
            encoder.include_contentsize(true)?;
            encoder.write_all(raw)?;
            encoder.finish()
        }
        Compression::Lz4 => {
            let mut encoder = lz4_flex::frame::FrameEncoder::new(out);
            encoder.write_all(raw)?;
            encoder.finish().map_err(io::Error::other)
        }
        Compression::Gzip => {
            let level = level.unwrap_or(GZIP_DEFAULT_LEVEL).clamp(0, 9) as u32;
            let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::new(level));
            encoder.write_all(raw)?;
            encoder.finish()
        }
    }
}

/// Decompresses `body`, reading at most `raw_len + 1` bytes so a lying header cannot make it
/// allocate without bound; the caller checks the length.
pub(crate) fn decompress(
    compression: Compression,
    body: &[u8],
    raw_len: u64,
) -> Result<Vec<u8>, FormatError> {
    let mut out =
        Vec::with_capacity(usize::try_from(raw_len).map_or(0, |n| n.min(MAX_PREALLOCATION)));
    let limit = raw_len.saturating_add(1);
    let result = match compression {
        Compression::None => {
            out.extend_from_slice(body);
            Ok(body.len())
        }
        Compression::Zstd => zstd::stream::read::Decoder::with_buffer(body)
            .and_then(|decoder| decoder.take(limit).read_to_end(&mut out)),
        Compression::Lz4 => lz4_flex::frame::FrameDecoder::new(body)
            .take(limit)
            .read_to_end(&mut out),
        Compression::Gzip => flate2::read::GzDecoder::new(body)
            .take(limit)
            .read_to_end(&mut out),
    };
    result
        .map(|_| out)
        .map_err(|source| FormatError::Decompress {
            compression,
            source,
        })
}
