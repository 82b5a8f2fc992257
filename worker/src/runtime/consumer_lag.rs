//! A sink task's consumer lag for `/metrics`: the records its partitions hold past what it has
//! read, from librdkafka's statistics (each assigned partition's `consumer_lag`). A backup that
//! falls behind, or stops, shows as a lag that grows, which is what an alert watches.

use super::consumer_stats::ConsumerStatistics;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A topic's partitions in a statistics report.
#[derive(Debug, Deserialize)]
pub struct Topic {
    #[serde(default)]
    pub partitions: BTreeMap<String, Partition>,
}

/// The part of a partition's statistics the lag is read from.
#[derive(Debug, Deserialize)]
pub struct Partition {
    /// -1 while unknown (not assigned, or no high watermark or position yet).
    #[serde(default = "unknown")]
    pub consumer_lag: i64,
}

fn unknown() -> i64 {
    -1
}

/// The summed lag of the partitions whose lag librdkafka knows; `None` when it knows none
/// (nothing assigned yet).
pub fn lag_of(stats: &ConsumerStatistics) -> Option<i64> {
    let known: Vec<i64> = stats
        .topics
        .values()
        .flat_map(|t| t.partitions.iter())
        // "-1" is librdkafka's internal partition for records not yet partitioned.
        .filter(|(id, p)| id.as_str() != "-1" && p.consumer_lag >= 0)
        .map(|(_, p)| p.consumer_lag)
        .collect();
    (!known.is_empty()).then(|| known.iter().sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lag(json: &[u8]) -> Option<i64> {
        ConsumerStatistics::parse(json).as_ref().and_then(lag_of)
    }

    #[test]
    fn sums_the_known_lags_of_real_partitions() {
        let stats = br#"{"name":"c","ts":1,"topics":{
            "orders":{"topic":"orders","partitions":{
                "0":{"partition":0,"consumer_lag":120,"hi_offset":500},
                "1":{"partition":1,"consumer_lag":-1},
                "-1":{"partition":-1,"consumer_lag":7}}},
            "refunds":{"topic":"refunds","partitions":{"3":{"partition":3,"consumer_lag":5}}}}}"#;
        assert_eq!(lag(stats), Some(125));
    }

    #[test]
    fn nothing_known_is_no_lag_rather_than_zero() {
        assert_eq!(lag(br#"{"name":"c","topics":{}}"#), None);
        assert_eq!(
            lag(br#"{"topics":{"t":{"partitions":{"0":{"consumer_lag":-1}}}}}"#),
            None
        );
        assert_eq!(lag(b"not json"), None);
    }
}
