//! What a restore needs besides the records, kept beside them under `<prefix>_skiff/`: each
//! backed-up topic's partition count and its topic-level configs (`topics/<topic>.json`), and the
//! committed offsets of the consumer groups that read those topics (`groups/<group>.json`),
//! sampled periodically by the backup.

use super::s3_source::METADATA_FOLDER;
use crate::config::client::ClientRole;
use crate::config::connector_clients::ConnectorClients;
use crate::groups::brokers::GroupAccess;
use crate::groups::committed_offsets;
use crate::runtime::TaskError;
use crate::storage::Store;
use rdkafka::admin::{AdminClient, AdminOptions, ConfigSource, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use tracing::{debug, warn};

const KAFKA_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A backed-up topic's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicManifest {
    pub topic: String,
    pub partitions: i32,
    /// Topic-level settings that differ from the broker's defaults.
    pub configs: BTreeMap<String, String>,
}

/// A consumer group's committed offsets on backed-up topics, as `"<topic>/<partition>"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupOffsets {
    pub group: String,
    pub offsets: BTreeMap<String, i64>,
}

/// Key of a topic's manifest.
pub fn topic_key(prefix: &str, topic: &str) -> String {
    format!("{prefix}{METADATA_FOLDER}/topics/{topic}.json")
}

/// Key of a group's offsets.
pub fn group_key(prefix: &str, group: &str) -> String {
    format!("{prefix}{METADATA_FOLDER}/groups/{group}.json")
}

fn kafka(e: rdkafka::error::KafkaError) -> TaskError {
    TaskError::Kafka(e.to_string())
}

/// Reads the topics' partition counts and non-default configs from the cluster.
pub async fn topic_manifests(
    clients: &ConnectorClients,
    topics: &[String],
) -> Result<Vec<TopicManifest>, TaskError> {
    let admin: AdminClient<DefaultClientContext> = clients
        .client(ClientRole::Admin)?
        .to_rdkafka()
        .create()
        .map_err(kafka)?;
    let specs: Vec<ResourceSpecifier<'_>> =
        topics.iter().map(|t| ResourceSpecifier::Topic(t)).collect();
    let results = admin
        .describe_configs(
            &specs,
            &AdminOptions::new().request_timeout(Some(KAFKA_CALL_TIMEOUT)),
        )
        .await
        .map_err(kafka)?;
    let mut configs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (topic, r) in topics.iter().zip(results) {
        let entries = r
            .map_err(|e| TaskError::Kafka(format!("cannot describe topic {topic}: {e}")))?
            .entries;
        configs.insert(
            topic.clone(),
            entries
                .into_iter()
                .filter(|e| e.source == ConfigSource::DynamicTopic && !e.is_sensitive)
                .filter_map(|e| e.value.map(|v| (e.name, v)))
                .collect(),
        );
    }
    let cfg = clients.client(ClientRole::Admin)?.to_rdkafka();
    let names = topics.to_vec();
    let counts =
        tokio::task::spawn_blocking(move || -> Result<BTreeMap<String, i32>, TaskError> {
            let consumer: BaseConsumer = cfg.create().map_err(kafka)?;
            let mut out = BTreeMap::new();
            for t in &names {
                let md = consumer
                    .fetch_metadata(Some(t), KAFKA_CALL_TIMEOUT)
                    .map_err(kafka)?;
                out.insert(
                    t.clone(),
                    md.topics()
                        .first()
                        .map_or(0, |m| m.partitions().len() as i32),
                );
            }
            Ok(out)
        })
        .await
        .map_err(|e| TaskError::Other(e.to_string()))??;
    Ok(topics
        .iter()
        .map(|t| TopicManifest {
            topic: t.clone(),
            partitions: counts.get(t).copied().unwrap_or(0),
            configs: configs.remove(t).unwrap_or_default(),
        })
        .collect())
}

/// Committed offsets of every consumer group (but `skip_group`, the backup's own) on the
/// given topics' partitions, read over one connection per broker; through one librdkafka client
/// per group with SASL mechanisms that connection does not speak (GSSAPI, OAUTHBEARER), or when
/// it fails (a broker older than Kafka 3.0, a TLS setting only librdkafka understands).
pub async fn group_offsets(
    clients: &ConnectorClients,
    manifests: &[TopicManifest],
    skip_group: &str,
) -> Result<Vec<GroupOffsets>, TaskError> {
    match GroupAccess::of(clients) {
        Ok(access) => {
            let topics: BTreeMap<String, Vec<i32>> = manifests
                .iter()
                .map(|m| (m.topic.clone(), (0..m.partitions).collect()))
                .collect();
            match committed_offsets::sample(&access.bootstrap, access.security, &topics, skip_group)
                .await
            {
                Ok(sampled) => Ok(sampled),
                Err(e) => {
                    warn!(
                        "reading consumer group offsets in batches failed ({e}); reading them with a client per group"
                    );
                    group_offsets_per_client(clients, manifests, skip_group).await
                }
            }
        }
        Err(e) => {
            debug!("reading consumer group offsets with a client per group: {e}");
            group_offsets_per_client(clients, manifests, skip_group).await
        }
    }
}

/// [`group_offsets`] through one librdkafka client per consumer group in the cluster, for when
/// the batched read cannot be used.
pub async fn group_offsets_per_client(
    clients: &ConnectorClients,
    manifests: &[TopicManifest],
    skip_group: &str,
) -> Result<Vec<GroupOffsets>, TaskError> {
    let base = clients.client(ClientRole::Consumer)?.to_rdkafka();
    let manifests = manifests.to_vec();
    let skip = skip_group.to_string();
    tokio::task::spawn_blocking(move || -> Result<Vec<GroupOffsets>, TaskError> {
        let probe: BaseConsumer = base.create().map_err(kafka)?;
        let groups = probe
            .fetch_group_list(None, KAFKA_CALL_TIMEOUT)
            .map_err(kafka)?;
        let mut out = Vec::new();
        for g in groups.groups() {
            let name = g.name();
            if name == skip || name.is_empty() {
                continue;
            }
            let mut cfg = base.clone();
            cfg.set("group.id", name).set("enable.auto.commit", "false");
            let c: BaseConsumer = cfg.create().map_err(kafka)?;
            let mut tpl = TopicPartitionList::new();
            for m in &manifests {
                for p in 0..m.partitions {
                    tpl.add_partition(&m.topic, p);
                }
            }
            let committed = c
                .committed_offsets(tpl, KAFKA_CALL_TIMEOUT)
                .map_err(kafka)?;
            let offsets: BTreeMap<String, i64> = committed
                .elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    Offset::Offset(o) => Some((format!("{}/{}", e.topic(), e.partition()), o)),
                    _ => None,
                })
                .collect();
            if !offsets.is_empty() {
                out.push(GroupOffsets {
                    group: name.to_string(),
                    offsets,
                });
            }
        }
        Ok(out)
    })
    .await
    .map_err(|e| TaskError::Other(e.to_string()))?
}

/// Samples and writes the metadata of `topics` to the bucket.
pub async fn write(
    clients: &ConnectorClients,
    store: &Store,
    topics: &[String],
    own_group: &str,
) -> Result<(), TaskError> {
    let prefix = store.settings.prefix.clone();
    let manifests = topic_manifests(clients, topics).await?;
    for m in &manifests {
        store
            .put_json(
                &topic_key(&prefix, &m.topic),
                &serde_json::to_value(m).map_err(|e| TaskError::Other(e.to_string()))?,
            )
            .await?;
    }
    for g in group_offsets(clients, &manifests, own_group).await? {
        store
            .put_json(
                &group_key(&prefix, &g.group),
                &serde_json::to_value(&g).map_err(|e| TaskError::Other(e.to_string()))?,
            )
            .await?;
    }
    Ok(())
}

/// Reads a JSON document written by [`write`]; `None` when there is none.
pub async fn read<T: serde::de::DeserializeOwned>(
    store: &Store,
    key: &str,
) -> Result<Option<T>, TaskError> {
    let keys = store.list_keys(key, None).await?;
    if !keys.iter().any(|k| k == key) {
        return Ok(None);
    }
    let body = store.get(key).await?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| TaskError::Corrupt {
            key: key.to_string(),
            message: e.to_string(),
        })
}
