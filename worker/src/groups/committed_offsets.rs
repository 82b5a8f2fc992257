//! Consumer groups' committed offsets, read with a few batched requests over one connection per
//! broker. [`sample`]: every group's offsets on the backed-up partitions, through ListGroups to
//! each broker, one FindCoordinator for all groups, and OffsetFetch for many groups at once to
//! each coordinator. A librdkafka client per group meant a client (threads, connections, a
//! login) for each group in the cluster at every sample: 17 s for 120 groups, so a cluster with
//! a thousand groups never finished one within the sampling's time limit. [`of_group`]: one
//! group's offsets on whatever partitions it has any, as a sink connector's offsets are read.

use super::brokers::{Brokers, kafka, retriable, wait_to_retry};
use crate::connectors::backup_metadata::GroupOffsets;
use crate::distributed::group::{codes, named, s};
use crate::distributed::security::GroupSecurity;
use crate::runtime::TaskError;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::offset_fetch_response::OffsetFetchResponseGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, OffsetFetchRequest, TopicName};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tracing::warn;

/// Versions every broker since Kafka 3.0 serves: OffsetFetch v8 carries many groups in one
/// request.
const LIST_GROUPS_VERSION: i16 = 3;
const OFFSET_FETCH_VERSION: i16 = 8;
/// The waits before asking again for groups whose coordinator was loading or had moved.
const RETRY_WAITS: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];
/// The waits before asking again for one group whose coordinator is not ready: on a new
/// cluster, creating the offsets topic alone takes seconds, which a librdkafka client waited out.
const GROUP_RETRY_WAITS: [Duration; 6] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
];
/// At most this many group-partition pairs are asked for in one OffsetFetch, which keeps a
/// response under the connection's 64 MiB limit however many partitions are backed up, even
/// with the broker's largest commit metadata (`offset.metadata.max.bytes`, 4 KiB) on each.
const PAIRS_PER_FETCH: usize = 10_000;
/// A warning names at most this many groups.
const GROUPS_NAMED: usize = 20;

/// Groups left out without a word: those the worker's principal may not describe (as groups it
/// cannot see would be), and those gone since they were listed or that hold no offsets (a share
/// group answers "not found").
fn left_out(code: i16) -> bool {
    code == ResponseError::GroupAuthorizationFailed.code() || code == codes::GROUP_ID_NOT_FOUND
}

impl Brokers {
    /// The names of the groups every broker coordinates; a broker still loading its groups is
    /// asked again.
    async fn groups(&mut self, brokers: &[String]) -> Result<BTreeSet<String>, TaskError> {
        let mut names = BTreeSet::new();
        for addr in brokers {
            let mut waits = RETRY_WAITS.iter();
            loop {
                let listed = self
                    .call(addr, &ListGroupsRequest::default(), LIST_GROUPS_VERSION)
                    .await?;
                match listed.error_code {
                    codes::NONE => {
                        names.extend(listed.groups.iter().map(|g| g.group_id.to_string()));
                        break;
                    }
                    code if wait_to_retry(&mut waits, code).await => {}
                    code => {
                        return Err(kafka(format!(
                            "listing the consumer groups of broker {addr}: {}",
                            named(code)
                        )));
                    }
                }
            }
        }
        Ok(names)
    }

    /// Each group's coordinator; groups whose coordinator is not known yet go to `retry`.
    async fn coordinators(
        &mut self,
        nodes: &[String],
        groups: &[String],
        retry: &mut Vec<String>,
    ) -> Result<BTreeMap<String, Vec<String>>, TaskError> {
        let mut by_coordinator: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (group, at) in self.find_coordinators(nodes, groups).await? {
            match at {
                Ok(coordinator) => by_coordinator.entry(coordinator).or_default().push(group),
                Err(code) if retriable(code) => retry.push(group),
                Err(code) if left_out(code) => {}
                Err(code) => warn!("no coordinator for consumer group {group}: {}", named(code)),
            }
        }
        Ok(by_coordinator)
    }

    /// Asks one coordinator for its groups' offsets on `topics`; groups it no longer
    /// coordinates, or could not answer for, go to `retry`.
    async fn fetch(
        &mut self,
        coordinator: &str,
        groups: &[String],
        topics: &BTreeMap<String, Vec<i32>>,
        out: &mut Vec<GroupOffsets>,
        retry: &mut Vec<String>,
    ) {
        let wanted: Vec<OffsetFetchRequestTopics> = topics
            .iter()
            .map(|(t, ps)| {
                OffsetFetchRequestTopics::default()
                    .with_name(TopicName(s(t)))
                    .with_partition_indexes(ps.clone())
            })
            .collect();
        let pairs: usize = topics.values().map(Vec::len).sum();
        for batch in groups.chunks((PAIRS_PER_FETCH / pairs.max(1)).max(1)) {
            let request = OffsetFetchRequest::default().with_groups(
                batch
                    .iter()
                    .map(|g| {
                        OffsetFetchRequestGroup::default()
                            .with_group_id(GroupId(s(g)))
                            .with_topics(Some(wanted.clone()))
                    })
                    .collect(),
            );
            let answer = match self.call(coordinator, &request, OFFSET_FETCH_VERSION).await {
                Ok(answer) => answer,
                Err(e) => {
                    warn!("reading committed offsets from {coordinator} failed, asking again: {e}");
                    retry.extend_from_slice(batch);
                    continue;
                }
            };
            for g in answer.groups {
                let group = g.group_id.to_string();
                match g.error_code {
                    codes::NONE => {}
                    code if retriable(code) => {
                        retry.push(group);
                        continue;
                    }
                    code if left_out(code) => continue,
                    code => {
                        warn!("reading consumer group {group}'s offsets: {}", named(code));
                        continue;
                    }
                }
                let offsets: BTreeMap<String, i64> = committed(&g)
                    .map(|((topic, partition), offset)| (format!("{topic}/{partition}"), offset))
                    .collect();
                if !offsets.is_empty() {
                    out.push(GroupOffsets { group, offsets });
                }
            }
        }
    }
}

/// Committed offsets of every consumer group but `skip_group` on `topics`' partitions. Groups
/// without any committed offset there are left out; so are groups this worker may not read.
pub async fn sample(
    bootstrap: &[String],
    security: GroupSecurity,
    topics: &BTreeMap<String, Vec<i32>>,
    skip_group: &str,
) -> Result<Vec<GroupOffsets>, TaskError> {
    let mut brokers = Brokers::new(security);
    let nodes = brokers.cluster(bootstrap).await?;
    let mut pending: Vec<String> = brokers
        .groups(&nodes)
        .await?
        .into_iter()
        .filter(|g| g != skip_group && !g.is_empty())
        .collect();
    let mut out = Vec::new();
    let mut waits = RETRY_WAITS.iter();
    while !pending.is_empty() {
        let mut retry = Vec::new();
        let by_coordinator = brokers.coordinators(&nodes, &pending, &mut retry).await?;
        for (coordinator, groups) in &by_coordinator {
            brokers
                .fetch(coordinator, groups, topics, &mut out, &mut retry)
                .await;
        }
        pending = retry;
        match waits.next() {
            Some(wait) if !pending.is_empty() => tokio::time::sleep(*wait).await,
            _ => break,
        }
    }
    if !pending.is_empty() {
        let more = pending.len().saturating_sub(GROUPS_NAMED);
        warn!(
            "the offsets of {} consumer group(s) were not read this time, their coordinators were moving or loading: {}{}",
            pending.len(),
            pending[..pending.len().min(GROUPS_NAMED)].join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    out.sort_by(|a, b| a.group.cmp(&b.group));
    Ok(out)
}

/// Why [`of_group`] has no answer.
#[derive(Debug, thiserror::Error)]
pub enum GroupOffsetsError {
    /// The brokers could not be asked: a connection, TLS or the login failed, or an answer
    /// could not be read (a broker too old for the request's version).
    #[error(transparent)]
    Unreachable(#[from] TaskError),
    /// The cluster answered with an error for the group, after retries where it may pass.
    #[error("reading the committed offsets of consumer group {group}: {reason}")]
    Refused { group: String, reason: String },
}

/// Every committed offset of `group`, by topic and partition: FindCoordinator, then one
/// OffsetFetch that names no topics, so the coordinator answers with each partition the group
/// has an offset on, as Apache Connect's admin client reads a sink connector's offsets. A group
/// without offsets, or none at all, has an empty map.
pub async fn of_group(
    bootstrap: &[String],
    security: GroupSecurity,
    group: &str,
) -> Result<BTreeMap<(String, i32), i64>, GroupOffsetsError> {
    let mut brokers = Brokers::new(security);
    let nodes = brokers.cluster(bootstrap).await?;
    let mut waits = GROUP_RETRY_WAITS.iter();
    loop {
        match brokers.offsets_of(&nodes, group).await? {
            Ok(offsets) => return Ok(offsets),
            Err(code) if wait_to_retry(&mut waits, code).await => {}
            Err(code) => {
                return Err(GroupOffsetsError::Refused {
                    group: group.to_string(),
                    reason: named(code),
                });
            }
        }
    }
}

impl Brokers {
    /// One try of [`of_group`]: the offsets, or the error code of the coordinator's lookup or
    /// of its answer.
    async fn offsets_of(
        &mut self,
        nodes: &[String],
        group: &str,
    ) -> Result<Result<BTreeMap<(String, i32), i64>, i16>, TaskError> {
        let coordinator = match self.coordinator_of(nodes, group).await? {
            Ok(coordinator) => coordinator,
            Err(code) => return Ok(Err(code)),
        };
        let request = OffsetFetchRequest::default().with_groups(vec![
            OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s(group)))
                .with_topics(None),
        ]);
        let answer = self
            .call(&coordinator, &request, OFFSET_FETCH_VERSION)
            .await?;
        let Some(g) = answer.groups.first() else {
            return Err(kafka(format!("{coordinator} answered for no group")));
        };
        match g.error_code {
            codes::NONE => {}
            codes::GROUP_ID_NOT_FOUND => return Ok(Ok(BTreeMap::new())),
            code => return Ok(Err(code)),
        }
        Ok(Ok(committed(g).collect()))
    }
}

/// The offsets a group's answer holds, by topic and partition; partitions that answered an
/// error or hold no offset are left out.
fn committed(group: &OffsetFetchResponseGroup) -> impl Iterator<Item = ((String, i32), i64)> + '_ {
    group.topics.iter().flat_map(|t| {
        t.partitions
            .iter()
            .filter(|p| p.error_code == codes::NONE && p.committed_offset >= 0)
            .map(move |p| ((t.name.to_string(), p.partition_index), p.committed_offset))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_sorted_into_retry_skip_and_warn() {
        assert!(retriable(codes::COORDINATOR_LOAD_IN_PROGRESS));
        assert!(retriable(codes::NOT_COORDINATOR));
        assert!(!retriable(codes::GROUP_ID_NOT_FOUND));
        assert!(left_out(30));
        assert!(left_out(codes::GROUP_ID_NOT_FOUND));
        assert!(!left_out(codes::NOT_COORDINATOR));
    }
}
