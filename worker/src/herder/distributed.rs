//! The distributed herder: connector configurations, target states and task configurations
//! live in the config topic, statuses in the status topic, source offsets in the offsets topic.
//! REST writes reach the leader (the forwarding layer sends them there) and become records;
//! every worker applies the records it reads and runs what the group assigned to it.

use super::HerderError;
use super::active_topics::{ActiveTopics, not_stopped};
use super::busy::{Busy, STUCK_AFTER};
use super::checks;
use crate::config::connector_clients::ConnectorClients;
use crate::config::properties::Properties;
use crate::connectors::Plugin;
use crate::distributed::{
    Allocation, Assignment, CONNECTOR_TASK, ConfigSnapshot, ConfigStore, DistributedSettings,
    GroupHandler, Joined, KafkaOffsetLog, MemberMetadata, MembershipHealth, RestartRequest,
    StatusKey, StatusLog, StatusValue, assign,
};
use crate::runtime::worker::Worker;
use skiff_api::rest::{
    ConfigInfos, ConnectorInfo, ConnectorOffset, ConnectorOffsets, ConnectorState,
    ConnectorStateInfo, ConnectorType, State, TargetState, TaskId, TaskInfo, TaskState,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex as SyncMutex};
use std::time::Duration;
use tokio::sync::{Mutex, Notify, watch};
use tracing::{info, warn};

/// Who leads the group, as this worker last heard.
#[derive(Debug, Clone, Default)]
pub struct Leadership {
    /// The leader's REST URL; `None` while no assignment was received.
    pub leader_url: Option<String>,
    pub is_leader: bool,
    pub generation: i32,
}

/// The units the last assignment covered, and each member's allocation by instance or member id.
type LeaderMemory = (BTreeSet<(String, i32)>, BTreeMap<String, Allocation>);

/// What this worker runs and has published.
#[derive(Default)]
struct Local {
    /// Connectors and tasks the group assigned to this worker.
    owned: Allocation,
    /// Running tasks and the configuration they run with.
    running: BTreeMap<(String, u32), Properties>,
    /// Per owned connector, the configuration its task configurations were computed from.
    generated: BTreeMap<String, Properties>,
}

/// The distributed herder.
pub struct DistributedHerder {
    worker: Arc<Worker>,
    /// This worker's advertised REST URL, `http://host:port/`.
    url: String,
    /// `host:port`, what statuses name as `worker_id`.
    worker_id: String,
    config: ConfigStore,
    status: StatusLog,
    offsets_log: Arc<KafkaOffsetLog>,
    local: Mutex<Local>,
    /// A copy of `local.owned` for the JoinGroup metadata: the membership loop must not wait on
    /// (or, worse, report nothing because of) the lock a starting or stopping task holds, since
    /// the leader gives work a member does not report to others.
    reported: SyncMutex<Allocation>,
    /// What statuses this worker last published, to publish only changes.
    published: SyncMutex<BTreeMap<StatusKey, (State, Option<String>)>>,
    leadership: watch::Sender<Leadership>,
    /// As leader: the units the last assignment covered and what each member ended up owning
    /// (by `group.instance.id` when it has one), so a restarted static member gets its own back.
    leader_memory: SyncMutex<LeaderMemory>,
    /// The memory of an assignment computed for a generation whose SyncGroup has not succeeded
    /// yet; it becomes `leader_memory` only once it has. A failed sync (a rebalance that started
    /// again) delivered nothing, and remembering it made the next generation believe members
    /// already owned work they never received: a connector created while a second worker
    /// joined was never started.
    pending_memory: SyncMutex<Option<(i32, LeaderMemory)>>,
    rejoin: Arc<Notify>,
    /// Set when the worker shuts down: the loops end and no work is started any more.
    stop: watch::Sender<bool>,
    /// Set once the worker's tasks are stopped and their statuses published: the member leaves
    /// the group, so no other worker starts a task while this one still runs it.
    leave: watch::Sender<bool>,
    active_topics: ActiveTopics,
    member: SyncMutex<Option<tokio::task::JoinHandle<()>>>,
    /// Whether this worker is in its group, for `GET /health`.
    membership: Arc<MembershipHealth>,
    /// The stage of the work done under `local`, for `/health`.
    busy: Busy,
}

fn not_found(name: &str) -> HerderError {
    HerderError::NotFound(format!("Connector {name} not found"))
}

fn kafka(e: crate::distributed::DistributedError) -> HerderError {
    HerderError::Internal(e.to_string())
}

/// "task a-0" or "tasks a-0, b-1", for the stages `/health` names.
fn task_list(tasks: &[(String, u32)]) -> String {
    let names: Vec<String> = tasks.iter().map(|(c, t)| format!("{c}-{t}")).collect();
    let noun = if names.len() == 1 { "task" } else { "tasks" };
    format!("{noun} {}", names.join(", "))
}

fn not_leader() -> HerderError {
    HerderError::Conflict(
        "Cannot complete request because of a conflicting operation (e.g. worker rebalance)".into(),
    )
}

fn plugin_of(config: &Properties) -> Option<Plugin> {
    config.get("connector.class").and_then(|c| Plugin::find(c))
}

fn units_of(snapshot: &ConfigSnapshot) -> BTreeSet<(String, i32)> {
    let counts: BTreeMap<String, usize> = snapshot
        .connectors
        .keys()
        .map(|c| (c.clone(), snapshot.task_configs(c).len()))
        .collect();
    assign::units(&counts)
}

fn flatten(a: &Allocation) -> BTreeSet<(String, i32)> {
    a.iter()
        .flat_map(|(c, ts)| ts.iter().map(move |t| (c.clone(), *t)))
        .collect()
}

fn allocation(units: &BTreeSet<(String, i32)>) -> Allocation {
    let mut a = Allocation::new();
    for (c, t) in units {
        a.entry(c.clone()).or_default().insert(*t);
    }
    a
}

/// The parts of a distributed worker the herder is built from.
pub struct Parts {
    pub worker: Arc<Worker>,
    pub url: String,
    pub worker_id: String,
    pub config: ConfigStore,
    pub restarts: tokio::sync::mpsc::UnboundedReceiver<(String, RestartRequest)>,
    pub status: StatusLog,
    pub offsets_log: Arc<KafkaOffsetLog>,
    pub settings: DistributedSettings,
}

impl DistributedHerder {
    /// The worker whose tasks this herder runs.
    pub fn worker(&self) -> &Worker {
        &self.worker
    }

    /// Starts the herder: joins the group and follows the config topic.
    pub fn start(parts: Parts) -> Arc<Self> {
        let (stop, stop_rx) = watch::channel(false);
        let (leave, leave_rx) = watch::channel(false);
        let herder = Arc::new(DistributedHerder {
            worker: parts.worker,
            url: parts.url,
            worker_id: parts.worker_id,
            config: parts.config,
            status: parts.status,
            offsets_log: parts.offsets_log,
            local: Mutex::new(Local::default()),
            reported: SyncMutex::new(Allocation::new()),
            published: SyncMutex::new(BTreeMap::new()),
            leadership: watch::channel(Leadership::default()).0,
            leader_memory: SyncMutex::new(Default::default()),
            pending_memory: SyncMutex::new(None),
            rejoin: Arc::new(Notify::new()),
            stop,
            leave,
            active_topics: ActiveTopics::default(),
            member: SyncMutex::new(None),
            membership: Arc::new(MembershipHealth::new(
                &parts.settings.group_id,
                parts.settings.rebalance_timeout,
                parts.settings.session_timeout,
            )),
            busy: Busy::default(),
        });
        let member_settings = parts.settings.member_settings(&herder.worker.config);
        let handle = tokio::spawn(crate::distributed::run_member(
            member_settings,
            herder.clone(),
            herder.rejoin.clone(),
            herder.membership.clone(),
            leave_rx,
        ));
        *herder.member.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
        tokio::spawn(herder.clone().follow_config(stop_rx.clone()));
        tokio::spawn(herder.clone().follow_restarts(parts.restarts));
        tokio::spawn(herder.clone().publish_statuses(stop_rx));
        herder
    }

    /// `Err` with the reason when this worker has been out of its group too long, or stuck in
    /// one stage of its work, to be healthy.
    pub fn health(&self) -> Result<(), String> {
        self.membership.check()?;
        self.busy.check(STUCK_AFTER)
    }

    /// Stops tasks gracefully, as a stage `/health` can name.
    async fn stop_tasks(&self, tasks: &[(String, u32)]) {
        if tasks.is_empty() {
            return;
        }
        let _stage = self.busy.enter(format!("stopping {}", task_list(tasks)));
        self.worker.stop_tasks(tasks).await;
    }

    /// Who leads the group.
    pub fn leadership(&self) -> Leadership {
        self.leadership.borrow().clone()
    }

    fn require_leader(&self) -> Result<(), HerderError> {
        if self.leadership.borrow().is_leader {
            Ok(())
        } else {
            Err(not_leader())
        }
    }

    /// Reconciles whenever the config topic changes; as leader, rebalances when the set of
    /// connectors or their task counts changed.
    async fn follow_config(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut rx = self.config.subscribe();
        loop {
            let snapshot = rx.borrow_and_update().clone();
            self.reconcile(&snapshot).await;
            if self.leadership.borrow().is_leader {
                let covered = self
                    .leader_memory
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .0
                    .clone();
                if covered != units_of(&snapshot) {
                    self.rejoin.notify_one();
                }
            }
            tokio::select! {
                r = rx.changed() => if r.is_err() { return },
                _ = stop.changed() => return,
            }
        }
    }

    /// Applies restart requests to what this worker owns.
    async fn follow_restarts(
        self: Arc<Self>,
        mut restarts: tokio::sync::mpsc::UnboundedReceiver<(String, RestartRequest)>,
    ) {
        while let Some((name, r)) = restarts.recv().await {
            let snapshot = self.config.snapshot();
            let mut local = self.local.lock().await;
            let Some(owned) = local.owned.get(&name).cloned() else {
                continue;
            };
            if owned.contains(&CONNECTOR_TASK) {
                let failed = self
                    .worker
                    .status
                    .connector(&name)
                    .is_some_and(|s| s.state == State::Failed);
                if !r.only_failed || failed {
                    local.generated.remove(&name);
                }
            }
            if r.include_tasks {
                let restarted: Vec<(String, u32)> = owned
                    .iter()
                    .filter(|t| **t >= 0)
                    .map(|t| (name.clone(), *t as u32))
                    .filter(|(_, t)| {
                        !r.only_failed
                            || self
                                .worker
                                .status
                                .task(&name, *t)
                                .is_some_and(|s| s.state == State::Failed)
                    })
                    .collect();
                self.stop_tasks(&restarted).await;
                for key in &restarted {
                    local.running.remove(key);
                }
            }
            self.reconcile_locked(&mut local, &snapshot).await;
        }
    }

    /// Publishes the states of what this worker owns when they change.
    async fn publish_statuses(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = stop.changed() => return,
            }
            let owned = self.local.lock().await.owned.clone();
            let generation = self.leadership.borrow().generation;
            for (c, t) in flatten(&owned) {
                let (key, st) = if t == CONNECTOR_TASK {
                    (
                        StatusKey::Connector(c.clone()),
                        self.worker.status.connector(&c),
                    )
                } else {
                    (
                        StatusKey::Task(c.clone(), t as u32),
                        self.worker.status.task(&c, t as u32),
                    )
                };
                let Some(st) = st else { continue };
                let now = (st.state, st.trace.clone());
                let same = self
                    .published
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&key)
                    == Some(&now);
                if same {
                    continue;
                }
                let value = StatusValue {
                    state: st.state.as_str().to_string(),
                    trace: st.trace,
                    worker_id: self.worker_id.clone(),
                    generation,
                };
                match self.status.put(key.clone(), value).await {
                    Ok(()) => {
                        self.published
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(key, now);
                    }
                    Err(e) => warn!("cannot publish a status: {e}"),
                }
            }
        }
    }

    async fn reconcile(&self, snapshot: &ConfigSnapshot) {
        let mut local = self.local.lock().await;
        self.reconcile_locked(&mut local, snapshot).await;
    }

    /// Brings what runs here in line with the configuration and this worker's assignment.
    async fn reconcile_locked(&self, local: &mut Local, snapshot: &ConfigSnapshot) {
        if *self.stop.borrow() {
            return;
        }
        let st = &self.worker.status;
        for (name, tasks) in local.owned.clone() {
            let Some(config) = snapshot.connectors.get(&name) else {
                continue;
            };
            if !tasks.contains(&CONNECTOR_TASK) {
                continue;
            }
            let target = snapshot.target(&name);
            if target == TargetState::Stopped {
                let _stage = self
                    .busy
                    .enter(format!("writing the task configurations of {name}"));
                if !snapshot.task_configs(&name).is_empty()
                    && let Err(e) = self.config.put_tasks(&name, &[]).await
                {
                    warn!(connector = %name, "cannot write task configurations: {e}");
                }
                local.generated.remove(&name);
                st.set_connector(&name, State::Stopped, None);
                continue;
            }
            if local.generated.get(&name) != Some(config) {
                let _stage = self
                    .busy
                    .enter(format!("generating the task configurations of {name}"));
                match self.task_configs(config).await {
                    Ok(generated) => {
                        if generated != snapshot.task_configs(&name)
                            && let Err(e) = self.config.put_tasks(&name, &generated).await
                        {
                            warn!(connector = %name, "cannot write task configurations: {e}");
                            continue;
                        }
                        local.generated.insert(name.clone(), config.clone());
                        st.set_connector(&name, State::Running, None);
                    }
                    Err(e) => {
                        warn!(connector = %name, "connector failed: {e}");
                        st.set_connector(&name, State::Failed, Some(e));
                        local.generated.insert(name.clone(), config.clone());
                        continue;
                    }
                }
            }
            let state = match target {
                TargetState::Paused => State::Paused,
                _ => State::Running,
            };
            if st.connector(&name).is_none_or(|s| s.state != State::Failed) {
                st.set_connector(&name, state, None);
            }
        }
        let mut desired: BTreeMap<(String, u32), Properties> = BTreeMap::new();
        for (name, tasks) in &local.owned {
            let configs = snapshot.task_configs(name);
            let target = snapshot.target(name);
            for t in tasks.iter().filter(|t| **t >= 0).map(|t| *t as u32) {
                let Some(tc) = configs.get(t as usize) else {
                    continue;
                };
                match target {
                    TargetState::Running => {
                        desired.insert((name.clone(), t), tc.clone());
                    }
                    _ => st.set_task(name, t, State::Paused, None),
                }
            }
        }
        let stale: Vec<(String, u32)> = local
            .running
            .iter()
            .filter(|(k, c)| desired.get(*k) != Some(*c))
            .map(|(k, _)| k.clone())
            .collect();
        self.stop_tasks(&stale).await;
        for key in &stale {
            local.running.remove(key);
        }
        let to_start: Vec<((String, u32), Properties)> = desired
            .into_iter()
            .filter(|(k, _)| !local.running.contains_key(k))
            .collect();
        // Only source tasks keep offsets in the offsets topic (sinks commit to their group).
        let starts_a_source = to_start.iter().any(|((c, _), _)| {
            snapshot
                .connectors
                .get(c)
                .and_then(plugin_of)
                .is_some_and(|p| p.kind() == ConnectorType::Source)
        });
        if starts_a_source {
            let _stage = self.busy.enter("reading the offsets topic to its end");
            if let Err(e) = self.offsets_log.sync().await {
                warn!("cannot read the offsets topic before starting tasks: {e}");
            }
        }
        for ((c, t), tc) in to_start {
            if self.worker.lapsed() {
                warn!(connector = %c, task = t, "not starting the task: this worker's group session ran out");
                continue;
            }
            let Some(plugin) = snapshot.connectors.get(&c).and_then(plugin_of) else {
                st.set_task(&c, t, State::Failed, Some("unknown connector class".into()));
                continue;
            };
            let _stage = self.busy.enter(format!("starting task {c}-{t}"));
            self.worker.start_task(&c, t, plugin, tc.clone()).await;
            local.running.insert((c, t), tc);
        }
    }

    /// Computes a connector's task configurations, as its connector instance does in Connect.
    async fn task_configs(&self, config: &Properties) -> Result<Vec<Properties>, String> {
        let plugin = plugin_of(config).ok_or_else(|| {
            format!(
                "no connector plugin matches '{}'",
                config.get("connector.class").map_or("", String::as_str)
            )
        })?;
        checks::task_configs(&self.worker, plugin, config).await
    }

    /// Names of every connector.
    pub async fn connectors(&self) -> Vec<String> {
        self.config.snapshot().connectors.keys().cloned().collect()
    }

    /// `POST /connectors` (leader only): 409 when the name exists.
    pub async fn create(
        &self,
        name: &str,
        mut config: Properties,
        initial: Option<TargetState>,
    ) -> Result<ConnectorInfo, HerderError> {
        self.require_leader()?;
        let plugin = checks::check_config(&self.worker.config, name, &mut config)?;
        let snapshot = self.config.sync().await.map_err(kafka)?;
        if snapshot.connectors.contains_key(name) {
            return Err(HerderError::Conflict(format!(
                "Connector {name} already exists"
            )));
        }
        if let Some(t) = initial {
            self.config.put_target(name, t).await.map_err(kafka)?;
        }
        self.config
            .put_connector(name, &config)
            .await
            .map_err(kafka)?;
        self.config.sync().await.map_err(kafka)?;
        info!(connector = name, "connector created");
        Ok(ConnectorInfo {
            name: name.to_string(),
            config,
            tasks: Vec::new(),
            connector_type: plugin.kind(),
        })
    }

    /// `PUT /connectors/{c}/config` (leader only): returns whether it was created.
    pub async fn put_config(
        &self,
        name: &str,
        mut config: Properties,
    ) -> Result<(bool, ConnectorInfo), HerderError> {
        self.require_leader()?;
        checks::check_config(&self.worker.config, name, &mut config)?;
        let snapshot = self.config.sync().await.map_err(kafka)?;
        let created = !snapshot.connectors.contains_key(name);
        if snapshot.connectors.get(name) != Some(&config) {
            self.config
                .put_connector(name, &config)
                .await
                .map_err(kafka)?;
            self.config.sync().await.map_err(kafka)?;
        }
        Ok((created, self.info(name).await?))
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
                Some(v) => config.insert(k, v),
                None => config.remove(&k),
            };
        }
        self.put_config(name, config).await.map(|(_, info)| info)
    }

    /// The stored configuration.
    pub async fn config(&self, name: &str) -> Result<Properties, HerderError> {
        self.config
            .snapshot()
            .connectors
            .get(name)
            .cloned()
            .ok_or_else(|| not_found(name))
    }

    /// `GET /connectors/{c}`.
    pub async fn info(&self, name: &str) -> Result<ConnectorInfo, HerderError> {
        let snapshot = self.config.snapshot();
        let config = snapshot
            .connectors
            .get(name)
            .cloned()
            .ok_or_else(|| not_found(name))?;
        let kind = plugin_of(&config).map_or(ConnectorType::Unknown, Plugin::kind);
        Ok(ConnectorInfo {
            name: name.to_string(),
            config,
            tasks: (0..snapshot.task_configs(name).len() as u32)
                .map(|task| TaskId {
                    connector: name.to_string(),
                    task,
                })
                .collect(),
            connector_type: kind,
        })
    }

    /// `GET /connectors/{c}/tasks`.
    pub async fn tasks(&self, name: &str) -> Result<Vec<TaskInfo>, HerderError> {
        let snapshot = self.config.snapshot();
        if !snapshot.connectors.contains_key(name) {
            return Err(not_found(name));
        }
        Ok(snapshot
            .task_configs(name)
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

    /// `GET /connectors/{c}/status`, from the status topic.
    pub async fn status(&self, name: &str) -> Result<ConnectorStateInfo, HerderError> {
        let snapshot = self.config.snapshot();
        let missing = || HerderError::NotFound(format!("No status found for connector {name}"));
        let config = snapshot.connectors.get(name).ok_or_else(missing)?;
        let plugin = plugin_of(config);
        let version = plugin.map(|p| p.version().to_string());
        let c = self
            .status
            .get(&StatusKey::Connector(name.to_string()))
            .ok_or_else(missing)?;
        let statuses = self.status.tasks(name);
        let tasks = (0..snapshot.task_configs(name).len() as u32)
            .filter_map(|i| {
                let s = statuses.get(&i)?;
                Some(TaskState {
                    id: i,
                    state: s.rest_state()?,
                    worker_id: s.worker_id.clone(),
                    version: version.clone(),
                    trace: s.trace.clone(),
                })
            })
            .collect();
        Ok(ConnectorStateInfo {
            name: name.to_string(),
            connector: ConnectorState {
                state: c.rest_state().unwrap_or(State::Unassigned),
                worker_id: c.worker_id,
                version,
                trace: c.trace,
            },
            tasks,
            connector_type: plugin.map_or(ConnectorType::Unknown, Plugin::kind),
        })
    }

    /// `GET /connectors/{c}/tasks/{t}/status`.
    pub async fn task_status(&self, name: &str, task: u32) -> Result<TaskState, HerderError> {
        let missing = || HerderError::NotFound(format!("No status found for task {name}-{task}"));
        self.status(name)
            .await
            .map_err(|_| missing())?
            .tasks
            .into_iter()
            .find(|t| t.id == task)
            .ok_or_else(missing)
    }

    /// The progress documents of the tasks running on this worker.
    pub async fn progress(
        &self,
        name: &str,
    ) -> Result<BTreeMap<u32, serde_json::Value>, HerderError> {
        if !self.config.snapshot().connectors.contains_key(name) {
            return Err(not_found(name));
        }
        Ok(self.worker.status.progress(name))
    }

    /// `DELETE /connectors/{c}` (leader only).
    pub async fn delete(&self, name: &str) -> Result<(), HerderError> {
        self.require_leader()?;
        let snapshot = self.config.sync().await.map_err(kafka)?;
        if !snapshot.connectors.contains_key(name) {
            return Err(not_found(name));
        }
        self.config.delete_connector(name).await.map_err(kafka)?;
        self.config.sync().await.map_err(kafka)?;
        let mut keys = vec![StatusKey::Connector(name.to_string())];
        keys.extend(
            self.status
                .tasks(name)
                .into_keys()
                .map(|t| StatusKey::Task(name.to_string(), t)),
        );
        for k in keys {
            if let Err(e) = self.status.remove(k).await {
                warn!(connector = name, "cannot remove a status: {e}");
            }
        }
        self.active_topics.forget(&self.worker, name).await;
        info!(connector = name, "connector deleted");
        Ok(())
    }

    /// `PUT .../pause|resume|stop` (leader only): idempotent target-state changes.
    pub async fn set_target(&self, name: &str, target: TargetState) -> Result<(), HerderError> {
        self.require_leader()?;
        let snapshot = self.config.sync().await.map_err(kafka)?;
        if !snapshot.connectors.contains_key(name) {
            return Err(HerderError::NotFound(format!("Unknown connector {name}")));
        }
        if snapshot.target(name) != target || !snapshot.targets.contains_key(name) {
            self.config.put_target(name, target).await.map_err(kafka)?;
            self.config.sync().await.map_err(kafka)?;
        }
        Ok(())
    }

    /// `POST /connectors/{c}/restart` (leader only): a restart record the owners act on.
    pub async fn restart(
        &self,
        name: &str,
        include_tasks: bool,
        only_failed: bool,
    ) -> Result<Option<ConnectorStateInfo>, HerderError> {
        self.require_leader()?;
        if !self.config.snapshot().connectors.contains_key(name) {
            return Err(HerderError::NotFound(format!("Unknown connector: {name}")));
        }
        let before = self.status(name).await.ok();
        let request = RestartRequest {
            include_tasks,
            only_failed,
        };
        self.config
            .request_restart(name, request)
            .await
            .map_err(kafka)?;
        if !include_tasks && !only_failed {
            return Ok(None);
        }
        let Some(mut planned) = before else {
            return Ok(None);
        };
        if !only_failed || planned.connector.state == State::Failed {
            planned.connector.state = State::Restarting;
        }
        for t in &mut planned.tasks {
            if include_tasks && (!only_failed || t.state == State::Failed) {
                t.state = State::Restarting;
            }
        }
        Ok(Some(planned))
    }

    /// The REST URL of the worker that runs a task, from the status topic, when that is another
    /// worker: a task restart sent here goes there.
    pub async fn task_owner_url(&self, name: &str, task: u32) -> Option<String> {
        let owned_here = self
            .local
            .lock()
            .await
            .owned
            .get(name)
            .is_some_and(|t| t.contains(&(task as i32)));
        if owned_here {
            return None;
        }
        let owner = self
            .status
            .get(&StatusKey::Task(name.to_string(), task))?
            .worker_id;
        // Workers of one cluster share a scheme: reach the owner as this worker is reached.
        let scheme = if self.url.starts_with("https://") {
            "https"
        } else {
            "http"
        };
        (owner != self.worker_id).then(|| format!("{scheme}://{owner}"))
    }

    /// `POST /connectors/{c}/tasks/{t}/restart`: restarts it here when this worker runs it;
    /// otherwise 409 (requests reach this only when the owner is unknown or already forwarded).
    pub async fn restart_task(&self, name: &str, task: u32) -> Result<(), HerderError> {
        let snapshot = self.config.snapshot();
        if !snapshot.connectors.contains_key(name) {
            return Err(HerderError::NotFound(format!("Unknown connector: {name}")));
        }
        if snapshot.task_configs(name).get(task as usize).is_none() {
            return Err(HerderError::NotFound(format!(
                "Unknown task: {name}-{task}"
            )));
        }
        let mut local = self.local.lock().await;
        let owned = local
            .owned
            .get(name)
            .is_some_and(|t| t.contains(&(task as i32)));
        if !owned {
            return Err(HerderError::Conflict(format!(
                "Task {name}-{task} runs on another worker ({}); send the restart there",
                self.status
                    .get(&StatusKey::Task(name.to_string(), task))
                    .map_or_else(|| "unknown".to_string(), |s| s.worker_id)
            )));
        }
        self.stop_tasks(&[(name.to_string(), task)]).await;
        local.running.remove(&(name.to_string(), task));
        self.reconcile_locked(&mut local, &snapshot).await;
        Ok(())
    }

    /// `PUT /connector-plugins/{p}/config/validate`.
    pub async fn validate(
        &self,
        plugin_name: &str,
        config: &Properties,
    ) -> Result<ConfigInfos, HerderError> {
        checks::validate(&self.worker, plugin_name, config).await
    }

    fn kind(&self, name: &str) -> Result<ConnectorType, HerderError> {
        let snapshot = self.config.snapshot();
        let config = snapshot
            .connectors
            .get(name)
            .ok_or_else(|| not_found(name))?;
        Ok(plugin_of(config).map_or(ConnectorType::Unknown, Plugin::kind))
    }

    /// A sink's client settings; `None` for a source or an unknown connector.
    fn sink_clients(&self, name: &str) -> Result<Option<ConnectorClients>, HerderError> {
        match self.config.snapshot().connectors.get(name) {
            Some(config) => checks::sink_clients(&self.worker, plugin_of(config), config),
            None => Ok(None),
        }
    }

    /// Source offsets (from the offsets topic) or sink offsets (from the consumer group).
    pub async fn offsets(&self, name: &str) -> Result<ConnectorOffsets, HerderError> {
        self.kind(name)?;
        if let Some(clients) = self.sink_clients(name)? {
            return super::sink_offsets::list(&clients, name).await;
        }
        self.offsets_log.sync().await.map_err(kafka)?;
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

    /// `GET /connectors/{c}/topics`, as this worker has seen them since the last reset.
    pub async fn active_topics(&self, name: &str) -> Result<Vec<String>, HerderError> {
        // For a source: the topics this worker's tasks wrote to; other workers' are not included.
        let sink = self.sink_clients(name)?;
        self.active_topics.list(&self.worker, name, sink).await
    }

    /// `PUT /connectors/{c}/topics/reset`.
    pub async fn reset_active_topics(&self, name: &str) -> Result<(), HerderError> {
        let sink = self.sink_clients(name)?;
        self.active_topics.reset(&self.worker, name, sink).await
    }

    /// `PATCH`/`DELETE /connectors/{c}/offsets` (leader only, connector STOPPED).
    pub async fn alter_offsets(
        &self,
        name: &str,
        changes: Option<Vec<ConnectorOffset>>,
    ) -> Result<String, HerderError> {
        self.require_leader()?;
        self.kind(name)?;
        if self.config.snapshot().target(name) != TargetState::Stopped {
            return Err(not_stopped(name));
        }
        let sink = self.sink_clients(name)?;
        if sink.is_none() {
            self.offsets_log.sync().await.map_err(kafka)?;
        }
        self.active_topics
            .alter_offsets(&self.worker, name, sink, changes)
            .await
    }

    /// Stops every task, publishes them UNASSIGNED, flushes offsets, and only then leaves the
    /// group (as Connect does), so another worker never starts a task this one still runs.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        self.worker.stop_all().await;
        // A worker whose session ran out owns nothing any more: no status or offset of its
        // former work is its to write.
        let owned = if self.worker.lapsed() {
            BTreeSet::new()
        } else {
            flatten(&self.local.lock().await.owned)
        };
        let generation = self.leadership.borrow().generation;
        for (c, t) in owned {
            let key = if t == CONNECTOR_TASK {
                StatusKey::Connector(c)
            } else {
                StatusKey::Task(c, t as u32)
            };
            let value = StatusValue {
                state: State::Unassigned.as_str().to_string(),
                trace: None,
                worker_id: self.worker_id.clone(),
                generation,
            };
            if let Err(e) = self.status.put(key, value).await {
                warn!("cannot publish UNASSIGNED at shutdown: {e}");
            }
        }
        if !self.worker.lapsed()
            && let Err(e) = self.worker.offsets.flush().await
        {
            warn!("could not write offsets at shutdown: {e}");
        }
        let _ = self.leave.send(true);
        let handle = self.member.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle
            && tokio::time::timeout(Duration::from_secs(10), h)
                .await
                .is_err()
        {
            warn!("the group membership loop did not stop within 10 s");
        }
    }

    /// Stops everything this worker runs (revoked or lost).
    async fn release(&self, local: &mut Local, units: &BTreeSet<(String, i32)>) {
        let tasks: Vec<(String, u32)> = units
            .iter()
            .filter(|(_, t)| *t >= 0)
            .map(|(c, t)| (c.clone(), *t as u32))
            .collect();
        self.stop_tasks(&tasks).await;
        for (c, t) in units {
            if *t >= 0 {
                local.running.remove(&(c.clone(), *t as u32));
                self.worker.status.remove_task(c, *t as u32);
                self.published
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&StatusKey::Task(c.clone(), *t as u32));
            } else {
                local.generated.remove(c);
                self.published
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&StatusKey::Connector(c.clone()));
            }
        }
        // A worker whose session ran out writes nothing more, offsets included.
        let _stage = self.busy.enter("writing source offsets after a rebalance");
        if !self.worker.lapsed()
            && let Err(e) = self.worker.offsets.flush().await
        {
            warn!("could not write offsets after a rebalance: {e}");
        }
        let mut owned = flatten(&local.owned);
        owned.retain(|u| !units.contains(u));
        self.set_owned(local, allocation(&owned));
    }

    /// Records what this worker owns, in `local` and in what it reports to the group.
    fn set_owned(&self, local: &mut Local, owned: Allocation) {
        *self.reported.lock().unwrap_or_else(|p| p.into_inner()) = owned.clone();
        local.owned = owned;
    }
}

#[async_trait::async_trait]
impl GroupHandler for DistributedHerder {
    fn metadata(&self) -> MemberMetadata {
        let owned = self
            .reported
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        MemberMetadata {
            version: 2,
            url: self.url.clone(),
            config_offset: self.config.snapshot().offset,
            owned: Some(Assignment {
                version: 2,
                assigned: owned,
                ..Assignment::default()
            }),
        }
    }

    async fn assign(&self, joined: &Joined) -> Vec<(String, Assignment)> {
        let snapshot = match self.config.sync().await {
            Ok(s) => s,
            Err(e) => {
                warn!("cannot read the config topic to assign work: {e}");
                self.config.snapshot()
            }
        };
        let work = units_of(&snapshot);
        let memory = self
            .leader_memory
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone();
        let key = |m: &crate::distributed::JoinedMember| {
            m.instance_id.clone().unwrap_or_else(|| m.member_id.clone())
        };
        let members: BTreeMap<String, Allocation> = joined
            .members
            .iter()
            .map(|m| {
                let running = m
                    .metadata
                    .owned
                    .as_ref()
                    .map(|a| a.assigned.clone())
                    .unwrap_or_default();
                (m.member_id.clone(), running)
            })
            .collect();
        let remembered: BTreeMap<String, Allocation> = joined
            .members
            .iter()
            .filter_map(|m| Some((m.member_id.clone(), memory.get(&key(m))?.clone())))
            .collect();
        let plan = assign::assign(&members, &remembered, &work);
        let leader_url = self.url.clone();
        let version = if joined.protocol == "compatible" {
            1
        } else {
            2
        };
        let mut out = Vec::new();
        let mut remembered = BTreeMap::new();
        for m in &joined.members {
            let before = flatten(members.get(&m.member_id).unwrap_or(&Allocation::new()));
            let after = flatten(
                plan.assigned
                    .get(&m.member_id)
                    .unwrap_or(&Allocation::new()),
            );
            let revoked = plan.revoked.get(&m.member_id).cloned().unwrap_or_default();
            let new: BTreeSet<(String, i32)> = after.difference(&before).cloned().collect();
            remembered.insert(
                key(m),
                plan.assigned.get(&m.member_id).cloned().unwrap_or_default(),
            );
            out.push((
                m.member_id.clone(),
                Assignment {
                    version,
                    error: 0,
                    leader: joined.member_id.clone(),
                    leader_url: leader_url.clone(),
                    config_offset: snapshot.offset,
                    assigned: allocation(&new),
                    revoked,
                    delay: 0,
                },
            ));
        }
        *self
            .pending_memory
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((joined.generation, (work, remembered)));
        out
    }

    async fn assigned(&self, joined: &Joined, assignment: Assignment) {
        if assignment.leader == joined.member_id {
            let pending = self
                .pending_memory
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            if let Some((generation, memory)) = pending
                && generation == joined.generation
            {
                *self.leader_memory.lock().unwrap_or_else(|p| p.into_inner()) = memory;
            }
        }
        self.leadership.send_replace(Leadership {
            leader_url: Some(assignment.leader_url.clone()),
            is_leader: assignment.leader == joined.member_id,
            generation: joined.generation,
        });
        let mut local = self.local.lock().await;
        let revoked = flatten(&assignment.revoked);
        if !revoked.is_empty() {
            self.release(&mut local, &revoked).await;
        }
        let mut owned = flatten(&local.owned);
        owned.extend(flatten(&assignment.assigned));
        self.set_owned(&mut local, allocation(&owned));
        let snapshot = self.config.snapshot();
        self.reconcile_locked(&mut local, &snapshot).await;
        // The tasks of this worker's previous incarnation come back with its first tasks; any
        // later one may come from a live worker.
        if owned.iter().any(|(_, t)| *t != CONNECTOR_TASK) {
            self.worker.set_reclaims(false);
        }
    }

    fn lease_lapsed(&self) {
        self.worker.set_lapsed(true);
    }

    fn session_held(&self) {
        self.worker.set_lapsed(false);
    }

    async fn lost(&self) {
        self.leadership.send_replace(Leadership::default());
        // Before the lock: a reconcile or restart holding it may be stopping tasks gracefully,
        // and those see the lapse too.
        self.worker.set_lapsed(true);
        self.worker.abandon_all().await;
        self.worker.offsets.forget_unflushed();
        let mut local = self.local.lock().await;
        let all = flatten(&local.owned);
        self.release(&mut local, &all).await;
    }
}
