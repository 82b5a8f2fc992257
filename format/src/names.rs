//! Format and compression names as connector configs spell them.

use std::fmt;
use std::str::FromStr;

/// Which object format to write; `decode` recognises both on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Instaclustr's "version 0", byte for byte, for tools that read only it.
    InstaclustrV0,
    /// Skiff's own format: compression, checksums, timestamp types and a summary header.
    #[default]
    SkiffV1,
}

/// How a Skiff v1 object body is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Stored as is.
    None,
    /// Zstandard frame (the default: best ratio for its speed).
    #[default]
    Zstd,
    /// LZ4 frame.
    Lz4,
    /// Gzip member.
    Gzip,
}

/// A config value that names no known format or compression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}: expected one of {expected}")]
pub struct UnknownNameError {
    /// "format" or "compression".
    pub what: &'static str,
    /// The value as given.
    pub value: String,
    /// The accepted names.
    pub expected: &'static str,
}

impl Format {
    /// The canonical config name.
    pub fn name(self) -> &'static str {
        match self {
            Format::InstaclustrV0 => "instaclustr-v0",
            Format::SkiffV1 => "skiff-v1",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = UnknownNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "instaclustr-v0" => Ok(Format::InstaclustrV0),
            "skiff-v1" | "skiff" => Ok(Format::SkiffV1),
            _ => Err(UnknownNameError {
                what: "format",
                value: s.to_owned(),
                expected: "instaclustr-v0, skiff-v1, skiff",
            }),
        }
    }
}

impl Compression {
    /// The canonical config name.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Zstd => "zstd",
            Compression::Lz4 => "lz4",
            Compression::Gzip => "gzip",
        }
    }

    /// The code Skiff v1 stores in its header.
    pub(crate) fn code(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Zstd => 1,
            Compression::Lz4 => 2,
            Compression::Gzip => 3,
        }
    }

    /// The compression a stored code stands for, `None` for unknown codes.
    pub(crate) fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Compression::None),
            1 => Some(Compression::Zstd),
            2 => Some(Compression::Lz4),
            3 => Some(Compression::Gzip),
            _ => None,
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Compression {
    type Err = UnknownNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Compression::None),
            "zstd" => Ok(Compression::Zstd),
            "lz4" => Ok(Compression::Lz4),
            "gzip" => Ok(Compression::Gzip),
            _ => Err(UnknownNameError {
                what: "compression",
                value: s.to_owned(),
                expected: "none, zstd, lz4, gzip",
            }),
        }
    }
}
