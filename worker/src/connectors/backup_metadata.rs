//! What a restore needs besides the records, kept beside them under `<prefix>_skiff/`: each
//! backed-up topic's partition count and its topic-level configs (`topics/<topic>.json`), and the
//! committed offsets of the consumer groups that read those topics, sampled periodically by the
//! backup.
//!
//! A group's offsets are kept per topic (`group-offsets/<group>/<topic>.json`): each backup
//! task samples the topics it reads, and with `tasks.max` above one, a single file per group
//! (`groups/<group>.json`, the layout before 2026-11-27) was overwritten by each task with its
//! own topics only, so a restore moved the group on some topics and not others. Restores still
//! read that older file, below what the per-topic files say.

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

/// Folder of every group's per-topic offsets.
fn group_offsets_folder(prefix: &str) -> String {
    format!("{prefix}{METADATA_FOLDER}/group-offsets/")
}

/// Key of a group's offsets on one topic (a topic name has no `/`; a group name may).
pub fn group_topic_key(prefix: &str, group: &str, topic: &str) -> String {
    format!("{}{group}/{topic}.json", group_offsets_folder(prefix))
}

/// Key of a group's offsets on every topic, as backups before the per-topic layout wrote them.
fn legacy_group_key(prefix: &str, group: &str) -> String {
    format!("{prefix}{METADATA_FOLDER}/groups/{group}.json")
}

/// The groups whose offsets the backup holds, in either layout.
pub async fn group_names(store: &Store, prefix: &str) -> Result<Vec<String>, TaskError> {
    let folder = group_offsets_folder(prefix);
    let legacy = format!("{prefix}{METADATA_FOLDER}/groups/");
    let mut names: Vec<String> = store
        .list_keys(&folder, None)
        .await?
        .iter()
        .filter_map(|k| {
            let (group, _topic) = k
                .strip_prefix(&folder)?
                .strip_suffix(".json")?
                .rsplit_once('/')?;
            Some(group.to_string())
        })
        .collect();
    names.extend(
        store
            .list_keys(&legacy, None)
            .await?
            .iter()
            .filter_map(|k| {
                k.strip_prefix(&legacy)?
                    .strip_suffix(".json")
                    .map(str::to_string)
            }),
    );
    names.sort();
    names.dedup();
    Ok(names)
}

/// A group's offsets on every backed-up topic: its per-topic files over the older single file;
/// `None` when the backup holds none.
pub async fn read_group(
    store: &Store,
    prefix: &str,
    group: &str,
) -> Result<Option<GroupOffsets>, TaskError> {
    let mut found: Option<GroupOffsets> = read(store, &legacy_group_key(prefix, group)).await?;
    let folder = format!("{}{group}/", group_offsets_folder(prefix));
    for key in store.list_keys(&folder, None).await? {
        let per_topic = key
            .strip_prefix(&folder)
            .is_some_and(|rest| rest.ends_with(".json") && !rest.contains('/'));
        if !per_topic {
            continue;
        }
        if let Some(topic) = read::<GroupOffsets>(store, &key).await? {
            found
                .get_or_insert_with(|| GroupOffsets {
                    group: group.to_string(),
                    offsets: BTreeMap::new(),
                })
                .offsets
                .extend(topic.offsets);
        }
    }
    Ok(found)
}

/// A group's offsets split by topic, as [`write`] stores them.
fn by_topic(g: &GroupOffsets) -> BTreeMap<&str, GroupOffsets> {
    let mut out: BTreeMap<&str, GroupOffsets> = BTreeMap::new();
    for (tp, offset) in &g.offsets {
        let topic = tp.rsplit_once('/').map_or(tp.as_str(), |(t, _)| t);
        out.entry(topic)
            .or_insert_with(|| GroupOffsets {
                group: g.group.clone(),
                offsets: BTreeMap::new(),
            })
            .offsets
            .insert(tp.clone(), *offset);
    }
    out
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
        for (topic, offsets) in by_topic(&g) {
            store
                .put_json(
                    &group_topic_key(&prefix, &g.group, topic),
                    &serde_json::to_value(&offsets).map_err(|e| TaskError::Other(e.to_string()))?,
                )
                .await?;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_groups_offsets_are_split_by_topic_and_keyed_under_their_group() {
        let g = GroupOffsets {
            group: "billing/eu".into(),
            offsets: BTreeMap::from([
                ("orders/0".to_string(), 5),
                ("orders/1".to_string(), 7),
                ("payments/0".to_string(), 9),
            ]),
        };
        let split = by_topic(&g);
        assert_eq!(split.len(), 2);
        assert_eq!(split["orders"].offsets.len(), 2);
        assert_eq!(split["payments"].offsets["payments/0"], 9);
        assert_eq!(split["payments"].group, "billing/eu");
        assert_eq!(
            group_topic_key("backups/", "billing/eu", "orders"),
            "backups/_skiff/group-offsets/billing/eu/orders.json"
        );
    }
}
