//! A backup that falls behind its topic's retention (or meets `DeleteRecords`) never sees the
//! deleted records: the consumer silently resumes at the log's new start. The sink notices the
//! jump in offsets, asks the broker where the log starts, and reports the hole in the backup.

use crate::runtime::TopicPartition;

/// The warning for a backup whose next expected offset is `expected` while the partition's log
/// now starts at `log_start`; `None` when nothing was deleted before it was backed up (a jump
/// over compacted records or transaction markers is not a loss).
pub fn gap_warning(tp: &TopicPartition, expected: i64, log_start: i64) -> Option<String> {
    (log_start > expected).then(|| {
        format!(
            "records {expected}..{} of {}/{} were deleted from Kafka (retention or DeleteRecords) before they were backed up: the backup has a gap there. Raise retention.ms on '{}' or give the backup more throughput (tasks.max, worker resources)",
            log_start - 1,
            tp.0,
            tp.1,
            tp.0
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_log_start_past_the_expected_offset_is_a_gap() {
        let tp = ("orders".to_string(), 3);
        let w = gap_warning(&tp, 100, 150).unwrap();
        assert!(
            w.starts_with("records 100..149 of orders/3 were deleted"),
            "{w}"
        );
        assert!(w.contains("retention.ms"), "the fix is named: {w}");
        assert_eq!(gap_warning(&tp, 100, 100), None);
        assert_eq!(
            gap_warning(&tp, 100, 20),
            None,
            "compaction or markers only"
        );
    }
}
