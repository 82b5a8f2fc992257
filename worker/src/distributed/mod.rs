//! Distributed mode: workers with one `group.id` form a cluster through the brokers' group
//! coordinator, keep connector configurations, statuses and source offsets in three compacted
//! topics in Apache Kafka Connect's formats, and run the connectors and tasks the leader assigns
//! them. Requests that change the cluster go to the leader (forwarded as Connect does).

pub mod assign;
mod config_store;
pub mod forward;
pub(crate) mod group;
pub mod kafka_log;
mod member;
mod membership_health;
mod offset_log;
mod protocol;
mod records;
mod scram;
pub(crate) mod security;
mod settings;
mod start;
mod status_store;

pub use config_store::{ConfigSnapshot, ConfigStore};
pub use group::{Joined, JoinedMember};
pub use member::{GroupHandler, run as run_member};
pub use membership_health::MembershipHealth;
pub use offset_log::KafkaOffsetLog;
pub use protocol::{Allocation, Assignment, CONNECTOR_TASK, MemberMetadata};
pub use records::{RestartRequest, StatusKey, StatusValue};
pub use settings::DistributedSettings;
pub use start::start;
pub use status_store::StatusLog;
use thiserror::Error;

/// Why the distributed machinery failed.
#[derive(Debug, Error)]
pub enum DistributedError {
    /// A setting is missing or wrong.
    #[error("invalid worker configuration: {0}")]
    Config(String),
    /// A Kafka client call failed.
    #[error("Kafka error: {0}")]
    Kafka(String),
    /// The group protocol failed.
    #[error("group membership: {0}")]
    Group(String),
}

impl From<crate::config::ConfigError> for DistributedError {
    fn from(e: crate::config::ConfigError) -> Self {
        DistributedError::Config(e.to_string())
    }
}
