//! The status topic as a store (Connect's `KafkaStatusBackingStore`): every worker publishes
//! the states of the connectors and tasks it runs; every worker reads all of them, so any
//! worker answers `/status` locally.

use super::DistributedError;
use super::kafka_log::{KafkaLog, TopicSpec};
use super::records::{self, StatusKey, StatusValue};
use crate::config::worker::WorkerConfig;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

type Table = Arc<Mutex<BTreeMap<StatusKey, StatusValue>>>;

/// The status topic, read and written.
pub struct StatusLog {
    log: KafkaLog,
    table: Table,
}

fn lock(t: &Table) -> MutexGuard<'_, BTreeMap<StatusKey, StatusValue>> {
    t.lock().unwrap_or_else(|p| p.into_inner())
}

impl StatusLog {
    /// Reads the topic to its end and keeps following it.
    pub async fn open(
        worker: &WorkerConfig,
        spec: TopicSpec,
    ) -> Result<StatusLog, DistributedError> {
        let table: Table = Arc::default();
        let t = table.clone();
        let apply = Box::new(
            move |key: Option<&[u8]>, value: Option<&[u8]>, _offset: i64| {
                let Some(k) = key
                    .and_then(|k| std::str::from_utf8(k).ok())
                    .and_then(StatusKey::decode)
                else {
                    return;
                };
                let parsed = value.and_then(|v| serde_json::from_slice::<StatusValue>(v).ok());
                match parsed {
                    Some(v) if v.rest_state().is_some() => {
                        lock(&t).insert(k, v);
                    }
                    _ => {
                        lock(&t).remove(&k);
                    }
                }
            },
        );
        let log = KafkaLog::open(worker, spec, apply).await?;
        Ok(StatusLog { log, table })
    }

    /// The last status of a connector or task, if any.
    pub fn get(&self, key: &StatusKey) -> Option<StatusValue> {
        lock(&self.table).get(key).cloned()
    }

    /// Every task status of a connector, by task id.
    pub fn tasks(&self, connector: &str) -> BTreeMap<u32, StatusValue> {
        lock(&self.table)
            .iter()
            .filter_map(|(k, v)| match k {
                StatusKey::Task(c, t) if c == connector => Some((*t, v.clone())),
                _ => None,
            })
            .collect()
    }

    /// Publishes a status, and records it here at once (the read-back confirms it).
    pub async fn put(&self, key: StatusKey, value: StatusValue) -> Result<(), DistributedError> {
        let bytes = records::status_value(&value);
        self.log.send(key.encode().as_bytes(), Some(&bytes)).await?;
        lock(&self.table).insert(key, value);
        Ok(())
    }

    /// Removes a status (the connector was deleted or has fewer tasks).
    pub async fn remove(&self, key: StatusKey) -> Result<(), DistributedError> {
        self.log.send(key.encode().as_bytes(), None).await?;
        lock(&self.table).remove(&key);
        Ok(())
    }
}
