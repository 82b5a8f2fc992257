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

/// Whether `new` replaces `current`. An UNASSIGNED from a worker that has left (older generation
/// than the current status, which another worker wrote) is stale: a stopping worker publishes it
/// after leaving the group, and it can reach the topic after the new owner reported RUNNING. It
/// is neither written nor read over the newer status (Connect's `putSafe` has the same rule).
fn supersedes(current: Option<&StatusValue>, new: &StatusValue) -> bool {
    !current.is_some_and(|cur| {
        new.state == "UNASSIGNED"
            && cur.worker_id != new.worker_id
            && cur.generation > new.generation
    })
}

/// Records `new` unless it is stale; whether it was recorded.
fn record(t: &Table, key: StatusKey, new: StatusValue) -> bool {
    let mut table = lock(t);
    if supersedes(table.get(&key), &new) {
        table.insert(key, new);
        true
    } else {
        false
    }
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
                        record(&t, k, v);
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

    /// Publishes a status, and records it here at once (the read-back confirms it); a stale
    /// UNASSIGNED (see `supersedes`) is not published.
    pub async fn put(&self, key: StatusKey, value: StatusValue) -> Result<(), DistributedError> {
        if !supersedes(lock(&self.table).get(&key), &value) {
            return Ok(());
        }
        let bytes = records::status_value(&value);
        self.log.send(key.encode().as_bytes(), Some(&bytes)).await?;
        record(&self.table, key, value);
        Ok(())
    }

    /// Removes a status (the connector was deleted or has fewer tasks).
    pub async fn remove(&self, key: StatusKey) -> Result<(), DistributedError> {
        self.log.send(key.encode().as_bytes(), None).await?;
        lock(&self.table).remove(&key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: &str, worker: &str, generation: i32) -> StatusValue {
        StatusValue {
            state: state.into(),
            trace: None,
            worker_id: worker.into(),
            generation,
        }
    }

    #[test]
    fn a_departed_workers_late_unassigned_does_not_hide_the_new_owner() {
        let t: Table = Arc::default();
        let key = StatusKey::Task("c".into(), 0);
        assert!(record(&t, key.clone(), status("RUNNING", "w2:8083", 5)));
        // w1 left at generation 4 and published UNASSIGNED after w2 took the task over.
        assert!(!record(&t, key.clone(), status("UNASSIGNED", "w1:8083", 4)));
        assert_eq!(lock(&t)[&key].state, "RUNNING");
        // Anything else still replaces it: the same worker, a newer generation, other states,
        // and a whole new cluster whose generations started again.
        assert!(record(&t, key.clone(), status("UNASSIGNED", "w2:8083", 5)));
        assert!(record(&t, key.clone(), status("RUNNING", "w1:8083", 6)));
        assert!(record(&t, key.clone(), status("FAILED", "w3:8083", 1)));
        assert!(record(&t, key.clone(), status("RUNNING", "w4:8083", 1)));
    }
}
