//! Taking a sink task's previous consumer out of its group before the task's new consumer joins.
//! A consumer killed with its worker (SIGKILL, a lost node, an OOM kill) stays in the group until
//! its session ends, and a rebalance waits for it: the task's partitions sat unread that long
//! after the restarted worker started the task again. Each task's consumer
//! has a client id of its own (`connector-consumer-<connector>-<task>`), so the task finds its
//! previous consumer among the group's members and removes it with LeaveGroup, as Kafka's admin
//! client removes members; the group rebalances at once. The consumers stay dynamic members:
//! librdkafka's static members (KIP-345) fail for good with FENCED_INSTANCE_ID when a commit
//! follows a session that timed out during a broker restart (seen in `broker_restart.rs`).

use super::brokers::{Brokers, GroupAccess, wait_to_retry};
use crate::distributed::group::{codes, named, removed_or_gone, s};
use crate::runtime::TaskError;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::{DescribeGroupsRequest, GroupId, LeaveGroupRequest};
use std::time::Duration;

/// DescribeGroups v5 and LeaveGroup v4 (which names members to remove), served since Kafka
/// 2.4; the coordinator lookup before them needs Kafka 3.0.
const DESCRIBE_GROUPS_VERSION: i16 = 5;
const LEAVE_GROUP_VERSION: i16 = 4;
/// The waits before asking again while the group's coordinator is loading or moving. Short: a
/// task waits for this before it consumes.
const COORDINATOR_WAITS: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(300),
    Duration::from_millis(600),
];

/// Removes every member of `group` whose client id is `client_id`, and says how many there
/// were. A group that does not exist yet has none.
pub async fn remove(
    access: &GroupAccess,
    group: &str,
    client_id: &str,
) -> Result<usize, TaskError> {
    let mut brokers = Brokers::new(access.security.clone());
    let nodes = brokers.cluster(&access.bootstrap).await?;
    let mut waits = COORDINATOR_WAITS.iter();
    loop {
        match try_remove(&mut brokers, &nodes, group, client_id).await? {
            Ok(removed) => return Ok(removed),
            Err(code) if wait_to_retry(&mut waits, code).await => {}
            Err(code) => {
                return Err(TaskError::Kafka(format!(
                    "removing consumer {client_id} from consumer group {group}: {}",
                    named(code)
                )));
            }
        }
    }
}

/// One try of [`remove`]: the number removed, or the error code of the coordinator's lookup or
/// of its answers.
async fn try_remove(
    brokers: &mut Brokers,
    nodes: &[String],
    group: &str,
    client_id: &str,
) -> Result<Result<usize, i16>, TaskError> {
    let coordinator = match brokers.coordinator_of(nodes, group).await? {
        Ok(coordinator) => coordinator,
        Err(code) => return Ok(Err(code)),
    };
    let described = brokers
        .call(
            &coordinator,
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(s(group))]),
            DESCRIBE_GROUPS_VERSION,
        )
        .await?;
    let Some(g) = described.groups.first() else {
        return Ok(Ok(0));
    };
    match g.error_code {
        codes::NONE => {}
        codes::GROUP_ID_NOT_FOUND => return Ok(Ok(0)),
        code => return Ok(Err(code)),
    }
    let previous: Vec<MemberIdentity> = g
        .members
        .iter()
        .filter(|m| m.client_id.as_str() == client_id)
        .map(|m| MemberIdentity::default().with_member_id(m.member_id.clone()))
        .collect();
    if previous.is_empty() {
        return Ok(Ok(0));
    }
    let count = previous.len();
    let answer = brokers
        .call(
            &coordinator,
            &LeaveGroupRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_members(previous),
            LEAVE_GROUP_VERSION,
        )
        .await?;
    if !removed_or_gone(answer.error_code) {
        return Ok(Err(answer.error_code));
    }
    match answer
        .members
        .iter()
        .find(|m| !removed_or_gone(m.error_code))
    {
        Some(refused) => Ok(Err(refused.error_code)),
        None => Ok(Ok(count)),
    }
}
