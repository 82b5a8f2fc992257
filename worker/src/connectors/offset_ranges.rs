//! `restore.offset.ranges`: restore only chosen offsets of chosen partitions, for instance the
//! records a bad deploy overwrote. Entries are `<topic>/<partition>:<from>-<to>`, a half-open
//! range `[from, to)` of the backed-up topic's offsets where either end may be left open, and
//! `*` as the partition matches every partition of the topic. Object names carry their offset
//! range, so objects outside are never downloaded.

use std::fmt;

/// A half-open range `[from, to)` of original offsets; `None` ends are open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OffsetRange {
    /// First offset restored.
    pub from: Option<i64>,
    /// First offset no longer restored.
    pub to: Option<i64>,
}

impl OffsetRange {
    /// Whether the record at `offset` is restored.
    pub fn contains(&self, offset: i64) -> bool {
        self.from.is_none_or(|f| offset >= f) && self.to.is_none_or(|t| offset < t)
    }

    /// Whether an object holding offsets `first..=last` has anything to restore.
    pub fn overlaps(&self, first: i64, last: i64) -> bool {
        self.from.is_none_or(|f| last >= f) && self.to.is_none_or(|t| first < t)
    }
}

impl fmt::Display for OffsetRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        write!(f, "{}-{}", end(self.from), end(self.to))
    }
}

/// One entry: a topic, a partition (`None`: every partition) and its range.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    topic: String,
    partition: Option<i32>,
    range: OffsetRange,
}

/// The parsed setting; empty when it is not set, which restores every offset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetRanges(Vec<Entry>);

/// The format, for error messages.
const FORMAT: &str = "<topic>/<partition>:<from>-<to>, e.g. orders/0:1000-2000 or orders/*:5000-";

impl OffsetRanges {
    /// Parses `restore.offset.ranges`; the error names the entry and the expected format.
    pub fn parse(value: &str) -> Result<Self, String> {
        let mut entries: Vec<Entry> = Vec::new();
        for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let bad = |why: &str| format!("'{item}': {why}; expected {FORMAT}");
            let (tp, range) = item.rsplit_once(':').ok_or_else(|| bad("no ':'"))?;
            let (topic, partition) = tp
                .rsplit_once('/')
                .ok_or_else(|| bad("no '/' between topic and partition"))?;
            if topic.is_empty() {
                return Err(bad("empty topic"));
            }
            let partition = match partition {
                "*" => None,
                p => Some(
                    p.parse::<i32>()
                        .ok()
                        .filter(|p| *p >= 0)
                        .ok_or_else(|| bad("the partition must be a number or *"))?,
                ),
            };
            let (from, to) = range
                .split_once('-')
                .ok_or_else(|| bad("no '-' between the offsets"))?;
            let offset = |s: &str| -> Result<Option<i64>, String> {
                match s.trim() {
                    "" => Ok(None),
                    s => s
                        .parse::<i64>()
                        .ok()
                        .filter(|o| *o >= 0)
                        .map(Some)
                        .ok_or_else(|| bad("offsets must be numbers of 0 or more")),
                }
            };
            let range = OffsetRange {
                from: offset(from)?,
                to: offset(to)?,
            };
            if let (Some(f), Some(t)) = (range.from, range.to)
                && f >= t
            {
                return Err(bad(
                    "the range is empty (it is [from, to), so to must exceed from)",
                ));
            }
            if entries
                .iter()
                .any(|e| e.topic == topic && e.partition == partition)
            {
                return Err(bad("this partition is listed twice"));
            }
            entries.push(Entry {
                topic: topic.to_owned(),
                partition,
                range,
            });
        }
        Ok(OffsetRanges(entries))
    }

    /// Whether the setting restricts anything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The range of a partition: its own entry, else its topic's `*` entry; every offset when
    /// the setting is empty; `None` (not restored) when the setting names other partitions only.
    pub fn for_partition(&self, topic: &str, partition: i32) -> Option<OffsetRange> {
        if self.0.is_empty() {
            return Some(OffsetRange::default());
        }
        let find = |p: Option<i32>| {
            self.0
                .iter()
                .find(|e| e.topic == topic && e.partition == p)
                .map(|e| e.range)
        };
        find(Some(partition)).or_else(|| find(None))
    }

    /// Entries that match none of the backed-up partitions `found`, written as given.
    pub fn unmatched(&self, found: &[(String, i32)]) -> Vec<String> {
        self.0
            .iter()
            .filter(|e| {
                !found
                    .iter()
                    .any(|(t, p)| *t == e.topic && e.partition.is_none_or(|ep| ep == *p))
            })
            .map(|e| {
                let p = e.partition.map_or("*".to_owned(), |p| p.to_string());
                format!("{}/{p}", e.topic)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(from: Option<i64>, to: Option<i64>) -> OffsetRange {
        OffsetRange { from, to }
    }

    #[test]
    fn entries_parse_with_open_ends_and_wildcards() {
        let r = OffsetRanges::parse("orders/0:100-200, orders/*:5000-, pay.ments/3:-10").unwrap();
        assert_eq!(
            r.for_partition("orders", 0),
            Some(range(Some(100), Some(200)))
        );
        assert_eq!(r.for_partition("orders", 7), Some(range(Some(5000), None)));
        assert_eq!(r.for_partition("pay.ments", 3), Some(range(None, Some(10))));
        assert_eq!(r.for_partition("pay.ments", 2), None, "not listed");
        assert_eq!(r.for_partition("other", 0), None);
        let all = OffsetRanges::parse(" ").unwrap();
        assert!(all.is_empty());
        assert_eq!(all.for_partition("x", 1), Some(OffsetRange::default()));
    }

    #[test]
    fn ranges_are_half_open() {
        let r = range(Some(100), Some(200));
        assert!(!r.contains(99) && r.contains(100) && r.contains(199) && !r.contains(200));
        assert!(r.overlaps(0, 100) && r.overlaps(199, 300) && r.overlaps(120, 130));
        assert!(!r.overlaps(0, 99) && !r.overlaps(200, 300));
        assert!(OffsetRange::default().overlaps(0, 0));
        assert_eq!(r.to_string(), "100-200");
        assert_eq!(range(Some(5), None).to_string(), "5-");
    }

    #[test]
    fn bad_entries_name_themselves_and_the_format() {
        for (value, why) in [
            ("orders", "no ':'"),
            ("orders:1-2", "no '/'"),
            ("orders/x:1-2", "number or *"),
            ("orders/0:12", "no '-'"),
            ("orders/0:a-2", "numbers of 0 or more"),
            ("orders/0:5-5", "range is empty"),
            ("orders/0:1-2,orders/0:3-4", "listed twice"),
            ("/0:1-2", "empty topic"),
        ] {
            let e = OffsetRanges::parse(value).unwrap_err();
            assert!(
                e.contains(why) && e.contains("expected <topic>/<partition>"),
                "{value}: {e}"
            );
        }
    }

    #[test]
    fn entries_without_a_backed_up_partition_are_found() {
        let r = OffsetRanges::parse("orders/0:1-2,orders/9:1-2,gone/*:1-").unwrap();
        let found = [("orders".to_owned(), 0), ("orders".to_owned(), 1)];
        assert_eq!(r.unmatched(&found), ["orders/9", "gone/*"]);
    }
}
