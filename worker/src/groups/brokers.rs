//! Connections to a cluster's brokers for consumer-group requests, and the coordinator lookup
//! every such request starts with.

use crate::config::client::ClientRole;
use crate::config::connector_clients::ConnectorClients;
use crate::distributed::group::{Connection, bootstrap_addrs, broker_addr, codes, s};
use crate::distributed::security::GroupSecurity;
use crate::runtime::TaskError;
use kafka_protocol::messages::{FindCoordinatorRequest, MetadataRequest};
use kafka_protocol::protocol::Request;
use std::collections::HashMap;
use std::time::Duration;

/// A Metadata version every broker since Kafka 2.4 serves.
const METADATA_VERSION: i16 = 9;
/// FindCoordinator v4 (Kafka 3.0) carries many groups in one request.
const FIND_COORDINATOR_VERSION: i16 = 4;
/// How long one request may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A failure to reach or read the cluster, as a task error.
pub(crate) fn kafka(what: impl std::fmt::Display) -> TaskError {
    TaskError::Kafka(what.to_string())
}

/// The coordinator answers that pass by themselves: it is loading its groups, or they moved.
pub(crate) fn retriable(code: i16) -> bool {
    matches!(
        code,
        codes::COORDINATOR_LOAD_IN_PROGRESS
            | codes::COORDINATOR_NOT_AVAILABLE
            | codes::NOT_COORDINATOR
    )
}

/// Before another try of a group request that answered `code`: waits the next of `waits` and
/// says true when the code passes by itself ([`retriable`]) and a wait is left; false when the
/// answer stands.
pub(crate) async fn wait_to_retry(waits: &mut std::slice::Iter<'_, Duration>, code: i16) -> bool {
    if !retriable(code) {
        return false;
    }
    match waits.next() {
        Some(wait) => {
            tokio::time::sleep(*wait).await;
            true
        }
        None => false,
    }
}

/// Where and how the worker's own group connection reaches the cluster: a connector's consumer
/// clients' bootstrap servers and security, read once for every group request.
pub struct GroupAccess {
    /// `host:port` of each bootstrap server, asked in turn for the cluster's brokers.
    pub bootstrap: Vec<String>,
    /// TLS and SASL as the consumer clients have them.
    pub security: GroupSecurity,
}

impl GroupAccess {
    /// A connector's consumer settings as a group connection; an error where that connection
    /// cannot log in as librdkafka would (GSSAPI, OAUTHBEARER, a TLS setting only librdkafka
    /// understands), where callers read through a librdkafka client instead, or do without.
    pub fn of(clients: &ConnectorClients) -> Result<GroupAccess, TaskError> {
        let client = clients.client(ClientRole::Consumer)?;
        let security = GroupSecurity::from_client_settings(&client.settings)
            .map_err(|e| TaskError::Other(e.to_string()))?;
        let bootstrap = client
            .settings
            .get("bootstrap.servers")
            .map(|s| bootstrap_addrs(s))
            .unwrap_or_default();
        Ok(GroupAccess {
            bootstrap,
            security,
        })
    }
}

/// Open connections by broker address; one that failed a call is dropped, not reused.
pub(crate) struct Brokers {
    security: GroupSecurity,
    open: HashMap<String, Connection>,
}

impl Brokers {
    /// No connection yet: each opens at its first call.
    pub(crate) fn new(security: GroupSecurity) -> Self {
        Brokers {
            security,
            open: HashMap::new(),
        }
    }

    /// Sends one request to the broker at `addr`, within [`CALL_TIMEOUT`].
    pub(crate) async fn call<R: Request>(
        &mut self,
        addr: &str,
        request: &R,
        version: i16,
    ) -> Result<R::Response, TaskError> {
        let mut conn = match self.open.remove(addr) {
            Some(c) => c,
            None => Connection::open(addr, &self.security)
                .await
                .map_err(kafka)?,
        };
        let answer = conn
            .call(request, version, CALL_TIMEOUT)
            .await
            .map_err(kafka)?;
        self.open.insert(addr.to_string(), conn);
        Ok(answer)
    }

    /// Every broker's address, from the first bootstrap server that answers.
    pub(crate) async fn cluster(&mut self, bootstrap: &[String]) -> Result<Vec<String>, TaskError> {
        let request = MetadataRequest::default()
            .with_topics(Some(Vec::new()))
            .with_allow_auto_topic_creation(false);
        let mut last = kafka("no bootstrap servers");
        for addr in bootstrap {
            match self.call(addr, &request, METADATA_VERSION).await {
                Ok(md) if !md.brokers.is_empty() => {
                    return Ok(md
                        .brokers
                        .iter()
                        .map(|b| broker_addr(&b.host, b.port))
                        .collect());
                }
                Ok(_) => last = kafka(format!("{addr} named no brokers")),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Each group's coordinator address, or the error code of its lookup, from the first of
    /// `nodes` that answers.
    pub(crate) async fn find_coordinators(
        &mut self,
        nodes: &[String],
        groups: &[String],
    ) -> Result<Vec<(String, Result<String, i16>)>, TaskError> {
        let request = FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(groups.iter().map(|g| s(g)).collect());
        let mut last = kafka("no brokers");
        for addr in nodes {
            match self.call(addr, &request, FIND_COORDINATOR_VERSION).await {
                Ok(found) => {
                    return Ok(found
                        .coordinators
                        .into_iter()
                        .map(|c| {
                            let at = match c.error_code {
                                codes::NONE => Ok(broker_addr(&c.host, c.port)),
                                code => Err(code),
                            };
                            (c.key.to_string(), at)
                        })
                        .collect());
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// One group's coordinator address, or the error code of its lookup.
    pub(crate) async fn coordinator_of(
        &mut self,
        nodes: &[String],
        group: &str,
    ) -> Result<Result<String, i16>, TaskError> {
        self.find_coordinators(nodes, &[group.to_string()])
            .await?
            .into_iter()
            .next()
            .map(|(_, at)| at)
            .ok_or_else(|| kafka(format!("no coordinator named for group {group}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_group_request_is_tried_again_only_while_its_answer_passes_and_waits_are_left() {
        let waits = [Duration::ZERO, Duration::ZERO];
        let mut left = waits.iter();
        assert!(!wait_to_retry(&mut left, codes::GROUP_ID_NOT_FOUND).await);
        assert_eq!(left.len(), 2, "an answer that stands uses no wait");
        assert!(wait_to_retry(&mut left, codes::NOT_COORDINATOR).await);
        assert!(wait_to_retry(&mut left, codes::COORDINATOR_LOAD_IN_PROGRESS).await);
        assert!(
            !wait_to_retry(&mut left, codes::NOT_COORDINATOR).await,
            "no wait left"
        );
    }
}
