//! A sink connector's offsets are its consumer group's (`connect-<name>`) committed offsets, so
//! the offsets endpoints read and change them there, as Apache Connect does.

use super::HerderError;
use crate::config::client::ClientRole;
use crate::config::connector_clients::ConnectorClients;
use crate::groups::brokers::GroupAccess;
use crate::groups::committed_offsets::{self, GroupOffsetsError};
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{Value, json};
use skiff_api::rest::{ConnectorOffset, ConnectorOffsets};
use std::collections::BTreeMap;
use std::time::Duration;
use tracing::{debug, warn};

const TIMEOUT: Duration = Duration::from_secs(30);
/// The waits before each retry of a group call that met a coordinator still loading or moving.
const COORDINATOR_WAITS: [Duration; 4] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

fn consumer(clients: &ConnectorClients, name: &str) -> Result<BaseConsumer, HerderError> {
    let mut cfg = clients
        .client(ClientRole::Consumer)
        .map_err(|e| HerderError::Internal(e.to_string()))?
        .to_rdkafka();
    cfg.set("group.id", clients.sink_group(name))
        .set("enable.auto.commit", "false");
    cfg.create()
        .map_err(|e| HerderError::Internal(format!("cannot create a Kafka consumer: {e}")))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, HerderError> + Send + 'static,
) -> Result<T, HerderError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| HerderError::Internal(e.to_string()))?
}

/// The group's committed offsets, as Apache Connect lists a sink connector's: each partition the
/// group has an offset on. Read directly ([`list_directly`]); through a librdkafka consumer
/// ([`list_through_consumer`]) where the worker's own connection cannot be used (GSSAPI,
/// OAUTHBEARER, a TLS setting only librdkafka knows) or reach the brokers. A coordinator that
/// refuses, or is still not ready after the retries, is a 500 either way.
pub async fn list(clients: &ConnectorClients, name: &str) -> Result<ConnectorOffsets, HerderError> {
    match list_directly(clients, name).await {
        Ok(offsets) => Ok(offsets),
        Err(refused @ GroupOffsetsError::Refused { .. }) => {
            Err(HerderError::Internal(refused.to_string()))
        }
        Err(GroupOffsetsError::Unreachable(e)) => {
            debug!("reading the offsets of connector {name} through a consumer: {e}");
            list_through_consumer(clients, name).await
        }
    }
}

/// [`list`] with one FindCoordinator and one OffsetFetch over the worker's own connection;
/// `Unreachable` when that connection cannot be used or reach the brokers.
pub async fn list_directly(
    clients: &ConnectorClients,
    name: &str,
) -> Result<ConnectorOffsets, GroupOffsetsError> {
    let access = GroupAccess::of(clients)?;
    match committed_offsets::of_group(
        &access.bootstrap,
        access.security,
        &clients.sink_group(name),
    )
    .await
    {
        Err(GroupOffsetsError::Unreachable(e)) => {
            warn!("reading the offsets of connector {name} directly failed: {e}");
            Err(GroupOffsetsError::Unreachable(e))
        }
        read => read.map(connector_offsets),
    }
}

/// [`list`] through a librdkafka consumer: the committed offsets of every partition of every
/// topic in the cluster but Kafka's internal ones. The consumer reads the metadata of every
/// topic and asks for each partition: a client and megabytes per call with 10,000 partitions,
/// which a UI polling the endpoint made the worker hold (up to 650 MiB in the benchmark).
pub async fn list_through_consumer(
    clients: &ConnectorClients,
    name: &str,
) -> Result<ConnectorOffsets, HerderError> {
    let c = consumer(clients, name)?;
    blocking(move || {
        let kafka =
            |e: rdkafka::error::KafkaError| HerderError::Internal(format!("Kafka error: {e}"));
        let md = c.fetch_metadata(None, TIMEOUT).map_err(kafka)?;
        let mut tpl = TopicPartitionList::new();
        for t in md.topics().iter().filter(|t| !t.name().starts_with("__")) {
            for p in t.partitions() {
                tpl.add_partition(t.name(), p.id());
            }
        }
        let committed = with_coordinator_retries(|| c.committed_offsets(tpl.clone(), TIMEOUT))
            .map_err(kafka)?;
        Ok(connector_offsets(
            committed
                .elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    Offset::Offset(o) => Some(((e.topic().to_string(), e.partition()), o)),
                    _ => None,
                })
                .collect(),
        ))
    })
    .await
}

/// The REST body of a sink connector's offsets.
fn connector_offsets(offsets: BTreeMap<(String, i32), i64>) -> ConnectorOffsets {
    ConnectorOffsets {
        offsets: offsets
            .into_iter()
            .map(|((topic, partition), offset)| ConnectorOffset {
                partition: as_map(json!({"kafka_topic": topic, "kafka_partition": partition})),
                offset: Some(as_map(json!({"kafka_offset": offset}))),
            })
            .collect(),
    }
}

fn as_map(v: Value) -> serde_json::Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// Commits the given offsets for the group, or deletes the group (`None`: reset).
pub async fn alter(
    clients: &ConnectorClients,
    name: &str,
    changes: Option<Vec<ConnectorOffset>>,
) -> Result<(), HerderError> {
    let Some(changes) = changes else {
        let admin: AdminClient<DefaultClientContext> = clients
            .client(ClientRole::Admin)
            .map_err(|e| HerderError::Internal(e.to_string()))?
            .to_rdkafka()
            .create()
            .map_err(|e| HerderError::Internal(e.to_string()))?;
        let g = clients.sink_group(name);
        let res = admin
            .delete_groups(
                &[g.as_str()],
                &AdminOptions::new().request_timeout(Some(TIMEOUT)),
            )
            .await
            .map_err(|e| HerderError::Internal(format!("Kafka error: {e}")))?;
        for r in res {
            if let Err((g, code)) = r
                && code != rdkafka::types::RDKafkaErrorCode::GroupIdNotFound
            {
                return Err(HerderError::Internal(format!(
                    "cannot reset the offsets of consumer group {g}: {code}"
                )));
            }
        }
        return Ok(());
    };
    let mut tpl = TopicPartitionList::new();
    for o in &changes {
        let topic = o
            .partition
            .get("kafka_topic")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                HerderError::BadRequest(
                    "Each partition must have a 'kafka_topic' (a string)".into(),
                )
            })?;
        let partition = o
            .partition
            .get("kafka_partition")
            .and_then(Value::as_i64)
            .and_then(|p| i32::try_from(p).ok())
            .filter(|p| *p >= 0)
            .ok_or_else(|| {
                HerderError::BadRequest(format!(
                    "Each partition must have a 'kafka_partition' (an integer from 0 to {})",
                    i32::MAX
                ))
            })?;
        let offset = o
            .offset
            .as_ref()
            .and_then(|m| m.get("kafka_offset"))
            .and_then(Value::as_i64)
            .ok_or_else(|| HerderError::BadRequest("Each offset must have a 'kafka_offset' (an integer); removing a single partition's offset is not supported, reset them all with DELETE".into()))?;
        if offset < 0 {
            return Err(HerderError::BadRequest(format!(
                "'kafka_offset' {offset} of {topic}-{partition} is negative: give the offset of the next record to back up"
            )));
        }
        tpl.add_partition_offset(topic, partition, Offset::Offset(offset))
            .map_err(|e| HerderError::BadRequest(e.to_string()))?;
    }
    let c = consumer(clients, name)?;
    blocking(move || {
        with_coordinator_retries(|| c.commit(&tpl, CommitMode::Sync)).map_err(commit_error)
    })
    .await
}

/// Runs a blocking group call, again after each of [`COORDINATOR_WAITS`] while the group's
/// coordinator answers that it is not ready: right after a broker starts, or while the group
/// moves, the call would otherwise fail a REST request that a moment later succeeds.
fn with_coordinator_retries<T>(
    mut call: impl FnMut() -> rdkafka::error::KafkaResult<T>,
) -> rdkafka::error::KafkaResult<T> {
    for wait in COORDINATOR_WAITS {
        match call() {
            Err(e) if coordinator_not_ready(&e) => {
                debug!("group coordinator not ready ({e}): retrying in {wait:?}");
                std::thread::sleep(wait);
            }
            done => return done,
        }
    }
    call()
}

/// The group coordinator's answers that pass by themselves.
fn coordinator_not_ready(e: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode::{
        CoordinatorLoadInProgress, CoordinatorNotAvailable, NotCoordinator,
    };
    matches!(
        e.rdkafka_error_code(),
        Some(NotCoordinator | CoordinatorLoadInProgress | CoordinatorNotAvailable)
    )
}

/// A refused commit: a partition the cluster does not have is the request's fault (400), any
/// other error the cluster's (500).
fn commit_error(e: rdkafka::error::KafkaError) -> HerderError {
    match e.rdkafka_error_code() {
        Some(rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition) => HerderError::BadRequest(
            "a partition in 'offsets' does not exist in the Kafka cluster: check 'kafka_topic' and 'kafka_partition'".into(),
        ),
        _ => HerderError::Internal(format!("Kafka error: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::properties::props;
    use crate::config::worker::WorkerConfig;
    use rdkafka::error::KafkaError;
    use rdkafka::types::RDKafkaErrorCode;

    fn change(partition: Value, offset: Value) -> ConnectorOffset {
        serde_json::from_value(json!({
            "partition": {"kafka_topic": "t", "kafka_partition": partition},
            "offset": {"kafka_offset": offset}
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn partitions_and_offsets_out_of_range_are_refused_before_kafka_is_asked() {
        // No broker listens here: a request that reached Kafka would fail differently.
        let worker =
            WorkerConfig::from_properties(props(&[("bootstrap.servers", "127.0.0.1:1")])).unwrap();
        let clients = ConnectorClients::of_worker(std::sync::Arc::new(worker));
        for (partition, offset, says) in [
            (json!(3662296178190374897i64), json!(1), "kafka_partition"),
            (json!(-1), json!(1), "kafka_partition"),
            (json!(0), json!(-5), "negative"),
        ] {
            let e = alter(&clients, "c", Some(vec![change(partition, offset)]))
                .await
                .unwrap_err();
            assert!(
                matches!(&e, HerderError::BadRequest(m) if m.contains(says)),
                "{e:?}"
            );
        }
    }

    #[test]
    fn an_unknown_partition_is_the_requests_fault() {
        let unknown = KafkaError::ConsumerCommit(RDKafkaErrorCode::UnknownTopicOrPartition);
        assert!(matches!(commit_error(unknown), HerderError::BadRequest(_)));
        let down = KafkaError::ConsumerCommit(RDKafkaErrorCode::AllBrokersDown);
        assert!(matches!(commit_error(down), HerderError::Internal(_)));
    }

    #[test]
    fn calls_meeting_a_coordinator_not_ready_are_retried_a_bounded_number_of_times() {
        let not_ready = || KafkaError::OffsetFetch(RDKafkaErrorCode::NotCoordinator);
        let mut calls = 0;
        let res = with_coordinator_retries(|| {
            calls += 1;
            if calls < 3 {
                Err(not_ready())
            } else {
                Ok(calls)
            }
        });
        assert_eq!(res.unwrap(), 3, "retried until it succeeded");
        let mut calls = 0;
        let res: rdkafka::error::KafkaResult<()> = with_coordinator_retries(|| {
            calls += 1;
            Err(not_ready())
        });
        assert!(res.is_err());
        assert_eq!(calls, COORDINATOR_WAITS.len() + 1, "then gives up");
        let mut calls = 0;
        let res: rdkafka::error::KafkaResult<()> = with_coordinator_retries(|| {
            calls += 1;
            Err(KafkaError::OffsetFetch(
                RDKafkaErrorCode::GroupAuthorizationFailed,
            ))
        });
        assert!(res.is_err());
        assert_eq!(calls, 1, "other errors are not retried");
    }
}
