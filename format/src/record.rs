//! The record model shared by every format.

/// One Kafka record as a backup stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The record's offset in its source partition.
    pub offset: i64,
    /// Milliseconds since the epoch, or -1 when the record has none.
    pub timestamp: i64,
    /// What the timestamp means (Skiff v1 stores it; Instaclustr v0 does not).
    pub timestamp_type: TimestampType,
    /// The key; `None` is a null key, distinct from an empty one.
    pub key: Option<Vec<u8>>,
    /// The value; `None` is a tombstone, distinct from an empty value.
    pub value: Option<Vec<u8>>,
    /// The headers in their original order (keys may repeat).
    pub headers: Vec<Header>,
}

/// One record header, its value kept as exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The header key (Kafka header keys are strings).
    pub key: String,
    /// The value; `None` is a null value, distinct from an empty one.
    pub value: Option<Vec<u8>>,
}

/// Kafka's timestamp types, so a restore can tell producer time from broker time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// No timestamp (Kafka's timestamp -1).
    #[default]
    NotAvailable,
    /// Set by the producer.
    CreateTime,
    /// Set by the broker when it appended the record.
    LogAppendTime,
}

impl TimestampType {
    /// The code Skiff v1 stores in a record's attributes byte.
    pub(crate) fn code(self) -> u8 {
        match self {
            TimestampType::NotAvailable => 0,
            TimestampType::CreateTime => 1,
            TimestampType::LogAppendTime => 2,
        }
    }

    /// The type a stored code stands for, `None` for codes no version defines.
    pub(crate) fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(TimestampType::NotAvailable),
            1 => Some(TimestampType::CreateTime),
            2 => Some(TimestampType::LogAppendTime),
            _ => None,
        }
    }
}
