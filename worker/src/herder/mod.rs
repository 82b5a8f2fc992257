//! The brain behind the REST API: keeps connector configurations and target states, starts and
//! stops connectors and their tasks in the runtime, and answers status questions. Standalone mode
//! keeps configurations in memory (as Apache's standalone worker does) and source offsets in the
//! offsets file; distributed mode keeps them in the internal topics and shares the work with the
//! other workers of its group.

mod active_topics;
mod busy;
mod checks;
pub mod distributed;
pub mod sink_offsets;
mod standalone;

use crate::config::properties::Properties;
use crate::runtime::worker::Worker;
pub use distributed::DistributedHerder;
use skiff_api::rest::{
    ConfigInfos, ConnectorInfo, ConnectorOffset, ConnectorOffsets, ConnectorStateInfo, TargetState,
    TaskInfo, TaskState,
};
pub use standalone::StandaloneHerder;
use std::collections::BTreeMap;
use std::sync::Arc;
use thiserror::Error;

/// The herder the REST API talks to: one per worker, standalone or distributed.
pub enum Herder {
    Standalone(StandaloneHerder),
    Distributed(Arc<DistributedHerder>),
}

/// Calls the same method on whichever herder this is.
macro_rules! both {
    ($self:ident, $h:ident => $call:expr) => {
        match $self {
            Herder::Standalone($h) => $call,
            Herder::Distributed($h) => $call,
        }
    };
}

impl Herder {
    /// A standalone herder over a worker.
    pub fn new(worker: Arc<Worker>) -> Self {
        Herder::Standalone(StandaloneHerder::new(worker))
    }

    /// `Err` with the reason when the worker is stuck (KIP-1017's "unhealthy"): a distributed
    /// worker out of its group too long, or whose herder has been in one stage of its work too
    /// long. A standalone worker has no group to lose.
    pub fn health(&self) -> Result<(), String> {
        match self {
            Herder::Standalone(_) => Ok(()),
            Herder::Distributed(h) => h.health(),
        }
    }

    /// The consumer lag of the connector's sink tasks this worker runs, by task id.
    pub fn lags(&self, name: &str) -> BTreeMap<u32, i64> {
        both!(self, h => h.worker().status.lags(name))
    }

    /// Names of every connector.
    pub async fn connectors(&self) -> Vec<String> {
        both!(self, h => h.connectors().await)
    }

    /// `POST /connectors`.
    pub async fn create(
        &self,
        name: &str,
        config: Properties,
        initial: Option<TargetState>,
    ) -> Result<ConnectorInfo, HerderError> {
        both!(self, h => h.create(name, config, initial).await)
    }

    /// `PUT /connectors/{c}/config`: returns whether it was created.
    pub async fn put_config(
        &self,
        name: &str,
        config: Properties,
    ) -> Result<(bool, ConnectorInfo), HerderError> {
        both!(self, h => h.put_config(name, config).await)
    }

    /// `PATCH /connectors/{c}/config`.
    pub async fn patch_config(
        &self,
        name: &str,
        patch: BTreeMap<String, Option<String>>,
    ) -> Result<ConnectorInfo, HerderError> {
        both!(self, h => h.patch_config(name, patch).await)
    }

    /// The stored configuration.
    pub async fn config(&self, name: &str) -> Result<Properties, HerderError> {
        both!(self, h => h.config(name).await)
    }

    /// `GET /connectors/{c}`.
    pub async fn info(&self, name: &str) -> Result<ConnectorInfo, HerderError> {
        both!(self, h => h.info(name).await)
    }

    /// `GET /connectors/{c}/tasks`.
    pub async fn tasks(&self, name: &str) -> Result<Vec<TaskInfo>, HerderError> {
        both!(self, h => h.tasks(name).await)
    }

    /// `GET /connectors/{c}/status`.
    pub async fn status(&self, name: &str) -> Result<ConnectorStateInfo, HerderError> {
        both!(self, h => h.status(name).await)
    }

    /// `GET /connectors/{c}/tasks/{t}/status`.
    pub async fn task_status(&self, name: &str, task: u32) -> Result<TaskState, HerderError> {
        both!(self, h => h.task_status(name, task).await)
    }

    /// Each task's progress document (restores report records, bytes and completion).
    pub async fn progress(
        &self,
        name: &str,
    ) -> Result<BTreeMap<u32, serde_json::Value>, HerderError> {
        both!(self, h => h.progress(name).await)
    }

    /// `DELETE /connectors/{c}`.
    pub async fn delete(&self, name: &str) -> Result<(), HerderError> {
        both!(self, h => h.delete(name).await)
    }

    /// `PUT .../pause|resume|stop`.
    pub async fn set_target(&self, name: &str, target: TargetState) -> Result<(), HerderError> {
        both!(self, h => h.set_target(name, target).await)
    }

    /// `POST /connectors/{c}/restart`.
    pub async fn restart(
        &self,
        name: &str,
        include_tasks: bool,
        only_failed: bool,
    ) -> Result<Option<ConnectorStateInfo>, HerderError> {
        both!(self, h => h.restart(name, include_tasks, only_failed).await)
    }

    /// `POST /connectors/{c}/tasks/{t}/restart`.
    pub async fn restart_task(&self, name: &str, task: u32) -> Result<(), HerderError> {
        both!(self, h => h.restart_task(name, task).await)
    }

    /// `PUT /connector-plugins/{p}/config/validate`.
    pub async fn validate(
        &self,
        plugin_name: &str,
        config: &Properties,
    ) -> Result<ConfigInfos, HerderError> {
        both!(self, h => h.validate(plugin_name, config).await)
    }

    /// `GET /connectors/{c}/offsets`.
    pub async fn offsets(&self, name: &str) -> Result<ConnectorOffsets, HerderError> {
        both!(self, h => h.offsets(name).await)
    }

    /// `GET /connectors/{c}/topics`.
    pub async fn active_topics(&self, name: &str) -> Result<Vec<String>, HerderError> {
        both!(self, h => h.active_topics(name).await)
    }

    /// `PUT /connectors/{c}/topics/reset`.
    pub async fn reset_active_topics(&self, name: &str) -> Result<(), HerderError> {
        both!(self, h => h.reset_active_topics(name).await)
    }

    /// `PATCH`/`DELETE /connectors/{c}/offsets`.
    pub async fn alter_offsets(
        &self,
        name: &str,
        changes: Option<Vec<ConnectorOffset>>,
    ) -> Result<String, HerderError> {
        both!(self, h => h.alter_offsets(name, changes).await)
    }

    /// Stops every task (worker shutdown), flushing and committing.
    pub async fn shutdown(&self) {
        both!(self, h => h.shutdown().await)
    }
}

/// Why a request cannot be done; maps one to one onto Connect's HTTP error codes.
#[derive(Debug, Error)]
pub enum HerderError {
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 400.
    #[error("{0}")]
    BadRequest(String),
    /// 500.
    #[error("{0}")]
    Internal(String),
}

impl HerderError {
    /// The HTTP status Connect uses for this error.
    pub fn status(&self) -> u16 {
        match self {
            HerderError::NotFound(_) => 404,
            HerderError::Conflict(_) => 409,
            HerderError::BadRequest(_) => 400,
            HerderError::Internal(_) => 500,
        }
    }
}
