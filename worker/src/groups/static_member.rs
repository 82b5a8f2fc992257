//! Static membership (KIP-345) for sink tasks' consumers. Each task's consumer joins its
//! connector's group with a `group.instance.id` of its own, [`instance_id`]: a restarted worker,
//! or the task's next owner after a worker died, takes the task's partitions back at once, where
//! a new dynamic member waits for the old one's session to end; and an old consumer of the same
//! task that still runs is fenced by the coordinator. A static member does not leave its group
//! when it closes, so a task that goes away for good (deleted, stopped, failed, or beyond a
//! lowered `tasks.max`) is taken out of the group by its instance id, [`remove`]; otherwise its
//! partitions would wait a whole session, and offsets could not be changed until then.

use super::brokers::{Brokers, GroupAccess, retriable};
use crate::distributed::group::{codes, named, s};
use crate::runtime::TaskError;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::{GroupId, LeaveGroupRequest};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// LeaveGroup v3 is the first to name members by instance id; v4 is served since Kafka 2.4.
const LEAVE_GROUP_VERSION: i16 = 4;
/// The longest instance id Kafka takes is 249 characters; this leaves room for the hash and the
/// task number.
const NAME_PART: usize = 200;
/// The waits before asking again while the group's coordinator is loading or moving. Short: the
/// removal runs inside a task's graceful stop.
const COORDINATOR_WAITS: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(300),
    Duration::from_millis(600),
];

/// The `group.instance.id` of a connector's sink task: `<connector>-<task>`, unique in the
/// connector's group and the same on every worker. Kafka takes only `[a-zA-Z0-9._-]` and at most
/// 249 characters, so a name with other characters, or a longer one, has them replaced by `_`
/// and is cut, with a hash of the real name added so two such names stay apart.
pub fn instance_id(connector: &str, task: u32) -> String {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if connector.chars().all(legal) && connector.len() <= NAME_PART {
        return format!("{connector}-{task}");
    }
    let cleaned: String = connector
        .chars()
        .map(|c| if legal(c) { c } else { '_' })
        .take(NAME_PART)
        .collect();
    let hash = Sha256::digest(connector.as_bytes());
    let short: String = hash[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{cleaned}-{short}-{task}")
}

/// Takes the static member `instance` out of `group`, whichever consumer holds it, as the admin
/// client's "remove members from consumer group" does: the group rebalances at once, and its
/// offsets can be changed once no member is left. A member or group that is not there is
/// already out.
pub async fn remove(access: &GroupAccess, group: &str, instance: &str) -> Result<(), TaskError> {
    let mut brokers = Brokers::new(access.security.clone());
    let nodes = brokers.cluster(&access.bootstrap).await?;
    let request = LeaveGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_members(vec![
            MemberIdentity::default()
                .with_member_id(s(""))
                .with_group_instance_id(Some(s(instance)))
                .with_reason(Some(s("the sink task stopped"))),
        ]);
    let mut waits = COORDINATOR_WAITS.iter();
    loop {
        let code = match brokers.coordinator_of(&nodes, group).await? {
            Ok(coordinator) => {
                let answer = brokers
                    .call(&coordinator, &request, LEAVE_GROUP_VERSION)
                    .await?;
                let code = match answer.error_code {
                    codes::NONE => answer.members.first().map_or(codes::NONE, |m| m.error_code),
                    code => code,
                };
                if gone(code) {
                    return Ok(());
                }
                code
            }
            Err(code) => code,
        };
        match waits.next() {
            Some(wait) if retriable(code) => tokio::time::sleep(*wait).await,
            _ => {
                return Err(TaskError::Kafka(format!(
                    "removing member {instance} from consumer group {group}: {}",
                    named(code)
                )));
            }
        }
    }
}

/// Whether an answer to a removal means the member is out: removed now, or not there.
fn gone(code: i16) -> bool {
    matches!(
        code,
        codes::NONE | codes::UNKNOWN_MEMBER_ID | codes::GROUP_ID_NOT_FOUND
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_name_gives_a_readable_id_per_task() {
        assert_eq!(instance_id("backup", 0), "backup-0");
        assert_eq!(instance_id("s3.backup_v2-eu", 12), "s3.backup_v2-eu-12");
    }

    #[test]
    fn other_characters_and_long_names_become_legal_ids_that_stay_apart() {
        let spaced = instance_id("my backup", 1);
        let underscored = instance_id("my_backup", 1);
        assert!(spaced.starts_with("my_backup-") && spaced.ends_with("-1"));
        assert_ne!(spaced, underscored);
        assert_ne!(instance_id("a/b", 0), instance_id("a:b", 0));
        let long = instance_id(&"x".repeat(400), 3);
        assert!(long.len() <= 249, "{}", long.len());
        assert_ne!(long, instance_id(&"x".repeat(401), 3));
        for id in [spaced, long, instance_id("ünïcode", 0)] {
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')),
                "{id}"
            );
        }
    }

    #[test]
    fn a_member_or_group_that_is_not_there_is_already_out() {
        assert!(gone(codes::NONE));
        assert!(gone(codes::UNKNOWN_MEMBER_ID));
        assert!(gone(codes::GROUP_ID_NOT_FOUND));
        assert!(!gone(codes::NOT_COORDINATOR));
        assert!(!gone(codes::FENCED_INSTANCE_ID));
    }
}
