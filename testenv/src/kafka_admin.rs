//! Kafka fixtures: topics created through the admin API and ready to use.

use crate::error::Error;
use crate::servers::{Kafka, kafka};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use std::time::{Duration, Instant};

/// How long the broker may take to create a topic.
const CREATE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long all partitions may take to get a leader.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one metadata request may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);

/// Creates `name` with `partitions` partitions and the broker's default replication factor, and
/// returns once every partition has a leader, so producing right away does not race the broker.
pub async fn create_topic(name: &str, partitions: i32) -> Result<(), Error> {
    create_topic_with(name, partitions, &[]).await
}

/// [`create_topic`] with topic configs, e.g. `[("retention.ms", "604800000")]`.
pub async fn create_topic_with(
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> Result<(), Error> {
    create_topic_on(kafka(), name, partitions, configs).await
}

/// [`create_topic_with`] on another cluster (e.g. [`crate::kafka_three`]).
pub async fn create_topic_on(
    cluster: &Kafka,
    name: &str,
    partitions: i32,
    configs: &[(&str, &str)],
) -> Result<(), Error> {
    let admin: AdminClient<DefaultClientContext> = cluster
        .client_config()
        .set("socket.timeout.ms", "10000")
        .create()?;
    let options = AdminOptions::new()
        .operation_timeout(Some(CREATE_TIMEOUT))
        .request_timeout(Some(CREATE_TIMEOUT));
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(-1));
    for (key, value) in configs {
        topic = topic.set(key, value);
    }
    for result in admin.create_topics([&topic], &options).await? {
        result.map_err(|(topic, code)| Error::CreateTopic { topic, code })?;
    }
    let topic = name.to_owned();
    tokio::task::spawn_blocking(move || wait_for_leaders(&admin, &topic, partitions)).await?
}

/// Polls the topic's metadata until it lists `partitions` partitions that all have a leader.
fn wait_for_leaders(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    partitions: i32,
) -> Result<(), Error> {
    let start = Instant::now();
    loop {
        let metadata = admin
            .inner()
            .fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
        let ready = metadata.topics().iter().any(|t| {
            t.name() == topic
                && t.error().is_none()
                && t.partitions().len() == usize::try_from(partitions).unwrap_or(0)
                && t.partitions()
                    .iter()
                    .all(|p| p.leader() >= 0 && p.error().is_none())
        });
        if ready {
            return Ok(());
        }
        if start.elapsed() > READY_TIMEOUT {
            return Err(Error::TopicNotReady {
                topic: topic.to_owned(),
                waited: start.elapsed(),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
