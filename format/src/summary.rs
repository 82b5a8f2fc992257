//! The per-object summary Skiff v1 keeps in its header, so restores can skip whole objects.

/// Offsets and timestamp range of one Skiff v1 object (Instaclustr v0 has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Smallest offset in the object (its first, as records are in offset order); -1 when empty.
    pub first_offset: i64,
    /// Largest offset in the object; -1 when empty.
    pub last_offset: i64,
    /// Number of records.
    pub record_count: u64,
    /// Smallest record timestamp (including -1 for records without one); -1 when empty.
    pub min_timestamp: i64,
    /// Largest record timestamp; -1 when empty.
    pub max_timestamp: i64,
}

impl Summary {
    /// Whether the object may hold a record with a timestamp in `[from, to)`; when false a
    /// point-in-time restore can skip it without downloading its body.
    pub fn may_contain_timestamps(&self, from: i64, to: i64) -> bool {
        self.record_count > 0 && self.max_timestamp >= from && self.min_timestamp < to
    }

    /// Whether the object may hold a record with an offset in `[from, to]`.
    pub fn may_contain_offsets(&self, from: i64, to: i64) -> bool {
        self.record_count > 0 && self.last_offset >= from && self.first_offset <= to
    }
}

/// Accumulates a summary record by record, for the writer and for verifying a decoded body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tally {
    count: u64,
    min_offset: i64,
    max_offset: i64,
    min_timestamp: i64,
    max_timestamp: i64,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            count: 0,
            min_offset: i64::MAX,
            max_offset: i64::MIN,
            min_timestamp: i64::MAX,
            max_timestamp: i64::MIN,
        }
    }
}

impl Tally {
    /// Counts one record.
    pub(crate) fn add(&mut self, offset: i64, timestamp: i64) {
        self.count += 1;
        self.min_offset = self.min_offset.min(offset);
        self.max_offset = self.max_offset.max(offset);
        self.min_timestamp = self.min_timestamp.min(timestamp);
        self.max_timestamp = self.max_timestamp.max(timestamp);
    }

    /// The summary of the records counted so far.
    pub(crate) fn summary(&self) -> Summary {
        if self.count == 0 {
            return Summary {
                first_offset: -1,
                last_offset: -1,
                record_count: 0,
                min_timestamp: -1,
                max_timestamp: -1,
            };
        }
        Summary {
            first_offset: self.min_offset,
            last_offset: self.max_offset,
            record_count: self.count,
            min_timestamp: self.min_timestamp,
            max_timestamp: self.max_timestamp,
        }
    }
}
