//! The standalone herder: one worker, configurations in memory, offsets in a local file.

use super::HerderError;
use crate::config::properties::Properties;
use crate::connectors::Plugin;
use crate::connectors::config_def::config_infos;
use crate::runtime::offsets::JsonMap;
use crate::runtime::worker::Worker;
use skiff_api::rest::{
    ConfigInfos, ConnectorInfo, ConnectorOffset, ConnectorOffsets, ConnectorState,
    ConnectorStateInfo, ConnectorType, State, TargetState, TaskId, TaskInfo, TaskState,
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
pub struct Herder {
    worker: Arc<Worker>,
    connectors: Mutex<BTreeMap<String, Entry>>,
    /// Per sink connector, the committed offsets when its active topics were last reset.
    topics_baseline: Mutex<BTreeMap<String, SinkOffsets>>,
}

/// Committed offsets of a sink's consumer group by (topic, partition).
type SinkOffsets = BTreeMap<(String, i64), i64>;

/// Connector names Connect refuses.
fn check_name(name: &str) -> Result<(), HerderError> {
    if name.trim().is_empty() {
        return Err(HerderError::BadRequest("Connector name is required".into()));
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(HerderError::BadRequest(format!(
            "Connector name {name:?} contains control characters, which are not allowed"
        )));
    }
    if name.contains('/') {
        return Err(HerderError::BadRequest(format!(
            "Connector name {name:?} contains '/', which cannot be used in REST paths"
        )));
    }
    Ok(())
}

fn not_found(name: &str) -> HerderError {
    HerderError::NotFound(format!("Connector {name} not found"))
}

/// The task class Apache Connect records in each task configuration (`task.class`).
fn task_class(plugin: Plugin) -> &'static str {
    match plugin {
        Plugin::S3Sink => "com.instaclustr.kafka.connect.s3.sink.AwsStorageSinkTask",
        Plugin::S3Source => "com.instaclustr.kafka.connect.s3.source.AwsStorageSourceTask",
        Plugin::FileSink => "org.apache.kafka.connect.file.FileStreamSinkTask",
        Plugin::FileSource => "org.apache.kafka.connect.file.FileStreamSourceTask",
    }
}

/// A sink's committed offsets as a map, from the offsets endpoint's shape.
fn sink_offsets(offsets: ConnectorOffsets) -> SinkOffsets {
    offsets
        .offsets
        .into_iter()
        .filter_map(|o| {
            let topic = o.partition.get("kafka_topic")?.as_str()?.to_string();
            let partition = o.partition.get("kafka_partition")?.as_i64()?;
            let offset = o.offset?.get("kafka_offset")?.as_i64()?;
            Some(((topic, partition), offset))
        })
        .collect()
}

impl Herder {
    /// A herder over a worker.
    pub fn new(worker: Arc<Worker>) -> Self {
        Herder {
            worker,
            connectors: Mutex::new(BTreeMap::new()),
            topics_baseline: Mutex::new(BTreeMap::new()),
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

    /// Validates a configuration the way create and update do: 400 with every error listed.
    fn check_config(&self, name: &str, config: &mut Properties) -> Result<Plugin, HerderError> {
        check_name(name)?;
        config.insert("name".into(), name.to_string());
        let class = config
            .get("connector.class")
            .ok_or_else(|| {
                HerderError::BadRequest(
                    "Connector config contains no connector type: set 'connector.class'".into(),
                )
            })?
            .clone();
        let plugin = Plugin::find(&class).ok_or_else(|| {
            HerderError::BadRequest(format!(
                "Failed to find any class that implements Connector and which name matches {class}, available connectors are: {}",
                Plugin::listings().iter().map(|p| format!("PluginDesc{{klass=class {}, type={}}}", p.class, p.plugin_type)).collect::<Vec<_>>().join(", ")
            ))
        })?;
        let errors = plugin.validate(config);
        if !errors.is_empty() {
            let msgs: Vec<String> = errors.iter().map(|(_, e)| e.clone()).collect();
            return Err(HerderError::BadRequest(format!(
                "Connector configuration is invalid and contains the following {} error(s):\n{}\nYou can also find the above list of errors at the endpoint `/connector-plugins/{{connectorType}}/config/validate`",
                msgs.len(),
                msgs.join("\n")
            )));
        }
        Ok(plugin)
    }

    /// `POST /connectors`: 409 when the name exists.
    pub async fn create(
        &self,
        name: &str,
        mut config: Properties,
        initial: Option<TargetState>,
    ) -> Result<ConnectorInfo, HerderError> {
        let plugin = self.check_config(name, &mut config)?;
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
        let plugin = self.check_config(name, &mut config)?;
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
        let max_tasks = entry
            .config
            .get("tasks.max")
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(1);
        let resolved = match self.worker.config.providers.resolve(&entry.config) {
            Ok(r) => r,
            Err(e) => {
                status.set_connector(name, State::Failed, Some(e.to_string()));
                return;
            }
        };
        match entry
            .plugin
            .task_configs(&entry.config, &resolved, max_tasks)
            .await
        {
            Ok(tasks) => {
                let class = task_class(entry.plugin);
                entry.tasks = tasks
                    .into_iter()
                    .map(|mut t| {
                        t.insert("task.class".into(), class.to_string());
                        t
                    })
                    .collect();
            }
            Err(e) => {
                warn!(connector = name, "connector failed: {e}");
                status.set_connector(name, State::Failed, Some(e.to_string()));
                entry.tasks.clear();
                return;
            }
        }
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
        self.topics_baseline.lock().await.remove(name);
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
            } else {
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

    /// `PUT /connector-plugins/{p}/config/validate`.
    pub async fn validate(
        &self,
        plugin_name: &str,
        config: &Properties,
    ) -> Result<ConfigInfos, HerderError> {
        let class = config.get("connector.class").ok_or_else(|| {
            HerderError::BadRequest("Connector config must contain 'connector.class'".into())
        })?;
        let plugin = Plugin::find(plugin_name)
            .ok_or_else(|| HerderError::NotFound(format!("Unknown plugin {plugin_name}.")))?;
        if Plugin::find(class) != Some(plugin) {
            return Err(HerderError::BadRequest(format!(
                "Included connector type {class} does not match request type {plugin_name}"
            )));
        }
        // Connect names the result after `connector.class` as given (an alias stays an alias).
        let class = class.clone();
        let mut errors = plugin.rule_errors(config);
        let defs = plugin.defs();
        let fields_ok = defs
            .iter()
            .all(|d| d.check(config.get(d.name).map(String::as_str)).is_empty());
        if matches!(plugin, Plugin::S3Sink | Plugin::S3Source)
            && fields_ok
            && errors.is_empty()
            && let Some(e) = self.check_bucket(config).await
        {
            errors.push(("aws.s3.bucket".into(), e));
        }
        Ok(config_infos(&class, &defs, config, &errors))
    }

    /// Reaches the bucket with the connector's credentials; the error says what to fix.
    async fn check_bucket(&self, config: &Properties) -> Option<String> {
        let resolved = match self.worker.config.providers.resolve(config) {
            Ok(r) => r,
            Err(e) => return Some(e.to_string()),
        };
        let store = match crate::storage::S3Settings::from_config(&resolved) {
            Ok(s) => match s.connect().await {
                Ok(store) => store,
                Err(e) => return Some(e.to_string()),
            },
            Err(e) => return Some(e.to_string()),
        };
        match tokio::time::timeout(std::time::Duration::from_secs(15), store.check_bucket()).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some(format!(
                "bucket '{}' did not answer within 15 s: check s3.endpoint and the network",
                store.bucket()
            )),
        }
    }

    /// Source offsets (from the offsets store) or sink offsets (from the consumer group).
    pub async fn offsets(&self, name: &str) -> Result<ConnectorOffsets, HerderError> {
        let map = self.connectors.lock().await;
        let entry = map.get(name).ok_or_else(|| not_found(name))?;
        if entry.plugin.kind() == ConnectorType::Sink {
            return crate::herder::sink_offsets::list(&self.worker.config, name).await;
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
        let is_sink = self
            .connectors
            .lock()
            .await
            .get(name)
            .is_some_and(|e| e.plugin.kind() == ConnectorType::Sink);
        if !is_sink {
            return Ok(Vec::new());
        }
        let now = sink_offsets(crate::herder::sink_offsets::list(&self.worker.config, name).await?);
        let baseline = self
            .topics_baseline
            .lock()
            .await
            .get(name)
            .cloned()
            .unwrap_or_default();
        let mut topics: Vec<String> = now
            .into_iter()
            .filter(|(tp, o)| baseline.get(tp).is_none_or(|b| o > b))
            .map(|((t, _), _)| t)
            .collect();
        topics.dedup();
        Ok(topics)
    }

    /// `PUT /connectors/{c}/topics/reset`: forgets the active topics; a topic is listed again
    /// once the sink consumes from it anew.
    pub async fn reset_active_topics(&self, name: &str) -> Result<(), HerderError> {
        let is_sink = self
            .connectors
            .lock()
            .await
            .get(name)
            .is_some_and(|e| e.plugin.kind() == ConnectorType::Sink);
        if is_sink {
            let now =
                sink_offsets(crate::herder::sink_offsets::list(&self.worker.config, name).await?);
            self.topics_baseline
                .lock()
                .await
                .insert(name.to_string(), now);
        }
        Ok(())
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
            return Err(HerderError::BadRequest(
                "Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/".to_string() + name + "/stop' endpoint",
            ));
        }
        let reset = changes.is_none();
        if entry.plugin.kind() == ConnectorType::Sink {
            crate::herder::sink_offsets::alter(&self.worker.config, name, changes).await?;
            self.topics_baseline.lock().await.remove(name);
        } else {
            match changes {
                None => self.worker.offsets.remove_connector(name),
                Some(list) => {
                    let updates: Vec<(JsonMap, Option<JsonMap>)> =
                        list.into_iter().map(|o| (o.partition, o.offset)).collect();
                    self.worker.offsets.put(name, updates);
                }
            }
            self.worker
                .offsets
                .flush()
                .await
                .map_err(|e| HerderError::Internal(e.to_string()))?;
        }
        Ok(if reset {
            "The offsets for this connector have been reset successfully"
        } else {
            "The offsets for this connector have been altered successfully"
        }
        .to_string())
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
