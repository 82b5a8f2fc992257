//! The distributed-mode settings of `worker.properties`, with Connect's names and defaults.

use super::DistributedError;
use super::group::MemberSettings;
use super::kafka_log::TopicSpec;
use super::security::GroupSecurity;
use crate::config::client::ClientRole;
use crate::config::worker::WorkerConfig;
use std::time::Duration;

/// What a distributed worker needs beyond the common worker settings.
#[derive(Debug, Clone)]
pub struct DistributedSettings {
    pub group_id: String,
    pub config_topic: TopicSpec,
    pub offset_topic: TopicSpec,
    pub status_topic: TopicSpec,
    pub session_timeout: Duration,
    pub heartbeat_interval: Duration,
    pub rebalance_timeout: Duration,
    /// Static membership: `group.instance.id`, else the pod name (`HOSTNAME`) when running in
    /// Kubernetes, so a restarted StatefulSet pod gets its own tasks back at once.
    pub instance_id: Option<String>,
    /// TLS and SASL of the group connection, from the worker's client settings (with the
    /// `admin.` overrides, as the worker's other cluster-level clients).
    pub security: GroupSecurity,
}

impl DistributedSettings {
    /// Reads the settings; `group.id` and the three topic names are required, as in Connect.
    pub fn from_worker(worker: &WorkerConfig) -> Result<Self, DistributedError> {
        let raw = &worker.raw;
        let get = |k: &str| {
            raw.get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let required = |k: &str| {
            get(k).ok_or_else(|| {
                DistributedError::Config(format!("'{k}' is required in distributed mode"))
            })
        };
        let num = |k: &str, default: i64| -> Result<i64, DistributedError> {
            match get(k) {
                None => Ok(default),
                Some(v) => v.parse().map_err(|_| {
                    DistributedError::Config(format!("'{k}' must be an integer, not '{v}'"))
                }),
            }
        };
        let int = |k: &str, default: i64| -> Result<i32, DistributedError> {
            i32::try_from(num(k, default)?)
                .map_err(|_| DistributedError::Config(format!("'{k}' is out of range")))
        };
        let ms = |k: &str, default: i64| -> Result<Duration, DistributedError> {
            Ok(Duration::from_millis(num(k, default)?.max(1) as u64))
        };
        let instance_id = match get("group.instance.id") {
            Some(id) => Some(id),
            None if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => {
                std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty())
            }
            None => None,
        };
        Ok(DistributedSettings {
            group_id: required("group.id")?,
            config_topic: TopicSpec {
                name: required("config.storage.topic")?,
                partitions: 1,
                replication_factor: int("config.storage.replication.factor", 3)?,
            },
            offset_topic: TopicSpec {
                name: required("offset.storage.topic")?,
                partitions: int("offset.storage.partitions", 25)?,
                replication_factor: int("offset.storage.replication.factor", 3)?,
            },
            status_topic: TopicSpec {
                name: required("status.storage.topic")?,
                partitions: int("status.storage.partitions", 5)?,
                replication_factor: int("status.storage.replication.factor", 3)?,
            },
            session_timeout: ms("session.timeout.ms", 10_000)?,
            heartbeat_interval: ms("heartbeat.interval.ms", 3_000)?,
            rebalance_timeout: ms("rebalance.timeout.ms", 60_000)?,
            instance_id,
            security: GroupSecurity::from_client_settings(
                &worker
                    .client(ClientRole::Admin)
                    .map_err(|e| DistributedError::Config(e.to_string()))?
                    .settings,
            )?,
        })
    }
}

impl DistributedSettings {
    /// The group membership settings, with the brokers from `bootstrap.servers`.
    pub fn member_settings(&self, worker: &WorkerConfig) -> MemberSettings {
        MemberSettings {
            bootstrap: worker
                .bootstrap_servers
                .split(',')
                .map(|s| {
                    let s = s.trim();
                    s.split_once("://").map_or(s, |(_, addr)| addr).to_string()
                })
                .filter(|s| !s.is_empty())
                .collect(),
            group_id: self.group_id.clone(),
            instance_id: self.instance_id.clone(),
            session_timeout: self.session_timeout,
            rebalance_timeout: self.rebalance_timeout,
            heartbeat_interval: self.heartbeat_interval,
            security: self.security.clone(),
        }
    }
}
