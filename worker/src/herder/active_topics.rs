//! What both herders answer for `GET /connectors/{c}/topics` and `PUT .../topics/reset`, and
//! how both change a stopped connector's offsets (`PATCH`/`DELETE /connectors/{c}/offsets`).

use super::HerderError;
use super::checks::{self, SinkOffsets};
use crate::config::connector_clients::ConnectorClients;
use crate::runtime::offsets::JsonMap;
use crate::runtime::worker::Worker;
use skiff_api::rest::ConnectorOffset;
use std::collections::BTreeMap;
use tokio::sync::Mutex;

/// Active topics: a sink's are the topics its consumer group committed offsets for since the
/// last reset (the committed offsets at the reset are the baseline); a source's are the topics
/// its tasks wrote to, kept in the worker's status store.
#[derive(Debug, Default)]
pub(super) struct ActiveTopics {
    baseline: Mutex<BTreeMap<String, SinkOffsets>>,
}

impl ActiveTopics {
    /// The connector's active topics, sorted. `sink` holds a sink's client settings; `None`
    /// for a source.
    pub async fn list(
        &self,
        worker: &Worker,
        name: &str,
        sink: Option<ConnectorClients>,
    ) -> Result<Vec<String>, HerderError> {
        let Some(clients) = sink else {
            return Ok(worker.status.topics(name));
        };
        let now = checks::sink_offsets(super::sink_offsets::list(&clients, name).await?);
        let baseline = self
            .baseline
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

    /// Forgets the active topics; a topic is listed again once used anew.
    pub async fn reset(
        &self,
        worker: &Worker,
        name: &str,
        sink: Option<ConnectorClients>,
    ) -> Result<(), HerderError> {
        match sink {
            Some(clients) => {
                let now = checks::sink_offsets(super::sink_offsets::list(&clients, name).await?);
                self.baseline.lock().await.insert(name.to_string(), now);
            }
            None => worker.status.reset_topics(name),
        }
        Ok(())
    }

    /// Forgets everything about a deleted connector.
    pub async fn forget(&self, worker: &Worker, name: &str) {
        self.baseline.lock().await.remove(name);
        worker.status.reset_topics(name);
    }

    /// Changes (`Some`) or resets (`None`) a stopped connector's offsets: a sink's in its
    /// consumer group (`sink` holds a sink's client settings), a source's in the worker's
    /// offset store. Returns Connect's message.
    pub async fn alter_offsets(
        &self,
        worker: &Worker,
        name: &str,
        sink: Option<ConnectorClients>,
        changes: Option<Vec<ConnectorOffset>>,
    ) -> Result<String, HerderError> {
        let reset = changes.is_none();
        if let Some(clients) = sink {
            super::sink_offsets::alter(&clients, name, changes).await?;
            self.baseline.lock().await.remove(name);
        } else {
            match changes {
                None => worker.offsets.remove_connector(name),
                Some(list) => {
                    let updates: Vec<(JsonMap, Option<JsonMap>)> =
                        list.into_iter().map(|o| (o.partition, o.offset)).collect();
                    worker.offsets.put(name, updates);
                }
            }
            worker
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
}

/// Connect's refusal to change the offsets of a connector that is not STOPPED.
pub(super) fn not_stopped(name: &str) -> HerderError {
    HerderError::BadRequest(format!(
        "Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/{name}/stop' endpoint"
    ))
}
