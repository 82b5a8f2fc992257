//! Running connectors and tasks: the task lifecycle and states, the sink and source task loops
//! on rdkafka, and where offsets and statuses are kept.

pub(crate) mod consumer_lag;
pub(crate) mod consumer_stats;
pub(crate) mod group_health;
pub(crate) mod kafka_trouble;
pub mod offsets;
pub(crate) mod refusal;
pub mod sink;
pub mod source;
pub mod status;
pub mod worker;

use crate::config::connector_clients::ConnectorClients;
use crate::config::worker::WorkerConfig;
use offsets::OffsetStore;
use status::StatusStore;
use std::sync::Arc;
use thiserror::Error;
use tokio::sync::watch;

/// A topic and partition.
pub type TopicPartition = (String, i32);

/// Why a task failed; the message becomes the task's `trace`.
#[derive(Debug, Error)]
pub enum TaskError {
    /// The task's configuration cannot work; retrying will not help.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Kafka refused or failed.
    #[error("Kafka error: {0}")]
    Kafka(String),
    /// The object store failed in a way that may pass (5xx, throttling, timeouts, connections).
    #[error("S3 error: {0}")]
    Storage(String),
    /// The object store refused the request (403, 404, 400, ...): credentials, permissions or a
    /// missing bucket, which retrying will not fix.
    #[error("S3 error: {0}")]
    StorageRefused(String),
    /// A backup object could not be read.
    #[error("corrupt backup object {key}: {message}")]
    Corrupt { key: String, message: String },
    /// Anything else, with context.
    #[error("{0}")]
    Other(String),
}

impl TaskError {
    /// Whether retrying the same call may succeed: only transient object-store failures.
    pub fn retriable(&self) -> bool {
        matches!(self, TaskError::Storage(_))
    }
}

impl From<rdkafka::error::KafkaError> for TaskError {
    fn from(e: rdkafka::error::KafkaError) -> Self {
        TaskError::Kafka(e.to_string())
    }
}

impl From<crate::config::ConfigError> for TaskError {
    fn from(e: crate::config::ConfigError) -> Self {
        TaskError::Config(e.to_string())
    }
}

/// What a task needs from the worker it runs in.
#[derive(Clone)]
pub struct TaskContext {
    pub connector: String,
    pub task: u32,
    pub worker: Arc<WorkerConfig>,
    /// The settings of every Kafka client the task builds: the worker's, with the connector's
    /// own overrides.
    pub clients: ConnectorClients,
    pub offsets: Arc<OffsetStore>,
    pub status: StatusStore,
    /// Leaves [`StopRequest::None`] when the task must stop.
    pub stop: watch::Receiver<StopRequest>,
    /// Set when this worker's group session ran out: every task is about to be abandoned, and
    /// one already stopping gracefully must write nothing more either.
    pub lapsed: watch::Receiver<bool>,
    /// The task's earlier consumers, if any are still in its group, belonged to a process that
    /// is gone (this worker before a restart under the same identity, or a standalone worker's
    /// earlier run): a sink task takes them out of the group as it starts. Not for a task that
    /// moved from another live worker, whose consumer must give its partitions up through a
    /// rebalance, after its last uploads.
    pub reclaims: bool,
}

/// Whether, and how, a task is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopRequest {
    /// Not asked to stop.
    None,
    /// Stop cleanly: write out what is held, commit, return.
    Graceful,
    /// This worker lost its place in the group, and another worker may already run the task:
    /// return at once, writing and committing nothing more, so the next owner's writes are the
    /// only ones.
    Abandon,
}

impl TaskContext {
    /// `name-0`, the task's name as Connect prints it.
    pub fn task_name(&self) -> String {
        format!("{}-{}", self.connector, self.task)
    }

    /// True once the task was asked to stop, or abandoned.
    pub fn stopping(&self) -> bool {
        *self.stop.borrow() != StopRequest::None || self.abandoned()
    }

    /// True when the task must stop without writing anything more: it was abandoned
    /// ([`StopRequest::Abandon`]), or its worker's group session ran out.
    pub fn abandoned(&self) -> bool {
        *self.stop.borrow() == StopRequest::Abandon || *self.lapsed.borrow()
    }

    /// A context for unit tests: a worker whose Kafka is a closed port, offsets in memory; the
    /// senders stop the task and mark its worker's session as run out.
    #[cfg(test)]
    pub fn for_test(connector: &str) -> (Self, watch::Sender<StopRequest>, watch::Sender<bool>) {
        let worker = WorkerConfig::from_properties(crate::config::properties::props(&[(
            "bootstrap.servers",
            "127.0.0.1:1",
        )]))
        .expect("a valid worker config");
        let (stop, stop_rx) = watch::channel(StopRequest::None);
        let (lapsed, lapsed_rx) = watch::channel(false);
        let worker = Arc::new(worker);
        let ctx = TaskContext {
            connector: connector.into(),
            task: 0,
            clients: ConnectorClients::of_worker(worker.clone()),
            worker,
            offsets: OffsetStore::open(None).expect("offsets in memory"),
            status: StatusStore::default(),
            stop: stop_rx,
            lapsed: lapsed_rx,
            reclaims: false,
        };
        (ctx, stop, lapsed)
    }

    /// Waits until the task is asked to stop or abandoned.
    pub async fn stopped(&mut self) {
        let mut lapse_can_come = true;
        while !self.stopping() {
            tokio::select! {
                changed = self.stop.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                changed = self.lapsed.changed(), if lapse_can_come => {
                    lapse_can_come = changed.is_ok();
                }
            }
        }
    }
}
