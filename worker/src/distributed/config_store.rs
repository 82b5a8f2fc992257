//! The config topic as a store (Connect's `KafkaConfigBackingStore`): connector
//! configurations, target states and committed task configurations, rebuilt from the topic
//! at start and kept current by its reader; writes go to the topic and become visible here
//! once read back, so every worker sees the same order of changes.

use super::DistributedError;
use super::kafka_log::{KafkaLog, TopicSpec};
use super::records::{self, ConfigRecord, RestartRequest};
use crate::config::properties::Properties;
use crate::config::worker::WorkerConfig;
use skiff_api::rest::TargetState;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{mpsc, watch};
use tracing::warn;

/// Everything the config topic says, as of `offset`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigSnapshot {
    /// Offset of the last record applied (`-1`: none), sent in the group metadata.
    pub offset: i64,
    pub connectors: BTreeMap<String, Properties>,
    /// Absent means running, as in Connect.
    pub targets: BTreeMap<String, TargetState>,
    /// Committed task configurations.
    pub tasks: BTreeMap<String, Vec<Properties>>,
    /// Task configurations written but not committed yet.
    pending: BTreeMap<String, BTreeMap<u32, Properties>>,
}

impl ConfigSnapshot {
    /// A connector's target state.
    pub fn target(&self, name: &str) -> TargetState {
        self.targets
            .get(name)
            .copied()
            .unwrap_or(TargetState::Running)
    }

    /// A connector's committed task configurations (none for an unknown connector).
    pub fn task_configs(&self, name: &str) -> &[Properties] {
        self.tasks.get(name).map_or(&[], Vec::as_slice)
    }

    /// Applies one record, as Connect does.
    pub fn apply(&mut self, record: ConfigRecord, offset: i64) {
        self.offset = offset;
        match record {
            ConfigRecord::Connector(name, Some(props)) => {
                self.connectors.insert(name, props);
            }
            ConfigRecord::Connector(name, None) => {
                self.connectors.remove(&name);
                self.targets.remove(&name);
                self.tasks.remove(&name);
                self.pending.remove(&name);
            }
            ConfigRecord::Task(name, n, props) => {
                self.pending.entry(name).or_default().insert(n, props);
            }
            ConfigRecord::Commit(name, count) => {
                let pending = self.pending.remove(&name).unwrap_or_default();
                let tasks: Option<Vec<Properties>> =
                    (0..count).map(|i| pending.get(&i).cloned()).collect();
                match tasks {
                    Some(t) => {
                        self.tasks.insert(name, t);
                    }
                    None => warn!(
                        connector = %name,
                        "ignoring a task commit whose task configurations are incomplete"
                    ),
                }
            }
            ConfigRecord::Target(name, Some(t)) => {
                self.targets.insert(name, t);
            }
            ConfigRecord::Target(name, None) => {
                self.targets.remove(&name);
            }
            ConfigRecord::Restart(..) | ConfigRecord::Other => {}
        }
    }
}

/// A restart request read from the topic after this worker started.
pub type Restart = (String, RestartRequest);

/// The config topic, read and written.
pub struct ConfigStore {
    log: KafkaLog,
    snapshot: watch::Receiver<Arc<ConfigSnapshot>>,
}

impl ConfigStore {
    /// Reads the topic to its end; restart requests written afterwards arrive on the receiver.
    pub async fn open(
        worker: &WorkerConfig,
        spec: TopicSpec,
    ) -> Result<(ConfigStore, mpsc::UnboundedReceiver<Restart>), DistributedError> {
        let (tx, snapshot) = watch::channel(Arc::new(ConfigSnapshot {
            offset: -1,
            ..ConfigSnapshot::default()
        }));
        let (restart_tx, restarts) = mpsc::unbounded_channel();
        let started = Arc::new(AtomicBool::new(false));
        let live = started.clone();
        let apply = Box::new(
            move |key: Option<&[u8]>, value: Option<&[u8]>, offset: i64| {
                let Some(key) = key.and_then(|k| std::str::from_utf8(k).ok()) else {
                    return;
                };
                match records::decode_config(key, value) {
                    Ok(ConfigRecord::Restart(name, r)) => {
                        if live.load(Ordering::Acquire) {
                            let _ = restart_tx.send((name, r));
                        }
                        tx.send_modify(|s| Arc::make_mut(s).offset = offset);
                    }
                    Ok(record) => tx.send_modify(|s| Arc::make_mut(s).apply(record, offset)),
                    Err(e) => warn!("{e}"),
                }
            },
        );
        let log = KafkaLog::open(worker, spec, apply).await?;
        started.store(true, Ordering::Release);
        Ok((ConfigStore { log, snapshot }, restarts))
    }

    /// The current state.
    pub fn snapshot(&self) -> Arc<ConfigSnapshot> {
        self.snapshot.borrow().clone()
    }

    /// Notified on every applied record.
    pub fn subscribe(&self) -> watch::Receiver<Arc<ConfigSnapshot>> {
        self.snapshot.clone()
    }

    /// Reads the topic to its end (after a write, so the change is visible here).
    pub async fn sync(&self) -> Result<Arc<ConfigSnapshot>, DistributedError> {
        self.log.read_to_end().await?;
        Ok(self.snapshot())
    }

    /// Writes a connector's configuration.
    pub async fn put_connector(
        &self,
        name: &str,
        config: &Properties,
    ) -> Result<(), DistributedError> {
        let v = records::properties_value(config);
        self.log
            .send(records::connector_key(name).as_bytes(), Some(&v))
            .await
    }

    /// Deletes a connector: its configuration and target state become tombstones.
    pub async fn delete_connector(&self, name: &str) -> Result<(), DistributedError> {
        self.log
            .send(records::connector_key(name).as_bytes(), None)
            .await?;
        self.log
            .send(records::target_key(name).as_bytes(), None)
            .await
    }

    /// Writes a target state.
    pub async fn put_target(
        &self,
        name: &str,
        target: TargetState,
    ) -> Result<(), DistributedError> {
        let v = records::target_value(target);
        self.log
            .send(records::target_key(name).as_bytes(), Some(&v))
            .await
    }

    /// Writes task configurations followed by the commit that makes them current.
    pub async fn put_tasks(
        &self,
        name: &str,
        tasks: &[Properties],
    ) -> Result<(), DistributedError> {
        for (i, t) in tasks.iter().enumerate() {
            let v = records::properties_value(t);
            self.log
                .send(records::task_key(name, i as u32).as_bytes(), Some(&v))
                .await?;
        }
        let v = records::commit_value(tasks.len() as u32);
        self.log
            .send(records::commit_key(name).as_bytes(), Some(&v))
            .await
    }

    /// Asks the workers that run the connector or its tasks to restart them.
    pub async fn request_restart(
        &self,
        name: &str,
        request: RestartRequest,
    ) -> Result<(), DistributedError> {
        let v = records::restart_value(request);
        self.log
            .send(records::restart_key(name).as_bytes(), Some(&v))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_apply_on_commit_and_deletion_clears_everything() {
        let mut s = ConfigSnapshot::default();
        let cfg: Properties = [("a".to_string(), "1".to_string())].into();
        s.apply(ConfigRecord::Connector("c".into(), Some(cfg.clone())), 0);
        s.apply(ConfigRecord::Task("c".into(), 0, cfg.clone()), 1);
        assert!(s.task_configs("c").is_empty());
        s.apply(ConfigRecord::Task("c".into(), 1, cfg.clone()), 2);
        s.apply(ConfigRecord::Commit("c".into(), 2), 3);
        assert_eq!(s.task_configs("c").len(), 2);
        s.apply(
            ConfigRecord::Target("c".into(), Some(TargetState::Paused)),
            4,
        );
        assert_eq!(s.target("c"), TargetState::Paused);
        // A commit naming more tasks than were written is ignored.
        s.apply(ConfigRecord::Commit("c".into(), 3), 5);
        assert_eq!(s.task_configs("c").len(), 2);
        s.apply(ConfigRecord::Connector("c".into(), None), 6);
        assert_eq!(s.target("c"), TargetState::Running);
        assert!(s.connectors.is_empty() && s.tasks.is_empty());
        assert_eq!(s.offset, 6);
    }
}
