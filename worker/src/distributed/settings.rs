//! The distributed-mode settings of `worker.properties`, with Connect's names and defaults.

use super::DistributedError;
use super::group::MemberSettings;
use super::kafka_log::TopicSpec;
use super::security::GroupSecurity;
use crate::config::client::{ClientRole, client_config};
use crate::config::properties::Properties;
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
    /// Static membership: `group.instance.id`, else the pod's name and namespace when running
    /// in Kubernetes, so a restarted StatefulSet pod gets its own tasks back at once.
    pub instance_id: Option<String>,
    /// TLS and SASL of the group connection, from the worker's top-level client settings.
    pub security: GroupSecurity,
}

/// The worker's own client settings, translated, without any `consumer.`, `producer.` or
/// `admin.` override: what Connect's group member uses.
fn group_client_settings(
    worker: &WorkerConfig,
) -> Result<std::collections::BTreeMap<String, String>, DistributedError> {
    let invalid = |e: crate::config::ConfigError| DistributedError::Config(e.to_string());
    let top: Properties = worker
        .providers
        .resolve(&worker.raw)
        .map_err(invalid)?
        .into_iter()
        .filter(|(k, _)| {
            !["consumer.", "producer.", "admin."]
                .iter()
                .any(|p| k.starts_with(p))
        })
        .collect();
    Ok(client_config(&top, ClientRole::Admin)
        .map_err(invalid)?
        .settings)
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
        let instance_id = get("group.instance.id").or_else(|| {
            pod_instance_id(
                std::env::var_os("KUBERNETES_SERVICE_HOST").is_some(),
                std::env::var("HOSTNAME").ok(),
                std::env::var("POD_NAMESPACE").ok(),
            )
        });
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
            security: GroupSecurity::from_client_settings(&group_client_settings(worker)?)?,
        })
    }
}

impl DistributedSettings {
    /// The group membership settings, with the brokers from `bootstrap.servers`.
    pub fn member_settings(&self, worker: &WorkerConfig) -> MemberSettings {
        MemberSettings {
            bootstrap: super::group::bootstrap_addrs(&worker.bootstrap_servers),
            group_id: self.group_id.clone(),
            instance_id: self.instance_id.clone(),
            session_timeout: self.session_timeout,
            rebalance_timeout: self.rebalance_timeout,
            heartbeat_interval: self.heartbeat_interval,
            security: self.security.clone(),
        }
    }
}

/// The static member id of a worker in a Kubernetes pod: `<pod>.<namespace>` (the namespace
/// from `POD_NAMESPACE`, which the operator sets), or the pod name alone without it. Pod names
/// are unique only within a namespace: two clusters of the same name in two namespaces that
/// were given one `group.id` would otherwise fence each other's workers for good, instead of
/// forming one group as Apache Connect's workers would.
pub fn pod_instance_id(
    in_kubernetes: bool,
    hostname: Option<String>,
    namespace: Option<String>,
) -> Option<String> {
    let pod = hostname.filter(|h| !h.is_empty() && in_kubernetes)?;
    Some(match namespace.filter(|n| !n.is_empty()) {
        Some(ns) => format!("{pod}.{ns}"),
        None => pod,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pods_instance_id_names_its_namespace() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            pod_instance_id(true, s("connect-0"), s("prod")).as_deref(),
            Some("connect-0.prod")
        );
        assert_eq!(
            pod_instance_id(true, s("connect-0"), s("staging")).as_deref(),
            Some("connect-0.staging"),
            "the same pod name in another namespace is another member"
        );
        assert_eq!(
            pod_instance_id(true, s("connect-0"), None).as_deref(),
            Some("connect-0")
        );
        assert_eq!(
            pod_instance_id(true, s("connect-0"), s("")).as_deref(),
            Some("connect-0")
        );
        assert_eq!(
            pod_instance_id(false, s("laptop"), s("prod")),
            None,
            "not in Kubernetes"
        );
        assert_eq!(pod_instance_id(true, s(""), s("prod")), None);
    }

    #[test]
    fn the_group_logs_in_with_the_top_level_user_not_a_clients_override() {
        let jaas = |user: &str| {
            format!(
                "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"{user}\" password=\"pw\";"
            )
        };
        let props: Properties = [
            ("bootstrap.servers", "k:9092".to_owned()),
            ("group.id", "g".to_owned()),
            ("config.storage.topic", "c".to_owned()),
            ("offset.storage.topic", "o".to_owned()),
            ("status.storage.topic", "s".to_owned()),
            ("security.protocol", "SASL_PLAINTEXT".to_owned()),
            ("sasl.mechanism", "PLAIN".to_owned()),
            ("sasl.jaas.config", jaas("worker-user")),
            ("admin.sasl.jaas.config", jaas("admin-user")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let worker = WorkerConfig::from_properties(props).unwrap();
        let settings = DistributedSettings::from_worker(&worker).unwrap();
        let shown = format!("{:?}", settings.security);
        assert!(
            shown.contains("worker-user") && !shown.contains("admin-user"),
            "{shown}"
        );
    }
}
