//! The standalone herder: one worker, configurations in memory, offsets in a local file.

use super::HerderError;
use super::active_topics::{ActiveTopics, not_stopped};
use super::checks;
use crate::config::connector_clients::ConnectorClients;
use crate::config::properties::Properties;
use crate::connectors::Plugin;
use crate::runtime::worker::Worker;
use skiff_api::rest::{
    ConfigInfos, ConnectorInfo, ConnectorOffset, ConnectorOffsets, ConnectorState,
    ConnectorStateInfo, State, TargetState, TaskId, TaskInfo, TaskState,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Mutex;
use tracing::{info, warn};

/// One connector as the herder keeps it.
#[derive(Debug, Clone)]
struct Entry {
    plugin: Plugin,
    /// As the user gave it, `${...}` references unresolved.
    config: Properties,
    target: TargetState,
    tasks: Vec<Properties>,
}

/// The standalone herder.
pub struct StandaloneHerder {
    worker: Arc<Worker>,
    connectors: Mutex<BTreeMap<String, Entry>>,
    /// Per sink connector, the committed offsets when its active topics were last reset.
    active_topics: ActiveTopics,
}

fn not_found(name: &str) -> HerderError {
    HerderError::NotFound(format!("Connector {name} not found"))
}

impl StandaloneHerder {
    /// The worker whose tasks this herder runs.
    pub fn worker(&self) -> &Worker {
        &self.worker
    }

    /// A herder over a worker.
    pub fn new(worker: Arc<Worker>) -> Self {
        StandaloneHerder {
            worker,
            connectors: Mutex::new(BTreeMap::new()),
            active_topics: ActiveTopics::default(),
        }
    }

    /// The worker id statuses report.
    pub fn worker_id(&self) -> &str {
        &self.worker.config.worker_id
    }

    /// Names of every connector.
    pub async fn connectors(&self) -> Vec<String> {
        self.connectors.lock().await.keys().cloned().collect()
    }

    /// `POST /connectors`: 409 when the name exists.
    pub async fn create(
        &self,
        name: &str,
        mut config: Properties,
        initial: Option<TargetState>,
    ) -> Result<ConnectorInfo, HerderError> {
        let plugin = checks::check_config(&self.worker.config, name, &mut config)?;
        let mut map = self.connectors.lock().await;
        if map.contains_key(name) {
            return Err(HerderError::Conflict(format!(
                "Connector {name} already exists"
            )));
        }
        let mut entry = Entry {
            plugin,
            config,
            target: initial.unwrap_or(TargetState::Running),
            tasks: Vec::new(),
        };
        self.apply(name, &mut entry).await;
        let info = info_of(name, &entry);
        map.insert(name.to_string(), entry);
        info!(connector = name, "connector created");
        Ok(info)
    }

    /// `PUT /connectors/{c}/config`: returns whether it was created.
    pub async fn put_config(
        &self,
        name: &str,
        mut config: Properties,
    ) -> Result<(bool, ConnectorInfo), HerderError> {
        let plugin = checks::check_config(&self.worker.config, name, &mut config)?;
        let mut map = self.connectors.lock().await;
        let (created, target) = match map.get(name) {
            Some(e) => (false, e.target),
            None => (true, TargetState::Running),
        };
        if !created {
            if let Some(e) = map.get(name)
                && e.config == config
            {
                return Ok((false, info_of(name, e)));
            }
            self.worker.stop_connector_tasks(name).await;
        }
        let mut entry = Entry {
            plugin,
            config,
            target,
            tasks: Vec::new(),
        };
        self.apply(name, &mut entry).await;
        let info = info_of(name, &entry);
        map.insert(name.to_string(), entry);
        info!(connector = name, created, "connector configuration written");
        Ok((created, info))
    }

    /// `PATCH /connectors/{c}/config`: merges; a null value removes the key.
    pub async fn patch_config(
        &self,
        name: &str,
        patch: BTreeMap<String, Option<String>>,
    ) -> Result<ConnectorInfo, HerderError> {
        let mut config = self.config(name).await?;
        for (k, v) in patch {
            match v {
                Some(v) => {
                    config.insert(k, v);
                }
                None => {
                    config.remove(&k);
                }
            }
        }
        self.put_config(name, config).await.map(|(_, info)| info)
    }

    /// Starts the connector per its target state: computes task configs and starts the tasks.
    async fn apply(&self, name: &str, entry: &mut Entry) {
        let status = &self.worker.status;
        match entry.target {
            TargetState::Stopped => {
                entry.tasks.clear();
                status.remove_connector(name);
                status.set_connector(name, State::Stopped, None);
                return;
            }
            TargetState::Paused => status.set_connector(name, State::Paused, None),
            TargetState::Running => status.set_connector(name, State::Running, None),
        }
        match checks::task_configs(&self.worker, entry.plugin, &entry.config).await {
            Ok(tasks) => entry.tasks = tasks,
            Err(e) => {
                warn!(connector = name, "connector failed: {e}");
                status.set_connector(name, State::Failed, Some(e));
                entry.tasks.clear();
                return;
            }
        }
        self.start_tasks(name, entry).await;
    }

    /// A running connector restarted: computes its task configurations again, as Connect's
    /// restarted connector instance does, and restarts its tasks with them when they changed (a
    /// restore finds the topics backed up since it started). Returns whether it did. A
    /// connector that cannot compute them shows FAILED, its tasks left running, as in Connect.
    async fn reconfigure(&self, name: &str, entry: &mut Entry) -> bool {
        let status = &self.worker.status;
        match checks::task_configs(&self.worker, entry.plugin, &entry.config).await {
            Ok(tasks) if tasks != entry.tasks => {
                info!(
                    connector = name,
                    tasks = tasks.len(),
                    "restarted connector: its task configurations changed; restarting its tasks"
                );
                self.worker.stop_connector_tasks(name).await;
                entry.tasks = tasks;
                status.set_connector(name, State::Running, None);
                self.start_tasks(name, entry).await;
                true
            }
            Ok(_) => {
                status.set_connector(name, State::Running, None);
                false
            }
            Err(e) => {
                warn!(connector = name, "restarted connector failed: {e}");
                status.set_connector(name, State::Failed, Some(e));
                false
            }
        }
    }

    /// Starts (or shows as paused) every task of the entry.
    async fn start_tasks(&self, name: &str, entry: &Entry) {
        let status = &self.worker.status;
        for (i, tc) in entry.tasks.iter().enumerate() {
            if entry.target == TargetState::Running {
                self.worker
                    .start_task(name, i as u32, entry.plugin, tc.clone())
                    .await;
            } else {
                status.set_task(name, i as u32, State::Paused, None);
            }
        }
    }

    /// The stored configuration.
    pub async fn config(&self, name: &str) -> Result<Properties, HerderError> {
        self.connectors
            .lock()
            .await
            .get(name)
            .map(|e| e.config.clone())
            .ok_or_else(|| not_found(name))
    }

    /// `GET /connectors/{c}`.
    pub async fn info(&self, name: &str) -> Result<ConnectorInfo, HerderError> {
        self.connectors
            .lock()
            .await
            .get(name)
            .map(|e| info_of(name, e))
            .ok_or_else(|| not_found(name))
    }

    /// `GET /connectors/{c}/tasks`.
    pub async fn tasks(&self, name: &str) -> Result<Vec<TaskInfo>, HerderError> {
        let map = self.connectors.lock().await;
        let e = map.get(name).ok_or_else(|| not_found(name))?;
        Ok(e.tasks
            .iter()
            .enumerate()
            .map(|(i, c)| TaskInfo {
                id: TaskId {
                    connector: name.to_string(),
                    task: i as u32,
                },
                config: c.clone(),
            })
            .collect())
    }

    /// `GET /connectors/{c}/status`.
    pub async fn status(&self, name: &str) -> Result<ConnectorStateInfo, HerderError> {
        let map = self.connectors.lock().await;
        let e = map.get(name).ok_or_else(|| {
            HerderError::NotFound(format!("No status found for connector {name}"))
        })?;
        Ok(self.status_of(name, e))
    }

    fn status_of(&self, name: &str, e: &Entry) -> ConnectorStateInfo {
        let st = &self.worker.status;
        let wid = self.worker_id().to_string();
        let version = Some(e.plugin.version().to_string());
        let c = st.connector(name);
        let tasks = (0..e.tasks.len() as u32)
            .map(|i| {
                let t = st.task(name, i);
                TaskState {
                    id: i,
                    state: t.as_ref().map_or(State::Unassigned, |t| t.state),
                    worker_id: wid.clone(),
                    version: version.clone(),
                    trace: t.and_then(|t| t.trace),
                }
            })
            .collect();
        ConnectorStateInfo {
            name: name.to_string(),
            connector: ConnectorState {
                state: c.as_ref().map_or(State::Unassigned, |c| c.state),
                worker_id: wid,
                version,
                trace: c.and_then(|c| c.trace),
            },
            tasks,
            connector_type: e.plugin.kind(),
        }
    }

    /// `GET /connectors/{c}/tasks/{t}/status`.
    pub async fn task_status(&self, name: &str, task: u32) -> Result<TaskState, HerderError> {
        let map = self.connectors.lock().await;
        let missing = || HerderError::NotFound(format!("No status found for task {name}-{task}"));
        let e = map.get(name).ok_or_else(missing)?;
        if task as usize >= e.tasks.len() {
            return Err(missing());
        }
        self.status_of(name, e)
            .tasks
            .into_iter()
            .nth(task as usize)
            .ok_or_else(missing)
    }

    /// Each task's progress document (restores report records, bytes and completion).
    pub async fn progress(
        &self,
        name: &str,
    ) -> Result<BTreeMap<u32, serde_json::Value>, HerderError> {
        if !self.connectors.lock().await.contains_key(name) {
            return Err(not_found(name));
        }
        Ok(self.worker.status.progress(name))
    }

    /// `DELETE /connectors/{c}`.
    pub async fn delete(&self, name: &str) -> Result<(), HerderError> {
        let mut map = self.connectors.lock().await;
        if map.remove(name).is_none() {
            return Err(not_found(name));
        }
        self.worker.stop_connector_tasks(name).await;
        self.worker.status.remove_connector(name);
        self.active_topics.forget(&self.worker, name).await;
        info!(connector = name, "connector deleted");
        Ok(())
    }

    /// `PUT .../pause|resume|stop`: idempotent target-state changes.
    pub async fn set_target(&self, name: &str, target: TargetState) -> Result<(), HerderError> {
        let mut map = self.connectors.lock().await;
        let entry = map
            .get_mut(name)
            .ok_or_else(|| HerderError::NotFound(format!("Unknown connector {name}")))?;
        if entry.target == target {
            return Ok(());
        }
        self.worker.stop_connector_tasks(name).await;
        entry.target = target;
        self.apply(name, entry).await;
        info!(connector = name, ?target, "target state changed");
        Ok(())
    }

    /// `POST /connectors/{c}/restart`: with `include_tasks`/`only_failed` returns the planned
    /// restarts (202), else restarts the connector instance only (204).
    pub async fn restart(
        &self,
        name: &str,
        include_tasks: bool,
        only_failed: bool,
    ) -> Result<Option<ConnectorStateInfo>, HerderError> {
        let mut map = self.connectors.lock().await;
        let entry = map
            .get_mut(name)
            .ok_or_else(|| HerderError::NotFound(format!("Unknown connector: {name}")))?;
        let before = self.status_of(name, entry);
        let connector_failed = before.connector.state == State::Failed;
        if !include_tasks && !only_failed {
            if entry.target == TargetState::Running && (connector_failed || entry.tasks.is_empty())
            {
                self.apply(name, entry).await;
            } else if entry.target == TargetState::Running {
                self.reconfigure(name, entry).await;
            } else {
                self.worker
                    .status
                    .set_connector(name, before.connector.state, None);
            }
            return Ok(None);
        }
        let mut planned = before.clone();
        let restart_connector = !only_failed || connector_failed;
        if restart_connector {
            planned.connector.state = State::Restarting;
        }
        let restart_tasks: Vec<u32> = before
            .tasks
            .iter()
            .filter(|t| include_tasks && (!only_failed || t.state == State::Failed))
            .map(|t| t.id)
            .collect();
        for t in &mut planned.tasks {
            if restart_tasks.contains(&t.id) {
                t.state = State::Restarting;
            }
        }
        if entry.target == TargetState::Running {
            if restart_connector && connector_failed {
                self.worker.stop_connector_tasks(name).await;
                self.apply(name, entry).await;
            } else if !(restart_connector && self.reconfigure(name, entry).await) {
                for id in restart_tasks {
                    if let Some(tc) = entry.tasks.get(id as usize).cloned() {
                        self.worker.start_task(name, id, entry.plugin, tc).await;
                    }
                }
            }
        }
        Ok(Some(planned))
    }

    /// `POST /connectors/{c}/tasks/{t}/restart`.
    pub async fn restart_task(&self, name: &str, task: u32) -> Result<(), HerderError> {
        let map = self.connectors.lock().await;
        let entry = map
            .get(name)
            .ok_or_else(|| HerderError::NotFound(format!("Unknown connector: {name}")))?;
        let tc = entry
            .tasks
            .get(task as usize)
            .cloned()
            .ok_or_else(|| HerderError::NotFound(format!("Unknown task: {name}-{task}")))?;
        if entry.target == TargetState::Running {
            self.worker.start_task(name, task, entry.plugin, tc).await;
        }
        Ok(())
    }

    /// Source offsets (from the offsets store) or sink offsets (from the consumer group).
    pub async fn offsets(&self, name: &str) -> Result<ConnectorOffsets, HerderError> {
        let sink = {
            let map = self.connectors.lock().await;
            let entry = map.get(name).ok_or_else(|| not_found(name))?;
            checks::sink_clients(&self.worker, Some(entry.plugin), &entry.config)?
        };
        if let Some(clients) = sink {
            return crate::herder::sink_offsets::list(&clients, name).await;
        }
        let offsets = self
            .worker
            .offsets
            .list(name)
            .into_iter()
            .map(|(p, o)| ConnectorOffset {
                partition: p,
                offset: Some(o),
            })
            .collect();
        Ok(ConnectorOffsets { offsets })
    }

    /// `GET /connectors/{c}/topics`: the topics a sink has consumed from since its topics were
    /// last reset (those its consumer group committed offsets for since then), sorted. Unknown
    /// connectors and source connectors have none, as in Connect.
    pub async fn active_topics(&self, name: &str) -> Result<Vec<String>, HerderError> {
        let sink = self.sink_clients(name).await?;
        self.active_topics.list(&self.worker, name, sink).await
    }

    /// `PUT /connectors/{c}/topics/reset`: forgets the active topics; a topic is listed again
    /// once the connector uses it anew.
    pub async fn reset_active_topics(&self, name: &str) -> Result<(), HerderError> {
        let sink = self.sink_clients(name).await?;
        self.active_topics.reset(&self.worker, name, sink).await
    }

    /// A sink's client settings; `None` for a source or an unknown connector.
    async fn sink_clients(&self, name: &str) -> Result<Option<ConnectorClients>, HerderError> {
        match self.connectors.lock().await.get(name) {
            Some(e) => checks::sink_clients(&self.worker, Some(e.plugin), &e.config),
            None => Ok(None),
        }
    }

    /// `PATCH`/`DELETE /connectors/{c}/offsets`: only while STOPPED, as in Kafka.
    pub async fn alter_offsets(
        &self,
        name: &str,
        changes: Option<Vec<ConnectorOffset>>,
    ) -> Result<String, HerderError> {
        let map = self.connectors.lock().await;
        let entry = map.get(name).ok_or_else(|| not_found(name))?;
        if entry.target != TargetState::Stopped {
            return Err(not_stopped(name));
        }
        let sink = checks::sink_clients(&self.worker, Some(entry.plugin), &entry.config)?;
        self.active_topics
            .alter_offsets(&self.worker, name, sink, changes)
            .await
    }

    /// `PUT /connector-plugins/{p}/config/validate`.
    pub async fn validate(
        &self,
        plugin_name: &str,
        config: &Properties,
    ) -> Result<ConfigInfos, HerderError> {
        checks::validate(&self.worker, plugin_name, config).await
    }

    /// Stops every task (worker shutdown), flushing and committing.
    pub async fn shutdown(&self) {
        self.worker.stop_all().await;
        if let Err(e) = self.worker.offsets.flush().await {
            warn!("could not write the offsets file at shutdown: {e}");
        }
    }
}

fn info_of(name: &str, e: &Entry) -> ConnectorInfo {
    ConnectorInfo {
        name: name.to_string(),
        config: e.config.clone(),
        tasks: (0..e.tasks.len() as u32)
            .map(|t| TaskId {
                connector: name.to_string(),
                task: t,
            })
            .collect(),
        connector_type: e.plugin.kind(),
    }
}
