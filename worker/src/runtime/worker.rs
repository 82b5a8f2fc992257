//! The tasks running in this worker process: start them with their configuration resolved
//! through config providers, stop them gracefully within `task.shutdown.graceful.timeout.ms`,
//! and record FAILED with the error when one fails.

use super::offsets::OffsetStore;
use super::status::StatusStore;
use super::{StopRequest, TaskContext};
use crate::config::connector_clients::ConnectorClients;
use crate::config::properties::Properties;
use crate::config::worker::WorkerConfig;
use crate::connectors::Plugin;
use skiff_api::rest::State;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;
use tracing::{Instrument, error, info, info_span, warn};

struct RunningTask {
    stop: watch::Sender<StopRequest>,
    handle: JoinHandle<()>,
}

/// Owns the running tasks of this worker.
pub struct Worker {
    pub config: Arc<WorkerConfig>,
    pub status: StatusStore,
    pub offsets: Arc<OffsetStore>,
    tasks: Mutex<BTreeMap<(String, u32), RunningTask>>,
    /// This worker's group session ran out (distributed mode): its tasks write nothing more.
    lapsed: watch::Sender<bool>,
    /// Whether tasks started now may take their earlier consumers out of their groups
    /// ([`TaskContext::reclaims`]).
    reclaims: AtomicBool,
}

/// Returns what stopped tasks freed to the system, in the background (see
/// `allocator::release_freed`).
fn release_freed_memory() {
    drop(tokio::task::spawn_blocking(crate::allocator::release_freed));
}

impl Worker {
    /// A worker with no tasks yet.
    pub fn new(config: Arc<WorkerConfig>, status: StatusStore, offsets: Arc<OffsetStore>) -> Self {
        Worker {
            config,
            status,
            offsets,
            tasks: Mutex::new(BTreeMap::new()),
            lapsed: watch::Sender::new(false),
            reclaims: AtomicBool::new(true),
        }
    }

    /// Says whether tasks started from now on may take their earlier consumers out of their
    /// groups: a standalone worker always may; a distributed worker only until it has been given
    /// its first tasks after starting under a stable identity.
    pub fn set_reclaims(&self, reclaims: bool) {
        self.reclaims.store(reclaims, Ordering::Relaxed);
    }

    /// Marks this worker's group session as run out (`true`), so its tasks, also those already
    /// stopping, write nothing more; or as held again (`false`) once it has rejoined.
    pub fn set_lapsed(&self, lapsed: bool) {
        self.lapsed.send_replace(lapsed);
    }

    /// Whether this worker's group session ran out and it has not rejoined since.
    pub fn lapsed(&self) -> bool {
        *self.lapsed.borrow()
    }

    /// Starts one task. Its `${...}` references are resolved now, so a rotated secret is picked
    /// up by a restart; a reference that cannot be resolved, or a client override this worker's
    /// policy refuses, fails the task with the key named.
    pub async fn start_task(&self, connector: &str, task: u32, plugin: Plugin, config: Properties) {
        self.stop_task(connector, task).await;
        let (stop_tx, stop_rx) = watch::channel(StopRequest::None);
        let ctx = TaskContext {
            connector: connector.to_string(),
            task,
            worker: self.config.clone(),
            clients: ConnectorClients::of_worker(self.config.clone()),
            offsets: self.offsets.clone(),
            status: self.status.clone(),
            stop: stop_rx,
            lapsed: self.lapsed.subscribe(),
            reclaims: self.reclaims.load(Ordering::Relaxed),
        };
        let abandoned = ctx.clone();
        let status = self.status.clone();
        let providers = self.config.providers.clone();
        let name = connector.to_string();
        let span = info_span!("task", connector = %name, task);
        // Before the spawn: a task that fails at once must not have its FAILED overwritten.
        self.status.set_task(connector, task, State::Running, None);
        let handle = tokio::spawn(
            async move {
                let result = async {
                    let resolved = providers.resolve(&config)?;
                    let clients = ConnectorClients::new(ctx.worker.clone(), &resolved)?;
                    plugin
                        .run_task(TaskContext { clients, ..ctx }, resolved)
                        .await
                }
                .await;
                match result {
                    Ok(()) => info!("task stopped"),
                    // Another worker may run it now: its status is that worker's to report.
                    Err(e) if abandoned.abandoned() => warn!("abandoned task ended: {e}"),
                    Err(e) => {
                        error!("task failed: {e}");
                        status.set_task(&name, task, State::Failed, Some(e.to_string()));
                    }
                }
            }
            .instrument(span),
        );
        self.tasks.lock().await.insert(
            (connector.to_string(), task),
            RunningTask {
                stop: stop_tx,
                handle,
            },
        );
    }

    /// Stops one task: asks it to flush and commit, waits up to the graceful timeout, then
    /// aborts it.
    pub async fn stop_task(&self, connector: &str, task: u32) {
        let taken = self.take(|(c, t)| c == connector && *t == task).await;
        self.end(taken, StopRequest::Graceful).await;
    }

    /// Stops every task of a connector, all at once.
    pub async fn stop_connector_tasks(&self, connector: &str) {
        let taken = self.take(|(c, _)| c == connector).await;
        self.end(taken, StopRequest::Graceful).await;
    }

    /// Stops the given tasks, all at once: a connector's sink tasks then commit at about the
    /// same time, rather than each after the one before has left its consumer group, which
    /// takes the others' partitions away from them just before they commit.
    pub async fn stop_tasks(&self, which: &[(String, u32)]) {
        let taken = self.take(|key| which.contains(key)).await;
        self.end(taken, StopRequest::Graceful).await;
    }

    /// Stops every task (worker shutdown).
    pub async fn stop_all(&self) {
        let taken = self.take(|_| true).await;
        self.end(taken, StopRequest::Graceful).await;
    }

    /// Stops every task without letting it write anything more: this worker lost its place in
    /// the group, and other workers may already run the tasks (a sink's buffered records are
    /// dropped uncommitted, for their next owner to read again).
    pub async fn abandon_all(&self) {
        let taken = self.take(|_| true).await;
        self.end(taken, StopRequest::Abandon).await;
    }

    /// Removes the running tasks that `which` selects.
    async fn take(
        &self,
        which: impl Fn(&(String, u32)) -> bool,
    ) -> Vec<((String, u32), RunningTask)> {
        let mut tasks = self.tasks.lock().await;
        let keys: Vec<(String, u32)> = tasks.keys().filter(|k| which(k)).cloned().collect();
        keys.into_iter()
            .filter_map(|k| tasks.remove(&k).map(|t| (k, t)))
            .collect()
    }

    /// Stops the taken tasks concurrently and waits for all of them.
    async fn end(&self, taken: Vec<((String, u32), RunningTask)>, how: StopRequest) {
        let waits = taken
            .into_iter()
            .map(|((c, id), t)| async move { self.await_stop(&c, id, t, how).await });
        if !futures::future::join_all(waits).await.is_empty() {
            release_freed_memory();
        }
    }

    /// True while the task's loop runs.
    pub async fn is_running(&self, connector: &str, task: u32) -> bool {
        self.tasks
            .lock()
            .await
            .get(&(connector.to_string(), task))
            .is_some_and(|t| !t.handle.is_finished())
    }

    async fn await_stop(&self, connector: &str, task: u32, mut t: RunningTask, how: StopRequest) {
        let _ = t.stop.send(how);
        let timeout = self.config.task_shutdown_timeout;
        if tokio::time::timeout(timeout, &mut t.handle).await.is_err() {
            warn!(
                connector,
                task,
                "task did not stop within {timeout:?} (task.shutdown.graceful.timeout.ms); aborting it"
            );
            t.handle.abort();
        }
    }
}
