//! A sink consumer's statistics report from librdkafka (every
//! [`super::group_health::STATS_INTERVAL_MS`]), parsed once for both readers: the group's state
//! ([`super::group_health`]) and the partitions' lag ([`super::consumer_lag`]). A report lists
//! every assigned partition, so with big assignments one parse instead of two matters.

use super::consumer_lag::Topic;
use super::group_health::GroupState;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The parts of a report the task loop reads.
#[derive(Debug, Deserialize)]
pub struct ConsumerStatistics {
    /// librdkafka's monotonic clock, in microseconds.
    pub ts: Option<u64>,
    /// The consumer group's state; absent for clients outside a group.
    pub cgrp: Option<GroupState>,
    #[serde(default)]
    pub topics: BTreeMap<String, Topic>,
}

impl ConsumerStatistics {
    /// Parses one report; `None` when it does not parse (nothing is then read from it).
    pub fn parse(json: &[u8]) -> Option<Self> {
        serde_json::from_slice(json).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_time_the_group_and_the_partitions_and_ignores_the_rest() {
        let stats = ConsumerStatistics::parse(
            br#"{"name":"c","ts":7,"brokers":{},"cgrp":{"state":"up","join_state":"steady","rebalance_cnt":1},
                "topics":{"t":{"partitions":{"0":{"consumer_lag":3,"hi_offset":9}}}}}"#,
        )
        .unwrap();
        assert_eq!(stats.ts, Some(7));
        assert!(stats.cgrp.is_some());
        assert_eq!(stats.topics["t"].partitions["0"].consumer_lag, 3);
        assert!(ConsumerStatistics::parse(b"not json").is_none());
        let bare = ConsumerStatistics::parse(br#"{"name":"producer"}"#).unwrap();
        assert!(bare.ts.is_none() && bare.cgrp.is_none() && bare.topics.is_empty());
    }
}
